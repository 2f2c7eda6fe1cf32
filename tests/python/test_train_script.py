"""Runs scripts/train_mnist.py end to end on the small MNIST fixture."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cpp_grad.nn import MLP

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "scripts" / "train_mnist.py"
MNIST_SMALL = REPO_ROOT / "tests" / "data" / "mnist_small.npz"


def run_script(*args):
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--data", str(MNIST_SMALL), "--no-progress", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "hidden, nouts",
    [(None, [30, 10]), ("16,16", [16, 16, 10])],
    ids=["default", "16,16"],
)
def test_train_script_writes_json_and_model(tmp_path, hidden, nouts):
    out, model_path = tmp_path / "run.json", tmp_path / "model.npz"
    extra = ["--hidden", hidden] if hidden else []
    result = run_script(
        "--limit", "2000", "--epochs", "1", "--json", str(out), "--save", str(model_path), *extra
    )
    assert result.returncode == 0, result.stderr
    assert re.search(r"^epoch 1: loss [\d.]+ .*test accuracy [\d.]+", result.stdout, re.MULTILINE), (
        result.stdout
    )

    figures = json.loads(out.read_text())
    assert {"test_accuracy", "train_seconds", "epochs", "batch_size", "hidden", "per_epoch"} <= set(figures)
    assert figures["epochs"] == 1 and len(figures["per_epoch"]) == 1
    assert figures["hidden"] == nouts[:-1]
    assert figures["train_samples"] == 2000
    assert 0.5 < figures["test_accuracy"] <= 1 and figures["train_seconds"] > 0
    assert {"loss", "accuracy", "seconds", "val_accuracy"} <= set(figures["per_epoch"][0])

    model = MLP.load(model_path)
    assert (model.nin, model.nouts) == (784, nouts)


@pytest.mark.parametrize("hidden", ["x", "16,x", "0"])
def test_bad_hidden_exits_with_usage_error(hidden):
    result = run_script("--hidden", hidden, "--epochs", "1")
    assert result.returncode == 2
    assert "--hidden" in result.stderr
