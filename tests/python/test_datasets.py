"""Tests for cpp_grad.datasets: MNIST from .npz, IDX folders, env and caches."""

import gzip
import os
import struct
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cpp_grad.datasets import MnistUnavailableError, load_mnist, read_idx, write_idx

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURE = REPO_ROOT / "tests" / "data" / "mnist_small.npz"
IDX_NAMES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


def make_arrays(n_train=12, n_test=5, rows=28, cols=28, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "x_train": rng.integers(0, 256, (n_train, rows, cols), dtype=np.uint8),
        "y_train": rng.integers(0, 10, n_train, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (n_test, rows, cols), dtype=np.uint8),
        "y_test": rng.integers(0, 10, n_test, dtype=np.uint8),
    }


def save_npz(path, arrays):
    np.savez_compressed(path, **arrays)
    return path


def save_idx_folder(folder, arrays, suffix="", names=IDX_NAMES):
    folder.mkdir(parents=True, exist_ok=True)
    for key, name in names.items():
        write_idx(folder / (name + suffix), arrays[key])
    return folder


def assert_loaded_equal(loaded, arrays):
    (x_train, y_train), (x_test, y_test) = loaded
    for key, got in zip(IDX_NAMES, (x_train, y_train, x_test, y_test)):
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, arrays[key])


