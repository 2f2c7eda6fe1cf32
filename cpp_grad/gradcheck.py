"""Checks backward() against finite differences, like ``torch.autograd.gradcheck``.

    >>> from cpp_grad.gradcheck import gradcheck
    >>> gradcheck(lambda a, b: (a * b + b ** 2).tanh(), [0.3, -0.7])
    True

The analytic gradients come from one ``backward()``; the numeric ones from
central differences ``(f(x + eps) - f(x - eps)) / (2 eps)``, one input at a
time. A mismatch beyond ``atol + rtol * |numeric|`` raises ``GradcheckError``.

``gradcheck_parameters`` does the same for Values a function already uses,
such as a model's parameters::

    >>> from cpp_grad.nn import MLP
    >>> model = MLP(2, [3, 1], activation="tanh")
    >>> gradcheck_parameters(lambda: model([0.5, -1.0]), model.parameters())
    True
"""

from __future__ import annotations

import math
import numbers

from .value import Value, Value32

__all__ = ["gradcheck", "gradcheck_parameters", "GradcheckError"]

_VALUE_CLASSES = (Value, Value32)
# How many nodes of f's graph are walked to list its ops in an error message.
_OPS_LISTED_UP_TO = 10_000


class GradcheckError(AssertionError):
    """backward() disagrees with finite differences.

    A subclass of AssertionError, so a failed check reads as a failed test
    under pytest and unittest. Its attributes name the worst mismatch:
    ``index`` (which input), ``analytic``, ``numeric`` and ``difference``.
    """

    def __init__(self, message, index, analytic, numeric, difference):
        super().__init__(message)
        self.index = index
        self.analytic = analytic
        self.numeric = numeric
        self.difference = difference


def gradcheck(f, inputs, eps=1e-6, atol=1e-5, rtol=1e-3) -> bool:
    """Checks the gradient of ``f(*values)`` with respect to every input.

    ``f`` takes one Value per input and returns a Value. ``inputs`` is a list
    of numbers or Values; only their data is used: ``f`` is called on fresh
    leaf Values, so the grads of Values you pass are left alone. Inputs are
    float64 ``Value``s unless some are ``Value32``, then all are ``Value32``
    (float32 needs a larger ``eps``, about 1e-2, and looser tolerances).

    Input ``i`` passes when ``|analytic - numeric| <= atol + rtol * |numeric|``
    (torch's test). Returns True, or raises ``GradcheckError`` (an
    AssertionError) naming the worst failing input, its analytic and numeric
    gradients and their difference. Finite differences are wrong at kinks:
    keep ``relu``'s input away from 0 by more than ``eps``.
    """
    _check_arguments(f, eps, atol, rtol)
    cls, xs = _check_inputs(inputs)

    leaves = [cls(x) for x in xs]
    out = _call(f, cls, leaves)
    out.backward()
    analytic = [leaf.grad for leaf in leaves]

    def at(i, shift):
        shifted = list(xs)
        shifted[i] += shift
        return _call(f, cls, [cls(x) for x in shifted]).data

    return _compare(f, out, xs, analytic, at, eps, atol, rtol)


def gradcheck_parameters(f, parameters, eps=1e-6, atol=1e-5, rtol=1e-3) -> bool:
    """Checks the gradient of ``f()`` with respect to Values it already uses.

    ``f`` takes no arguments and returns a Value computed from
    ``parameters`` (a list of Values: a model's ``parameters()``, say). Their
    grads are set to 0 and filled by one ``backward()``; then each one's data
    is moved by ``+-eps`` in place, ``f`` called again, and the data put back.
    Tolerances, the result and ``GradcheckError`` as for ``gradcheck``.
    """
    _check_arguments(f, eps, atol, rtol)
    if isinstance(parameters, _VALUE_CLASSES):
        parameters = [parameters]
    cls, xs = _check_inputs(parameters)
    parameters = list(parameters)
    for i, p in enumerate(parameters):
        if not isinstance(p, _VALUE_CLASSES):
            raise TypeError(
                f"parameters must be Values (those f computes its result from); "
                f"parameter {i} is a {type(p).__name__}"
            )

    for p in parameters:
        p.grad = 0
    out = _call(f, cls, [])
    out.backward()
    analytic = [p.grad for p in parameters]

    def at(i, shift):
        parameters[i].data = xs[i] + shift
        try:
            return _call(f, cls, []).data
        finally:
            parameters[i].data = xs[i]

    return _compare(f, out, xs, analytic, at, eps, atol, rtol)


