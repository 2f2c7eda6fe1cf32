"""Tests for cpp_grad.Value / Value32 through the Python API: values, gradients
(against central finite differences and a pure-Python reference), semantics
and bad input."""

import math
import random
import time

import numpy as np
import pytest
from reference_engine import Ref

from cpp_grad import Value, Value32

NAN, INF = float("nan"), float("inf")


def central_difference(f, x, h=1e-6):
    """df/dx at x by central differences, the step scaled to |x|."""
    step = h * max(1.0, abs(x))
    return (f(x + step) - f(x - step)) / (2 * step)


def value_and_grads(f, *points):
    """f's output data and the grads of its leaves, computed by the engine."""
    leaves = [Value(p) for p in points]
    out = f(*leaves)
    out.backward()
    return out.data, [leaf.grad for leaf in leaves]


def assert_close(got, expected, rel=1e-6, abs_=1e-9):
    assert got == pytest.approx(expected, rel=rel, abs=abs_)


# ---- construction, dtype, properties, repr -----------------------------------


def test_value_is_float64_and_value32_is_float32():
    assert Value(2.0).dtype == "float64"
    assert Value32(2.0).dtype == "float32"
    assert Value(0.1).data == 0.1
    assert Value32(0.1).data == float(np.float32(0.1)) != 0.1
    assert (Value32(0.1) * 3).data == float(np.float32(np.float32(0.1) * np.float32(3)))


@pytest.mark.parametrize("cls", [Value, Value32])
def test_data_and_grad_read_and_write(cls):
    v = cls(2.0)
    assert (v.data, v.grad) == (2.0, 0.0)
    v.data = -3
    v.grad = 1.5
    assert (v.data, v.grad) == (-3.0, 1.5)
    with pytest.raises(TypeError, match="str"):
        v.data = "x"
    with pytest.raises(TypeError, match="NoneType"):
        v.grad = None


@pytest.mark.parametrize("number", [2, 2.0, np.float64(2.0), np.float32(2.0), np.int32(2)])
def test_constructs_from_any_real_number(number):
    assert Value(number).data == 2.0


def test_repr():
    assert repr(Value(2.0)) == "Value(data=2.0, grad=0.0)"
    assert str(Value(-0.5)) == "Value(data=-0.5, grad=0.0)"
    assert repr(Value32(2.0)) == "Value32(data=2.0, grad=0.0)"


def test_micrograd_attributes():
    a, b = Value(2.0), Value(3.0)
    assert a._op == "" and a._prev == set()
    c = a * b
    assert c._op == "*"
    assert c._prev == {a, b}
    assert (a * a)._prev == {a}
    assert (a + 1)._op == "+" and (a + 1)._prev == {a}
    assert a.relu()._op == "relu"


# ---- every op against finite differences --------------------------------------

UNARY = [
    # (name, engine op, reference on floats, points)
    ("neg", lambda a: -a, lambda x: -x, [-2.5, 0.0, 1e4]),
    ("pos", lambda a: +a * 1.0, lambda x: x, [-2.5, 3.0]),
    ("relu", lambda a: a.relu(), lambda x: max(0.0, x), [-2.0, -1e-3, 0.5, 1e3]),
    ("tanh", lambda a: a.tanh(), math.tanh, [-3.0, 0.0, 0.7, 20.0]),
    ("exp", lambda a: a.exp(), math.exp, [-5.0, 0.0, 1.3, 50.0]),
    ("log", lambda a: a.log(), math.log, [1e-3, 1.0, 7.0, 1e6]),
    ("sigmoid", lambda a: a.sigmoid(), lambda x: 1 / (1 + math.exp(-x)), [-30.0, -1.0, 0.0, 2.0, 40.0]),
]
UNARY_CASES = [(name, f, ref, x) for name, f, ref, points in UNARY for x in points]


@pytest.mark.parametrize("name, f, ref, x", UNARY_CASES, ids=[f"{c[0]}({c[3]})" for c in UNARY_CASES])
def test_unary_op_value_and_gradient(name, f, ref, x):
    data, (grad,) = value_and_grads(f, x)
    assert_close(data, ref(x), rel=1e-12, abs_=1e-300)
    assert_close(grad, central_difference(ref, x))


