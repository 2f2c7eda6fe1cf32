"""Tests for ``python -m cpp_grad`` (the console) and cpp_grad.docs (what
``help(Value)`` shows in it)."""

import os
import pydoc
import subprocess
import sys
from pathlib import Path

import pytest

from cpp_grad.docs import VALUE_DOCS, apply_value_docs
from cpp_grad.value import Value, Value32

REPO_ROOT = Path(__file__).resolve().parents[2]


def run_console(lines: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run(
        [sys.executable, "-m", "cpp_grad", *args],
        input=lines,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_piped_lines_run_like_a_script_and_echo_values():
    result = run_console(
        "print(Value(2) * 3)\n"
        "a, b = Value(2.0), Value(-3.0)\n"
        "c = a * b + b ** 2\n"
        "c.backward()\n"
        "a.grad, b.grad\n"  # an expression's value is printed
        "for name in ['MLP', 'Neuron', 'Layer', 'Value32', 'draw_dot', 'gradcheck', 'load_mnist', 'np']:\n"
        "    assert name in dir(), name\n"
        "total = 0\n"
        "for i in range(3):\n"  # no blank line after the loop: a script needs none
        "    total += i\n"
        "print('total', total)\n"
        "gradcheck(lambda x: x.tanh(), [0.5])\n"
        "help(Value.backward)\n"
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Value(data=6.0, grad=0.0)"
    assert lines[1] == "(-3.0, -4.0)"
    assert lines[2] == "total 3"
    assert lines[3] == "True"
    assert "Back-propagates from this Value" in result.stdout  # docs applied in the console
    assert ">>>" not in result.stdout and "cpp_grad" not in lines[0]  # no prompts, no banner
    assert result.stderr == ""


def test_piped_error_stops_the_run_with_exit_status_1():
    result = run_console("print('before')\nfor x in [1, 0]:\n    print(1 / x)\nprint('not reached')\n")
    assert result.returncode == 1
    assert result.stdout.splitlines() == ["before", "1.0"]
    assert "ZeroDivisionError: division by zero" in result.stderr
    assert 'File "<stdin>", line 3' in result.stderr and "print(1 / x)" in result.stderr
    assert "__main__.py" not in result.stderr  # the piped code's frames only


def test_piped_syntax_error_runs_nothing():
    result = run_console("print('first')\nfor i in range(2)\n    print(i)\n")
    assert result.returncode == 1
    assert result.stdout == ""
    assert "SyntaxError" in result.stderr and "Traceback" not in result.stderr


def test_exit_code_and_help():
    assert run_console("import sys; sys.exit(3)\nprint('not reached')\n").returncode == 3
    result = run_console("", "--help")
    assert result.returncode == 0
    assert "console" in result.stdout


def test_main_is_the_entry_point():
    from cpp_grad.__main__ import banner, main, namespace

    names = namespace()
    text = banner(names)
    for name in ("Value", "Value32", "MLP", "Neuron", "Layer", "draw_dot", "gradcheck", "load_mnist", "np"):
        assert name in names and name in text
    assert text.count(">>> ") == 2
    assert callable(main)


@pytest.mark.parametrize("cls", [Value, Value32])
def test_apply_value_docs_shows_in_help(cls):
    apply_value_docs(cls)
    apply_value_docs(cls)  # twice is harmless
    name = "Value32" if cls is Value32 else "Value"
    page = pydoc.render_doc(cls, renderer=pydoc.plaintext)
    assert f"{name}(data=0.0, _children=(), _op='', label=''): a {cls.dtype} scalar" in page
    assert "Back-propagates from this Value" in pydoc.render_doc(cls.backward, renderer=pydoc.plaintext)
    assert cls.zero_grad.__doc__ == VALUE_DOCS["zero_grad"]
    for method in ("relu", "tanh", "exp", "log", "sigmoid"):
        assert getattr(cls, method).__doc__ == VALUE_DOCS[method]
        assert getattr(cls, method).__name__ == method
    for attribute in ("data", "grad", "op", "parents", "_backward"):
        assert cls.__dict__[attribute].__doc__ == VALUE_DOCS[attribute]
    # the Values still work
    a = cls(2.0)
    b = a.relu() * a
    b.backward()
    a.data = 3.0
    assert (a.data, a.grad, b.op, len(b.parents)) == (3.0, 4.0, "*", 2)


def test_undocumentable_methods_are_wrapped():
    class Fake:
        dtype = "float64"
        backward = len  # a builtin: its __doc__ cannot be set

    apply_value_docs(Fake)
    assert Fake.backward.__doc__ == VALUE_DOCS["backward"]
    assert Fake.backward([1, 2]) == 2
