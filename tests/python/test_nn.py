"""Tests for cpp_grad.nn: Neuron, Layer, MLP, and MLP's fit/predict/evaluate/save/load."""

import os
from pathlib import Path

import numpy as np
import pytest

from cpp_grad import Value, Value32
from cpp_grad.datasets import load_mnist
from cpp_grad.gradcheck import gradcheck, gradcheck_parameters
from cpp_grad.nn import MLP, Layer, Neuron

REPO_ROOT = Path(__file__).resolve().parents[2]
MNIST_SMALL = REPO_ROOT / "tests" / "data" / "mnist_small.npz"
VALUE_CLASSES = {"float64": Value, "float32": Value32}


def blobs(n_per_class=100, seed=0):
    """Three well separated gaussian blobs in 2-d: (x (3n, 2), y (3n,))."""
    rng = np.random.default_rng(seed)
    centers = np.array([[0.0, 3.0], [3.0, -2.0], [-3.0, -2.0]])
    y = np.repeat(np.arange(3), n_per_class)
    return centers[y] + rng.normal(size=(len(y), 2)), y


def numpy_forward(model, x, activation=np.maximum):
    """The MLP's outputs from its get_weights(): hidden layers activated, the last linear."""
    h = np.asarray(x, dtype=model.dtype)
    weights = model.get_weights()
    for i, (w, b) in enumerate(weights):
        h = h @ w.T + b
        if i < len(weights) - 1:
            h = activation(h, 0) if activation is np.maximum else activation(h)
    return h


def epochs_without_time(history):
    return [{k: v for k, v in record.items() if k != "seconds"} for record in history]


def fit(model, x, y, **kwargs):
    kwargs.setdefault("seed", 0)  # fit's own default draws from random
    return model.fit(x, y, progress=False, **kwargs)


# ---- structure -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "module, count",
    [(Neuron(3), 4), (Layer(3, 4), 16), (MLP(3, [4, 4, 1]), 41), (MLP(784, [30, 10]), 23860)],
    ids=["Neuron(3)", "Layer(3,4)", "MLP(3,[4,4,1])", "MLP(784,[30,10])"],
)
def test_parameter_counts(module, count):
    assert len(module.parameters()) == count
    if isinstance(module, MLP):
        assert module.num_parameters() == count


def test_parameters_are_distinct_nodes_seen_alike_twice():
    model = MLP(3, [4, 2])
    assert len(set(model.parameters())) == 26
    assert set(model.parameters()) == set(model.parameters())


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kind", ["list", "ndarray", "values"])
def test_call_on_lists_arrays_and_values(kind, dtype):
    model = MLP(3, [4, 2], dtype=dtype, seed=3)
    x = [0.5, -1.0, 2.0]
    inputs = {"list": x, "ndarray": np.array(x), "values": [VALUE_CLASSES[dtype](v) for v in x]}[kind]
    out = model(inputs)
    assert isinstance(out, list) and len(out) == 2
    assert all(isinstance(o, VALUE_CLASSES[dtype]) for o in out)
    np.testing.assert_allclose([o.data for o in out], numpy_forward(model, x), rtol=1e-6)


def test_gradients_reach_input_values():
    model = MLP(3, [5, 1], activation="tanh", seed=1)
    x = [Value(0.5), Value(-1.0), Value(2.0)]
    out = model(x)
    out.backward()
    assert all(v.grad != 0 for v in x)
    assert gradcheck(lambda *inputs: model(list(inputs)), x, eps=1e-6, atol=1e-12, rtol=1e-6)


@pytest.mark.parametrize(
    "module",
    [Neuron(3), Layer(3, 1), MLP(3, [4, 1])],
    ids=["Neuron", "Layer(3,1)", "MLP(3,[4,1])"],
)
def test_one_output_gives_a_single_value(module):
    assert isinstance(module([1.0, 2.0, 3.0]), Value)


@pytest.mark.parametrize("module", [Layer(3, 4), MLP(3, [4, 3])], ids=["Layer", "MLP"])
def test_several_outputs_give_a_list(module):
    out = module([1.0, 2.0, 3.0])
    assert isinstance(out, list) and all(isinstance(o, Value) for o in out)


