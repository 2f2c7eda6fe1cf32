"""``Value``: a scalar that remembers how it was computed, so that
``backward()`` can fill in the gradient of every Value that led to it.

This module only teaches the C++ class ``cpp_grad::Value<T>`` Python manners
(operators with plain numbers, ``.data``/``.grad`` properties, ``repr``); the
arithmetic and every gradient are computed in C++ (include/cpp_grad/ops.hpp).
"""

from __future__ import annotations

import numbers

from ._loader import CTYPES, cpp
from .docs import apply_value_docs


def _number(x, what: str) -> float:
    """``x`` as a float, or TypeError naming what was expected."""
    if isinstance(x, numbers.Real):
        return float(x)
    raise TypeError(f"{what} must be a real number, got {type(x).__name__}: {x!r}")


def _pythonize(cls, ops, name: str, dtype: str):
    """Adds Python behaviour to one cppyy Value class (float64 or float32)."""
    cpp_init = cls.__init__
    get_data, set_data = cls.__dict__["data"], cls.__dict__["set_data"]
    get_grad, set_grad = cls.__dict__["grad"], cls.__dict__["set_grad"]
    get_op, get_parents = cls.__dict__["op"], cls.__dict__["parents"]

    def __init__(self, data=0.0):
        if isinstance(data, cls):  # a second handle to the same node
            cpp_init(self, data)
        else:
            cpp_init(self, _number(data, "Value's data"))

    def binary(same_kind, with_number, name):
        def op(self, other):
            if isinstance(other, cls):
                return same_kind(self, other)
            if isinstance(other, numbers.Real):
                return with_number(self, float(other))
            return NotImplemented

        op.__name__ = name
        return op

    def reflected(with_number, name):
        def op(self, other):
            if isinstance(other, numbers.Real):
                return with_number(float(other), self)
            return NotImplemented

        op.__name__ = name
        return op

    def __pow__(self, exponent):
        return ops.pow(self, _number(exponent, "The exponent of Value ** exponent"))

    def compare(test, name):
        def op(self, other):
            other_data = other.data if isinstance(other, cls) else other
            if not isinstance(other_data, numbers.Real):
                return NotImplemented
            return test(get_data(self), other_data)

        op.__name__ = name
        return op

    def __eq__(self, other):
        if isinstance(other, cls) and ops.same_node(self, other):
            return True
        other_data = other.data if isinstance(other, cls) else other
        if not isinstance(other_data, numbers.Real):
            return NotImplemented
        return get_data(self) == other_data

    def __ne__(self, other):
        equal = __eq__(self, other)
        return equal if equal is NotImplemented else not equal

    def __repr__(self):
        return f"{name}(data={get_data(self)!r}, grad={get_grad(self)!r})"

    methods = dict(
        __init__=__init__,
        __add__=binary(ops.add, ops.add_number, "__add__"),
        __radd__=reflected(lambda k, v: ops.add_number(v, k), "__radd__"),
        __sub__=binary(ops.sub, ops.sub_number, "__sub__"),
        __rsub__=reflected(ops.number_sub, "__rsub__"),
        __mul__=binary(ops.mul, ops.mul_number, "__mul__"),
        __rmul__=reflected(lambda k, v: ops.mul_number(v, k), "__rmul__"),
        __truediv__=binary(ops.div, ops.div_number, "__truediv__"),
        __rtruediv__=reflected(ops.number_div, "__rtruediv__"),
        __neg__=lambda self: ops.neg(self),
        __pos__=lambda self: self,
        __pow__=__pow__,
        __lt__=compare(lambda a, b: a < b, "__lt__"),
        __le__=compare(lambda a, b: a <= b, "__le__"),
        __gt__=compare(lambda a, b: a > b, "__gt__"),
        __ge__=compare(lambda a, b: a >= b, "__ge__"),
        __eq__=__eq__,
        __ne__=__ne__,
        __hash__=lambda self: hash(ops.node_id(self)),
        __float__=lambda self: float(get_data(self)),
        __repr__=__repr__,
        __str__=__repr__,
        relu=lambda self: ops.relu(self),
        tanh=lambda self: ops.tanh(self),
        exp=lambda self: ops.exp(self),
        log=lambda self: ops.log(self),
        sigmoid=lambda self: ops.sigmoid(self),
        data=property(get_data, lambda self, v: set_data(self, _number(v, "Value.data"))),
        grad=property(get_grad, lambda self, v: set_grad(self, _number(v, "Value.grad"))),
        op=property(get_op),
        _op=property(get_op),
        _prev=property(lambda self: set(get_parents(self))),
        parents=property(lambda self: tuple(get_parents(self))),
        dtype=dtype,
    )
    for attribute, method in methods.items():
        setattr(cls, attribute, method)
    return cls


Value = _pythonize(cpp.Value[CTYPES["float64"]], cpp.py.ValueOps[CTYPES["float64"]], "Value", "float64")
Value32 = _pythonize(cpp.Value[CTYPES["float32"]], cpp.py.ValueOps[CTYPES["float32"]], "Value32", "float32")
Value, Value32 = apply_value_docs(Value), apply_value_docs(Value32)
