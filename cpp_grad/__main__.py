"""``python -m cpp_grad`` (or ``cpp-grad``): a Python console with cpp_grad loaded.

Typed at a terminal, it is Python's REPL with ``Value``, ``Value32``, ``MLP``,
``Neuron``, ``Layer``, ``draw_dot``, ``gradcheck``, ``load_mnist`` and ``np``
already imported. Piped, it runs the lines it reads one by one without
prompts or banner, printing expression values as the REPL does; an error
prints a traceback and the next lines still run::

    echo 'print(Value(2) * 3)' | python -m cpp_grad
"""

from __future__ import annotations

import argparse
import code
import sys

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
    from .docs import apply_value_docs
    from .draw import draw_dot
    from .gradcheck import gradcheck
    from .nn import MLP, Layer, Neuron
    from .value import Value, Value32

    apply_value_docs(Value)  # help(Value), help(Value.backward)
    apply_value_docs(Value32)
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
    from . import __version__

    loaded = ", ".join(name for name in names if not name.startswith("__") and name != "cpp_grad")
    examples = "\n".join(f"  >>> {line}" for line in _EXAMPLES)
    return (
        f"cpp_grad {__version__} console (Python {sys.version.split()[0]}). Loaded: {loaded}.\n"
        f"Try:\n{examples}\n"
        "help(Value) explains Values; Ctrl-D exits."
    )


class _PipedConsole(code.InteractiveConsole):
    """Reads lines without printing prompts (stdin is a file or a pipe)."""

    def raw_input(self, prompt=""):
        line = sys.stdin.readline()
        if not line:
            raise EOFError
        return line.rstrip("\n")


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
        _PipedConsole(names).interact(banner="", exitmsg="")
        return 0
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
