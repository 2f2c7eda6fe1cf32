"""micrograd's scenarios as cpp_grad's own tests: a micrograd script, notebook
or custom op runs with only its imports changed, and means the same.

Covers micrograd's two engine tests (against PyTorch where installed), its
moons demo, hand-built layers and Module subclasses, custom ops in Python
(``out._backward``) and in C++ (``cpp_op``), one Python object per node,
seeds drawn from ``random``, and the lifetimes of graphs with Python ops.
"""

from __future__ import annotations

import gc
import importlib.util
import inspect
import json
import math
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import cppyy
import numpy as np
import pytest

from cpp_grad import Value, Value32, cpp_op, gradcheck
from cpp_grad.nn import MLP, Layer, Module, Neuron
from cpp_grad.value import _emit_now, _objects

REPO_ROOT = Path(__file__).resolve().parents[2]


# ---- micrograd's ops, written the micrograd way ------------------------------------


def sigmoid(self):
    out = Value(1 / (1 + math.exp(-self.data)), (self,), "sigmoid")

    def _backward():
        self.grad += out.data * (1 - out.data) * out.grad

    out._backward = _backward
    return out


def times(self, other):
    """micrograd's __mul__, as a user would write it."""
    out = Value(self.data * other.data, (self, other), "*")

    def _backward():
        self.grad += other.data * out.grad
        other.grad += self.data * out.grad

    out._backward = _backward
    return out


Value.my_sigmoid = sigmoid
Value.times = times

SOFTPLUS = """
template <typename T>
Value<T> softplus(const Value<T>& a) {
  return make_op("softplus", std::log1p(std::exp(a.data())), a,
                 [a = a.node()](const _Value<T>& out) {
                   a->grad += out.grad / (1 + std::exp(-a->data));
                 });
}
"""
softplus = cpp_op(SOFTPLUS)


def live_values() -> int:
    return sum(1 for o in gc.get_objects() if type(o) in (Value, Value32))


def live_registered() -> int:
    return sum(1 for ref in _objects.values() if ref() is not None)


# ---- micrograd's test_engine.py, against PyTorch --------------------------------------


def sanity_check(x):
    z = 2 * x + 2 + x
    q = z.relu() + z * x
    h = (z * z).relu()
    return h + q + q * x


def more_ops(a, b):
    c = a + b
    d = a * b + b**3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + (b + a).relu()
    d += 3 * d + (b - a).relu()
    e = c - d
    f = e**2
    g = f / 2.0
    g += 10.0 / f
    return g


