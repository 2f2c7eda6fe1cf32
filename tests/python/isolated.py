"""Running test code in a fresh Python, so that a crash is a return code the
test asserts on, not a dead test run."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import cpp_grad

# The checkout whose cpp_grad this test process imported: the child imports the same.
PACKAGE_ROOT = Path(cpp_grad.__file__).resolve().parents[1]


def run_isolated(code: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Runs `code` in a fresh Python; a crash shows as a return code, not a dead test run."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(PACKAGE_ROOT), os.environ.get("PYTHONPATH")])),
    }
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