def test_neuron_and_layer_forward():
    neuron = Neuron(3, nonlin=False, seed=2)
    w = np.array([p.data for p in neuron.w])
    assert neuron([1.0, 2.0, 3.0]).data == pytest.approx(w @ [1, 2, 3] + neuron.b.data, rel=1e-12)
    layer = Layer(2, 3, activation="tanh", seed=4)
    params = np.array([p.data for p in layer.parameters()]).reshape(3, 3)  # per neuron: w, b
    expected = np.tanh(params[:, :2] @ [0.5, -1.5] + params[:, 2])
    np.testing.assert_allclose([o.data for o in layer([0.5, -1.5])], expected, rtol=1e-12)


def test_zero_grad():
    model = MLP(3, [4, 2], seed=1)
    out = model([1.0, -2.0, 3.0])
    (out[0] * out[0] + out[1]).backward()
    assert any(p.grad != 0 for p in model.parameters())
    model.zero_grad()
    assert all(p.grad == 0 for p in model.parameters())


def test_seed_fixes_weights():
    same = [MLP(4, [5, 3], seed=7).get_weights() for _ in range(2)]
    other = MLP(4, [5, 3], seed=8).get_weights()
    for (w1, b1), (w2, b2) in zip(*same):
        assert np.array_equal(w1, w2) and np.array_equal(b1, b2)
    assert not np.array_equal(same[0][0][0], other[0][0])


def test_last_layer_is_linear():
    model = MLP(2, [3, 2], seed=0)
    assert [layer.activation for layer in model.layers] == ["relu", "linear"]
    (w1, b1), (w2, b2) = model.get_weights()
    model.set_weights([(np.abs(w1), np.abs(b1) + 1), (-np.ones_like(w2), -np.ones_like(b2))])
    out = model([1.0, 1.0])
    assert all(o.data < -1 for o in out)  # a ReLU would have clipped these to 0


