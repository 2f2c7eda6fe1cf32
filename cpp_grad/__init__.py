"""cpp_grad: a scalar reverse-mode autograd engine in C++, used from Python.

    >>> from cpp_grad import Value
    >>> a, b = Value(2.0), Value(-3.0)
    >>> c = a * b + b ** 2
    >>> c.backward()
    >>> a.grad, b.grad
    (-3.0, -4.0)

Importing the package JIT-compiles the C++ headers through cppyy (once per
process).
"""

from .datasets import load_mnist
from .draw import draw_dot
from .gradcheck import GradcheckError, gradcheck
from .value import Value, Value32, cpp_op

__all__ = ["Value", "Value32", "cpp_op", "draw_dot", "gradcheck", "GradcheckError", "load_mnist"]
__version__ = "0.1.0"
