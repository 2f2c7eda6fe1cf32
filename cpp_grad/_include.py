"""Where the C++ headers are, for cppyy and for C++ builds; imports nothing heavy.

The headers ship inside the wheel (``cpp_grad/include``); in a source checkout
(and an editable install) they are the top-level ``include/`` instead.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent
UMBRELLA = Path("cpp_grad") / "cpp_grad.hpp"


def include_dir() -> Path:
    """The folder holding ``cpp_grad/cpp_grad.hpp``."""
    for candidate in (_PACKAGE_DIR / "include", _PACKAGE_DIR.parent / "include"):
        if (candidate / UMBRELLA).is_file():
            return candidate
    raise FileNotFoundError(
        f"cpp_grad's C++ headers were not found next to {_PACKAGE_DIR}: reinstall the package (pip install .)"
    )


def get_include() -> str:
    """The folder to put on a C++ compiler's include path for ``#include <cpp_grad/cpp_grad.hpp>``.

    Like ``numpy.get_include()``: nothing is loaded or compiled::

        g++ -std=c++17 -I"$(python -c 'import cpp_grad; print(cpp_grad.get_include())')" app.cpp
    """
    return str(include_dir())
