"""Property-based tests: random expression graphs over every op, checked
against central finite differences and against a tiny pure-Python reference
engine; random MLP shapes checked against numpy."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from reference_engine import Ref

from cpp_grad import Value, gradcheck
from cpp_grad.nn import MLP

# Each op, written once for both engines, keeps its operands in a safe domain.
OPS = {
    "add": (2, lambda a, b: a + b),
    "sub": (2, lambda a, b: a - b),
    "mul": (2, lambda a, b: a * b),
    "div": (2, lambda a, b: a / (b * b + 1)),
    "rsub": (1, lambda a: 2 - a),
    "rdiv": (1, lambda a: 2 / (a * a + 1)),
    "neg": (1, lambda a: -a),
    "square": (1, lambda a: a**2),
    "tanh": (1, lambda a: a.tanh()),
    "sigmoid": (1, lambda a: a.sigmoid()),
    "relu": (1, lambda a: a.relu()),
    "exp": (1, lambda a: a.tanh().exp()),
    "log": (1, lambda a: (a * a + 1).log()),
}


# A program: a list of (op name, operand indices) over a growing list of nodes.
programs = st.lists(
    st.tuples(st.sampled_from(sorted(OPS)), st.integers(0, 10**6), st.integers(0, 10**6)),
    min_size=1,
    max_size=25,
)
inputs = st.lists(st.floats(-3, 3, allow_nan=False), min_size=1, max_size=4)


def run(program, leaves, op_of=lambda name: OPS[name][1]):
    """Applies `program` to the leaves (Values or Refs); returns the root."""
    nodes = list(leaves)
    for name, i, j in program:
        arity = OPS[name][0]
        a, b = nodes[i % len(nodes)], nodes[j % len(nodes)]
        nodes.append(op_of(name)(a, b) if arity == 2 else op_of(name)(a))
    return nodes[-1] + nodes[len(leaves) - 1] * 0.5  # every input may matter


def close(a, b, rel_tol, abs_tol) -> bool:
    """Equal up to rounding; NaN (a graph that overflowed, inf - inf) matches NaN."""
    return math.isclose(a, b, rel_tol=rel_tol, abs_tol=abs_tol) or (math.isnan(a) and math.isnan(b))


def assert_matches_reference(program, xs, build):
    leaves, ref_leaves = [Value(x) for x in xs], [Ref(x) for x in xs]
    root, ref_root = build(program, leaves), build(program, ref_leaves)
    root.backward()
    ref_root.backward()
    # The reference composes some ops (a / b as a * b**-1): equal up to rounding.
    assert close(root.data, ref_root.data, rel_tol=1e-9, abs_tol=1e-12)
    for mine, theirs in zip(leaves, ref_leaves):
        assert close(mine.grad, theirs.grad, rel_tol=1e-9, abs_tol=1e-9)
    # A second backward() recomputes the intermediate grads: leaves get twice as much.
    root.backward()
    for mine, theirs in zip(leaves, ref_leaves):
        assert close(mine.grad, 2 * theirs.grad, rel_tol=1e-9, abs_tol=1e-9)


@settings(max_examples=150, deadline=None)
@given(programs, inputs)
def test_random_graphs_match_the_python_reference(program, xs):
    assert_matches_reference(program, xs, run)


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

    run(program, [Value(x) for x in xs], recording_op)
    # A difference quotient across relu's kink means nothing: skip such points.
    if any(abs(r) < 1e-3 for r in relu_inputs):
        return
    assert gradcheck(lambda *leaves: run(program, list(leaves)), xs, eps=1e-6, atol=1e-5, rtol=1e-5)


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


# Graphs whose nodes use one parent twice (x * x, x + x, x - x) or a recent
# node again: the shapes that test teardown (a node owning its parent twice)
# and that a walk must count once per use. Programs index from the newest
# node back, so most operands are recent and many ops take one node twice.
REUSE_OPS = {
    "mul_self": lambda a, b: a * a,
    "add_self": lambda a, b: (a + a) * 0.5,
    "sub_self": lambda a, b: a - a + b,
    "div_self": lambda a, b: a / (a * a + 1),
    "mul": lambda a, b: (a * b).tanh(),
    "add": lambda a, b: (a + b) * 0.5,
    "sigmoid_sum": lambda a, b: (a + b + a).sigmoid(),
}

reuse_programs = st.lists(
    st.tuples(st.sampled_from(sorted(REUSE_OPS)), st.integers(0, 3), st.integers(0, 3)),
    min_size=1,
    max_size=60,
)


def run_reusing(program, leaves):
    nodes = list(leaves)
    for name, back_a, back_b in program:
        a, b = nodes[-1 - back_a % len(nodes)], nodes[-1 - back_b % len(nodes)]
        nodes.append(REUSE_OPS[name](a, b))
    return nodes[-1] + nodes[0] * 0.5


@settings(max_examples=150, deadline=None)
@given(reuse_programs, st.lists(st.floats(-1.5, 1.5, allow_nan=False), min_size=1, max_size=3))
def test_random_graphs_reusing_parents_match_the_python_reference(program, xs):
    assert_matches_reference(program, xs, run_reusing)


@settings(max_examples=12, deadline=None)
@given(
    st.lists(st.sampled_from(sorted(REUSE_OPS)), min_size=1, max_size=8),
    st.integers(2_000, 20_000),
    st.lists(st.floats(-1.5, 1.5, allow_nan=False), min_size=1, max_size=3),
)
def test_deep_graphs_reusing_parents_match_the_python_reference(pattern, depth, xs):
    # A pattern of ops repeated to `depth` nodes, each on the newest node (twice, or with the one before).
    program = [(pattern[i % len(pattern)], 0, i % 2) for i in range(depth)]
    assert_matches_reference(program, xs, run_reusing)
