"""What the scripts share on the command line: argparse's convention for a
problem the user can fix (one line on stderr, exit status 2, no traceback).

A bad flag value goes through ``parser.error`` (usage, then the line); a
missing or malformed data file, or no data at all, is the one line alone. An
error that is not about the user's input is left to Python: its traceback is
what a bug report needs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .datasets import load_mnist


def check_data_argument(parser: argparse.ArgumentParser, path) -> None:
    """``--data`` names a file or folder that exists (checked before any work)."""
    if path is not None and not Path(path).expanduser().exists():
        parser.error(f"argument --data: {path} does not exist")


def check_training_options(parser: argparse.ArgumentParser, **options) -> None:
    """The values ``MLP.fit`` would refuse, refused before the data is loaded."""
    from .nn import check_fit_options

    try:
        check_fit_options(**options)
    except (TypeError, ValueError) as error:
        name = _first_word(error)
        parser.error(f"argument --{name.replace('_', '-')}: {error}" if name in options else str(error))


def load_mnist_or_exit(path=None):
    """``load_mnist(path)``, or the reason it failed in one line and exit 2."""
    try:
        return load_mnist(path)
    except (OSError, ValueError) as error:
        exit_with_error(error)


def exit_with_error(error: Exception):
    """One line naming the program and the problem on stderr; exit status 2."""
    message = " ".join(str(error).split()) or type(error).__name__
    sys.stderr.write(f"{Path(sys.argv[0]).name}: error: {message}\n")
    sys.exit(2)


def _first_word(error: Exception) -> str:
    words = str(error).split()
    return words[0] if words else "value"
