"""MLP.save and MLP.load against hostile paths and files: symlinks, FIFOs,
folders, permissions, non-finite weights, headers that promise more than the
file holds; and fit's warning when training diverges."""

from __future__ import annotations

import io
import json
import os
import stat
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from isolated import run_isolated

from cpp_grad.nn import MLP


def diverged_model() -> MLP:
    model = MLP(3, [4, 2], seed=1)
    model.parameters()[0].data = float("nan")
    return model


# ---- where save writes ------------------------------------------------------------------------


def test_save_writes_through_a_symlink_to_its_target(tmp_path):
    (tmp_path / "models").mkdir()
    target = tmp_path / "models" / "v1.npz"
    MLP(3, [4, 2], seed=1).save(target)
    link = tmp_path / "latest.npz"
    link.symlink_to(Path("models") / "v1.npz")

    MLP(3, [4, 2], seed=2).save(link)

    assert link.is_symlink() and os.readlink(link) == str(Path("models") / "v1.npz")
    assert np.array_equal(MLP.load(target).get_weights()[0][0], MLP(3, [4, 2], seed=2).get_weights()[0][0])
    assert sorted(os.listdir(tmp_path / "models")) == ["v1.npz"]


def test_save_through_a_dangling_symlink_creates_its_target(tmp_path):
    link = tmp_path / "latest.npz"
    link.symlink_to("v2.npz")
    MLP(3, [4, 2]).save(link)
    assert link.is_symlink() and (tmp_path / "v2.npz").is_file()
    assert MLP.load(link).nouts == [4, 2]


def test_save_refuses_to_replace_a_fifo(tmp_path):
    fifo = tmp_path / "model.npz"
    os.mkfifo(fifo)
    with pytest.raises(FileExistsError, match="FIFO"):
        MLP(3, [4, 2]).save(fifo)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert os.listdir(tmp_path) == ["model.npz"]


def test_save_refuses_to_replace_a_device_behind_a_symlink(tmp_path):
    link = tmp_path / "model.npz"
    link.symlink_to(os.devnull)
    with pytest.raises(FileExistsError, match="character device"):
        MLP(3, [4, 2]).save(link)
    assert link.is_symlink() and stat.S_ISCHR(os.stat(os.devnull).st_mode)


def test_save_refuses_a_folder(tmp_path):
    with pytest.raises(IsADirectoryError, match="folder"):
        MLP(3, [4, 2]).save(tmp_path)


