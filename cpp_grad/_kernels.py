"""The training loop, compiled ahead of time and loaded into cppyy.

``MLP.fit``, ``predict`` and ``evaluate`` call ``TrainOps`` and ``DataOps``,
declared in bindings.hpp. Their definitions are compiled once per machine by the system's
C++ compiler into a small library, cached under ``$CPP_GRAD_CACHE`` (default
``~/.cache/cpp_grad``) and keyed by the sources, the compiler and the CPU; the
build takes about 10 seconds (9 s measured here), the first time only. Without a compiler, or with
``CPP_GRAD_JIT_ONLY=1``, cling compiles the same code instead (slower loops,
same results up to rounding).
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import cppyy

from ._loader import include_dir

_PACKAGE_DIR = Path(__file__).resolve().parent
_SOURCE = _PACKAGE_DIR / "kernels.cpp"
_FLAGS = [
    "-std=c++17",
    "-O3",
    "-DNDEBUG",
    "-march=native",
    # As CMake builds the C++ trainer (g++'s default gnu++17 contracts a * b + c
    # into one FMA; -std=c++17 alone would not), and so that Adam's loop,
    # which calls sqrt, vectorises.
    "-ffp-contract=fast",
    "-fno-math-errno",
    "-fPIC",
    "-shared",
    "-pthread",
    "-ftls-model=initial-exec",
    "-fno-semantic-interposition",
    "-Wl,-Bsymbolic",
]

_state = {"ready": False, "library": None}


def cache_dir() -> Path:
    root = os.environ.get("CPP_GRAD_CACHE")
    if root:
        return Path(root).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "cpp_grad"


def _compiler() -> str | None:
    return os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("model name", "flags")):
                return line
    except OSError:
        pass
    return platform.processor()


def _library_path(compiler: str) -> Path:
    key = hashlib.sha256()
    sources = [_SOURCE, _PACKAGE_DIR / "data_ops.hpp", _PACKAGE_DIR / "bindings.hpp"]
    sources += sorted((include_dir() / "cpp_grad").glob("*.hpp"))
    for source in sources:
        key.update(source.read_bytes())
    version = subprocess.run([compiler, "--version"], capture_output=True, text=True).stdout
    key.update("\0".join([version, " ".join(_FLAGS), _cpu(), platform.machine()]).encode())
    return cache_dir() / f"libcpp_grad_kernels-{key.hexdigest()[:16]}.so"


def _build(compiler: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    print("cpp_grad: compiling the training loop for this machine (once, about 10 s)...", file=sys.stderr)
    fd, tmp = tempfile.mkstemp(prefix=target.name + ".", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        cmd = [compiler, *_FLAGS, "-I", str(include_dir()), "-I", str(_PACKAGE_DIR), str(_SOURCE), "-o", tmp]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{result.stderr[-2000:]}")
        os.replace(tmp, target)  # atomic: a concurrent process sees all of it or none
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def ensure_data_ops() -> str | None:
    """Makes TrainOps and DataOps callable; returns the library used, or None for JIT."""
    if _state["ready"]:
        return _state["library"]
    library = None
    compiler = _compiler()
    if compiler and not os.environ.get("CPP_GRAD_JIT_ONLY"):
        try:
            path = _library_path(compiler)
            if not path.exists():
                _build(compiler, path)
            cppyy.load_library(str(path))
            library = str(path)
        except (OSError, RuntimeError, subprocess.SubprocessError) as error:
            warnings.warn(
                f"cpp_grad: could not compile the training loop ahead of time ({error}); "
                "cling will compile it instead (slower)",
                RuntimeWarning,
                stacklevel=3,
            )
    if library is None:
        cppyy.include(str(_PACKAGE_DIR / "data_ops.hpp"))
    _state.update(ready=True, library=library)
    return library