def torch_results(function, *xs):
    """``function(*xs)`` and the gradients of ``xs``, by PyTorch, in a process
    of its own: once torch is loaded, cling may crash compiling new wrappers
    in the same process."""
    if importlib.util.find_spec("torch") is None:
        pytest.skip("PyTorch is not installed (pip install torch==2.13.0)")
    code = inspect.getsource(function) + textwrap.dedent(
        f"""
        import json, torch
        xs = [torch.tensor([x], dtype=torch.float64, requires_grad=True) for x in {list(xs)!r}]
        out = {function.__name__}(*xs)
        out.backward()
        print(json.dumps([out.item()] + [x.grad.item() for x in xs]))
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_sanity_check_against_pytorch():
    x = Value(-4.0)
    y = sanity_check(x)
    y.backward()
    y_torch, x_grad_torch = torch_results(sanity_check, -4.0)
    assert y.data == y_torch
    assert x.grad == x_grad_torch


def test_more_ops_against_pytorch():
    a, b = Value(-4.0), Value(2.0)
    g = more_ops(a, b)
    g.backward()
    g_torch, a_grad_torch, b_grad_torch = torch_results(more_ops, -4.0, 2.0)
    tol = 1e-6
    assert abs(g.data - g_torch) < tol
    assert abs(a.grad - a_grad_torch) < tol
    assert abs(b.grad - b_grad_torch) < tol


def test_more_ops_known_values():
    """The numbers micrograd's README prints, with or without PyTorch."""
    a, b = Value(-4.0), Value(2.0)
    g = more_ops(a, b)
    g.backward()
    assert g.data == pytest.approx(24.7041, abs=1e-4)
    assert a.grad == pytest.approx(138.8338, abs=1e-4)
    assert b.grad == pytest.approx(645.5773, abs=1e-4)


# ---- the moons demo --------------------------------------------------------------------


def load_make_moons():
    spec = importlib.util.spec_from_file_location("moons_script", REPO_ROOT / "scripts" / "moons.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_moons


def test_moons_demo_reaches_100_percent():
    """micrograd's demo.ipynb, its code as it is, on its 100 points."""
    random.seed(1337)
    X, y, _ = load_make_moons()(n_samples=100, noise=0.1, seed=0)
    y = y * 2 - 1
    model = MLP(2, [16, 16, 1])

    def loss():
        inputs = [list(map(Value, xrow)) for xrow in X]
        scores = list(map(model, inputs))
        losses = [(1 + -yi * scorei).relu() for yi, scorei in zip(y, scores)]
        data_loss = sum(losses) * (1.0 / len(losses))
        alpha = 1e-4
        reg_loss = alpha * sum(p * p for p in model.parameters())
        total_loss = data_loss + reg_loss
        accuracy = [(yi > 0) == (scorei.data > 0) for yi, scorei in zip(y, scores)]
        return total_loss, sum(accuracy) / len(accuracy)

    for k in range(100):
        total_loss, acc = loss()
        model.zero_grad()
        total_loss.backward()
        learning_rate = 1.0 - 0.9 * k / 100
        for p in model.parameters():
            p.data -= learning_rate * p.grad
    total_loss, acc = loss()
    assert acc == 1.0
    assert total_loss.data < 0.05


# ---- modules as micrograd builds them ---------------------------------------------------


class HandLayer(Module):
    """micrograd's Layer, written by a user from Neurons."""

    def __init__(self, nin, nout, **kwargs):
        self.neurons = [Neuron(nin, **kwargs) for _ in range(nout)]

    def __call__(self, x):
        out = [n(x) for n in self.neurons]
        return out[0] if len(out) == 1 else out

    def parameters(self):
        return [p for n in self.neurons for p in n.parameters()]


def test_hand_built_layer_starts_asymmetric_and_trains():
    layer = HandLayer(3, 4)
    weights = [tuple(p.data for p in n.w) for n in layer.neurons]
    assert len(set(weights)) == 4  # not four copies of one neuron
    x = [2.0, -1.0, 0.5]
    out = layer(x)
    loss = sum((o - 1.0) ** 2 for o in out)
    layer.zero_grad()
    loss.backward()
    for n, o in zip(layer.neurons, out):
        pre = sum(w.data * xi for w, xi in zip(n.w, x)) + n.b.data
        assert o.data == pytest.approx(max(pre, 0.0), rel=1e-12)
        upstream = 2 * (o.data - 1.0) * (pre > 0)
        assert [w.grad for w in n.w] == pytest.approx([upstream * xi for xi in x], rel=1e-12)
        assert n.b.grad == pytest.approx(upstream, rel=1e-12)
    before = loss.data
    for p in layer.parameters():
        p.data -= 0.05 * p.grad
    assert sum((o - 1.0) ** 2 for o in layer(x)).data < before


def test_module_subclass_zero_grad_works_from_parameters_alone():
    class Affine(Module):
        def __init__(self):
            self.w, self.b = Value(0.5), Value(-1.0)

        def __call__(self, x):
            return self.w * x + self.b

        def parameters(self):
            return [self.w, self.b]

    class Stack(Module):
        def __init__(self):
            self.first, self.second = Affine(), Layer(1, 2)

        def __call__(self, x):
            return self.second([self.first(x)])

        def parameters(self):
            return self.first.parameters() + self.second.parameters()

    model = Stack()
    assert Module().parameters() == []
    sum(model(3.0)).backward()
    assert any(p.grad != 0 for p in model.parameters())
    model.zero_grad()
    assert all(p.grad == 0 for p in model.parameters())


def test_layer_neurons_and_mlp_layers_are_module_objects():
    model = MLP(3, [4, 2])
    layers = model.layers
    assert [type(layer) for layer in layers] == [Layer, Layer]
    assert [(layer.nin, layer.nout, layer.activation) for layer in layers] == [
        (3, 4, "relu"),
        (4, 2, "linear"),
    ]
    assert all(type(n) is Neuron for layer in layers for n in layer.neurons)
    assert len(layers[0].neurons) == 4 and layers[1].neurons[0].nin == 4
    # A layer and its neurons compute what the model does.
    x = [0.1, -0.2, 0.3]
    hidden = layers[0](x)
    assert [h.data for h in hidden] == [n(x).data for n in layers[0].neurons]
    assert [o.data for o in layers[1](hidden)] == [o.data for o in model(x)]
    # The parts keep their owner alive.
    neuron = MLP(2, [3, 1]).layers[0].neurons[1]
    gc.collect()
    assert neuron([1.0, 2.0]).data >= 0 and len(neuron.parameters()) == 3


@pytest.mark.parametrize(
    "make_input",
    [
        list,
        tuple,
        lambda xs: (x for x in xs),
        lambda xs: map(float, xs),
        lambda xs: map(Value, xs),
        np.array,
        lambda xs: np.array([Value(x) for x in xs], dtype=object),
        lambda xs: np.array(xs, dtype=np.float32),
    ],
    ids=["list", "tuple", "generator", "map", "map(Value)", "array", "object array", "float32 array"],
)
@pytest.mark.parametrize("module", [Neuron(3, seed=1), Layer(3, 2, seed=1), MLP(3, [4, 2], seed=1)])
def test_modules_take_any_iterable(module, make_input):
    xs = [0.5, -1.0, 2.0]
    want = module(list(xs))
    got = module(make_input(xs))
    want, got = (want, got) if isinstance(want, list) else ([want], [got])
    assert [g.data for g in got] == pytest.approx([w.data for w in want], rel=1e-6)


@pytest.mark.parametrize("bad", [5, "abc", Value(1.0), np.zeros((1, 3))])
def test_modules_reject_what_is_not_one_sample(bad):
    with pytest.raises((TypeError, ValueError)):
        MLP(3, [2])(bad)


# ---- seeds -------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [lambda: Neuron(3), lambda: Layer(3, 4), lambda: MLP(3, [4, 1])])
def test_default_seed_comes_from_random(make):
    data = lambda module: [p.data for p in module.parameters()]  # noqa: E731
    first, second = make(), make()
    assert data(first) != data(second) and first.seed != second.seed
    random.seed(42)
    a = make()
    random.seed(42)
    b = make()
    assert data(a) == data(b) and a.seed == b.seed


@pytest.mark.parametrize(
    "make", [lambda s: Neuron(3, seed=s), lambda s: Layer(3, 4, seed=s), lambda s: MLP(3, [4, 1], seed=s)]
)
def test_explicit_seed_is_exact_and_kept(make):
    random.seed(1)
    a = make(7)
    random.seed(2)
    b = make(7)
    assert [p.data for p in a.parameters()] == [p.data for p in b.parameters()]
    assert a.seed == 7


def test_model_seed_is_saved_and_loaded(tmp_path):
    model = MLP(3, [4, 2])
    model.save(tmp_path / "m.npz")
    assert MLP.load(tmp_path / "m.npz").seed == model.seed


def test_fit_seed_comes_from_random_unless_given():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 2)), rng.integers(0, 2, size=40)

    def run(seed=None):
        model = MLP(2, [4, 2], seed=0)
        model.fit(x, y, epochs=1, batch_size=4, progress=False, seed=seed)
        return model

    random.seed(5)
    a = run()
    random.seed(5)
    b = run()
    c = run()
    assert a.fit_seed == b.fit_seed != c.fit_seed
    assert np.array_equal(a.get_weights()[0][0], b.get_weights()[0][0])
    assert not np.array_equal(a.get_weights()[0][0], c.get_weights()[0][0])
    assert run(seed=3).fit_seed == 3


