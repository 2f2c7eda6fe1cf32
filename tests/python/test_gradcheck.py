"""Tests for cpp_grad.gradcheck: every op passes; a wrong backward is caught."""

import math

import cppyy
import pytest

from cpp_grad._loader import cpp
from cpp_grad.gradcheck import GradcheckError, gradcheck, gradcheck_parameters
from cpp_grad.nn import MLP
from cpp_grad.value import Value, Value32

# A test-only op whose backward is wrong on purpose: d(a*a)/da is 2a, not 3a.
if not hasattr(cppyy.gbl, "cpp_grad_tests"):
    cppyy.cppdef(
        """
        namespace cpp_grad_tests {
        cpp_grad::Value<double> bad_square(const cpp_grad::Value<double>& a) {
          return cpp_grad::make_op("bad_square", a.data() * a.data(), a,
                                   [a = a.node()](const cpp_grad::_Value<double>& out) {
                                     a->grad += 3 * a->data * out.grad;
                                   });
        }
        }  // namespace cpp_grad_tests
        """
    )
bad_square = cppyy.gbl.cpp_grad_tests.bad_square
ops64 = cpp.py.ValueOps["double"]

UNARY = {
    "neg": lambda a: -a,
    "relu": lambda a: a.relu(),
    "tanh": lambda a: a.tanh(),
    "exp": lambda a: a.exp(),
    "log": lambda a: a.log(),
    "sigmoid": lambda a: a.sigmoid(),
    "pow 2": lambda a: a**2,
    "pow -1.5": lambda a: a**-1.5,
    "pow 0.5": lambda a: a**0.5,
    "+ number": lambda a: a + 3.0,
    "number +": lambda a: 3.0 + a,
    "- number": lambda a: a - 3.0,
    "number -": lambda a: 3.0 - a,
    "* number": lambda a: a * -2.5,
    "number *": lambda a: -2.5 * a,
    "/ number": lambda a: a / 4.0,
    "number /": lambda a: 4.0 / a,
}
BINARY = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "sum": lambda a, b: ops64.sum([a, b, a]),
    "mean": lambda a, b: ops64.mean([a, b, b]),
    "cross_entropy": lambda a, b: cpp.cross_entropy["double"]([a, b, a * b], 1),
}


@pytest.mark.parametrize("x", [0.7, 1.9])
@pytest.mark.parametrize("name", sorted(UNARY))
def test_every_unary_op_passes(name, x):
    assert gradcheck(UNARY[name], [x]) is True


@pytest.mark.parametrize("name", sorted(BINARY))
def test_every_binary_op_passes(name):
    assert gradcheck(BINARY[name], [0.8, -1.3]) is True


def test_relu_on_its_negative_side_passes():
    assert gradcheck(lambda a: a.relu() * 5.0, [-0.4])


def test_composite_expression_and_reused_inputs():
    def f(a, b, c):
        d = a * b + b**3
        e = (d * c).tanh() + (a / c).exp() - (b * b).sigmoid()
        return e * a + (c**2 + 1.0).log()

    assert gradcheck(f, [0.3, -0.7, 1.4])


def test_small_mlp_output():
    model = MLP(3, [4, 4, 1], activation="tanh", seed=3)
    assert gradcheck(lambda *x: model(list(x)), [0.5, -1.2, 0.3])


def test_mlp_loss_with_respect_to_inputs():
    model = MLP(3, [5, 3], seed=4)
    assert gradcheck(lambda *x: cpp.cross_entropy["double"](model(list(x)), 2), [0.4, 0.9, -0.6])


def test_wrong_backward_is_caught_and_named():
    with pytest.raises(GradcheckError) as caught:
        gradcheck(lambda a, b: a * b + bad_square(b), [1.5, 2.0])
    error = caught.value
    assert isinstance(error, AssertionError)
    assert error.index == 1
    assert error.analytic == pytest.approx(1.5 + 3 * 2.0)  # a + the wrong 3b
    assert error.numeric == pytest.approx(1.5 + 2 * 2.0, rel=1e-6)  # a + 2b
    assert error.difference == pytest.approx(2.0, rel=1e-6)
    message = str(error)
    assert "input 1" in message
    assert "analytic 7.5" in message
    assert "numeric 5.5" in message
    assert "difference 2 " in message
    assert "bad_square" in message  # the ops of f's graph are listed


def test_worst_mismatch_is_reported():
    def f(a, b):
        return bad_square(a) + bad_square(b) * 10.0

    with pytest.raises(GradcheckError, match=r"input 1 .*1 other inputs fail too"):
        gradcheck(f, [1.0, 1.0])


def test_tolerances_decide():
    # analytic 3a vs numeric 2a at a = 1e-3: a difference of 1e-3
    with pytest.raises(GradcheckError):
        gradcheck(bad_square, [1e-3])
    assert gradcheck(bad_square, [1e-3], atol=2e-3)


def test_non_finite_gradient_fails():
    with pytest.raises(GradcheckError, match="input 0"):
        gradcheck(lambda a: a**0.5, [0.0], eps=1e-6)  # sqrt at 0: infinite slope


def test_inputs_may_be_values_and_are_left_alone():
    a, b = Value(0.5), Value(2.0)
    a.grad = 7.0
    assert gradcheck(lambda x, y: x * y, [a, b])
    assert a.grad == 7.0 and b.grad == 0.0


def test_value32_inputs():
    assert gradcheck(lambda a, b: (a * b).tanh(), [Value32(0.5), 0.25], eps=1e-2, atol=1e-3, rtol=1e-2)


def test_bad_arguments():
    with pytest.raises(TypeError, match="f must be callable"):
        gradcheck(3, [1.0])
    with pytest.raises(ValueError, match="at least one input"):
        gradcheck(lambda: Value(1.0), [])
    with pytest.raises(TypeError, match="input 1 must be a number or a Value"):
        gradcheck(lambda a, b: a * b, [1.0, "2"])
    with pytest.raises(ValueError, match="input 0 must be finite"):
        gradcheck(lambda a: a, [math.nan])
    with pytest.raises(TypeError, match="mix Value"):
        gradcheck(lambda a, b: a, [Value(1.0), Value32(1.0)])
    with pytest.raises(TypeError, match="f must return a Value, got float"):
        gradcheck(lambda a: a.data * 2, [1.0])
    with pytest.raises(ValueError, match="eps must be positive"):
        gradcheck(lambda a: a, [1.0], eps=0)
    with pytest.raises(ValueError, match="atol and rtol"):
        gradcheck(lambda a: a, [1.0], atol=-1)


# ---- gradcheck_parameters: Values f already uses, moved in place ----------------------------


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_a_models_parameters_pass_and_keep_their_data(activation):
    model = MLP(3, [4, 2], activation=activation, seed=2)
    before = [p.data for p in model.parameters()]

    def f():
        a, b = model([0.3, -0.8, 1.1])
        return (a * b).tanh() + a

    assert gradcheck_parameters(f, model.parameters())
    assert [p.data for p in model.parameters()] == before


def test_a_wrong_backward_is_caught_through_parameters():
    p = Value(0.7)
    with pytest.raises(GradcheckError) as caught:
        gradcheck_parameters(lambda: bad_square(p) + p, [p])
    assert caught.value.analytic == pytest.approx(3 * 0.7 + 1)
    assert caught.value.numeric == pytest.approx(2 * 0.7 + 1)
    assert p.data == 0.7


def test_parameters_must_be_values():
    with pytest.raises(TypeError, match="parameters must be Values"):
        gradcheck_parameters(lambda: Value(1.0), [1.0])