@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-12), ("float32", 1e-5)])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_forward_matches_numpy(dtype, rtol, activation):
    model = MLP(6, [8, 5, 3], activation=activation, dtype=dtype, seed=11)
    x = np.random.default_rng(0).normal(size=(10, 6))
    expected = numpy_forward(model, x, np.maximum if activation == "relu" else np.tanh)
    by_call = np.array([[o.data for o in model(list(row))] for row in x])
    np.testing.assert_allclose(by_call, expected, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(model.predict(x), expected, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_predict_equals_calling_row_by_row(dtype):
    model = MLP(5, [7, 6, 3], dtype=dtype, seed=1)
    x = np.random.default_rng(2).normal(size=(20, 5)).astype(dtype)
    predicted = model.predict(x)
    assert predicted.shape == (20, 3) and predicted.dtype == dtype
    by_row = np.array([[o.data for o in model(row)] for row in x], dtype=dtype)
    np.testing.assert_array_equal(predicted, by_row)


def test_set_weights_round_trip_and_checks():
    model = MLP(3, [4, 2], seed=0)
    weights = [(w * 2, b + 1) for w, b in model.get_weights()]
    model.set_weights(weights)
    for (w1, b1), (w2, b2) in zip(model.get_weights(), weights):
        assert np.array_equal(w1, w2) and np.array_equal(b1, b2)
    with pytest.raises(ValueError, match=r"\(4, 3\)"):
        model.set_weights([(np.zeros((3, 4)), np.zeros(4)), weights[1]])
    with pytest.raises(ValueError, match="2 layers"):
        model.set_weights(weights[:1])


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_parameter_gradients_match_finite_differences(activation):
    model = MLP(3, [4, 3, 2], activation=activation, seed=5)
    x = [0.7, -1.2, 0.4]

    def scalar():
        a, b = model(x)
        return a * a - b * 3 + (a * b).tanh()

    assert gradcheck_parameters(scalar, model.parameters(), eps=1e-6, atol=1e-8, rtol=1e-5)


# ---- fit ------------------------------------------------------------------------------------


def test_fit_separates_blobs():
    x, y = blobs()
    model = MLP(2, [16, 3], seed=0)
    history = fit(model, x, y, epochs=8, lr=0.02, validation=blobs(seed=1))
    assert len(history) == 8
    for i, record in enumerate(history, 1):
        assert {"epoch", "loss", "accuracy", "seconds", "val_accuracy"} <= set(record)
        assert record["epoch"] == i and record["seconds"] >= 0
    assert history[-1]["loss"] < history[0]["loss"]
    assert history[-1]["accuracy"] > 0.95
    assert history[-1]["val_accuracy"] > 0.95
    assert model.evaluate(x, y) > 0.95
    assert np.mean(model.predict(x).argmax(axis=1) == y) == model.evaluate(x, y)


def test_history_has_no_val_accuracy_without_validation():
    x, y = blobs(20)
    history = fit(MLP(2, [4, 3]), x, y, epochs=2)
    assert [set(r) for r in history] == [{"epoch", "loss", "accuracy", "seconds"}] * 2


@pytest.mark.parametrize(
    "nout, activation, kwargs",
    [
        (3, "relu", dict(optimizer="sgd", lr=0.05)),
        (3, "relu", dict(optimizer="sgd", lr=0.05, momentum=0.9)),
        (3, "relu", dict(loss="mse", lr=0.01)),
        (3, "relu", dict(loss="hinge", lr=0.01)),
        (1, "relu", dict(loss="hinge", lr=0.01)),
        (3, "tanh", dict(lr=0.02)),
    ],
    ids=["sgd", "sgd-momentum", "mse", "hinge-multiclass", "hinge-binary", "tanh"],
)
def test_fit_variants_train(nout, activation, kwargs):
    x, y = blobs()
    if nout == 1:
        y = (y == 0).astype(np.int64)  # micrograd's binary problem: labels 0/1
    model = MLP(2, [16, nout], activation=activation, seed=0)
    history = fit(model, x, y, epochs=10, **kwargs)
    assert history[-1]["loss"] < 0.5 * history[0]["loss"]
    assert model.evaluate(x, y) > 0.9


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_one_output_model_is_a_binary_classifier_for_every_loss(loss):
    # Labels 0/1 stand for targets -1/+1; cross_entropy is then the logistic loss.
    x, y = blobs(40)
    y = (y == 0).astype(np.int64)
    model = MLP(2, [8, 1], seed=0)
    history = fit(model, x, y, loss=loss, epochs=20)
    assert len(history) == 20
    assert model.evaluate(x, y) >= 0.9  # the majority class alone gives 2/3
    assert model.evaluate(x, y) == np.mean((model.predict(x)[:, 0] > 0) == y)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_fit_is_deterministic(threads, dtype):
    x, y = blobs(30)
    runs = []
    for _ in range(2):
        model = MLP(2, [8, 3], dtype=dtype, seed=3)
        history = fit(model, x, y, epochs=3, batch_size=7, seed=5, threads=threads)
        runs.append((epochs_without_time(history), model.get_weights()))
    (history1, weights1), (history2, weights2) = runs
    assert history1 == history2
    for (w1, b1), (w2, b2) in zip(weights1, weights2):
        assert np.array_equal(w1, w2) and np.array_equal(b1, b2)


def test_fit_seed_changes_the_run():
    x, y = blobs(30)
    a, b = MLP(2, [8, 3], seed=3), MLP(2, [8, 3], seed=3)
    fit(a, x, y, epochs=1, seed=1)
    fit(b, x, y, epochs=1, seed=2)
    assert not np.array_equal(a.get_weights()[0][0], b.get_weights()[0][0])


def test_fit_accepts_uint8_with_scale_like_floats():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(40, 6), dtype=np.uint8)
    y = rng.integers(0, 3, size=40)
    a, b = MLP(6, [5, 3], seed=1), MLP(6, [5, 3], seed=1)
    history_a = fit(a, pixels, y, epochs=2, x_scale=1 / 255, threads=1, seed=0)
    history_b = fit(b, pixels.astype(np.float64) / 255, y, epochs=2, threads=1, seed=0)
    for ra, rb in zip(history_a, history_b):
        assert ra["loss"] == pytest.approx(rb["loss"], rel=1e-9)
    np.testing.assert_allclose(a.predict(pixels, x_scale=1 / 255), b.predict(pixels / 255), rtol=1e-9)


def test_fit_on_small_mnist():
    (x_train, y_train), (x_test, y_test) = load_mnist(MNIST_SMALL)
    assert x_train.dtype == np.uint8 and x_train.shape == (4480, 28, 28)
    x_train, x_test = x_train.reshape(len(x_train), -1), x_test.reshape(len(x_test), -1)
    model = MLP(784, [30, 10], seed=0)
    history = fit(model, x_train, y_train, epochs=3, batch_size=32, x_scale=1 / 255)
    assert len(history) == 3
    assert history[-1]["loss"] < history[0]["loss"]
    assert model.evaluate(x_test, y_test, x_scale=1 / 255) > 0.85


# ---- save and load --------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_save_load_round_trip(tmp_path, dtype):
    x, y = blobs(10)
    model = MLP(2, [6, 5, 3], activation="tanh", dtype=dtype, seed=9)
    fit(model, x, y, epochs=1)
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = MLP.load(str(path))
    assert (loaded.nin, loaded.nouts, loaded.activation, loaded.dtype) == (2, [6, 5, 3], "tanh", dtype)
    assert repr(loaded) == repr(model)
    assert np.array_equal(loaded.predict(x), model.predict(x))


def test_failed_save_leaves_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    MLP(3, [4, 2], seed=1).save(path)
    before = path.read_bytes()

    def broken_savez(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        MLP(3, [4, 2], seed=2).save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.npz"]


def test_save_to_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError):
        MLP(2, [2]).save(tmp_path / "nope" / "model.npz")


def test_load_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        MLP.load(tmp_path / "missing.npz")


@pytest.mark.parametrize(
    "write",
    [
        lambda p: p.write_text("not a model"),
        lambda p: p.write_bytes(b"PK\x03\x04" + b"\0" * 50),
        lambda p: p.write_bytes(b""),
    ],
    ids=["text", "corrupt-zip", "empty"],
)
def test_load_non_npz_raises_value_error(tmp_path, write):
    path = tmp_path / "model.npz"
    write(path)
    with pytest.raises(ValueError):
        MLP.load(path)


def test_load_truncated_model_raises_value_error(tmp_path):
    path = tmp_path / "model.npz"
    MLP(3, [4, 2]).save(path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError):
        MLP.load(path)


def test_load_npy_file_raises_value_error(tmp_path):
    path = tmp_path / "model.npz"
    with open(path, "wb") as stream:  # an .npy, named .npz
        np.save(stream, np.zeros(3))
    with pytest.raises(ValueError):
        MLP.load(path)


def test_load_npz_without_architecture(tmp_path):
    path = tmp_path / "model.npz"
    np.savez(path, W0=np.zeros((2, 3)), b0=np.zeros(2))
    with pytest.raises(ValueError, match="architecture"):
        MLP.load(path)


def test_load_npz_with_wrong_weight_shapes(tmp_path):
    path = tmp_path / "model.npz"
    MLP(3, [4, 2]).save(path)
    with np.load(path) as data:
        arrays = dict(data)
    arrays["W0"] = np.zeros((2, 2))
    np.savez(path, **arrays)
    with pytest.raises(ValueError):
        MLP.load(path)


# ---- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize("x", [[1.0, 2.0], [1.0] * 4, np.zeros(2)])
def test_call_with_wrong_input_length(x):
    with pytest.raises(ValueError, match=rf"3 inputs, got {len(x)}"):
        MLP(3, [4, 2])(x)


def test_call_with_bad_inputs():
    model = MLP(3, [2])
    with pytest.raises(ValueError, match=r"\(1, 3\)"):
        model(np.zeros((1, 3)))
    with pytest.raises(TypeError, match="str"):
        model([1.0, "a", 2.0])
    with pytest.raises(TypeError, match="Value32|float64"):
        model([Value32(1.0)] * 3)
    with pytest.raises(ValueError, match="NaN"):
        model([1.0, float("nan"), 2.0])


GOOD_X, GOOD_Y = np.zeros((4, 3)), np.array([0, 1, 2, 0])
BAD_DATA = [
    (np.zeros((4, 5)), GOOD_Y, ValueError, r"3 features per row, got 5"),
    (np.zeros(4), GOOD_Y, ValueError, r"2-d.*\(4,\)"),
    (np.zeros((2, 2, 3)), GOOD_Y[:2], ValueError, r"2-d.*\(2, 2, 3\)"),
    (np.full((4, 3), "a"), GOOD_Y, TypeError, "dtype"),
    (np.zeros((4, 3), dtype=complex), GOOD_Y, TypeError, "complex"),
    (np.array([[0, 0, 0]] * 3 + [[0, np.nan, 0]]), GOOD_Y, ValueError, r"NaN or Inf.*row 3"),
    (np.array([[np.inf, 0, 0]] * 4, dtype=np.float32), GOOD_Y, ValueError, r"NaN or Inf.*row 0"),
    (np.zeros((0, 3)), np.zeros(0, dtype=int), ValueError, "no rows"),
    (GOOD_X, GOOD_Y[:3], ValueError, r"4 rows of x but 3 labels"),
    (GOOD_X, np.array([0, 1, 3, 0]), ValueError, r"label 3 at row 2 is outside \[0, 3\)"),
    (GOOD_X, np.array([0, -1, 2, 0]), ValueError, r"label -1 at row 1 is outside \[0, 3\)"),
    (GOOD_X, np.array([0, 0.5, 1, 0]), TypeError, "integers"),
    (GOOD_X, np.zeros((4, 1), dtype=int), ValueError, r"1-d.*\(4, 1\)"),
]


@pytest.mark.parametrize("method", ["fit", "evaluate", "predict"])
@pytest.mark.parametrize("x, y, error, message", BAD_DATA)
def test_bad_data(method, x, y, error, message):
    model = MLP(3, [4, 3])
    if method == "predict":
        if isinstance(x, np.ndarray) and x is GOOD_X:
            return  # a label problem: predict takes no labels
        call = lambda: model.predict(x)  # noqa: E731
    else:
        call = lambda: getattr(model, method)(x, y, **({"progress": False} if method == "fit" else {}))  # noqa: E731
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(batch_size=0), ValueError, "batch_size.*0"),
        (dict(batch_size=2.5), TypeError, "batch_size"),
        (dict(epochs=-1), ValueError, "epochs.*-1"),
        (dict(optimizer="rmsprop"), ValueError, "rmsprop"),
        (dict(loss="l1"), ValueError, "l1"),
        (dict(lr=-0.1), ValueError, "-0.1"),
        (dict(lr=float("nan")), ValueError, "lr"),
        (dict(momentum=1.0), ValueError, "momentum"),
        (dict(threads=0), ValueError, "threads.*0"),
        (dict(x_scale=float("inf")), ValueError, "x_scale"),
        (dict(validation=np.zeros((2, 3))), TypeError, "validation"),
        (
            dict(validation=(np.zeros((2, 4)), np.zeros(2, dtype=int))),
            ValueError,
            "3 features per row, got 4",
        ),
    ],
)
def test_bad_fit_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        MLP(3, [4, 3]).fit(GOOD_X, GOOD_Y, progress=False, **kwargs)