POW_CASES = [
    (k, x)
    for k, points in [
        (2, [-3.0, 0.0, 1.5, 1e3]),
        (3, [-2.0, 0.0, 0.5, 1e2]),
        (1, [-2.0, 0.0, 4.0]),
        (-1, [-2.0, 0.5, 1e3]),
        (-2.5, [0.3, 2.0, 1e2]),
        (0.5, [1e-2, 2.0, 1e6]),
        (1.5, [0.2, 3.0]),
        (0, [-2.0, 3.0]),
    ]
    for x in points
]


@pytest.mark.parametrize("k, x", POW_CASES)
def test_pow_value_and_gradient(k, x):
    data, (grad,) = value_and_grads(lambda a: a**k, x)
    assert_close(data, x**k, rel=1e-12)
    assert_close(grad, central_difference(lambda t: t**k, x))


def test_pow_zero_at_zero_has_zero_gradient():
    # d(x^0)/dx = 0 everywhere; 0 * 0^-1 = 0 * inf must not leak a NaN.
    data, (grad,) = value_and_grads(lambda a: a**0, 0.0)
    assert data == 1.0
    assert grad == 0.0


def test_pow_accepts_numpy_exponents():
    assert (Value(3.0) ** np.int64(2)).data == 9.0
    assert (Value(4.0) ** np.float32(0.5)).data == 2.0


BINARY = [
    ("add", lambda a, b: a + b),
    ("sub", lambda a, b: a - b),
    ("mul", lambda a, b: a * b),
    ("div", lambda a, b: a / b),
]
BINARY_POINTS = [(-1.5, 2.0), (0.0, 3.0), (2.5, -0.25), (1e3, -7.0), (-4.0, 1e-2)]


@pytest.mark.parametrize("x, y", BINARY_POINTS)
@pytest.mark.parametrize("name, op", BINARY, ids=[b[0] for b in BINARY])
def test_value_op_value(name, op, x, y):
    data, (grad_a, grad_b) = value_and_grads(op, x, y)
    assert_close(data, op(x, y), rel=1e-15)
    assert_close(grad_a, central_difference(lambda t: op(t, y), x))
    assert_close(grad_b, central_difference(lambda t: op(x, t), y))


@pytest.mark.parametrize(
    "name, op, grad",
    [
        ("a+a", lambda a: a + a, lambda x: 2.0),
        ("a-a", lambda a: a - a, lambda x: 0.0),
        ("a*a", lambda a: a * a, lambda x: 2 * x),
        ("a/a", lambda a: a / a, lambda x: 0.0),
    ],
)
@pytest.mark.parametrize("x", [-3.0, 0.5, 1e3])
def test_op_with_itself(name, op, grad, x):
    _, (g,) = value_and_grads(op, x)
    assert_close(g, grad(x), rel=1e-12, abs_=1e-12)


NUMBERS = [2, -3.5, 1e3]
NUMBER_OPS = [
    ("v+k", lambda a, k: a + k),
    ("k+v", lambda a, k: k + a),
    ("v-k", lambda a, k: a - k),
    ("k-v", lambda a, k: k - a),
    ("v*k", lambda a, k: a * k),
    ("k*v", lambda a, k: k * a),
    ("v/k", lambda a, k: a / k),
    ("k/v", lambda a, k: k / a),
]


NUMBER_CASES = [
    pytest.param(op, k, x, id=f"{name}-k={k}-v={x}")
    for name, op in NUMBER_OPS
    for k in NUMBERS
    for x in [-2.0, 0.0, 0.75, 1e4]
    if not (name == "k/v" and x == 0.0)
]


@pytest.mark.parametrize("op, k, x", NUMBER_CASES)
def test_value_op_number(op, k, x):
    data, (grad,) = value_and_grads(lambda a: op(a, k), x)
    assert_close(data, op(x, k), rel=1e-15)
    assert_close(grad, central_difference(lambda t: op(t, k), x))


# ---- the original engine's bugs -------------------------------------------------


def test_gradient_of_difference():
    a, b = Value(5.0), Value(3.0)
    c = a - b
    c.backward()
    assert (c.data, a.grad, b.grad) == (2.0, 1.0, -1.0)


def test_number_minus_value():
    v = Value(5.0)
    out = 2 - v
    out.backward()
    assert (out.data, v.grad) == (-3.0, -1.0)


def test_number_over_value():
    v = Value(4.0)
    out = 2 / v
    out.backward()
    assert out.data == 0.5
    assert v.grad == pytest.approx(-2 / 16, rel=1e-15)


