"""Tests for cpp_grad.plots: the files written are real PNG pictures."""

import sys

import numpy as np
import pytest

from cpp_grad.nn import MLP

pytest.importorskip("matplotlib")
from cpp_grad.plots import plot_decision_boundary, plot_training  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path, min_bytes=5_000):
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert min_bytes < len(data) < 300_000


def history(epochs=3, validation=True):
    records = []
    for epoch in range(1, epochs + 1):
        record = {"epoch": epoch, "loss": 1.0 / epoch, "accuracy": 0.5 + 0.1 * epoch, "seconds": 0.1}
        if validation:
            record["val_accuracy"] = 0.45 + 0.1 * epoch
        records.append(record)
    return records


@pytest.fixture(scope="module")
def digits_data():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (30, 28, 28), dtype=np.uint8)
    y = rng.integers(0, 10, 30)
    return MLP(784, [8, 10], seed=0), x, y


def test_training_plot_with_digits(tmp_path, digits_data):
    model, x, y = digits_data
    path = tmp_path / "training.png"
    assert plot_training(history(), model, x, y, path, x_scale=1 / 255) == path
    assert_png(path, min_bytes=20_000)


def test_training_plot_takes_flat_features_and_few_digits(tmp_path, digits_data):
    model, x, y = digits_data
    path = tmp_path / "flat.png"
    plot_training(
        history(1, validation=False), model, x.reshape(30, -1), y, str(path), x_scale=1 / 255, digits=5
    )
    assert_png(path)


def test_training_plot_without_digits(tmp_path):
    # features that are not 28x28 pixels: curves only
    model = MLP(3, [4, 2], seed=0)
    x, y = np.random.default_rng(1).normal(size=(10, 3)), np.arange(10) % 2
    path = tmp_path / "curves.png"
    plot_training(history(12), model, x, y, path)
    assert_png(path)
    plot_training([], model, x, y, path, digits=0)  # no epochs yet
    assert_png(path)


def test_training_plot_errors(tmp_path, digits_data):
    model, x, y = digits_data
    with pytest.raises(ValueError, match=r"history\[0\] lacks loss"):
        plot_training([{"epoch": 1, "accuracy": 0.5}], model, x, y, tmp_path / "a.png")
    with pytest.raises(TypeError, match="history must be"):
        plot_training(None, model, x, y, tmp_path / "a.png")
    with pytest.raises(ValueError, match="30 test rows but 3 labels"):
        plot_training(history(), model, x, y[:3], tmp_path / "a.png")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        plot_training(history(), model, x, y, tmp_path / "missing" / "a.png")


def test_decision_boundary(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(40, 2))
    y = np.where(x[:, 0] + x[:, 1] > 0, 1, -1)
    path = tmp_path / "boundary.png"
    plot_decision_boundary(MLP(2, [8, 1], seed=0), x, y, path)
    assert_png(path)
    plot_decision_boundary(MLP(2, [8, 3], seed=0), x, (y > 0).astype(int), path, resolution=50)
    assert_png(path)
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        plot_decision_boundary(MLP(3, [1]), rng.normal(size=(5, 3)), np.ones(5), path)


def test_missing_matplotlib_names_the_install(tmp_path, monkeypatch, digits_data):
    model, x, y = digits_data
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"pip install matplotlib"):
        plot_training(history(), model, x, y, tmp_path / "a.png")
