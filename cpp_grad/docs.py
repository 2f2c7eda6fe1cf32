"""Docstrings for ``Value`` and ``Value32``, so that ``help(Value)`` and
``help(Value.backward)`` explain the engine instead of printing C++
signatures.

The Value classes are made by cppyy from C++; ``apply_value_docs(cls)`` puts
these texts where Python reads them: the class, its Python-level properties
and methods, and the C++ methods ``backward``/``zero_grad`` (whose cppyy
overload objects take a docstring; if a cppyy version refuses, they are
wrapped in a Python function carrying it).
"""

from __future__ import annotations

import types

__all__ = ["VALUE_DOCS", "apply_value_docs"]

# "{name}" and "{dtype}" in the class text become "Value"/"float64" or
# "Value32"/"float32"; the other texts fit both classes.
VALUE_DOCS = {
    "__doc__": """{name}(data=0.0, _children=(), _op='', label=''): a {dtype} scalar that
remembers how it was computed.

Arithmetic on Values (+ - * / **, with Values or plain numbers) and the
methods relu, tanh, exp, log and sigmoid build a graph: each result keeps
its parents and the op that made it. out.backward() then fills in
x.grad = d out / d x for every Value x that led to out.

    >>> a, b = {name}(2.0), {name}(-3.0)
    >>> c = a * b + b ** 2
    >>> c.backward()
    >>> a.grad, b.grad
    (-3.0, -4.0)

Attributes: data (the number), grad (filled by backward), op or _op (the op
that made it, "" for a leaf), parents (the Values it was computed from) or
_prev (the same as a set), label (a name for pictures, "" by default).

As in micrograd, each node has one Python object: reaching it again (through
_prev, model.parameters(), an op) gives the same object, with any attribute
you set on it. a == b means "the same node", consistent with hash(), so
Values are set members and dict keys; <, <=, >, >= compare data.

A new op in Python, micrograd's way: make its result with
{name}(data, (parents...), 'op name') and set out._backward to a function of
no arguments that adds d out / d parent * out.grad to each parent's grad;
backward() calls it once every use of out has added to out.grad. For an op
in C++, see cpp_grad.cpp_op. The built-in ops run in C++
(include/cpp_grad/ops.hpp).""",
    "backward": """backward()

Back-propagates from this Value: adds d self / d x to x.grad for every Value
x behind it (self's own gradient is 1).

As in PyTorch, gradients of leaves (inputs, parameters) accumulate across
calls until zeroed (model.zero_grad(), x.grad = 0), while the gradients of
intermediate Values are computed afresh on each call. The graph is walked
with a loop, not recursion, so graphs of any depth work.""",
    "_backward": """This Value's share of backward(): a function of no arguments that adds
d self / d parent * self.grad to each parent's grad. Callable on every Value
(it runs the built-in op's C++ step; a leaf's does nothing). Assignable only
on a Value made by Value(data, _children, _op): backward() then calls your
function, after every use of this Value has added to its grad. An exception
it raises reaches the caller of backward() as it is.""",
    "zero_grad": """zero_grad()

Sets .grad to 0 on this Value and on every Value behind it, leaves
included. (To zero only a model's parameters, use model.zero_grad().)""",
    "relu": """relu() -> Value

max(0, x). Gradient: 1 where x > 0, else 0 (0 at x = 0).""",
    "tanh": """tanh() -> Value

The hyperbolic tangent of x. Gradient: 1 - tanh(x)**2.""",
    "exp": """exp() -> Value

e**x. Gradient: exp(x).""",
    "log": """log() -> Value

The natural logarithm of x. Gradient: 1 / x. Like math functions in C,
log(0) is -inf and log of a negative number is nan (no exception).""",
    "sigmoid": """sigmoid() -> Value

1 / (1 + exp(-x)), computed without overflow for large |x|.
Gradient: sigmoid(x) * (1 - sigmoid(x)).""",
    "data": """The number this Value holds. Assignable (p.data -= lr * p.grad is an
SGD step); assigning does not recompute Values made from it.""",
    "grad": """d out / d self after out.backward(): how much out changes per unit
change of this Value. 0.0 until a backward pass reaches it; leaf gradients
accumulate across backward() calls until zeroed. Assignable.""",
    "op": """The op that made this Value ("+", "*", "relu", "dot", "cross_entropy"...),
or "" for a leaf (an input or a parameter). micrograd calls it _op.""",
    "parents": """The Values this one was computed from, as a tuple (empty for a leaf).
Fused ops list every parent, weights included. micrograd's _prev is the
same as a set. Each parent is the one Python object of its node.""",
}

_PROPERTIES = ("data", "grad", "op", "parents", "_backward")
_PYTHON_METHODS = ("relu", "tanh", "exp", "log", "sigmoid")
_CPP_METHODS = ("backward", "zero_grad")


def apply_value_docs(cls):
    """Attaches ``VALUE_DOCS`` to a Value class (``Value`` or ``Value32``) and
    returns it. Safe to call more than once."""
    dtype = getattr(cls, "dtype", "float64")
    name = "Value32" if dtype == "float32" else "Value"
    _set_class_doc(cls, VALUE_DOCS["__doc__"].format(name=name, dtype=dtype))

    for attribute in _PROPERTIES:
        prop = cls.__dict__.get(attribute)
        if isinstance(prop, property):
            setattr(cls, attribute, property(prop.fget, prop.fset, prop.fdel, VALUE_DOCS[attribute]))

    for attribute in _PYTHON_METHODS:
        function = cls.__dict__.get(attribute)
        if isinstance(function, types.FunctionType):
            function.__doc__ = VALUE_DOCS[attribute]
            function.__name__ = attribute  # they are lambdas: help() would say "<lambda>"
            function.__qualname__ = f"{name}.{attribute}"

    for attribute in _CPP_METHODS:
        method = cls.__dict__.get(attribute)
        if method is not None:
            _set_method_doc(cls, attribute, method, VALUE_DOCS[attribute])
    return cls


def _set_class_doc(cls, doc: str) -> None:
    try:
        cls.__doc__ = doc
    except (AttributeError, TypeError):
        pass
    if cls.__doc__ != doc:  # read-only on this cppyy: help() also shows __init__'s doc
        init = cls.__dict__.get("__init__")
        if isinstance(init, types.FunctionType):
            init.__doc__ = doc


def _set_method_doc(cls, attribute: str, method, doc: str) -> None:
    if isinstance(method, types.FunctionType):  # already a Python function (or our wrapper)
        method.__doc__ = doc
        return
    try:
        method.__doc__ = doc
        if method.__doc__ == doc:
            return
    except (AttributeError, TypeError):
        pass

    def wrapper(self, *args):
        return method(self, *args)

    wrapper.__name__ = attribute
    wrapper.__qualname__ = f"{cls.__name__}.{attribute}"
    wrapper.__doc__ = doc
    setattr(cls, attribute, wrapper)
