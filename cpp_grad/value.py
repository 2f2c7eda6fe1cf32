"""``Value``: a scalar that remembers how it was computed, so that
``backward()`` can fill in the gradient of every Value that led to it.

This module teaches the C++ class ``cpp_grad::Value<T>`` Python manners
(operators with plain numbers, ``.data``/``.grad`` properties, ``repr``); the
arithmetic and every gradient of the built-in ops are computed in C++
(include/cpp_grad/ops.hpp).

It also makes Values behave like micrograd's Python objects:

- One Python object per node. While any Python reference to a node lives,
  every way of reaching it (an op's result, ``_prev``, ``parameters()``,
  ``n.w``, a C++ op wrapped by ``cpp_op``) gives that same object, so
  attributes set on it (``label``, an optimizer's state) stay with it.
  ``_objects`` maps each node's address to its Python object, weakly.
- micrograd's constructor ``Value(data, _children, _op)`` and
  ``out._backward = fn``: ops written in Python, whose steps backward() calls
  in order (see Note [Python backward steps] in cpp_grad/bindings.hpp).
- ``cpp_op``: an op written in C++ at the REPL, compiled by cppyy.
"""

from __future__ import annotations

import functools
import itertools
import numbers
import operator
import weakref

import cppyy

from ._errors import cpp_errors
from ._loader import CTYPES, cpp
from .docs import apply_value_docs

__all__ = ["Value", "Value32", "cpp_op"]

# Node address -> a weak reference to the one Python Value of that node. An
# entry whose Value is gone reads as missing (a live Value keeps its node, so
# a live entry is always right) and is swept out once the map has doubled:
# every op registers its result, and a weakref.ref without a callback is the
# cheapest registration there is.
_objects = {}
_SWEEP_AT_LEAST = 4096
_sweep_at = _SWEEP_AT_LEAST


def _sweep() -> None:
    """Drops the entries of Values that are gone (amortized: the map doubles in between)."""
    global _sweep_at
    for key in [key for key, ref in _objects.items() if ref() is None]:
        del _objects[key]
    _sweep_at = max(_SWEEP_AT_LEAST, 2 * len(_objects))


def _register(value, key) -> None:
    _objects[key] = weakref.ref(value)
    if len(_objects) > _sweep_at:
        _sweep()


def _registered(key):
    """The live Python Value of the node at address ``key``, or None."""
    ref = _objects.get(key)
    return None if ref is None else ref()


# Exceptions raised by Python _backward steps, waiting for backward() to raise them.
_failures = []


def _number(x, what: str) -> float:
    """``x`` as a float, or TypeError naming what was expected."""
    if isinstance(x, numbers.Real):
        return float(x)
    raise TypeError(f"{what} must be a real number, got {type(x).__name__}: {x!r}")


def _run_python_step(address) -> bool:
    """Called by backward() for each node made by Value(data, _children, _op):
    runs its ``_backward``. Never raises into C++: an exception is kept for
    backward() to raise, and False stops the walk."""
    try:
        out = _registered(address)
        if out is None:
            # Only a graph built by calling C++ functions directly (not through
            # cpp_op) can hold such a node after its Python Value is gone.
            raise RuntimeError(
                "backward() reached a node made by Value(data, _children, _op) whose Python Value, "
                "and with it its _backward, was freed: a C++ function called directly kept the "
                "node. Wrap C++ functions with cpp_grad.cpp_op so that their results keep the "
                "Python Values they were made from."
            )
        step = out.__dict__.get("_python_backward")
        if step is not None:
            step()
        return True
    except BaseException as error:  # noqa: BLE001 - raised again by backward()
        _failures.append(error)
        return False


# cppyy's std::function holds no reference to the callable: this module's
# global keeps it alive for the life of the process.
cpp.py.set_python_step(_run_python_step)


def _reach(v):
    """The one Python object of the node behind ``v`` (a Value, or a view of
    one inside a C++ container): the live one if there is one, else a new
    handle, registered."""
    ops = type(v)._ops
    key = ops.node_id(v)
    out = _registered(key)
    if out is None:
        out = ops.copy(v)
        _register(out, key)
    return out


def _adopt(out, sources):
    """Registers ``out``, a new node's Python Value made from the Values
    ``sources``, and keeps those of them that carry Python backward steps
    (see Note [Python backward steps])."""
    carriers = tuple(s for s in sources if s._carries)
    if carriers:
        out._carries = True
        out._keep = carriers
    _register(out, type(out)._ops.node_id(out))
    return out