@pytest.fixture
def no_default_sources(monkeypatch, tmp_path):
    """An environment with no env var, an empty keras cache and no keras."""
    monkeypatch.delenv("CPP_GRAD_MNIST", raising=False)
    monkeypatch.delenv("KERAS_HOME", raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    # A None entry makes `import keras` raise ImportError.
    monkeypatch.setitem(sys.modules, "keras", None)
    return home


# --- round trips ------------------------------------------------------------


def test_npz_round_trip(tmp_path):
    arrays = make_arrays()
    loaded = load_mnist(save_npz(tmp_path / "mnist.npz", arrays))
    assert_loaded_equal(loaded, arrays)


def test_npz_path_accepts_str_and_tilde(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    arrays = make_arrays()
    save_npz(tmp_path / "mnist.npz", arrays)
    assert_loaded_equal(load_mnist("~/mnist.npz"), arrays)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_folder_round_trip(tmp_path, suffix):
    arrays = make_arrays(rows=7, cols=5)
    folder = save_idx_folder(tmp_path / "idx", arrays, suffix)
    assert_loaded_equal(load_mnist(folder), arrays)


def test_idx_folder_dotted_names(tmp_path):
    arrays = make_arrays()
    dotted = {key: name.replace("-idx", ".idx") for key, name in IDX_NAMES.items()}
    folder = save_idx_folder(tmp_path / "idx", arrays, names=dotted)
    assert_loaded_equal(load_mnist(folder), arrays)


def test_idx_header_layout(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "images", images)
    write_idx(tmp_path / "labels", np.array([7, 1], dtype=np.uint8))
    assert (tmp_path / "images").read_bytes() == (struct.pack(">IIII", 0x803, 2, 3, 4) + images.tobytes())
    assert (tmp_path / "labels").read_bytes() == struct.pack(">II", 0x801, 2) + b"\x07\x01"


def test_read_idx_sniffs_gzip_without_suffix(tmp_path):
    labels = np.array([3, 1, 4], dtype=np.uint8)
    write_idx(tmp_path / "labels.gz", labels)
    (tmp_path / "labels.gz").rename(tmp_path / "labels")
    np.testing.assert_array_equal(read_idx(tmp_path / "labels"), labels)


def test_read_idx_result_is_writable(tmp_path):
    write_idx(tmp_path / "labels", np.array([1, 2], dtype=np.uint8))
    labels = read_idx(tmp_path / "labels")
    labels[0] = 9
    assert labels[0] == 9


# --- where the data comes from ----------------------------------------------


@pytest.mark.parametrize("layout", ["npz", "folder"])
def test_env_var_resolution(tmp_path, monkeypatch, no_default_sources, layout):
    arrays = make_arrays()
    if layout == "npz":
        target = save_npz(tmp_path / "mine.npz", arrays)
    else:
        target = save_idx_folder(tmp_path / "idx", arrays, ".gz")
    monkeypatch.setenv("CPP_GRAD_MNIST", str(target))
    assert_loaded_equal(load_mnist(), arrays)


def test_env_var_beats_keras_cache(tmp_path, monkeypatch, no_default_sources):
    cached = make_arrays(seed=1)
    save_npz_in_cache(no_default_sources / ".keras", cached)
    wanted = make_arrays(seed=2)
    monkeypatch.setenv("CPP_GRAD_MNIST", str(save_npz(tmp_path / "w.npz", wanted)))
    assert_loaded_equal(load_mnist(), wanted)


def test_env_var_pointing_nowhere(tmp_path, monkeypatch, no_default_sources):
    missing = tmp_path / "nope.npz"
    monkeypatch.setenv("CPP_GRAD_MNIST", str(missing))
    with pytest.raises(FileNotFoundError, match="CPP_GRAD_MNIST") as info:
        load_mnist()
    assert str(missing) in str(info.value)


def save_npz_in_cache(keras_home, arrays):
    datasets = keras_home / "datasets"
    datasets.mkdir(parents=True)
    return save_npz(datasets / "mnist.npz", arrays)


def test_keras_home_cache(tmp_path, monkeypatch, no_default_sources):
    arrays = make_arrays()
    save_npz_in_cache(tmp_path / "kh", arrays)
    # A cache under HOME must be ignored once KERAS_HOME is set.
    save_npz_in_cache(no_default_sources / ".keras", make_arrays(seed=5))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    assert_loaded_equal(load_mnist(), arrays)


def test_home_keras_cache(no_default_sources):
    arrays = make_arrays()
    save_npz_in_cache(no_default_sources / ".keras", arrays)
    assert_loaded_equal(load_mnist(), arrays)


def test_keras_fallback(monkeypatch, no_default_sources):
    arrays = make_arrays()
    mnist = types.SimpleNamespace(
        load_data=lambda: (
            (arrays["x_train"], arrays["y_train"]),
            (arrays["x_test"], arrays["y_test"]),
        )
    )
    datasets_module = types.ModuleType("keras.datasets")
    datasets_module.mnist = mnist
    keras = types.ModuleType("keras")
    keras.datasets = datasets_module
    monkeypatch.setitem(sys.modules, "keras", keras)
    monkeypatch.setitem(sys.modules, "keras.datasets", datasets_module)
    assert_loaded_equal(load_mnist(keras=True), arrays)


def test_keras_option_without_keras(no_default_sources):
    with pytest.raises(MnistUnavailableError, match=r"pip install cpp_grad\[keras\]"):
        load_mnist(keras=True)


def test_no_data_found_without_download(no_default_sources):
    with pytest.raises(MnistUnavailableError) as info:
        load_mnist(download=False)
    message = str(info.value)
    assert "\n" not in message
    for hint in ("CPP_GRAD_MNIST=/path/to/mnist.npz", "--data", "download=False", "mnist.npz"):
        assert hint in message


# --- bad input ----------------------------------------------------------------


def test_missing_path(tmp_path):
    missing = tmp_path / "absent.npz"
    with pytest.raises(FileNotFoundError, match="absent.npz"):
        load_mnist(missing)


def test_missing_idx_file_in_folder(tmp_path):
    folder = save_idx_folder(tmp_path / "idx", make_arrays())
    (folder / IDX_NAMES["y_test"]).unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte"):
        load_mnist(folder)


def test_path_of_wrong_type():
    with pytest.raises(TypeError, match="int"):
        load_mnist(42)


@pytest.mark.parametrize(
    "content",
    [b"", b"hello, this is not an npz", b"\x93NUMPY\x01\x00", b"PK\x03\x04broken"],
)
def test_not_an_npz(tmp_path, content):
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="bad.npz"):
        load_mnist(path)


def test_npy_file_is_not_an_npz(tmp_path):
    path = tmp_path / "array.npy"
    np.save(path, np.zeros(3, dtype=np.uint8))
    with pytest.raises(ValueError, match="not an .npz"):
        load_mnist(path)


def test_npz_missing_keys(tmp_path):
    arrays = make_arrays()
    del arrays["y_test"], arrays["x_train"]
    path = save_npz(tmp_path / "partial.npz", arrays)
    with pytest.raises(ValueError, match=r"\['x_train', 'y_test'\]"):
        load_mnist(path)


def test_npz_with_pickled_member(tmp_path):
    arrays = make_arrays()
    arrays["y_test"] = np.array([object()], dtype=object)
    path = tmp_path / "pickled.npz"
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match="pickled.npz"):
        load_mnist(path)


