"""Output files (cpp_grad/_files.py): checked before any work, written through
symlinks, only over regular files, atomically; and the scripts that use it
(train_mnist.py, moons.py, bench.py, mnist_to_idx.py) fail on a bad output
path at once, with a one-line usage error (exit 2)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cpp_grad import _files
from cpp_grad.datasets import read_idx, write_idx

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = REPO_ROOT / "scripts"
MNIST_SMALL = REPO_ROOT / "tests" / "data" / "mnist_small.npz"


def run_script(name: str, *args: str, timeout=300) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    return subprocess.run(
        [sys.executable, str(SCRIPTS / name), *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# ---- check_writable and atomic_write ------------------------------------------------------------


def test_check_writable_accepts_new_and_regular_files(tmp_path):
    assert _files.check_writable(tmp_path / "new.json") == tmp_path / "new.json"
    (tmp_path / "old.json").write_text("{}")
    assert _files.check_writable(tmp_path / "old.json") == tmp_path / "old.json"
    assert os.listdir(tmp_path) == ["old.json"]  # nothing created


@pytest.mark.parametrize(
    "make, error, message",
    [
        (lambda p: p.mkdir(), IsADirectoryError, "is a folder"),
        (lambda p: os.mkfifo(p), FileExistsError, "FIFO"),
        (lambda p: p.symlink_to(os.devnull), FileExistsError, "character device"),
        (lambda p: None, FileNotFoundError, "does not exist"),
    ],
    ids=["folder", "fifo", "device", "missing-folder"],
)
def test_check_writable_refuses(tmp_path, make, error, message):
    path = tmp_path / "out"
    make(path)
    target = path / "x.json" if message == "does not exist" else path
    with pytest.raises(error, match=message):
        _files.check_writable(target)


def test_check_writable_refuses_a_folder_that_is_a_file(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(NotADirectoryError):
        _files.check_writable(tmp_path / "file" / "x.json")


def test_a_symlink_loop_is_an_os_error(tmp_path):
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    with pytest.raises(OSError, match="cannot write"):
        _files.check_writable(tmp_path / "a")


def test_a_failed_write_leaves_the_previous_file(tmp_path):
    path = tmp_path / "run.json"
    path.write_text('{"good": true}')
    with pytest.raises(OSError, match="disk full"):
        with _files.atomic_write(path, text=True) as stream:
            stream.write('{"half')
            raise OSError("disk full")
    assert path.read_text() == '{"good": true}'
    assert os.listdir(tmp_path) == ["run.json"]


def test_write_text_through_a_symlink_keeps_the_link_and_the_mode(tmp_path):
    target = tmp_path / "runs" / "last.json"
    target.parent.mkdir()
    target.write_text("old")
    os.chmod(target, 0o604)
    link = tmp_path / "run.json"
    link.symlink_to(target)
    _files.write_text(link, "new")
    assert link.is_symlink() and target.read_text() == "new"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o604


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_write_idx_is_atomic_and_follows_symlinks(tmp_path, suffix, monkeypatch):
    target = tmp_path / f"labels{suffix}"
    write_idx(target, np.arange(5, dtype=np.uint8))
    link = tmp_path / f"link{suffix}"
    link.symlink_to(target.name)
    write_idx(link, np.arange(7, dtype=np.uint8))
    assert link.is_symlink() and list(read_idx(target)) == list(range(7))
    before = target.read_bytes()

    def broken_tobytes(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "ascontiguousarray", broken_tobytes)
    with pytest.raises(OSError, match="disk full"):
        write_idx(target, np.arange(9, dtype=np.uint8))
    assert target.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == sorted([target.name, link.name])


def test_plots_go_through_the_same_checks(tmp_path):
    pytest.importorskip("matplotlib")
    from cpp_grad.nn import MLP
    from cpp_grad.plots import plot_decision_boundary

    fifo = tmp_path / "moons.png"
    os.mkfifo(fifo)
    x, y = np.random.default_rng(0).normal(size=(20, 2)), np.arange(20) % 2
    with pytest.raises(FileExistsError, match="FIFO"):
        plot_decision_boundary(MLP(2, [4, 1]), x, y, fifo, resolution=10)
    link = tmp_path / "link.png"
    link.symlink_to("target.png")
    plot_decision_boundary(MLP(2, [4, 1]), x, y, link, resolution=10)
    assert link.is_symlink() and (tmp_path / "target.png").read_bytes()[:4] == b"\x89PNG"


# ---- the scripts check their outputs before loading data or training ----------------------------


def assert_usage_error(result, flag):
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    last = result.stderr.strip().splitlines()[-1]
    assert "error:" in last and flag in last, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "flag, make",
    [
        ("--json", lambda tmp: tmp / "missing" / "run.json"),
        ("--save", lambda tmp: tmp),
        ("--plot", lambda tmp: (os.mkfifo(tmp / "fifo.png"), tmp / "fifo.png")[1]),
    ],
    ids=["json-missing-folder", "save-folder", "plot-fifo"],
)
def test_train_mnist_checks_outputs_before_loading_data(tmp_path, flag, make):
    # The data path does not exist: reaching it would be a different error.
    result = run_script(
        "train_mnist.py", "--data", str(tmp_path / "no-data.npz"), "--no-progress", flag, str(make(tmp_path))
    )
    assert_usage_error(result, flag)


def train_small(*args: str) -> subprocess.CompletedProcess:
    """train_mnist.py for one epoch on 500 images of the fixture."""
    common = ["--data", str(MNIST_SMALL), "--no-progress", "--limit", "500", "--epochs", "1"]
    return run_script("train_mnist.py", *common, *args)


def test_train_mnist_writes_json_and_model_through_symlinks(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    (tmp_path / "run.json").symlink_to(runs / "run-1.json")
    (tmp_path / "model.npz").symlink_to(runs / "model-1.npz")
    result = train_small("--json", str(tmp_path / "run.json"), "--save", str(tmp_path / "model.npz"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "run.json").is_symlink() and (tmp_path / "model.npz").is_symlink()
    assert json.loads((runs / "run-1.json").read_text())["train_samples"] == 500
    assert sorted(os.listdir(runs)) == ["model-1.npz", "run-1.json"]


@pytest.mark.parametrize("flag", ["--json", "--plot"])
def test_moons_checks_outputs_before_training(tmp_path, flag):
    result = run_script("moons.py", flag, str(tmp_path / "missing" / "out"))
    assert_usage_error(result, flag)
    assert "step 0" not in result.stdout


def test_bench_checks_its_output_folder_before_building(tmp_path):
    not_a_folder = tmp_path / "results"
    not_a_folder.write_text("")
    result = run_script(
        "bench.py", "--data", str(MNIST_SMALL), "--out", str(not_a_folder), "--build-dir", str(tmp_path / "b")
    )
    assert_usage_error(result, "--out")
    assert not (tmp_path / "b").exists()


def test_bench_refuses_a_fifo_where_its_table_goes(tmp_path):
    out = tmp_path / "results"
    out.mkdir()
    os.mkfifo(out / "bench.md")
    result = run_script(
        "bench.py", "--data", str(MNIST_SMALL), "--out", str(out), "--build-dir", str(tmp_path / "b")
    )
    assert_usage_error(result, "--out")
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("kind", ["file", "fifo-inside"])
def test_mnist_to_idx_checks_its_folder_before_loading(tmp_path, kind):
    out = tmp_path / "idx"
    if kind == "file":
        out.write_text("")
    else:
        out.mkdir()
        os.mkfifo(out / "train-images-idx3-ubyte")
    result = run_script("mnist_to_idx.py", "--data", str(tmp_path / "no-data.npz"), str(out))
    assert_usage_error(result, "out_dir")


def test_train_mnist_keeps_the_previous_model_when_training_diverges(tmp_path):
    from cpp_grad.nn import MLP

    model_path, figures = tmp_path / "model.npz", tmp_path / "run.json"
    MLP(784, [30, 10], seed=7).save(model_path)
    before = model_path.read_bytes()
    diverging = ["--dtype", "float64", "--optimizer", "sgd", "--lr", "1e300"]
    result = train_small(*diverging, "--save", str(model_path), "--json", str(figures))
    assert result.returncode == 1, result.stderr[-2000:]
    assert "model not saved" in result.stderr and "NaN or Inf" in result.stderr, result.stderr
    assert "non-finite" in result.stderr  # fit's warning
    assert "Traceback" not in result.stderr
    assert model_path.read_bytes() == before
    assert json.loads(figures.read_text())["train_samples"] == 500
