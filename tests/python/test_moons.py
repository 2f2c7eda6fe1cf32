"""Tests for scripts/moons.py, micrograd's two-moons demo."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "scripts" / "moons.py"


def run_moons(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=600
    )


def test_moons_trains_to_95_percent_and_plots(tmp_path):
    pytest.importorskip("matplotlib")
    figures, picture = tmp_path / "moons.json", tmp_path / "moons.png"
    result = run_moons("--json", str(figures), "--plot", str(picture))
    assert result.returncode == 0, result.stderr
    run = json.loads(figures.read_text())
    assert run["train_accuracy"] >= 0.95
    assert run["steps"] == 100
    assert run["seconds"] > 0
    progress = [line for line in result.stdout.splitlines() if line.startswith("step ")]
    assert [line.split()[1] for line in progress] == [str(k) for k in range(0, 100, 10)] + ["99"]
    data = picture.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000


def test_bad_options():
    result = run_moons("--steps", "0")
    assert result.returncode == 2
    assert "--steps must be at least 1" in result.stderr
