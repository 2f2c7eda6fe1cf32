"""Loads the C++ headers into cppyy, once per process.

The headers ship inside the wheel (``cpp_grad/include``); in a source checkout
they are found at the top-level ``include/`` instead.
"""

from __future__ import annotations

from pathlib import Path

import cppyy

_PACKAGE_DIR = Path(__file__).resolve().parent
_UMBRELLA = Path("cpp_grad") / "cpp_grad.hpp"


def include_dir() -> Path:
    """The folder holding ``cpp_grad/cpp_grad.hpp``."""
    for candidate in (_PACKAGE_DIR / "include", _PACKAGE_DIR.parent / "include"):
        if (candidate / _UMBRELLA).is_file():
            return candidate
    raise ImportError(
        f"cpp_grad's C++ headers were not found next to {_PACKAGE_DIR}: reinstall the package (pip install .)"
    )


cppyy.add_include_path(str(include_dir()))
cppyy.include(str(_UMBRELLA))
cppyy.include(str(_PACKAGE_DIR / "bindings.hpp"))

cpp = cppyy.gbl.cpp_grad
"""The C++ namespace ``cpp_grad``, as cppyy sees it."""

# C++ type names of the two supported precisions.
CTYPES = {"float64": "double", "float32": "float"}