# ---- comparisons and hashing ----------------------------------------------------


def test_ordering_compares_data():
    a, b = Value(2.0), Value(3.0)
    assert a < b and b > a and a <= b and b >= a
    assert a < 3 and a > 1.5 and 3 > a and 1 < a
    assert sorted([b, a, Value(-1.0)])[0].data == -1.0
    assert max([a, b]) is b


def test_equality_is_the_same_node_as_in_micrograd():
    a, b = Value(1.0), Value(1.0)
    assert a == a and not a != a
    assert a != b and not a == b
    assert a != 1.0 and not a == 1.0 and 1.0 != a
    assert Value(1.0) != Value32(1.0)
    items = [a, b]
    assert items.index(b) == 1 and b in items and Value(1.0) not in items
    items.remove(b)
    assert items == [a] and items[0] is a


def test_values_live_in_sets_and_dicts_by_node():
    same_data = [Value(1.0) for _ in range(100)]
    assert len(set(same_data)) == 100
    table = {v: i for i, v in enumerate(same_data)}
    assert [table[v] for v in same_data] == list(range(100))
    a = Value(1.0)
    assert a not in set(same_data)
    # Reaching a node again gives its one Python object, equal and hashed alike.
    (parent,) = (a * 2)._prev
    assert parent is a and parent in {a} and hash(parent) == hash(a)


# ---- accumulation, shared subgraphs, big graphs ---------------------------------


def test_two_backward_calls_give_twice_the_leaf_grads():
    a, b = Value(1.5), Value(-2.0)
    c = a * b
    out = c * c + b.exp() - a / b
    out.backward()
    first = (a.grad, b.grad, c.grad)
    out.backward()
    assert a.grad == 2 * first[0]
    assert b.grad == 2 * first[1]
    assert c.grad == first[2]  # intermediate grads are computed afresh


def test_shared_subgraph():
    a, b = Value(2.0), Value(-3.0)
    c = a * b
    d = c * c + c  # c used three times
    e = d + d
    e.backward()
    assert e.data == 2 * (36 - 6)
    assert c.grad == 2 * (2 * c.data + 1)
    assert a.grad == c.grad * b.data
    assert b.grad == c.grad * a.data


def test_node_used_100000_times():
    x = Value(3.0)
    y = Value(0.0)
    for _ in range(100_000):
        y = y + x * 2.0
    y.backward()
    assert y.data == 600_000.0
    assert x.grad == 200_000.0


def test_million_node_chain_backward_and_free():
    started = time.perf_counter()
    x = Value(1.0)
    y = Value(0.5)
    for _ in range(1_000_000):
        y = y + x
    y.backward()
    assert y.data == 1_000_000.5
    assert x.grad == 1_000_000.0
    del y  # frees a million nodes: must not recurse the stack
    assert x.data == 1.0
    assert time.perf_counter() - started < 15


def test_million_node_product_chain():
    x = Value(2.0)
    y = Value(1.0)
    for _ in range(1_000_000):
        y = y * 1.0000001 + x
    y.backward()
    growth = 1.0000001**1_000_000
    assert y.data == pytest.approx(growth + 2 * (growth - 1) / 1e-7, rel=1e-6)
    assert x.grad == pytest.approx((growth - 1) / 1e-7, rel=1e-6)


def test_micrograd_style_training_loop_decreases_loss():
    rng = random.Random(0)
    w = [Value(rng.uniform(-1, 1)) for _ in range(3)]
    b = Value(0.0)
    xs = [[2.0, 3.0, -1.0], [3.0, -1.0, 0.5], [0.5, 1.0, 1.0], [1.0, 1.0, -1.0]]
    ys = [1.0, -1.0, -1.0, 1.0]
    params = [*w, b]

    def loss_of():
        total = Value(0.0)
        for x, y in zip(xs, ys):
            out = (sum((wi * xi for wi, xi in zip(w, x)), b)).tanh()
            total = total + (out - y) ** 2
        return total

    losses = []
    for _ in range(30):
        loss = loss_of()
        for p in params:
            p.grad = 0.0
        loss.backward()
        for p in params:
            p.data -= 0.05 * p.grad
        losses.append(loss.data)
    assert losses[-1] < 0.5 * losses[0]


# ---- bad input --------------------------------------------------------------------


