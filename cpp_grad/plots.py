"""Pictures of a training run, written as PNG files with matplotlib.

``plot_training`` draws the loss and the accuracy per epoch and a grid of
test digits with the model's guesses; ``plot_decision_boundary`` draws what
a 2-input classifier decides over the plane (the two-moons demo).

matplotlib is an optional extra (``pip install matplotlib``, or
``pip install cpp_grad[plot]``), imported only when a plot is drawn. The
figures are drawn with the Agg renderer, off screen: no display is needed
and pyplot's global state is left alone.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from ._files import atomic_write, check_writable

__all__ = ["plot_training", "plot_decision_boundary"]

_IMAGE_SIDE = 28
_GRID_COLUMNS = 8
_MISTAKE = "#d62728"
_HISTORY_KEYS = ("epoch", "loss", "accuracy")


def _figure(width: float, height: float):
    """A matplotlib Figure not managed by pyplot (nothing to close, no GUI)."""
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError(
            "plots need matplotlib: pip install matplotlib (or pip install cpp_grad[plot])"
        ) from error
    return Figure(figsize=(width, height), layout="constrained")


def _output_path(path) -> Path:
    path = Path(os.fspath(path)).expanduser()
    check_writable(path)
    return path


def _save_png(figure, path: Path) -> None:
    with atomic_write(path) as stream:
        figure.savefig(stream, format="png", dpi=100)


def plot_training(history, model, x_test, y_test, path, x_scale=1.0, digits=24) -> Path:
    """Writes a PNG of a training run to ``path`` and returns the path.

    ``history`` is ``MLP.fit``'s list of per-epoch dicts (``epoch``,
    ``loss``, ``accuracy`` and, with validation data, ``val_accuracy``).
    The picture shows the loss per epoch, the train and test accuracy per
    epoch, and, when the features are 784 pixels, the first ``digits`` test
    images as 28x28 digits titled with the model's prediction; mistakes are
    red and show the true label. ``x_scale`` is the factor ``fit`` was given
    (1/255 for uint8 pixels).
    """
    history = _check_history(history)
    x_test, y_test = np.asarray(x_test), np.asarray(y_test)
    if len(x_test) != len(y_test):
        raise ValueError(f"{len(x_test)} test rows but {len(y_test)} labels")
    if isinstance(digits, bool) or not isinstance(digits, int) or digits < 0:
        raise ValueError(f"digits must be a non-negative integer, got {digits!r}")
    path = _output_path(path)

    n = min(digits, len(x_test))
    features = int(np.prod(x_test.shape[1:])) if x_test.ndim > 1 else 1
    show_digits = n > 0 and features == _IMAGE_SIDE * _IMAGE_SIDE
    rows = math.ceil(n / _GRID_COLUMNS) if show_digits else 0

    figure = _figure(10, 3.6 + (1.4 * rows + 0.4 if show_digits else 0))
    if show_digits:
        top, bottom = figure.subfigures(2, 1, height_ratios=[3.6, 1.4 * rows + 0.4])
    else:
        top, bottom = figure, None
    loss_axes, accuracy_axes = top.subplots(1, 2)
    _plot_curves(loss_axes, accuracy_axes, history)

    if show_digits:
        images = x_test[:n].reshape(n, -1)
        outputs = model.predict(images, x_scale=x_scale)
        predicted = (outputs[:, 0] > 0).astype(int) if outputs.shape[1] == 1 else outputs.argmax(1)
        wrong = int(np.sum(predicted != y_test[:n]))
        grid = bottom.subplots(rows, _GRID_COLUMNS, squeeze=False)
        for i, axes in enumerate(grid.ravel()):
            axes.set_axis_off()
            if i >= n:
                continue
            axes.imshow(images[i].reshape(_IMAGE_SIDE, _IMAGE_SIDE), cmap="gray_r")
            if predicted[i] == y_test[i]:
                axes.set_title(f"{predicted[i]}", fontsize=10)
            else:
                axes.set_title(f"{predicted[i]} (true {y_test[i]})", fontsize=10, color=_MISTAKE)
                axes.set_axis_on()  # a red frame
                axes.set_xticks([])
                axes.set_yticks([])
                for spine in axes.spines.values():
                    spine.set_color(_MISTAKE)
                    spine.set_linewidth(2)
        mistakes = f"{wrong} wrong, in red" if wrong else "none wrong"
        bottom.suptitle(f"First {n} test digits and the predicted labels ({mistakes})", fontsize=11)
    _save_png(figure, path)
    return path


def _check_history(history) -> list:
    if not isinstance(history, (list, tuple)):
        raise TypeError(f"history must be fit's list of per-epoch dicts, got {type(history).__name__}")
    for i, record in enumerate(history):
        if not isinstance(record, dict):
            raise TypeError(f"history[{i}] must be a dict, got {type(record).__name__}")
        missing = [key for key in _HISTORY_KEYS if key not in record]
        if missing:
            raise ValueError(
                f"history[{i}] lacks {', '.join(missing)} (has {', '.join(record) or 'nothing'})"
            )
    return list(history)


def _plot_curves(loss_axes, accuracy_axes, history) -> None:
    epochs = [record["epoch"] for record in history]
    marker = "o" if len(history) < 30 else None
    loss_axes.plot(epochs, [record["loss"] for record in history], marker=marker, color="#1f77b4")
    loss_axes.set_title("Training loss")
    loss_axes.set_xlabel("epoch")
    loss_axes.set_ylabel("mean loss")

    def last(key, records):
        return f" (last {records[-1][key]:.2%})" if records else ""

    accuracy_axes.plot(
        epochs,
        [record["accuracy"] for record in history],
        marker=marker,
        label="train" + last("accuracy", history),
        color="#1f77b4",
    )
    validated = [record for record in history if "val_accuracy" in record]
    if validated:
        accuracy_axes.plot(
            [record["epoch"] for record in validated],
            [record["val_accuracy"] for record in validated],
            marker=marker,
            label="test" + last("val_accuracy", validated),
            color="#ff7f0e",
        )
    accuracy_axes.set_title("Accuracy")
    accuracy_axes.set_xlabel("epoch")
    accuracy_axes.set_ylabel("fraction correct")
    if history:
        accuracy_axes.legend(loc="lower right")
    for axes in (loss_axes, accuracy_axes):
        axes.grid(alpha=0.3)
        if epochs:
            axes.set_xticks(epochs if len(epochs) <= 12 else np.linspace(epochs[0], epochs[-1], 6).round())
        else:
            axes.text(0.5, 0.5, "no epochs", ha="center", va="center", transform=axes.transAxes)


def plot_decision_boundary(model, x, y, path, resolution=200, title=None) -> Path:
    """Writes a PNG of a 2-input classifier's decisions over the plane.

    ``model`` is an ``MLP`` with 2 inputs: one output (class ``output > 0``,
    as in the max-margin demo) or one per class (the largest wins). ``x`` is
    (n, 2); ``y`` holds the labels (-1/+1, 0/1 or class indices), drawn as
    coloured points over the shaded regions.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"x must have shape (n, 2), got {x.shape}")
    if len(y) != len(x):
        raise ValueError(f"{len(x)} points but {len(y)} labels")
    if getattr(model, "nin", 2) != 2:
        raise ValueError(f"the model must take 2 inputs, it takes {model.nin}")
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 2:
        raise ValueError(f"resolution must be an integer of at least 2, got {resolution!r}")
    path = _output_path(path)

    low, high = x.min(0), x.max(0)
    margin = 0.25 * np.maximum(high - low, 1e-9)
    xs = np.linspace(low[0] - margin[0], high[0] + margin[0], resolution)
    ys = np.linspace(low[1] - margin[1], high[1] + margin[1], resolution)
    grid_x, grid_y = np.meshgrid(xs, ys)
    outputs = model.predict(np.column_stack([grid_x.ravel(), grid_y.ravel()]))
    decision = (outputs[:, 0] > 0).astype(int) if outputs.shape[1] == 1 else outputs.argmax(1)

    figure = _figure(5.5, 5)
    axes = figure.add_subplot()
    axes.contourf(grid_x, grid_y, decision.reshape(grid_x.shape), alpha=0.35, cmap="coolwarm")
    axes.scatter(x[:, 0], x[:, 1], c=y, s=30, cmap="coolwarm", edgecolors="black", linewidths=0.6)
    axes.set_xlim(xs[0], xs[-1])
    axes.set_ylim(ys[0], ys[-1])
    axes.set_title(title or "Decision boundary")
    _save_png(figure, path)
    return path
