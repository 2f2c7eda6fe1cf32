"""Loads the C++ headers into cppyy, once per process (``_include`` finds them)."""

from __future__ import annotations

from pathlib import Path

import cppyy

from ._include import UMBRELLA, include_dir

_PACKAGE_DIR = Path(__file__).resolve().parent

cppyy.add_include_path(str(include_dir()))
cppyy.cppdef("#define CPP_GRAD_NO_NODE_POOL 1")  # see include/cpp_grad/detail/pool.hpp
cppyy.include(str(UMBRELLA))
cppyy.include(str(_PACKAGE_DIR / "bindings.hpp"))

cpp = cppyy.gbl.cpp_grad
"""The C++ namespace ``cpp_grad``, as cppyy sees it."""

# C++ type names of the two supported precisions.
CTYPES = {"float64": "double", "float32": "float"}
