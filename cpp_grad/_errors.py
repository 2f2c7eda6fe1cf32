"""C++ exceptions from the engine, turned into the Python ones users expect."""

from __future__ import annotations

import contextlib

import cppyy


@contextlib.contextmanager
def cpp_errors():
    """Re-raises ``std::invalid_argument`` as ``ValueError``, ``std::bad_alloc``
    as ``MemoryError`` and other C++ standard exceptions as ``RuntimeError``,
    with the C++ message alone."""
    try:
        yield
    except cppyy.gbl.std.invalid_argument as error:
        raise ValueError(str(error.what())) from None
    except cppyy.gbl.std.bad_alloc as error:
        raise MemoryError(str(error.what())) from None
    except cppyy.gbl.std.exception as error:
        raise RuntimeError(str(error.what())) from None