def _check_arguments(f, eps, atol, rtol) -> None:
    if not callable(f):
        raise TypeError(f"f must be callable, got {type(f).__name__}")
    for name, value in (("eps", eps), ("atol", atol), ("rtol", rtol)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number, got {value!r}")
    if not eps > 0:
        raise ValueError(f"eps must be positive, got {eps!r}")
    if atol < 0 or rtol < 0:
        raise ValueError(f"atol and rtol must be at least 0, got atol={atol!r}, rtol={rtol!r}")


def _compare(f, out, xs, analytic, at, eps, atol, rtol) -> bool:
    """Compares each analytic gradient with ``(at(i, eps) - at(i, -eps)) / (2 eps)``."""
    failures = []  # (how far past the tolerance, index, analytic, numeric)
    for i in range(len(xs)):
        numeric = (at(i, eps) - at(i, -eps)) / (2 * eps)
        difference = abs(analytic[i] - numeric)
        allowed = atol + rtol * abs(numeric)
        if math.isfinite(analytic[i]) and math.isfinite(numeric):
            if difference <= allowed:
                continue
            excess = difference / allowed if allowed > 0 else math.inf
        else:
            excess = math.inf  # NaN or Inf on either side is the worst
        failures.append((excess, i, analytic[i], numeric))
    if not failures:
        return True

    _, i, a, n = max(failures, key=lambda failure: failure[0])
    difference = abs(a - n)
    others = f" ({len(failures) - 1} other inputs fail too)" if len(failures) > 1 else ""
    raise GradcheckError(
        f"gradcheck of {_name(f)} failed: backward() disagrees with finite differences. "
        f"Worst mismatch: input {i} (x={xs[i]:.6g}): analytic {a:.6g}, numeric {n:.6g}, "
        f"difference {difference:.6g} (allowed {atol + rtol * abs(n):.3g}, eps={eps:g}){others}. "
        f"Ops in f's graph: {_ops_in(out)}",
        index=i,
        analytic=a,
        numeric=n,
        difference=difference,
    )


def _check_inputs(inputs):
    """The Value class to use and the inputs as floats."""
    if isinstance(inputs, (numbers.Real, *_VALUE_CLASSES)):
        inputs = [inputs]
    try:
        inputs = list(inputs)
    except TypeError:
        raise TypeError(f"inputs must be a list of numbers or Values, got {type(inputs).__name__}") from None
    if not inputs:
        raise ValueError("gradcheck needs at least one input")
    xs, kinds = [], set()
    for i, x in enumerate(inputs):
        if isinstance(x, _VALUE_CLASSES):
            kinds.add(type(x))
            xs.append(float(x.data))
        elif isinstance(x, numbers.Real) and not isinstance(x, bool):
            xs.append(float(x))
        else:
            raise TypeError(f"input {i} must be a number or a Value, got {type(x).__name__}: {x!r}")
        if not math.isfinite(xs[-1]):
            raise ValueError(f"input {i} must be finite, got {xs[-1]!r}")
    if len(kinds) > 1:
        raise TypeError("inputs mix Value (float64) and Value32 (float32): use one kind")
    return (kinds.pop() if kinds else Value), xs


def _call(f, cls, values):
    out = f(*values)
    if not isinstance(out, cls):
        raise TypeError(
            f"f must return a {'Value' if cls is Value else 'Value32'}, got {type(out).__name__}: {out!r}"
        )
    return out


def _name(f) -> str:
    return getattr(f, "__qualname__", None) or getattr(f, "__name__", None) or repr(f)


def _ops_in(root) -> str:
    """The distinct ops of the graph behind ``root``, in order of discovery."""
    ops, seen, stack = {}, {hash(root)}, [root]
    while stack and len(seen) < _OPS_LISTED_UP_TO:
        v = stack.pop()
        if v.op:
            ops[v.op] = None
        for parent in v.parents:
            if hash(parent) not in seen:
                seen.add(hash(parent))
                stack.append(parent)
    return ", ".join(ops) or "none (f returned a leaf Value)"