@pytest.mark.parametrize(
    "key, value, numbers",
    [
        ("x_train", np.zeros((12, 784), np.uint8), ["(12, 784)"]),
        ("y_train", np.zeros((12, 1), np.uint8), ["(12, 1)"]),
        ("y_train", np.zeros(11, np.uint8), ["12", "11"]),
        ("x_test", np.zeros((4, 28, 28), np.uint8), ["4", "5"]),
        ("x_test", np.zeros((5, 28, 28), np.float32), ["float32"]),
        ("y_test", np.zeros(5, np.int64), ["int64"]),
    ],
)
def test_npz_bad_shapes_and_dtypes(tmp_path, key, value, numbers):
    arrays = make_arrays()
    arrays[key] = value
    path = save_npz(tmp_path / "bad.npz", arrays)
    with pytest.raises(ValueError, match=key) as info:
        load_mnist(path)
    for number in numbers:
        assert number in str(info.value)


@pytest.mark.parametrize("layout", ["npz", "folder"])
def test_label_out_of_range(tmp_path, layout):
    arrays = make_arrays()
    arrays["y_train"][3] = 10
    arrays["y_train"][7] = 200
    path = (
        save_npz(tmp_path / "bad.npz", arrays)
        if layout == "npz"
        else save_idx_folder(tmp_path / "idx", arrays)
    )
    with pytest.raises(ValueError, match=r"y_train\[3\] = 10 .*2 labels"):
        load_mnist(path)


def test_idx_wrong_magic(tmp_path):
    arrays = make_arrays()
    folder = save_idx_folder(tmp_path / "idx", arrays)
    # Labels where images belong: a valid IDX file with the wrong magic.
    write_idx(folder / IDX_NAMES["x_train"], arrays["y_train"])
    with pytest.raises(ValueError, match="expected 0x00000803, found 0x00000801"):
        load_mnist(folder)


def test_read_idx_rejects_non_byte_type(tmp_path):
    path = tmp_path / "floats"
    path.write_bytes(struct.pack(">II", 0x00000D01, 1) + b"\0\0\0\0")
    with pytest.raises(ValueError, match="found 0x00000D01"):
        read_idx(path)


def test_idx_truncated_data(tmp_path):
    path = tmp_path / "images"
    write_idx(path, np.zeros((3, 4, 5), np.uint8))
    path.write_bytes(path.read_bytes()[:-7])
    # 16-byte header + 60 pixels promised, 7 pixels short.
    with pytest.raises(ValueError, match=r"promises 76 bytes, but the file holds 69 \(truncated\)"):
        read_idx(path)


def test_idx_truncated_header(tmp_path):
    path = tmp_path / "images"
    path.write_bytes(struct.pack(">II", 0x803, 3))
    with pytest.raises(ValueError, match="needs 16 bytes, but the file holds 8"):
        read_idx(path)


def test_idx_too_short_for_magic(tmp_path):
    path = tmp_path / "tiny"
    path.write_bytes(b"\x00\x00")
    with pytest.raises(ValueError, match="needs 4 bytes, but the file holds 2"):
        read_idx(path)


def test_idx_header_promising_terabytes(tmp_path):
    path = tmp_path / "huge.gz"
    with gzip.open(path, "wb") as stream:
        stream.write(struct.pack(">IIII", 0x803, 2**32 - 1, 2**32 - 1, 2**32 - 1))
        stream.write(b"\x01\x02")
    with pytest.raises(ValueError, match="promises .* at most"):
        read_idx(path)