# ---- one Python object per node ----------------------------------------------------------


@pytest.mark.parametrize("cls", [Value, Value32])
def test_prev_gives_the_same_objects(cls):
    a, b, c = cls(2.0), cls(-3.0), cls(10.0)
    d = a * b
    e = d + c
    f = d * a
    assert e._prev == {d, c} and f._prev == {d, a}
    (d_from_e,) = [p for p in e._prev if p is d]
    (d_from_f,) = [p for p in f._prev if p is d]
    assert d_from_e is d_from_f is d
    assert set(map(id, e.parents)) == {id(d), id(c)}
    assert (a * a)._prev == {a}


def test_attributes_and_labels_survive():
    a = Value(2.0, label="a")
    b = Value(-3.0)
    b.label = "b"
    c = a * b
    c.label = "c"
    d = c + a
    assert sorted(p.label for p in d._prev) == ["a", "c"]
    assert sorted(p.label for p in c._prev) == ["a", "b"]
    assert Value(1.0).label == ""
    # An intermediate Value's attributes last as long as it is held.
    c.note = {"seen": True}
    (again,) = [p for p in d._prev if p.label == "c"]
    assert again.note == {"seen": True}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_module_parameters_are_the_same_objects_for_life(dtype):
    model = MLP(3, [4, 2], dtype=dtype, seed=0)
    params = model.parameters()
    assert all(p is q for p, q in zip(params, model.parameters()))
    layer = model.layers[0]
    assert layer is model.layers[0]
    neuron = layer.neurons[2]
    assert neuron is model.layers[0].neurons[2]
    assert neuron.w[0] is params[2 * 4] and neuron.b is params[2 * 4 + 3]
    assert layer.parameters() == params[:16] and all(p is q for p, q in zip(layer.parameters(), params))
    # Optimizer state kept on the parameters (micrograd-style) lasts.
    for p in params:
        p.m = 0.0
    del params, layer, neuron
    gc.collect()
    assert all(p.m == 0.0 for p in model.parameters())
    # _prev of an output reaches the same parameter objects.
    out = model([1.0, 2.0, 3.0])[0]
    dot = next(iter(out._prev)) if out.op != "dot" else out
    reached = {id(p) for p in dot._prev}
    assert {id(p) for p in model.layers[1].neurons[0].parameters()} <= reached


