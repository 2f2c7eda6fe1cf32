"""The package as C++ builds see it: ``get_include()``, ``--includes`` and the
version answer without starting cppyy; the engine's names load on first use
(Note [Lazy package] in cpp_grad/__init__.py). tests/consumer/ builds C++
against these answers."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest

import cpp_grad

REPO_ROOT = Path(__file__).resolve().parents[2]


def run_python(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]))
    result = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, timeout=300, cwd=REPO_ROOT.parent
    )
    assert result.returncode == 0, result.stderr
    return result


def test_get_include_names_the_folder_of_the_umbrella_header():
    folder = cpp_grad.get_include()
    assert isinstance(folder, str)
    assert (Path(folder) / "cpp_grad" / "cpp_grad.hpp").is_file()


def test_get_include_and_version_load_neither_cppyy_nor_numpy():
    code = (
        "import sys, cpp_grad\n"
        "print(cpp_grad.get_include())\n"
        "print(cpp_grad.__version__)\n"
        "print(sorted(name for name in ('cppyy', 'numpy') if name in sys.modules))\n"
    )
    folder, version, loaded = run_python("-c", code).stdout.splitlines()
    assert folder == cpp_grad.get_include()
    assert version == cpp_grad.__version__
    assert loaded == "[]"


def test_includes_flag_and_version_from_the_command_line():
    assert run_python("-m", "cpp_grad", "--includes").stdout == f"-I{cpp_grad.get_include()}\n"
    assert run_python("-m", "cpp_grad", "--version").stdout == f"cpp_grad {cpp_grad.__version__}\n"


def test_version_is_the_installed_distributions():
    # The wheel's metadata is read from cpp_grad/_version.py, as CMakeLists.txt reads it.
    assert cpp_grad.__version__ == importlib.metadata.version("cpp_grad")


def test_engine_names_load_on_first_use():
    code = (
        "import sys, cpp_grad\n"
        "import cpp_grad.gradcheck\n"  # the submodule, imported first, must not hide the function
        "from cpp_grad import *\n"
        "print(callable(cpp_grad.gradcheck), cpp_grad.gradcheck is gradcheck)\n"
        "print(Value(2.0) * 3, Value32, draw_dot.__name__, load_mnist.__name__, GradcheckError.__name__)\n"
        "print(cpp_grad.nn.MLP.__name__, 'cppyy' in sys.modules)\n"
    )
    lines = run_python("-c", code).stdout.splitlines()
    assert lines[0] == "True True"
    assert lines[1].startswith("Value(data=6.0, grad=0.0) ")
    assert lines[1].endswith(" draw_dot load_mnist GradcheckError")
    assert lines[2] == "MLP True"


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_name"):
        cpp_grad.no_such_name  # noqa: B018
    assert {"Value", "gradcheck", "get_include", "__version__"} <= set(dir(cpp_grad))
