"""``python -m cpp_grad`` (or ``cpp-grad``): a Python console with cpp_grad loaded.

Typed at a terminal, it is Python's REPL with ``Value``, ``Value32``, ``MLP``,
``Neuron``, ``Layer``, ``draw_dot``, ``gradcheck``, ``load_mnist`` and ``np``
already imported. Piped, it runs what it reads as a script would (a
multi-line ``for`` loop needs no blank line after it), without prompts or
banner, printing the values of top-level expressions as the REPL does; the
first error prints its traceback and ends the run with exit status 1::

    echo 'print(Value(2) * 3)' | python -m cpp_grad
"""

from __future__ import annotations

import argparse
import ast
import code
import linecache
import sys
import traceback

from . import __version__, get_include

_EXAMPLES = (
    "a, b = Value(2.0), Value(-3.0); c = (a * b + b**2).relu(); c.backward(); a.grad, b.grad",
    "draw_dot(c)  # in Jupyter; elsewhere draw_dot(c).render('graph') writes graph.svg",
)


def namespace() -> dict:
    """What the console starts with."""
    import numpy as np

    import cpp_grad

    from .datasets import load_mnist
    from .draw import draw_dot
    from .gradcheck import gradcheck
    from .nn import MLP, Layer, Neuron
    from .value import Value, Value32

    return {
        "__name__": "__console__",
        "__doc__": None,
        "cpp_grad": cpp_grad,
        "Value": Value,
        "Value32": Value32,
        "MLP": MLP,
        "Neuron": Neuron,
        "Layer": Layer,
        "draw_dot": draw_dot,
        "gradcheck": gradcheck,
        "load_mnist": load_mnist,
        "np": np,
    }


def banner(names) -> str:
    loaded = ", ".join(name for name in names if not name.startswith("__") and name != "cpp_grad")
    examples = "\n".join(f"  >>> {line}" for line in _EXAMPLES)
    return (
        f"cpp_grad {__version__} console (Python {sys.version.split()[0]}). Loaded: {loaded}.\n"
        f"Try:\n{examples}\n"
        "help(Value) explains Values; Ctrl-D exits."
    )


def run_piped(source: str, names: dict, filename: str = "<stdin>") -> int:
    """Runs ``source`` as a script in ``names``, echoing the values of its
    top-level expressions; returns the exit status (1 after an error)."""
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    try:
        tree = ast.parse(source, filename)
    except SyntaxError:
        traceback.print_exception(*sys.exc_info()[:2], None)
        return 1
    for statement in tree.body:
        # "single" mode prints an expression statement's value, as the REPL does.
        compiled = compile(ast.Interactive(body=[statement]), filename, "single")
        try:
            exec(compiled, names)
        except SystemExit:
            raise
        except BaseException:
            kind, error, trace = sys.exc_info()
            traceback.print_exception(kind, error, trace.tb_next)  # from the piped code's frame on
            return 1
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="cpp-grad",
        description="A Python console with cpp_grad loaded. Reads piped lines when stdin is not a terminal.",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no banner")
    parser.add_argument("--includes", action="store_true", help="print the C++ headers' -I flag and exit")
    parser.add_argument("--version", action="version", version=f"cpp_grad {__version__}")
    args = parser.parse_args(argv)
    if args.includes:
        print(f"-I{get_include()}")  # no cppyy: see Note [Lazy package] in __init__.py
        return 0

    names = namespace()
    if not sys.stdin.isatty():
        return run_piped(sys.stdin.read(), names)
    _enable_completion(names)
    code.InteractiveConsole(names).interact(banner="" if args.quiet else banner(names), exitmsg="")
    return 0


def _enable_completion(names) -> None:
    """Tab completion and line editing, where readline exists."""
    try:
        import readline
        import rlcompleter
    except ImportError:
        return
    readline.set_completer(rlcompleter.Completer(names).complete)
    readline.parse_and_bind("tab: complete")


if __name__ == "__main__":
    sys.exit(main())
