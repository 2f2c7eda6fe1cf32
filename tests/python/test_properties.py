"""Property-based tests: random expression graphs over every op, checked
against central finite differences and against a tiny pure-Python reference
engine; random MLP shapes checked against numpy."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from cpp_grad import Value
from cpp_grad.nn import MLP


class Ref:
    """A pure-Python reverse-mode reference, micrograd-style, for checking."""

    def __init__(self, data, parents=(), local_grads=()):
        self.data, self.grad = data, 0.0
        self._parents, self._local = parents, local_grads

    def backward(self):
        order, seen, stack = [], set(), [(self, False)]
        while stack:  # iterative post-order
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
            elif id(node) not in seen:
                seen.add(id(node))
                stack.append((node, True))
                stack.extend((p, False) for p in node._parents)
        self.grad = 1.0
        for node in reversed(order):
            for parent, local in zip(node._parents, node._local):
                parent.grad += local * node.grad


# Each op: (arity, function on Values, function on Ref with local derivatives).
def _sigmoid(x):
    return 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))


OPS = {
    "add": (2, lambda a, b: a + b, lambda a, b: Ref(a.data + b.data, (a, b), (1.0, 1.0))),
    "sub": (2, lambda a, b: a - b, lambda a, b: Ref(a.data - b.data, (a, b), (1.0, -1.0))),
    "mul": (2, lambda a, b: a * b, lambda a, b: Ref(a.data * b.data, (a, b), (b.data, a.data))),
    "div": (
        2,
        lambda a, b: a / (b * b + 1),
        lambda a, b: _ref_div(a, b),
    ),
    "rsub": (1, lambda a: 2 - a, lambda a: Ref(2 - a.data, (a,), (-1.0,))),
    "rdiv": (1, lambda a: 2 / (a * a + 1), lambda a: _ref_rdiv(a)),
    "neg": (1, lambda a: -a, lambda a: Ref(-a.data, (a,), (-1.0,))),
    "square": (1, lambda a: a**2, lambda a: Ref(a.data**2, (a,), (2 * a.data,))),
    "tanh": (1, lambda a: a.tanh(), lambda a: _ref_tanh(a)),
    "sigmoid": (1, lambda a: a.sigmoid(), lambda a: _ref_sigmoid(a)),
    "relu": (1, lambda a: a.relu(), lambda a: Ref(max(a.data, 0.0), (a,), (1.0 if a.data > 0 else 0.0,))),
    "exp": (1, lambda a: (a.tanh()).exp(), lambda a: _ref_exp_tanh(a)),
    "log": (1, lambda a: (a * a + 1).log(), lambda a: _ref_log1p_square(a)),
}


def _ref_div(a, b):
    d = Ref(b.data * b.data + 1, (b,), (2 * b.data,))
    return Ref(a.data / d.data, (a, d), (1 / d.data, -a.data / d.data**2))


def _ref_rdiv(a):
    d = Ref(a.data * a.data + 1, (a,), (2 * a.data,))
    return Ref(2 / d.data, (d,), (-2 / d.data**2,))


def _ref_tanh(a):
    t = math.tanh(a.data)
    return Ref(t, (a,), (1 - t * t,))


def _ref_sigmoid(a):
    s = _sigmoid(a.data)
    return Ref(s, (a,), (s * (1 - s),))


def _ref_exp_tanh(a):
    t = _ref_tanh(a)
    e = math.exp(t.data)
    return Ref(e, (t,), (e,))


def _ref_log1p_square(a):
    d = Ref(a.data * a.data + 1, (a,), (2 * a.data,))
    return Ref(math.log(d.data), (d,), (1 / d.data,))


# A program: a list of (op name, operand indices) over a growing list of nodes.
programs = st.lists(
    st.tuples(st.sampled_from(sorted(OPS)), st.integers(0, 10**6), st.integers(0, 10**6)),
    min_size=1,
    max_size=25,
)
inputs = st.lists(st.floats(-3, 3, allow_nan=False), min_size=1, max_size=4)


def run(program, leaves, make_op):
    nodes = list(leaves)
    for name, i, j in program:
        arity, *_ = OPS[name]
        a, b = nodes[i % len(nodes)], nodes[j % len(nodes)]
        nodes.append(make_op(name)(a, b) if arity == 2 else make_op(name)(a))
    return nodes[-1] + nodes[len(leaves) - 1] * 0.5  # every input may matter


def value_op(name):
    return OPS[name][1]


def ref_add_half(out, last):
    half = Ref(last.data * 0.5, (last,), (0.5,))
    return Ref(out.data + half.data, (out, half), (1.0, 1.0))


def run_ref(program, xs):
    nodes = [Ref(x) for x in xs]
    leaves = list(nodes)
    for name, i, j in program:
        arity, _, ref = OPS[name]
        a, b = nodes[i % len(nodes)], nodes[j % len(nodes)]
        nodes.append(ref(a, b) if arity == 2 else ref(a))
    root = ref_add_half(nodes[-1], nodes[len(xs) - 1])
    return root, leaves


@settings(max_examples=150, deadline=None)
@given(programs, inputs)
def test_random_graphs_match_the_python_reference(program, xs):
    leaves = [Value(x) for x in xs]
    root = run(program, leaves, value_op)
    root.backward()
    ref_root, ref_leaves = run_ref(program, xs)
    ref_root.backward()
    assert math.isclose(root.data, ref_root.data, rel_tol=1e-12, abs_tol=1e-12)
    for mine, theirs in zip(leaves, ref_leaves):
        assert math.isclose(mine.grad, theirs.grad, rel_tol=1e-9, abs_tol=1e-9)


@settings(max_examples=80, deadline=None)
@given(programs, inputs)
def test_random_graphs_match_finite_differences(program, xs):
    relu_inputs = []

    def recording_op(name):
        if name != "relu":
            return OPS[name][1]

        def relu(a):
            relu_inputs.append(a.data)
            return a.relu()

        return relu

    leaves = [Value(x) for x in xs]
    root = run(program, leaves, recording_op)
    root.backward()
    eps = 1e-6
    # A difference quotient across relu's kink means nothing: skip such points.
    if any(abs(r) < 1e-3 for r in relu_inputs):
        return
    for k, leaf in enumerate(leaves):
        up = run(program, [Value(x + (eps if i == k else 0)) for i, x in enumerate(xs)], value_op)
        down = run(program, [Value(x - (eps if i == k else 0)) for i, x in enumerate(xs)], value_op)
        numeric = (up.data - down.data) / (2 * eps)
        assert abs(numeric - leaf.grad) <= 1e-5 * max(1.0, abs(numeric)), (
            f"input {k}: analytic {leaf.grad}, numeric {numeric}"
        )


@settings(max_examples=25, deadline=None)
@given(
    nin=st.integers(1, 12),
    nouts=st.lists(st.integers(1, 8), min_size=1, max_size=3),
    activation=st.sampled_from(["relu", "tanh"]),
    seed=st.integers(0, 2**32),
    data=st.data(),
)
def test_random_mlp_shapes_match_numpy(nin, nouts, activation, seed, data):
    model = MLP(nin, nouts, activation=activation, seed=seed)
    assert len(model.parameters()) == sum((a + 1) * b for a, b in zip([nin, *nouts], nouts))
    x = np.array(data.draw(st.lists(st.floats(-2, 2), min_size=nin, max_size=nin)))
    h = x
    for i, (w, b) in enumerate(model.get_weights()):
        h = w @ h + b
        if i + 1 < len(nouts):
            h = np.maximum(h, 0) if activation == "relu" else np.tanh(h)
    out = model(list(x))
    out = [out] if nouts[-1] == 1 else out
    np.testing.assert_allclose([v.data for v in out], h, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(model.predict(x[None, :])[0], h, rtol=1e-9, atol=1e-12)