@pytest.mark.parametrize("make", [lambda: Neuron(2), lambda: Layer(2, 3), lambda: MLP(2, [3, 1])])
def test_parameters_reached_through_a_graph_are_the_modules_own(make):
    module = make()
    out = module([1.0, -2.0])
    reached, stack = [], list(out) if isinstance(out, list) else [out]
    while stack:
        v = stack.pop()
        if not v._prev:
            reached.append(v)
        stack.extend(v._prev)
    for v in reached:
        v.label = f"seen {v.data}"
    del out, reached, stack, v
    gc.collect()
    labels = [p.label for p in module.parameters()]
    assert labels and all(label.startswith("seen") for label in labels)


def test_neuron_parameters_and_w_b_are_the_same_objects():
    n = Neuron(3)
    assert n.parameters() == n.w + [n.b]
    assert all(p is q for p, q in zip(n.parameters(), n.w + [n.b]))
    assert n.w[1] is n.w[1] and n.b is n.b


def test_op_results_and_cpp_ops_give_the_registered_object():
    x = Value(0.5)
    y = softplus(x)
    (parent,) = y._prev
    assert parent is x
    same = cpp_op("Value<double> same(const Value<double>& a) { return a; }")
    assert same(x) is x
    assert +x is x


# ---- ops written in Python ---------------------------------------------------------------


def test_python_custom_ops_under_gradcheck():
    assert gradcheck(lambda a: a.my_sigmoid(), [0.3])
    assert gradcheck(lambda a, b: a.times(b).my_sigmoid() * a, [0.3, -1.2])
    assert gradcheck(lambda a: a.times(a) + a.my_sigmoid().times(a.my_sigmoid()), [0.7])