@pytest.mark.parametrize("cls", [Value, Value32])
@pytest.mark.parametrize(
    "bad, type_name", [("abc", "str"), (None, "NoneType"), ([1], "list"), (1j, "complex")]
)
def test_constructor_rejects_non_numbers(cls, bad, type_name):
    with pytest.raises(TypeError, match=type_name):
        cls(bad)


@pytest.mark.parametrize("exponent", [Value(2.0), "x", None, [2]])
def test_pow_rejects_non_numbers(exponent):
    with pytest.raises(TypeError):
        Value(3.0) ** exponent


@pytest.mark.parametrize(
    "op", [lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b, lambda a, b: a / b]
)
def test_mixing_precisions_raises(op):
    with pytest.raises(TypeError):
        op(Value(1.0), Value32(2.0))
    with pytest.raises(TypeError):
        op(Value32(1.0), Value(2.0))


@pytest.mark.parametrize("other", ["x", None, [1.0]])
def test_ops_with_non_numbers_raise(other):
    v = Value(1.0)
    for op in (lambda a, b: a + b, lambda a, b: b * a, lambda a, b: a / b, lambda a, b: b - a):
        with pytest.raises(TypeError):
            op(v, other)


# ---- NaN and Inf ----------------------------------------------------------------------


def test_nan_and_inf_propagate():
    assert Value(0.0).log().data == -INF
    assert math.isnan(Value(-1.0).log().data)
    assert math.isnan(Value(NAN).relu().data)
    assert Value(INF).exp().data == INF
    assert (Value(1.0) / Value(0.0)).data == INF
    assert (Value(1.0) / 0).data == INF
    assert Value(INF).tanh().data == 1.0
    assert Value(-INF).sigmoid().data == 0.0
    a, n = Value(2.0), Value(NAN)
    out = a * n
    out.backward()
    assert math.isnan(out.data) and math.isnan(a.grad)


def test_relu_gradient_at_zero_is_zero():
    data, (grad,) = value_and_grads(lambda a: a.relu(), 0.0)
    assert (data, grad) == (0.0, 0.0)


@pytest.mark.parametrize("x", [-800.0, 800.0])
def test_sigmoid_does_not_overflow(x):
    data, (grad,) = value_and_grads(lambda a: a.sigmoid(), x)
    assert data == (1.0 if x > 0 else 0.0)
    assert grad == 0.0


# ---- a random composite expression against a pure-Python reference ---------------


# Each op keeps its operands in a safe domain, written once for both engines.
RANDOM_OPS = [
    lambda a, b: a + b,
    lambda a, b: a - b,
    lambda a, b: a * b,
    lambda a, b: a / (b * b + 0.5),
    lambda a, b: 1.5 - a,
    lambda a, b: 2.0 / (a * a + 1.0),
    lambda a, b: -a + 3,
    lambda a, b: (a * a + 0.1) ** 1.5,
    lambda a, b: a**3 * 0.1,
    lambda a, b: (a * 0.5).tanh(),
    lambda a, b: (a * 0.3).exp(),
    lambda a, b: (a * a + 1.0).log(),
    lambda a, b: a.sigmoid() * b,
    lambda a, b: (a - 0.1).relu() + b * 0.5,
]


def build_random_expression(make, points, seed, steps=60):
    rng = random.Random(seed)
    pool = [make(p) for p in points]
    leaves = list(pool)
    for _ in range(steps):
        op = rng.choice(RANDOM_OPS)
        out = op(rng.choice(pool[-8:]), rng.choice(pool))  # recent nodes make depth, old ones sharing
        pool.append(out.tanh() * 2 if abs(out.data) > 5 else out)
    total = pool[-1]
    for node in rng.sample(pool, 5):
        total = total + node
    return leaves, total


@pytest.mark.parametrize("seed", range(8))
def test_random_expression_matches_pure_python_reference(seed):
    rng = random.Random(-seed)
    points = [rng.uniform(-2, 2) for _ in range(5)]
    leaves, out = build_random_expression(Value, points, seed)
    ref_leaves, ref_out = build_random_expression(Ref, points, seed)
    out.backward()
    ref_out.backward()
    assert out.data == pytest.approx(ref_out.data, rel=1e-12, abs=1e-12)
    for leaf, ref_leaf in zip(leaves, ref_leaves):
        assert leaf.grad == pytest.approx(ref_leaf.grad, rel=1e-12, abs=1e-12)
    assert any(leaf.grad != 0 for leaf in leaves)
