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


def run_any(script, *args):
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / script), *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def assert_one_line_error(result, *parts):
    """argparse's convention: exit 2, the last stderr line says it, no traceback."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert "error: " in last
    for part in parts:
        assert part in last, last


@pytest.mark.parametrize(
    "args, flag",
    [
        (["--epochs", "-1"], "--epochs"),
        (["--batch-size", "0"], "--batch-size"),
        (["--lr", "-0.5"], "--lr"),
        (["--lr", "nan"], "--lr"),
        (["--threads", "0"], "--threads"),
        (["--momentum", "1.5"], "--momentum"),
        (["--limit", "0"], "--limit"),
        (["--epochs", "two"], "--epochs"),
    ],
)
def test_bad_values_exit_2_before_any_data_is_read(args, flag, tmp_path):
    # --data names a file that would fail to load: the flag is checked first.
    result = run_any("train_mnist.py", "--data", str(tmp_path / "absent.npz"), *args)
    assert_one_line_error(result, flag)
    assert "absent.npz" not in result.stderr


def test_missing_data_file_is_one_line(tmp_path):
    result = run_any("train_mnist.py", "--data", str(tmp_path / "absent.npz"))
    assert_one_line_error(result, "--data", "absent.npz", "does not exist")


def test_corrupt_data_file_is_one_line(tmp_path):
    corrupt = tmp_path / "mnist.npz"
    corrupt.write_bytes(MNIST_SMALL.read_bytes()[:5000])
    result = run_any("train_mnist.py", "--data", str(corrupt), "--epochs", "1")
    assert_one_line_error(result, str(corrupt))
    assert result.stdout == ""


def test_mnist_to_idx_checks_its_arguments(tmp_path):
    assert_one_line_error(
        run_any("mnist_to_idx.py", "--data", str(tmp_path / "no.npz"), str(tmp_path)), "no.npz"
    )
    a_file = tmp_path / "file"
    a_file.write_text("")
    assert_one_line_error(
        run_any("mnist_to_idx.py", "--data", str(MNIST_SMALL), str(a_file)), "is not a folder"
    )
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"PK\x03\x04 not really")
    assert_one_line_error(
        run_any("mnist_to_idx.py", "--data", str(broken), str(tmp_path / "out")), "broken.npz"
    )


@pytest.mark.parametrize("args, flag", [(["--repeats", "0"], "--repeats"), (["--limit", "-5"], "--limit")])
def test_bench_checks_its_arguments(args, flag, tmp_path):
    result = run_any("bench.py", "--out", str(tmp_path / "out"), *args)
    assert_one_line_error(result, flag)
    assert not (tmp_path / "out").exists()


def test_bench_missing_data_is_one_line(tmp_path):
    result = run_any("bench.py", "--data", str(tmp_path / "none.npz"), "--out", str(tmp_path / "out"))
    assert_one_line_error(result, "none.npz")


@pytest.mark.parametrize("args, flag", [(["--steps", "0"], "--steps"), (["--samples", "1"], "--samples")])
def test_moons_checks_its_arguments(args, flag):
    assert_one_line_error(run_any("moons.py", *args), flag)