def test_python_backward_runs_after_every_consumer():
    x = Value(0.5)
    s = x.my_sigmoid()
    seen = []
    inner = s._backward

    def recording():
        seen.append(s.grad)
        inner()

    s._backward = recording
    out = s * 3 + s * s + s.exp()
    out.backward()
    assert seen == [pytest.approx(3 + 2 * s.data + math.exp(s.data))]
    assert x.grad == pytest.approx(seen[0] * s.data * (1 - s.data))


def test_constructor_as_micrograd_has_it():
    a = Value(2.0)
    out = Value(4.0, (a, a), "square", label="sq")
    assert (out.data, out.op, out._op, out.label) == (4.0, "square", "square", "sq")
    assert out._prev == {a} and out.parents == (a, a)
    assert Value(3.0, _op="const").op == "const"
    assert Value(1.0)._op == "" and Value(1.0)._prev == set()
    v32 = Value32(1.5, (Value32(1.0),), "f")
    assert isinstance(v32, Value32) and v32.op == "f"


@pytest.mark.parametrize(
    "args, message",
    [
        ((1.0, (1.0,), "f"), "_children\\[0\\] must be a Value"),
        ((1.0, (Value32(1.0),), "f"), "_children\\[0\\] must be a Value"),
        ((1.0, 5, "f"), "_children must be a tuple"),
        ((1.0, (), 3), "_op must be a string"),
        ((Value(1.0),), "takes a number"),
    ],
)
def test_constructor_rejects_bad_arguments(args, message):
    with pytest.raises(TypeError, match=message):
        Value(*args)


def test_backward_of_built_in_ops_can_be_called_by_hand():
    """micrograd's lecture: back-propagate one node at a time."""

    def neuron():
        x1, x2, w1, w2, b = Value(2.0), Value(0.0), Value(-3.0), Value(1.0), Value(6.8813735870195432)
        n = x1 * w1 + x2 * w2 + b
        return [x1, x2, w1, w2, b], n, n.tanh()

    leaves, n, o = neuron()
    o.grad = 1.0
    o._backward()
    n._backward()
    for p in n._prev:
        p._backward()
        for q in p._prev:
            q._backward()
    auto_leaves, _, auto_o = neuron()
    auto_o.backward()
    assert [v.grad for v in leaves] == pytest.approx([v.grad for v in auto_leaves], rel=1e-12)
    Value(1.0)._backward()  # a leaf's step does nothing


def test_micrograd_topological_backward_by_hand_matches_backward():
    """micrograd's backward(), written out by a learner: build_topo over _prev,
    then each node's _backward() in reverse, built-in, Python and fused ops alike."""

    def graph():
        x, y = Value(0.4), Value(-1.3)
        model = MLP(2, [3, 1], seed=0)
        out = (model([x, y.my_sigmoid()]) * x).tanh() + x.times(y) ** 2
        return [x, y, *model.parameters()], out

    leaves, out = graph()
    topo, visited = [], set()

    def build_topo(v):
        if v not in visited:
            visited.add(v)
            for child in v._prev:
                build_topo(child)
            topo.append(v)

    build_topo(out)
    out.grad = 1.0
    for node in reversed(topo):
        node._backward()
    auto_leaves, auto_out = graph()
    auto_out.backward()
    assert [v.grad for v in leaves] == pytest.approx([v.grad for v in auto_leaves], rel=1e-12)


def test_backward_cannot_be_set_on_built_in_nodes():
    a = Value(1.0)
    with pytest.raises(AttributeError, match="leaf"):
        a._backward = lambda: None
    with pytest.raises(AttributeError, match="built-in op '\\*'"):
        (a * 2)._backward = lambda: None
    with pytest.raises(TypeError, match="callable"):
        Value(1.0, (a,), "f")._backward = 3


class StepFailed(Exception):
    pass