def _adopt_all(handles, sources):
    """``_adopt`` for each Value in a C++ vector of results, as a list."""
    copy = type(handles[0])._ops.copy if len(handles) else None
    return [_adopt(copy(handles[i]), sources) for i in range(len(handles))]


def _pythonize(cls, ops, name: str, dtype: str):
    """Adds Python behaviour to one cppyy Value class (float64 or float32)."""
    cpp_init = cls.__init__
    get_data, set_data = cls.__dict__["data"], cls.__dict__["set_data"]
    get_grad, set_grad = cls.__dict__["grad"], cls.__dict__["set_grad"]
    get_op, get_parents = cls.__dict__["op"], cls.__dict__["parents"]
    node_id = ops.node_id

    def __init__(self, data=0.0, _children=(), _op="", label=""):
        if isinstance(data, _VALUE_CLASSES):
            raise TypeError(
                f"{name}(data) takes a number, got a {type(data).__name__} ({data!r}): use that Value "
                f"itself, or {name}(v.data) for a new leaf with its data"
            )
        data = _number(data, f"{name}'s data")
        if not isinstance(_op, str):
            raise TypeError(f"_op must be a string (the op's name), got {type(_op).__name__}: {_op!r}")
        children = _check_children(_children)
        if children or _op:
            with cpp_errors():
                cpp_init(self, ops.python_op(data, _op, list(children)))
            self._carries = True
            self._keep = children
        else:
            cpp_init(self, data)
        if label:
            self.label = label
        _register(self, node_id(self))

    def _check_children(children):
        if isinstance(children, cls):
            children = (children,)
        try:
            children = tuple(children)
        except TypeError:
            raise TypeError(
                f"_children must be a tuple of {name}s, got {type(children).__name__}: {children!r}"
            ) from None
        for i, child in enumerate(children):
            if not isinstance(child, cls):
                raise TypeError(
                    f"_children[{i}] must be a {name} ({dtype}), got {type(child).__name__}: {child!r}"
                )
        return children

    # An op's result: registered, and keeping its operands if they carry
    # Python backward steps. Written out per arity: every op runs this.
    def unary_result(out, a):
        if a._carries:
            out._carries = True
            out._keep = (a,)
        _objects[node_id(out)] = weakref.ref(out)
        if len(_objects) > _sweep_at:
            _sweep()
        return out

    def binary_result(out, a, b):
        if a._carries or b._carries:
            out._carries = True
            out._keep = (a, b)
        _objects[node_id(out)] = weakref.ref(out)
        if len(_objects) > _sweep_at:
            _sweep()
        return out

    # The arithmetic: each operator is one C++ call (cpp_grad/bindings.hpp's
    # ValueOps), with a Value or with a plain number.
    def with_value_or_number(self, other, with_value, with_number):
        if isinstance(other, cls):
            return binary_result(with_value(self, other), self, other)
        if isinstance(other, numbers.Real):
            return unary_result(with_number(self, float(other)), self)
        return NotImplemented

    def number_first(self, other, with_number):
        if isinstance(other, numbers.Real):
            return unary_result(with_number(float(other), self), self)
        return NotImplemented

    def __add__(self, other):
        return with_value_or_number(self, other, ops.add, ops.add_number)

    def __radd__(self, other):  # number + Value
        return self + other if isinstance(other, numbers.Real) else NotImplemented

    def __sub__(self, other):
        return with_value_or_number(self, other, ops.sub, ops.sub_number)

    def __rsub__(self, other):
        return number_first(self, other, ops.number_sub)

    def __mul__(self, other):
        return with_value_or_number(self, other, ops.mul, ops.mul_number)

    def __rmul__(self, other):  # number * Value
        return self * other if isinstance(other, numbers.Real) else NotImplemented

    def __neg__(self):
        return unary_result(ops.neg(self), self)

    def __truediv__(self, other):
        return with_value_or_number(self, other, ops.div, ops.div_number)

    def __rtruediv__(self, other):
        return number_first(self, other, ops.number_div)

    def __pos__(self):
        return self

    def __pow__(self, exponent):
        return unary_result(ops.pow(self, _number(exponent, "The exponent of Value ** exponent")), self)

    def relu(self):
        return unary_result(ops.relu(self), self)

    def tanh(self):
        return unary_result(ops.tanh(self), self)

    def exp(self):
        return unary_result(ops.exp(self), self)

    def log(self):
        return unary_result(ops.log(self), self)

    def sigmoid(self):
        return unary_result(ops.sigmoid(self), self)

    # Comparisons compare data, with a Value or a plain number.
    def compared(self, other, test):
        other_data = other.data if isinstance(other, cls) else other
        if not isinstance(other_data, numbers.Real):
            return NotImplemented
        return test(get_data(self), other_data)

    def __lt__(self, other):
        return compared(self, other, operator.lt)

    def __le__(self, other):
        return compared(self, other, operator.le)

    def __gt__(self, other):
        return compared(self, other, operator.gt)

    def __ge__(self, other):
        return compared(self, other, operator.ge)

    def __eq__(self, other):
        if self is other:
            return True
        if isinstance(other, cls):
            return ops.same_node(self, other)
        return NotImplemented

    def __ne__(self, other):
        equal = __eq__(self, other)
        return equal if equal is NotImplemented else not equal

    def __repr__(self):
        return f"{name}(data={get_data(self)!r}, grad={get_grad(self)!r})"

    def backward(self):
        if ops.backward(self):
            return
        error = _failures.pop()
        _failures.clear()
        raise error

    def get_backward(self):
        step = self.__dict__.get("_python_backward")
        return step if step is not None else functools.partial(ops.backward_step, self)

    def set_backward(self, step):
        if not callable(step):
            raise TypeError(f"_backward must be callable (taking no arguments), got {type(step).__name__}")
        if not ops.is_python_op(self):
            kind = "a leaf" if self.is_leaf() else f"made by the built-in op {get_op(self)!r}"
            raise AttributeError(
                f"cannot set _backward of {self!r}: it is {kind}. Only a Value made by "
                f"{name}(data, _children, _op) takes a Python backward step"
            )
        self.__dict__["_python_backward"] = step

    methods = dict(
        __init__=__init__,
        __add__=__add__,
        __radd__=__radd__,
        __sub__=__sub__,
        __rsub__=__rsub__,
        __mul__=__mul__,
        __rmul__=__rmul__,
        __truediv__=__truediv__,
        __rtruediv__=__rtruediv__,
        __neg__=__neg__,
        __pos__=__pos__,
        __pow__=__pow__,
        __lt__=__lt__,
        __le__=__le__,
        __gt__=__gt__,
        __ge__=__ge__,
        __eq__=__eq__,
        __ne__=__ne__,
        __hash__=lambda self: hash(node_id(self)),
        __float__=lambda self: float(get_data(self)),
        __repr__=__repr__,
        __str__=__repr__,
        relu=relu,
        tanh=tanh,
        exp=exp,
        log=log,
        sigmoid=sigmoid,
        backward=backward,
        data=property(get_data, lambda self, v: set_data(self, _number(v, "Value.data"))),
        grad=property(get_grad, lambda self, v: set_grad(self, _number(v, "Value.grad"))),
        op=property(get_op),
        _op=property(get_op),
        _prev=property(lambda self: {_reach(p) for p in get_parents(self)}),
        parents=property(lambda self: tuple(_reach(p) for p in get_parents(self))),
        _backward=property(get_backward, set_backward),
        label="",
        dtype=dtype,
        _ops=ops,
        _carries=False,  # see Note [Python backward steps]
    )
    for attribute, method in methods.items():
        setattr(cls, attribute, method)
    return cls