def test_zero_epochs_returns_empty_history():
    model = MLP(3, [4, 3], seed=0)
    before = model.get_weights()
    assert model.fit(GOOD_X, GOOD_Y, epochs=0, progress=False) == []
    assert np.array_equal(model.get_weights()[0][0], before[0][0])


@pytest.mark.parametrize(
    "args, error",
    [
        ((0, [3]), ValueError),
        ((3, [0]), ValueError),
        ((3, []), (TypeError, ValueError)),
        ((3, [4, -1]), ValueError),
        ((-1, [2]), ValueError),
        ((3.5, [2]), TypeError),
        ((3, ["a"]), TypeError),
        ((3, None), TypeError),
    ],
)
def test_bad_architecture(args, error):
    with pytest.raises(error):
        MLP(*args)


@pytest.mark.parametrize(
    "kwargs",
    [dict(activation="sigmoid"), dict(dtype="float16"), dict(dtype="int32"), dict(seed="x")],
)
def test_bad_options(kwargs):
    with pytest.raises((TypeError, ValueError)):
        MLP(3, [2], **kwargs)


def test_reprs():
    assert repr(MLP(784, [30, 10])) == (
        "MLP(784 -> 30 -> 10, activation='relu', dtype='float64', parameters=23860)"
    )
    assert repr(Neuron(3)) == "ReLUNeuron(3)"  # as micrograd prints it
    assert repr(Neuron(3, activation="tanh")) == "TanhNeuron(3)"
    assert repr(Neuron(3, nonlin=False)) == "LinearNeuron(3)"
    assert "Layer" in repr(Layer(3, 4)) and "4" in repr(Layer(3, 4))