def test_errors_in_python_backward_reach_the_caller_and_the_graph_stays_usable():
    x = Value(0.8)
    s = x.my_sigmoid()
    bad = Value(s.data * 2, (s,), "flaky")
    failures = [StepFailed("first call fails")]

    def flaky():
        if failures:
            raise failures.pop()
        s.grad += 2 * bad.grad

    bad._backward = flaky
    out = bad * bad + s
    with pytest.raises(StepFailed, match="first call fails") as info:
        out.backward()
    assert isinstance(info.value, StepFailed)
    x.grad = 0
    out.backward()
    reference = Value(0.8)
    rs = reference.my_sigmoid()
    (rs * 2 * (rs * 2) + rs).backward()
    assert x.grad == pytest.approx(reference.grad, rel=1e-12)
    out.backward()  # and again: the walk's state is whole
    assert x.grad == pytest.approx(2 * reference.grad, rel=1e-12)


# ---- lifetimes of graphs with Python ops -------------------------------------------------

if not hasattr(cppyy.gbl, "cpp_grad_lifetime_tests"):
    cppyy.cppdef(
        """
        namespace cpp_grad_lifetime_tests {
        long live = 0;
        struct Counted : cpp_grad::_Value<double> {
          explicit Counted(double d) : cpp_grad::_Value<double>(d) { ++live; }
          ~Counted() override { --live; }
        };
        cpp_grad::Value<double> counted_leaf(double d) {
          return cpp_grad::Value<double>(std::make_shared<Counted>(d));
        }
        cpp_grad::Value<double> twice(const cpp_grad::Value<double>& a) { return a * 2.0; }
        }
        """
    )
lifetime = cppyy.gbl.cpp_grad_lifetime_tests
_emit_now([lifetime.counted_leaf, lifetime.twice])  # see its docstring: cling's lazy emission
counted_leaf = cpp_op(lifetime.counted_leaf)


def test_temporaries_keep_their_python_backward_through_gc():
    x, y = Value(0.3), 0.7
    loss = (x.my_sigmoid() - y) ** 2 + softplus(x.my_sigmoid()) + MLP(1, [2, 1], seed=0)([x.my_sigmoid()])
    gc.collect()
    loss.backward()
    s = 1 / (1 + math.exp(-0.3))
    expected = Value(0.3)
    expected_loss = (expected.sigmoid() - y) ** 2 + softplus(expected.sigmoid())
    expected_loss += MLP(1, [2, 1], seed=0)([expected.sigmoid()])
    expected_loss.backward()
    assert x.grad == pytest.approx(expected.grad, rel=1e-12)
    assert x.grad != 0 and 0 < s < 1


def test_graphs_with_python_ops_are_freed():
    gc.collect()
    values_before, registered_before = live_values(), live_registered()
    nodes_before = lifetime.live
    for i in range(10_000):
        x = counted_leaf(0.01 * (i % 100))
        loss = (x.my_sigmoid() - 0.5) ** 2 + x.times(x.my_sigmoid())
        if i % 100 == 0:
            loss.backward()
    assert lifetime.live >= nodes_before + 1  # the last graph is still held
    del x, loss
    gc.collect()
    assert lifetime.live == nodes_before
    assert live_values() == values_before
    assert live_registered() == registered_before
    assert len(_objects) <= 2 * registered_before + 4096  # gone Values' entries are swept


def test_a_node_kept_only_by_a_direct_cpp_call_fails_loudly():
    x = Value(0.3)
    kept = lifetime.twice(x.my_sigmoid())  # not through cpp_op: nothing keeps the sigmoid's Value
    gc.collect()
    with pytest.raises(RuntimeError, match="cpp_op"):
        kept.backward()
    through_cpp_op = cpp_op(lifetime.twice)(x.my_sigmoid())
    gc.collect()
    through_cpp_op.backward()
    assert x.grad != 0