Value = _pythonize(cpp.Value[CTYPES["float64"]], cpp.py.ValueOps[CTYPES["float64"]], "Value", "float64")
Value32 = _pythonize(cpp.Value[CTYPES["float32"]], cpp.py.ValueOps[CTYPES["float32"]], "Value32", "float32")
_VALUE_CLASSES = (Value, Value32)
Value, Value32 = apply_value_docs(Value), apply_value_docs(Value32)


# ---- ops written in C++ at the REPL -----------------------------------------------

_op_namespaces = itertools.count()


def cpp_op(code, name: str | None = None):
    """An op written in C++, compiled on the spot, as a Python function on Values.

    ``code`` is C++ source defining a function on Values (or a function cppyy
    already knows, such as ``cppyy.gbl.my_op``). Inside ``code``, the names of
    namespace ``cpp_grad`` (``Value``, ``_Value``, ``make_op``...) need no
    prefix. Like the built-in ops (include/cpp_grad/ops.hpp), an op computes
    its value and hands ``make_op`` a backward lambda that adds
    ``d out / d parent * out.grad`` to each parent's grad::

        >>> softplus = cpp_op('''
        ... template <typename T>
        ... Value<T> softplus(const Value<T>& a) {
        ...   return make_op("softplus", std::log1p(std::exp(a.data())), a,
        ...                  [a = a.node()](const _Value<T>& out) {
        ...                    a->grad += out.grad / (1 + std::exp(-a->data));
        ...                  });
        ... }''')
        >>> x = Value(0.5)
        >>> y = softplus(x)
        >>> y.backward()
        >>> Value.softplus = softplus      # and x.softplus() works too

    The lambda may capture at most two raw pointers or numbers (``a.node()``,
    a constant); ``make_op`` takes one or two parent Values. A template on
    ``T`` serves both ``Value`` and ``Value32``.

    ``name`` picks the function when ``code`` defines several. Each call
    compiles into a namespace of its own, so an op can be redefined. The
    returned function takes the C++ function's arguments, returns Values that
    are the same Python objects wherever else they are reached, and keeps the
    Values it was given if they carry Python backward steps. Call C++
    functions on Values through it rather than directly, and define them
    through it rather than with ``cppyy.cppdef``: it also has cling emit
    their code at once (see ``_emit_now``).
    """
    if isinstance(code, str):
        function, name = _compile_op(code, name)
        doc = f"A C++ op compiled by cpp_grad.cpp_op:\n{code}"
    elif callable(code):
        function = code
        name = name or getattr(code, "__name__", "cpp_op")
        doc = getattr(code, "__doc__", None)
        _emit_now([function])
    else:
        kind = type(code).__name__
        raise TypeError(f"cpp_op takes C++ code (a str) or a C++ function, got {kind}: {code!r}")

    def op(*args):
        sources = [a for arg in args for a in (arg if isinstance(arg, (list, tuple)) else (arg,))]
        sources = [a for a in sources if isinstance(a, _VALUE_CLASSES)]
        with cpp_errors():
            result = function(*args)
        return _from_cpp(result, sources)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc
    return op