def test_save_keeps_an_existing_files_mode(tmp_path):
    path = tmp_path / "model.npz"
    MLP(3, [4, 2]).save(path)
    os.chmod(path, 0o640)
    MLP(3, [4, 2], seed=3).save(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_a_new_file_gets_the_umasks_mode(tmp_path, umask):
    path = tmp_path / "model.npz"
    previous = os.umask(umask)
    try:
        MLP(3, [4, 2]).save(path)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~umask


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes read-only files")
def test_save_refuses_a_read_only_file(tmp_path):
    path = tmp_path / "model.npz"
    MLP(3, [4, 2], seed=1).save(path)
    before = path.read_bytes()
    os.chmod(path, 0o444)
    with pytest.raises(PermissionError, match="read-only"):
        MLP(3, [4, 2], seed=2).save(path)
    assert path.read_bytes() == before


# ---- what save writes -------------------------------------------------------------------------


def test_save_refuses_non_finite_weights_and_keeps_the_good_model(tmp_path):
    path = tmp_path / "model.npz"
    MLP(3, [4, 2], seed=1).save(path)
    before = path.read_bytes()
    with pytest.raises(ValueError, match="NaN or Inf.*layer 1"):
        diverged_model().save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.npz"]


def test_whatever_save_writes_load_accepts(tmp_path):
    model = MLP(2, [5, 3], seed=4)
    x = np.random.default_rng(0).normal(size=(60, 2))
    y = np.arange(60) % 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        model.fit(x, y, lr=1e300, optimizer="sgd", progress=False)
    path = tmp_path / "model.npz"
    try:
        model.save(path)
    except ValueError:
        assert not path.exists()
    else:
        MLP.load(path)


# ---- load checks the header against the file before building anything --------------------------


def npy_bytes(shape, dtype="<f8", data=b"") -> bytes:
    """An .npy member whose header claims ``shape`` but holds only ``data``."""
    stream = io.BytesIO()
    header = {"descr": dtype, "fortran_order": False, "shape": tuple(shape)}
    np.lib.format.write_array_header_1_0(stream, header)
    return stream.getvalue() + data


def write_model(path, architecture: dict, members: dict) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("architecture.npy", _npy_of(np.array(json.dumps(architecture))))
        for name, content in members.items():
            archive.writestr(name + ".npy", content)


def _npy_of(array) -> bytes:
    stream = io.BytesIO()
    np.save(stream, array)
    return stream.getvalue()


HUGE = {"format": 1, "nin": 10**6, "nouts": [100], "activation": "relu", "dtype": "float64", "seed": 0}


def test_load_of_a_small_file_claiming_a_huge_model_allocates_nothing(tmp_path):
    """The issue's file: 1 KB, nin=10**6. Run with an address-space cap 512 MB
    above what the interpreter already uses: building the model first would
    need 800 MB of weights alone."""
    path = tmp_path / "huge.npz"
    write_model(
        path,
        HUGE,
        {"W0": npy_bytes((100, 10**6), data=b"\0" * 64), "b0": npy_bytes((100,), data=b"\0" * 800)},
    )
    assert path.stat().st_size < 2000
    done = run_isolated(
        f"""
        import resource
        from cpp_grad.nn import MLP
        with open("/proc/self/status") as status:
            used = next(int(l.split()[1]) * 1024 for l in status if l.startswith("VmSize:"))
        resource.setrlimit(resource.RLIMIT_AS, (used + 512 * 2**20, resource.RLIM_INFINITY))
        try:
            MLP.load({str(path)!r})
        except ValueError as error:
            print("ValueError:", error)
        """
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "ValueError" in done.stdout, done.stdout
    assert "needs 100,000,100 weights (800,000,800 bytes" in done.stdout, done.stdout


SMALL = {**HUGE, "nin": 3, "nouts": [4, 2]}
W1, B1 = npy_bytes((2, 4), data=b"\0" * 64), npy_bytes((2,), data=b"\0" * 16)


@pytest.mark.parametrize(
    "members, message",
    [
        ({"W0": npy_bytes((4, 2), data=b"\0" * 64), "b0": npy_bytes((4,), data=b"\0" * 32)}, "W0 has shape"),
        ({"b0": npy_bytes((4,), data=b"\0" * 32), "b1": B1, "W1": W1, "X": b"\0" * 200}, "lacks.*W0"),
        ({"W0": npy_bytes((4, 3), "<i8", b"\0" * 96), "b0": npy_bytes((4,), data=b"\0" * 32)}, "W0.*int64"),
        ({"W0": npy_bytes((4, 3), data=b"\0" * 40), "b0": npy_bytes((4,), data=b"\0" * 88)}, "W0 claims 96"),
        ({"W0": npy_bytes((4, 3), data=b"\0" * 96), "b0": b"\x93NUMPY junk" + b"\0" * 120}, "b0"),
    ],
    ids=["wrong-shape", "missing", "integer-dtype", "truncated-entry", "bad-header"],
)
def test_load_rejects_entries_that_disagree_with_the_architecture(tmp_path, members, message, monkeypatch):
    path = tmp_path / "model.npz"
    members = {"W1": W1, "b1": B1, **members}
    write_model(path, SMALL, members)
    built = []
    monkeypatch.setattr(MLP, "__init__", lambda self, *a, **k: built.append(a))
    with pytest.raises(ValueError, match=message):
        MLP.load(path)
    assert built == []


@pytest.mark.parametrize(
    "architecture, message",
    [
        ({**HUGE, "nin": 2**63}, "needs 922,337,203,685,477,580,900 weights"),
        ({**HUGE, "nin": "784"}, "nin must be an integer"),
        ({**HUGE, "nouts": [10, 2**64]}, r"layers \[10, 18446744073709551616\]\) needs"),
        ({**HUGE, "nouts": []}, "nouts"),
        ({**HUGE, "dtype": "float16"}, "dtype"),
        ({**HUGE, "format": 2}, "format 2"),
    ],
    ids=["nin-2**63", "nin-str", "nout-2**64", "no-layers", "dtype", "format"],
)
def test_load_rejects_a_damaged_architecture_before_building(tmp_path, architecture, message, monkeypatch):
    path = tmp_path / "model.npz"
    write_model(path, architecture, {"W0": npy_bytes((100, 3), data=b"\0" * 2400)})
    built = []
    monkeypatch.setattr(MLP, "__init__", lambda self, *a, **k: built.append(a))
    with pytest.raises(ValueError, match=message):
        MLP.load(path)
    assert built == []


def test_load_rejects_a_huge_architecture_entry(tmp_path):
    path = tmp_path / "model.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("architecture.npy", npy_bytes((10**9,), "<U1", b"x" * 64))
    with pytest.raises(ValueError, match="architecture"):
        MLP.load(path)


def test_load_rejects_a_compressed_member_that_cannot_hold_its_claim(tmp_path):
    """A deflated member claims 200 MB of weights in a few KB."""
    path = tmp_path / "model.npz"
    arch = {**HUGE, "nin": 10**5, "nouts": [250]}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("architecture.npy", _npy_of(np.array(json.dumps(arch))))
        archive.writestr("W0.npy", npy_bytes((250, 10**5), data=b"\0" * 4096))
        archive.writestr("b0.npy", npy_bytes((250,), data=b"\0" * 2000))
    with pytest.raises(ValueError, match="needs 25,000,250 weights"):
        MLP.load(path)


def test_save_load_round_trip_of_a_compressed_copy(tmp_path):
    """np.savez_compressed files (hand-made copies) load too."""
    path = tmp_path / "model.npz"
    model = MLP(3, [4, 2], seed=5)
    model.save(path)
    with np.load(path) as data:
        arrays = dict(data)
    np.savez_compressed(path, **arrays)
    assert np.array_equal(MLP.load(path).get_weights()[0][0], model.get_weights()[0][0])


# ---- divergence -------------------------------------------------------------------------------


def test_fit_warns_once_when_the_loss_becomes_non_finite():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 2))
    y = (x[:, 0] > 0).astype(int)
    model = MLP(2, [8, 2], seed=0)
    with pytest.warns(RuntimeWarning, match=r"epoch 1, batch \d+") as caught:
        model.fit(x, y, epochs=3, batch_size=20, lr=1e300, optimizer="sgd", progress=False)
    assert len([w for w in caught if "non-finite" in str(w.message)]) == 1