def test_fit_and_predict_make_no_python_values(monkeypatch):
    """Identity costs the training loop nothing: fit, predict and evaluate
    never make a Python object per node."""
    import cpp_grad.value

    class CountingRegistry(dict):
        added = 0

        def __setitem__(self, key, value):
            CountingRegistry.added += 1
            super().__setitem__(key, value)

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 3)), rng.integers(0, 2, size=64)
    model = MLP(3, [8, 2], seed=0)
    monkeypatch.setattr(cpp_grad.value, "_objects", CountingRegistry(cpp_grad.value._objects))
    gc.collect()
    values_before = live_values()
    model.fit(x, y, epochs=2, batch_size=8, progress=False, seed=0)
    model.predict(x)
    model.evaluate(x, y)
    assert CountingRegistry.added == 0
    assert live_values() == values_before
    model.parameters()  # the check itself sees Values being made
    assert CountingRegistry.added == model.num_parameters()


# ---- ops written in C++ at the REPL -------------------------------------------------------


@pytest.mark.parametrize("x", [-2.0, 0.3, 1.7])
def test_cpp_op_softplus_under_gradcheck(x):
    assert softplus(Value(x)).data == pytest.approx(math.log1p(math.exp(x)), rel=1e-15)
    assert gradcheck(softplus, [x])
    assert gradcheck(lambda a, b: softplus(a * b) * a, [x, -0.4])
    assert gradcheck(softplus, [Value32(x)], eps=1e-2, atol=1e-3, rtol=1e-2)


def test_cpp_op_as_a_method_and_redefined():
    Value.softplus = softplus
    try:
        assert Value(0.0).softplus().data == pytest.approx(math.log(2))
    finally:
        del Value.softplus
    double = cpp_op("Value<double> f(const Value<double>& a) { return a * 2.0; }")
    triple = cpp_op("Value<double> f(const Value<double>& a) { return a * 3.0; }")
    assert (double(Value(1.0)).data, triple(Value(1.0)).data) == (2.0, 3.0)


def test_cpp_op_errors_are_clear():
    with pytest.raises(SyntaxError, match="does not compile"):
        cpp_op("Value<double> broken(const Value<double>& a) { return a +; }")
    with pytest.raises(ValueError, match="pass name="):
        cpp_op("double f(double x) { return x; } double g(double x) { return x; }")
    with pytest.raises(ValueError, match="no 'h'"):
        cpp_op("double f(double x) { return x; }", name="h")
    with pytest.raises(TypeError, match=r"C\+\+ code"):
        cpp_op(123)


# ---- micrograd's draw_dot ----------------------------------------------------------------


def micrograd_trace(root):
    nodes, edges = set(), set()

    def build(v):
        if v not in nodes:
            nodes.add(v)
            for child in v._prev:
                edges.add((child, v))
                build(child)

    build(root)
    return nodes, edges


def micrograd_draw_dot(root):
    graphviz = pytest.importorskip("graphviz")
    dot = graphviz.Digraph(format="svg", graph_attr={"rankdir": "LR"})
    nodes, edges = micrograd_trace(root)
    for n in nodes:
        uid = str(id(n))
        label = "{ %s | data %.4f | grad %.4f }" % (n.label, n.data, n.grad)  # noqa: UP031 - micrograd's code
        dot.node(name=uid, label=label, shape="record")
        if n._op:
            dot.node(name=uid + n._op, label=n._op)
            dot.edge(uid + n._op, uid)
    for n1, n2 in edges:
        dot.edge(str(id(n1)), str(id(n2)) + n2._op)
    return dot, nodes, edges


def test_micrograd_draw_dot_with_a_node_used_twice():
    a, b = Value(2.0, label="a"), Value(-3.0, label="b")
    d = a * b
    d.label = "d"
    e, f = d + a, d * b
    e.label, f.label = "e", "f"
    g = e + f
    g.label = "g"
    g.backward()
    dot, nodes, edges = micrograd_draw_dot(g)
    assert len(nodes) == 6 and len(edges) == 8
    declared = {line.split()[0].strip('"') for line in dot.body if "label=" in line}
    used = {end.strip('"') for line in dot.body if "->" in line for end in line.split()[::2]}
    assert used <= declared, f"dangling edges to {used - declared}"
    assert {n.label for n in nodes} == set("abdefg")
