"""cpp_grad: a scalar reverse-mode autograd engine in C++, used from Python.

    >>> from cpp_grad import Value
    >>> a, b = Value(2.0), Value(-3.0)
    >>> c = a * b + b ** 2
    >>> c.backward()
    >>> a.grad, b.grad
    (-3.0, -4.0)

The first use of ``Value`` (or anything else that needs the engine)
JIT-compiles the C++ headers through cppyy, once per process. ``get_include()``
and ``__version__`` serve C++ builds and load nothing.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types

from ._include import get_include
from ._version import __version__ as __version__

# Note [Lazy package]: importing cpp_grad must not start cppyy, so that a C++
# build can ask get_include() cheaply. The engine's names are imported on first
# access, from the submodule named here; other public submodules (cpp_grad.nn)
# are imported on first access too.
_LAZY = {
    "Value": "value",
    "Value32": "value",
    "cpp_op": "value",
    "draw_dot": "draw",
    "gradcheck": "gradcheck",
    "gradcheck_parameters": "gradcheck",
    "GradcheckError": "gradcheck",
    "load_mnist": "datasets",
}

__all__ = [
    "Value",
    "Value32",
    "cpp_op",
    "draw_dot",
    "gradcheck",
    "gradcheck_parameters",
    "GradcheckError",
    "load_mnist",
    "get_include",
]


def __getattr__(name: str):
    if name in _LAZY:
        found = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = found
        return found
    if not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


class _Package(types.ModuleType):
    """Keeps ``cpp_grad.gradcheck`` the function (see Note [Lazy package]).

    Importing a submodule binds it on its package; for ``cpp_grad.gradcheck``
    that would hide the function of the same name until it is looked up here.
    """

    def __setattr__(self, name, value):
        if name in _LAZY and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
