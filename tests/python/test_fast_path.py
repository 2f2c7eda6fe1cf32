"""MLP.fit's packed training path (Note [Packed weights] in include/cpp_grad/fused.hpp):
however fit ends, the model's Values hold what training computed.

The gradients of the packed path against the generic path are compared in C++
(tests/cpp/train_test.cpp, TrainPacked.*), where both paths can be chosen.
"""

import numpy as np
import pytest

from cpp_grad.gradcheck import gradcheck_parameters
from cpp_grad.nn import MLP


def sparse_images(n=120, seed=0):
    """Pixel-like rows with many exact zeros (skipped inputs), 3 classes."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    lit = rng.random((n, 12)) < np.where(np.arange(12) // 4 == y[:, None], 0.75, 0.25)
    return np.where(lit, rng.uniform(0.1, 1, (n, 12)), 0.0), y


def assert_gradients_match_finite_differences(model, x, label):
    def loss():
        logits = model(list(x))
        top = max(v.data for v in logits)
        return sum(((v - top).exp() for v in logits), start=0.0).log() - (logits[label] - top)

    assert gradcheck_parameters(loss, model.parameters(), eps=1e-6, atol=1e-8, rtol=1e-5)


class InterruptingBar:
    """Stands in for tqdm: the `at`-th update raises `error`, as Ctrl-C would."""

    def __init__(self, at, error):
        self.calls, self.at, self.error = 0, at, error

    def __call__(self, *args, **kwargs):
        return self

    def update(self, n):
        self.calls += 1
        if self.calls == self.at:
            raise self.error

    def set_postfix(self, **kwargs):
        pass

    def close(self):
        pass


def interrupted_fit(monkeypatch, error, at=3):
    x, y = sparse_images()
    model = MLP(12, [6, 5, 3], dtype="float64", seed=3)
    bar = InterruptingBar(at, error)
    monkeypatch.setattr("tqdm.auto.tqdm", bar)
    with pytest.raises(type(error)):
        model.fit(x, y, epochs=2, batch_size=10, threads=2, progress=True, seed=0)
    assert bar.calls == at
    return model


def test_ctrl_c_leaves_the_trained_values(monkeypatch):
    initial = MLP(12, [6, 5, 3], dtype="float64", seed=3).get_weights()
    model = interrupted_fit(monkeypatch, KeyboardInterrupt())
    weights = model.get_weights()
    moved = [not np.array_equal(w, w0) for (w, _), (w0, _) in zip(weights, initial)]
    assert all(moved)  # three batches of training reached the Values
    for w, b in weights:
        assert np.all(np.isfinite(w)) and np.all(np.isfinite(b))
    for p in model.parameters():
        assert p.grad == 0  # the optimizer stepped, and zeroed them, after each whole batch
    # The same three batches, stopped another way, give the same Values.
    other = interrupted_fit(monkeypatch, RuntimeError("stop"))
    for (w, b), (w2, b2) in zip(weights, other.get_weights()):
        np.testing.assert_array_equal(w, w2)
        np.testing.assert_array_equal(b, b2)
    x, y = sparse_images(seed=1)
    assert_gradients_match_finite_differences(model, x[0], int(y[0]))


def test_training_goes_on_after_an_interruption(monkeypatch):
    model = interrupted_fit(monkeypatch, KeyboardInterrupt())
    x, y = sparse_images()
    history = model.fit(x, y, epochs=3, batch_size=10, lr=0.02, threads=2, progress=False)
    assert history[-1]["loss"] < history[0]["loss"]
    assert model.evaluate(x, y) > 0.8


def test_values_after_fit_have_right_gradients():
    x, y = sparse_images()
    model = MLP(12, [6, 5, 3], activation="tanh", dtype="float64", seed=4)
    history = model.fit(x, y, epochs=2, batch_size=7, threads=2, progress=False)
    assert len(history) == 2
    assert_gradients_match_finite_differences(model, x[5], int(y[5]))
    # fit's outputs are the outputs of the Values it leaves behind.
    out = model.predict(x[:4])
    for row, expected in zip(x[:4], out):
        np.testing.assert_allclose([v.data for v in model(list(row))], expected, rtol=1e-12)
