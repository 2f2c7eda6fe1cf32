"""Where cpp_grad keeps what it makes or fetches once per machine.

The compiled training loop and the downloaded MNIST set live in one folder:
``$CPP_GRAD_CACHE``, else ``$XDG_CACHE_HOME/cpp_grad``, else
``~/.cache/cpp_grad``. ``$CPP_GRAD_DATA_DIR`` moves the data alone (the tests
give every test its own, without recompiling the training loop).

Standard library only: datasets.py uses it without loading the engine.
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV_VAR = "CPP_GRAD_CACHE"
DATA_ENV_VAR = "CPP_GRAD_DATA_DIR"


def cache_dir() -> Path:
    """The folder for the compiled training loop (and, by default, the data)."""
    root = os.environ.get(CACHE_ENV_VAR)
    if root:
        return Path(root).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "cpp_grad"


def data_dir() -> Path:
    """The folder downloaded data sets are kept in."""
    root = os.environ.get(DATA_ENV_VAR)
    return Path(root).expanduser() if root else cache_dir()
