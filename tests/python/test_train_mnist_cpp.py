"""The compiled trainer (scripts/train_mnist.cpp), built here with the system
compiler: strict flags (usage errors exit 2), data that does not fit
together, and a --json file that is checked before training and written
whole or not at all."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from cpp_grad import _training_loop
from cpp_grad._loader import include_dir

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "scripts" / "train_mnist.cpp"

pytestmark = pytest.mark.skipif(_training_loop._compiler() is None, reason="no C++ compiler")


@pytest.fixture(scope="module")
def trainer(tmp_path_factory) -> Path:
    binary = tmp_path_factory.mktemp("bin") / "train_mnist"
    subprocess.run(
        [
            _training_loop._compiler(),
            "-std=c++17",
            "-O1",
            f"-I{include_dir()}",
            str(SOURCE),
            "-o",
            str(binary),
            "-pthread",
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return binary


def write_idx(path: Path, array: np.ndarray) -> None:
    header = struct.pack(">I", 0x800 | array.ndim) + b"".join(struct.pack(">I", n) for n in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def write_mnist(folder: Path, test_shape=(28, 28), train=60, test=20) -> Path:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    write_idx(folder / "train-images-idx3-ubyte", rng.integers(0, 256, (train, 28, 28)))
    write_idx(folder / "train-labels-idx1-ubyte", rng.integers(0, 10, train))
    write_idx(folder / "t10k-images-idx3-ubyte", rng.integers(0, 256, (test, *test_shape)))
    write_idx(folder / "t10k-labels-idx1-ubyte", rng.integers(0, 10, test))
    return folder


def run(trainer: Path, *args, data: Path | None = None) -> subprocess.CompletedProcess:
    data_args = ["--data", str(data)] if data is not None else []
    return subprocess.run(
        [str(trainer), *data_args, "--epochs", "1", "--hidden", "8", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--epochs", "3000000000"),
        ("--epochs", "4294967297"),
        ("--epochs", "-1"),
        ("--epochs", "0"),
        ("--epochs", "2.5"),
        ("--epochs", " 3"),
        ("--lr", "abc"),
        ("--lr", ""),
        ("--lr", "-0.1"),
        ("--lr", "0"),
        ("--lr", "nan"),
        ("--lr", "inf"),
        ("--lr", "0.1x"),
        ("--hidden", ""),
        ("--hidden", "30,,10"),
        ("--hidden", "30,"),
        ("--hidden", "0"),
        ("--threads", "0"),
        ("--threads", "100000"),
        ("--batch-size", "0"),
        ("--batch-size", "1e3"),
        ("--seed", "18446744073709551616"),
        ("--limit", "0"),
        ("--optimizer", "rmsprop"),
        ("--dtype", "float16"),
    ],
)
def test_bad_flags_are_usage_errors(trainer, tmp_path, flag, value):
    done = run(trainer, flag, value, data=tmp_path)
    assert done.returncode == 2, done.stderr
    assert flag in done.stderr and "usage:" in done.stderr
    assert "epoch" not in done.stdout


def test_learning_rate_that_rounds_to_zero_in_float32(trainer, tmp_path):
    data = write_mnist(tmp_path / "data")
    done = run(trainer, "--lr", "1e-50", data=data)
    assert done.returncode == 2, done.stderr
    assert "1e-50 rounds to 0 in float32" in done.stderr
    assert run(trainer, "--lr", "1e-50", "--dtype", "float64", data=data).returncode == 0


def test_test_images_of_another_size_are_refused(trainer, tmp_path):
    done = run(trainer, data=write_mnist(tmp_path / "data", test_shape=(1, 1)))
    assert done.returncode == 1
    assert "train images are 28 x 28 pixels but test images 1 x 1" in done.stderr
    assert "accuracy" not in done.stdout


def test_json_is_written_whole(trainer, tmp_path):
    data = write_mnist(tmp_path / "data")
    out = tmp_path / "out"
    out.mkdir()
    done = run(trainer, "--json", str(out / "run.json"), data=data)
    assert done.returncode == 0, done.stderr
    figures = json.loads((out / "run.json").read_text())
    assert figures["train_samples"] == 60 and len(figures["per_epoch"]) == 1
    assert [p.name for p in out.iterdir()] == ["run.json"]
    assert (out / "run.json").stat().st_mode & 0o777 == 0o666 & ~current_umask()


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_failed_run_leaves_the_previous_json(trainer, tmp_path):
    data = write_mnist(tmp_path / "data", test_shape=(2, 2))
    previous = tmp_path / "run.json"
    previous.write_text('{"test_accuracy": 0.97}\n')
    previous.chmod(0o640)
    done = run(trainer, "--json", str(previous), data=data)
    assert done.returncode == 1
    assert previous.read_text() == '{"test_accuracy": 0.97}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "run.json"]
    # A run that succeeds replaces it, keeping its mode.
    shutil.rmtree(data)
    assert run(trainer, "--json", str(previous), data=write_mnist(data)).returncode == 0
    assert "per_epoch" in json.loads(previous.read_text())
    assert previous.stat().st_mode & 0o777 == 0o640


@pytest.mark.parametrize("where", ["missing_folder", "folder", "read_only_folder"])
def test_json_path_that_cannot_be_written_fails_before_training(trainer, tmp_path, where):
    data = write_mnist(tmp_path / "data")
    target = {
        "missing_folder": tmp_path / "no" / "run.json",
        "folder": tmp_path / "data",
        "read_only_folder": tmp_path / "locked" / "run.json",
    }[where]
    if where == "read_only_folder":
        target.parent.mkdir()
        target.parent.chmod(0o500)
        if os.access(target.parent, os.W_OK):
            pytest.skip("running as a user who may write anywhere")
    done = run(trainer, "--json", str(target), data=data)
    assert done.returncode == 1
    assert "cannot write" in done.stderr
    assert "epoch" not in done.stdout


def test_json_through_a_symlink_writes_its_target(trainer, tmp_path):
    data = write_mnist(tmp_path / "data")
    (tmp_path / "runs").mkdir()
    link = tmp_path / "latest.json"
    link.symlink_to(tmp_path / "runs" / "v1.json")
    assert run(trainer, "--json", str(link), data=data).returncode == 0
    assert link.is_symlink()
    assert "per_epoch" in json.loads((tmp_path / "runs" / "v1.json").read_text())