def _compile_op(code: str, name: str | None):
    namespace = f"cpp_grad_ops_{next(_op_namespaces)}"
    try:
        cppyy.cppdef(f"namespace {namespace} {{\nusing namespace cpp_grad;\n{code}\n}}")
    except SyntaxError as error:
        raise SyntaxError(f"cpp_op: the C++ code does not compile:\n{error}") from None
    scope = getattr(cppyy.gbl, namespace)
    defined = sorted(n for n in dir(scope) if not n.startswith("__"))
    _emit_now(getattr(scope, n) for n in defined)
    if name is None:
        if len(defined) != 1:
            raise ValueError(
                f"cpp_op: the code defines {len(defined)} names ({', '.join(defined) or 'none'}): "
                "pass name= to pick the op"
            )
        name = defined[0]
    elif name not in defined:
        found = ", ".join(defined) or "nothing"
        raise ValueError(f"cpp_op: the code defines no {name!r} (it defines {found})")
    return getattr(scope, name), name


def _emit_now(functions) -> None:
    """Has cling emit the machine code of freshly compiled functions now.

    Cling emits code lazily. While a definition is still pending, a later
    compilation that defines the same inline function again (cppyy's wrapper
    for ``ops.mul_number`` instantiating ``operator*``, say) makes the JIT
    crash; taking a function's address emits its whole compilation first.
    """
    for function in functions:
        try:
            cppyy.addressof(function)
        except (TypeError, ValueError):  # a template, a type, an overload set: nothing to emit yet
            pass


def _from_cpp(result, sources):
    """A C++ op's result as Python Values: the registered object of a node
    that has one (an op may return its input), else a new, adopted one."""
    if isinstance(result, _VALUE_CLASSES):
        existing = _registered(type(result)._ops.node_id(result))
        return existing if existing is not None else _adopt(result, sources)
    if getattr(type(result), "__cpp_name__", "").startswith("std::vector<cpp_grad::Value<"):
        return [_from_cpp(type(result[i])._ops.copy(result[i]), sources) for i in range(len(result))]
    return result