def test_idx_trailing_bytes(tmp_path):
    path = tmp_path / "labels"
    write_idx(path, np.array([1, 2, 3], np.uint8))
    path.write_bytes(path.read_bytes() + b"junk")
    with pytest.raises(ValueError, match=r"promises 11 bytes, but the file holds 15 \(trailing bytes"):
        read_idx(path)


def test_idx_count_mismatch(tmp_path):
    arrays = make_arrays(n_test=5)
    arrays["y_test"] = arrays["y_test"][:4]
    with pytest.raises(ValueError, match="5 test images but 4 test labels"):
        load_mnist(save_idx_folder(tmp_path / "idx", arrays))


def test_damaged_gzip(tmp_path):
    path = tmp_path / "labels.gz"
    write_idx(path, np.arange(10, dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ValueError, match="labels.gz"):
        read_idx(path)


def test_missing_idx_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing-here"):
        read_idx(tmp_path / "nothing-here")


@pytest.mark.parametrize(
    "array, message",
    [
        (np.zeros(3, np.int32), "int32"),
        (np.zeros((), np.uint8), "got 0"),
    ],
)
def test_write_idx_rejects(tmp_path, array, message):
    with pytest.raises(ValueError, match=message):
        write_idx(tmp_path / "out", array)


# --- random bytes never crash -------------------------------------------------

FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
IDX_PREFIXES = st.sampled_from([b"", b"\x00\x00\x08\x01", b"\x00\x00\x08\x03", b"PK\x03\x04"])


@FUZZ
@given(prefix=IDX_PREFIXES, body=st.binary(max_size=300))
def test_random_bytes_as_npz(tmp_path, prefix, body):
    path = tmp_path / "fuzz.npz"
    path.write_bytes(prefix + body)
    with pytest.raises(ValueError):
        load_mnist(path)


@FUZZ
@given(prefix=IDX_PREFIXES, body=st.binary(max_size=300), compress=st.booleans())
def test_random_bytes_as_idx(tmp_path, prefix, body, compress):
    data = prefix + body
    path = tmp_path / "fuzz-idx"
    path.write_bytes(gzip.compress(data) if compress else data)
    try:
        result = read_idx(path)
    except ValueError:
        return
    assert result.dtype == np.uint8


@FUZZ
@given(body=st.binary(max_size=300))
def test_random_bytes_as_gz_idx(tmp_path, body):
    path = tmp_path / "fuzz.gz"
    path.write_bytes(body)
    try:
        read_idx(path)
    except ValueError:
        pass


@FUZZ
@given(body=st.binary(max_size=200))
def test_random_bytes_in_idx_folder(tmp_path, body):
    folder = save_idx_folder(tmp_path / "idx", make_arrays())
    (folder / IDX_NAMES["x_test"]).write_bytes(body)
    with pytest.raises(ValueError):
        load_mnist(folder)


# --- real data ------------------------------------------------------------------


def test_fixture_shapes():
    (x_train, y_train), (x_test, y_test) = load_mnist(FIXTURE)
    assert x_train.shape[1:] == x_test.shape[1:] == (28, 28)
    assert x_train.shape[0] == y_train.shape[0] >= 4000
    assert x_test.shape[0] == y_test.shape[0] >= 1000
    for array in (x_train, y_train, x_test, y_test):
        assert array.dtype == np.uint8
    assert set(np.unique(y_train)) == set(range(10))
    assert FIXTURE.stat().st_size < 900 * 1000


def test_full_set_from_env():
    """Checks the canonical set when $CPP_GRAD_MNIST points at it."""
    if not os.environ.get("CPP_GRAD_MNIST"):
        pytest.skip("CPP_GRAD_MNIST is not set")
    (x_train, y_train), (x_test, y_test) = load_mnist()
    assert x_train.shape == (60000, 28, 28) and y_train.shape == (60000,)
    assert x_test.shape == (10000, 28, 28) and y_test.shape == (10000,)
    assert list(y_train[:10]) == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert list(y_test[:10]) == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


def test_mnist_to_idx_script(tmp_path):
    out = tmp_path / "idx"
    subprocess.run(
        [sys.executable, "scripts/mnist_to_idx.py", "--data", str(FIXTURE), str(out)],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
    )
    with np.load(FIXTURE) as archive:
        expected = {key: archive[key] for key in IDX_NAMES}
    assert sorted(p.name for p in out.iterdir()) == sorted(IDX_NAMES.values())
    assert_loaded_equal(load_mnist(out), expected)


# --- small files that promise a lot ---------------------------------------------

CAPPED_READ = """
import resource, sys
from cpp_grad.datasets import read_idx
with open("/proc/self/status") as status:
    used = next(int(l.split()[1]) * 1024 for l in status if l.startswith("VmSize:"))
resource.setrlimit(resource.RLIMIT_AS, (used + 100 * 2**20, resource.RLIM_INFINITY))
try:
    read_idx(sys.argv[1])
except (ValueError, MemoryError) as error:
    print(f"{type(error).__name__}: {error}")
"""


def gzip_of_zeros(path, header: bytes, zeros: int) -> Path:
    """A .gz IDX file: ``header`` then ``zeros`` zero bytes, compressed fast
    (about 230-fold), so that the file is small but inflates to ``zeros``."""
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1) as stream:
        stream.write(header)
        chunk = bytes(1 << 20)
        for start in range(0, zeros, len(chunk)):
            stream.write(chunk[: min(len(chunk), zeros - start)])
    return path