def test_fit_does_not_warn_on_a_healthy_run():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 2))
    y = (x[:, 0] > 0).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        MLP(2, [8, 2], seed=0).fit(x, y, epochs=2, batch_size=20, progress=False)


# ---- damaged files never crash ----------------------------------------------------------------

_SAVED = io.BytesIO()
np.savez(
    _SAVED,
    architecture=np.array(json.dumps(SMALL | {"activation": "tanh"})),
    **{
        name: np.full(shape, 0.5)
        for name, shape in {"W0": (4, 3), "b0": (4,), "W1": (2, 4), "b1": (2,)}.items()
    },
)
SAVED = _SAVED.getvalue()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    cut=st.integers(0, len(SAVED)),
    flips=st.lists(st.tuples(st.integers(0, len(SAVED) - 1), st.integers(1, 255)), max_size=4),
)
def test_a_damaged_model_file_is_a_value_error_or_a_model(tmp_path, cut, flips):
    data = bytearray(SAVED[:cut] if cut < len(SAVED) and not flips else SAVED)
    for position, mask in flips:
        data[position] ^= mask
    path = tmp_path / "model.npz"
    path.write_bytes(bytes(data))
    try:
        model = MLP.load(path)
    except ValueError:
        return
    assert model.nouts == [4, 2] and all(np.isfinite(w).all() for w, _ in model.get_weights())
