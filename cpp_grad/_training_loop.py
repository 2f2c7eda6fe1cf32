"""Builds and loads the training loop (cpp_grad/training_loop.hpp), the
code behind ``MLP.fit``, ``predict`` and ``evaluate``.

The header is compiled once per machine by the system's C++ compiler into a
small library, cached under ``$CPP_GRAD_CACHE`` (default ``~/.cache/cpp_grad``)
and keyed by the sources, the compiler (program, version, what it makes of
-march=native), the flags and the CPU's model and feature flags; a cached
library whose checksum differs from the one recorded when it was built is
rebuilt, never loaded. The build happens the first time only. Without a
compiler, or with ``CPP_GRAD_JIT_ONLY=1``, cling compiles the same header
instead (slower loops, same results up to rounding).
"""

from __future__ import annotations

import contextlib
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

from ._cache import cache_dir
from ._files import write_text
from ._loader import include_dir

try:
    import fcntl
except ImportError:  # not on Windows: builds are not locked there
    fcntl = None

_PACKAGE_DIR = Path(__file__).resolve().parent
_HEADER = _PACKAGE_DIR / "training_loop.hpp"
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


def _compiler() -> str | None:
    return os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")


def _cpu() -> str:
    """The first processor's model and feature flags, as /proc/cpuinfo gives them."""
    try:
        block = Path("/proc/cpuinfo").read_text().split("\n\n", 1)[0]
    except OSError:
        return platform.processor()
    # x86 says "model name" and "flags"; ARM "CPU implementer", "CPU part" and "Features".
    keys = ("model name", "flags", "cpu family", "model\t", "CPU implementer", "CPU part", "Features")
    return "\n".join(line for line in block.splitlines() if line.startswith(keys))


def _run(command: list) -> str:
    done = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    return f"{done.returncode}\n{done.stdout}\n{done.stderr}"


def _library_path(compiler: str) -> Path:
    """The cached library's name: a hash of everything that makes one build
    differ from another: the sources, the compiler (which program, its
    version, the target it means by -march=native), the flags and the CPU."""
    key = hashlib.sha256()
    headers = include_dir() / "cpp_grad"
    sources = [_HEADER, *sorted(headers.rglob("*.hpp"))]
    for source in sources:
        text = source.read_bytes()
        key.update(f"{source.name}\0{len(text)}\0".encode() + text)
    program = shutil.which(compiler) or compiler
    native = [program, *_FLAGS, "-x", "c++", "-E", "-dM", os.devnull]  # the macros -march=native sets
    key.update(
        "\0".join(
            [
                os.path.realpath(program),
                program,
                _run([program, "--version"]),
                _run(native),
                " ".join(_FLAGS),
                _cpu(),
                platform.machine(),
            ]
        ).encode()
    )
    return cache_dir() / f"libcpp_grad_training_loop-{key.hexdigest()[:16]}.so"


def _checksum_path(library: Path) -> Path:
    return library.with_name(library.name + ".sha256")


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _is_intact(library: Path) -> bool:
    """Whether the library is the one built: the checksum recorded at build
    time matches. A truncated or overwritten file never reaches dlopen (which
    can crash on a damaged ELF file)."""
    try:
        return _checksum_path(library).read_text().strip() == _digest(library)
    except OSError:
        return False


def _build(compiler: str, target: Path) -> None:
    """Compiles to a temporary name, records its checksum, then renames it
    into place (atomic: a concurrent process sees all of it or none)."""
    print("cpp_grad: compiling the training loop for this machine (once)...", file=sys.stderr)
    fd, tmp = tempfile.mkstemp(prefix=target.name + ".", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        cmd = [compiler, *_FLAGS, "-DCPP_GRAD_TRAINING_LOOP_LIBRARY", "-I", str(include_dir())]
        cmd += ["-x", "c++", str(_HEADER), "-o", tmp]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{result.stderr[-2000:]}")
        with open(tmp, "rb+") as stream:
            os.fsync(stream.fileno())
        write_text(_checksum_path(target), _digest(Path(tmp)) + "\n")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@contextlib.contextmanager
def _locked(library: Path):
    """Holds a lock on the library's name across processes while it is checked
    and built, so that two processes never build it at once."""
    library.parent.mkdir(parents=True, exist_ok=True)
    try:
        lock = open(library.with_name(library.name + ".lock"), "a")
    except OSError:  # a read-only cache: nothing will be built in it either
        yield
        return
    with lock:
        if fcntl is not None:
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _ready_library(compiler: str) -> Path:
    path = _library_path(compiler)
    with _locked(path):
        if not _is_intact(path):
            if path.exists():
                print(f"cpp_grad: {path} is damaged (checksum differs); rebuilding it", file=sys.stderr)
            _build(compiler, path)
    return path


def load_training_loop() -> str | None:
    """Makes ``cpp_grad::py::TrainingSetup`` and ``TrainingLoop`` callable;
    returns the library used, or None where cling compiled them."""
    if _state["ready"]:
        return _state["library"]
    library = None
    compiler = _compiler()
    if compiler and not os.environ.get("CPP_GRAD_JIT_ONLY"):
        try:
            path = _ready_library(compiler)
            cppyy.load_library(str(path))
            library = str(path)
        except (OSError, RuntimeError, subprocess.SubprocessError) as error:
            warnings.warn(
                f"cpp_grad: could not compile the training loop ahead of time ({error}); "
                "cling will compile it instead (slower)",
                RuntimeWarning,
                stacklevel=3,
            )
    if library is not None:
        cppyy.cppdef("#define CPP_GRAD_TRAINING_LOOP_PRECOMPILED 1")  # declarations only
    cppyy.include(str(_HEADER))
    _state.update(ready=True, library=library)
    return library