def read_with_memory_cap(path) -> str:
    """read_idx under an address-space cap 100 MB above the interpreter's own,
    in a subprocess (an allocation beyond it fails instead of swapping)."""
    done = subprocess.run(
        [sys.executable, "-c", CAPPED_READ, str(path)],
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


def test_gzip_idx_promising_more_than_it_can_inflate_fails_before_inflating(tmp_path):
    """The issue's file: a header claiming 2**31 images, 200 MB of zeros behind
    it in under a megabyte. Inflating it to find the data short needs 200 MB."""
    path = gzip_of_zeros(tmp_path / "images.gz", struct.pack(">IIII", 0x803, 2**31, 28, 28), 200 << 20)
    assert path.stat().st_size < 1 << 20
    out = read_with_memory_cap(path)
    assert out.startswith("ValueError") and "inflates to at most" in out, out
    assert str(2**31 * 28 * 28 + 16) in out, out


def test_gzip_idx_whose_recorded_size_disagrees_is_counted_not_kept(tmp_path):
    """A promise within deflate's ratio (400 MB from a 0.9 MB file) that gzip's
    own size record contradicts: the data (200 MB) is counted, not kept."""
    path = gzip_of_zeros(tmp_path / "labels.gz", struct.pack(">II", 0x801, 400 << 20), 200 << 20)
    out = read_with_memory_cap(path)
    assert out.startswith("ValueError") and "truncated" in out, out
    assert f"holds {(200 << 20) + 8} (truncated)" in out, out


def test_gzip_idx_too_large_for_memory_is_a_memory_error_naming_the_size(tmp_path):
    path = gzip_of_zeros(tmp_path / "labels.gz", struct.pack(">II", 0x801, 200 << 20), 200 << 20)
    out = read_with_memory_cap(path)
    assert out.startswith("MemoryError") and str(200 << 20) in out and "labels.gz" in out, out


def test_gzip_idx_of_several_members_reads(tmp_path):
    """gzip's size record covers only the last member: a valid file of two
    members disagrees with it and must still load."""
    array = np.arange(5000, dtype=np.uint32).astype(np.uint8).reshape(50, 10, 10)
    whole = struct.pack(">IIII", 0x803, 50, 10, 10) + array.tobytes()
    path = tmp_path / "images.gz"
    path.write_bytes(gzip.compress(whole[:3000]) + gzip.compress(whole[3000:]))
    np.testing.assert_array_equal(read_idx(path), array)


def test_plain_idx_promising_more_than_the_file_holds_reads_nothing(tmp_path, monkeypatch):
    path = tmp_path / "images"
    path.write_bytes(struct.pack(">IIII", 0x803, 2**31, 28, 28) + b"\0" * 100)
    monkeypatch.setattr(np, "empty", lambda *a, **k: pytest.fail("allocated before checking the size"))
    with pytest.raises(ValueError, match=f"promises {2**31 * 28 * 28 + 16} bytes, but the file holds 116"):
        read_idx(path)
