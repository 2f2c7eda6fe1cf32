"""MNIST loading: keras' ``mnist.npz`` or the four original IDX files,
downloaded and verified when this machine has neither.

``load_mnist()`` returns ``((x_train, y_train), (x_test, y_test))`` exactly as
``keras.datasets.mnist.load_data()`` does: uint8 images of shape (n, 28, 28)
and uint8 labels 0-9 of shape (n,).

Where the data comes from, first match wins:

1. the ``path`` argument: an ``.npz`` in keras' layout, or a folder holding
   ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
   ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte`` (each may also be
   gzipped as ``*.gz``, or spelled ``train-images.idx3-ubyte``);
2. the ``CPP_GRAD_MNIST`` environment variable, same choices as ``path``;
3. keras' download cache, ``$KERAS_HOME/datasets/mnist.npz`` or
   ``~/.keras/datasets/mnist.npz``, read with numpy (no keras needed);
4. cpp_grad's own cache, ``mnist.npz`` beside the compiled training loop
   (``$CPP_GRAD_CACHE``, default ``~/.cache/cpp_grad``; see _cache.py);
5. a download into that cache with pooch, from the URL keras uses, or from
   ``$CPP_GRAD_MNIST_URL``: a URL ending in ``.npz`` names keras' file on
   another server; any other URL is a folder holding the four canonical
   ``*-ubyte.gz`` files. See Note [Verify the data, not the container].

``load_mnist(keras=True)`` asks ``keras.datasets.mnist.load_data()`` instead
of downloading (``pip install cpp_grad[keras]``).

Anything malformed raises ``ValueError`` naming the file and the numbers that
disagree; missing data that cannot be downloaded raises
``MnistUnavailableError`` (a ``FileNotFoundError``) whose one-line message
says what was tried and how to place the file by hand. ``read_idx`` and
``write_idx`` read and write single IDX files. ``make_moons`` makes the two
moons of micrograd's demo.

IDX headers are parsed by C++ (include/cpp_grad/io.hpp, the parser the
compiled trainer uses), loaded into cppyy alone, without the engine; see
Note [One IDX parser].
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import os
import re
import shutil
import struct
import sys
import tempfile
import zipfile
import zlib
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from ._cache import data_dir
from ._files import DEFLATE_MAX_RATIO, atomic_write
from ._include import include_dir

__all__ = ["MnistUnavailableError", "load_mnist", "make_moons", "read_idx", "write_idx", "write_mnist_idx"]

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801
NUM_CLASSES = 10
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
IDX_FILES = {
    "x_train": ("train-images-idx3-ubyte", IMAGES_MAGIC),
    "y_train": ("train-labels-idx1-ubyte", LABELS_MAGIC),
    "x_test": ("t10k-images-idx3-ubyte", IMAGES_MAGIC),
    "y_test": ("t10k-labels-idx1-ubyte", LABELS_MAGIC),
}
ENV_VAR = "CPP_GRAD_MNIST"
URL_ENV_VAR = "CPP_GRAD_MNIST_URL"
# Where keras.datasets.mnist.load_data() downloads from.
KERAS_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
CACHE_FILE = "mnist.npz"
# MD5 of each uncompressed IDX file of the original distribution.
CANONICAL_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
_DOWNLOAD_RETRIES = 2
_DOWNLOAD_TIMEOUT_SECONDS = 30

_UINT8_TYPE_CODE = 0x08
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20
# What a damaged gzip stream raises while it is being read.
_GZIP_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error)
# What np.load raises on a damaged .npz; MemoryError comes from a member
# whose header claims an enormous array.
_NPZ_ERRORS = (
    ValueError,
    OSError,
    EOFError,
    zlib.error,
    zipfile.BadZipFile,
    NotImplementedError,
    RuntimeError,
    KeyError,
    MemoryError,
)


# --------------------------------------------------------------------------
# IDX files


def read_idx(path, expected_magic: int | None = None) -> np.ndarray:
    """Read one IDX file of unsigned bytes into a uint8 array.

    The shape comes from the file's big-endian header (magic ``0x000008NN``
    for NN dimensions, then NN 32-bit sizes). The file may be gzipped: a
    ``.gz`` name or gzip's magic bytes select decompression.

    ``expected_magic`` (e.g. ``0x00000803`` for 3-d images) makes any other
    magic number an error. Raises ``FileNotFoundError`` for a missing file and
    ``ValueError`` for a wrong magic number, a header that promises more or
    fewer bytes than the file holds, or a damaged gzip stream. The header's
    promise is checked against the file's size before anything is read (for
    gzip: against the most it can inflate to, and against the size gzip
    recorded), so a small file cannot make it allocate or inflate gigabytes;
    a size that passes but cannot be allocated is a ``MemoryError`` naming it.
    """
    path = _as_path(path)
    if not path.exists():
        raise FileNotFoundError(f"IDX file not found: {path}")
    if path.is_dir():
        raise ValueError(f"{path} is a folder, not an IDX file")
    if not _is_gzip(path):
        with open(path, "rb") as stream:
            return _parse_idx(stream, path, expected_magic, _plain_size)
    try:
        with gzip.open(path, "rb") as stream:
            return _parse_idx(stream, path, expected_magic, _gzip_size)
    except _GZIP_ERRORS as error:
        raise ValueError(f"{path}: damaged gzip data ({error})") from error


def write_idx(path, array) -> None:
    """Write a uint8 array as an IDX file (gzipped when ``path`` ends in .gz).

    The magic number is ``0x00000800 | ndim``: ``0x00000803`` for (n, rows,
    cols) images, ``0x00000801`` for (n,) labels. Raises ``ValueError`` for a
    non-uint8 array or a shape IDX cannot record.
    """
    path = _as_path(path)
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise ValueError(f"write_idx needs a uint8 array, got dtype {array.dtype}")
    most = int(_io().kIdxMaxDimensions)  # what read_idx accepts
    if not 1 <= array.ndim <= most:
        raise ValueError(f"write_idx needs 1 to {most} dimensions, got {array.ndim}")
    if max(array.shape) >= 2**32:
        raise ValueError(f"IDX sizes are 32-bit; shape {array.shape} is too large")
    with atomic_write(path) as raw:  # replaced whole or not at all (see cpp_grad/_files.py)
        gzipped = path.suffix == ".gz"
        compressor = gzip.GzipFile(path.name, "wb", fileobj=raw) if gzipped else contextlib.nullcontext(raw)
        with compressor as stream:
            stream.write(_idx_header(array))
            stream.write(np.ascontiguousarray(array).tobytes())


def _idx_header(array: np.ndarray) -> bytes:
    magic = (_UINT8_TYPE_CODE << 8) | array.ndim
    return struct.pack(f">I{array.ndim}I", magic, *array.shape)


def write_mnist_idx(folder, data) -> list:
    """Write ``((x_train, y_train), (x_test, y_test))`` as the four raw IDX
    files of the original distribution (what the compiled C++ trainer reads);
    returns their paths. The folder is created if needed."""
    folder = _as_path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = _as_arrays(data)
    paths = []
    for key, (name, _) in IDX_FILES.items():
        write_idx(folder / name, arrays[key])
        paths.append(folder / name)
    return paths


def _is_gzip(path: Path) -> bool:
    if path.suffix == ".gz":
        return True
    with open(path, "rb") as stream:
        return stream.read(2) == _GZIP_MAGIC


# Note [One IDX parser]
# The header is parsed and checked against the file's size by C++
# (include/cpp_grad/io.hpp: parse_idx_header, check_idx_size), which the
# compiled trainer reads its files with too. What needs Python stays here:
# opening the file, inflating gzip without trusting it, reading in chunks.


@functools.cache
def _io():
    """C++'s IDX functions (io.hpp alone: not the engine), loaded into cppyy."""
    import cppyy

    cppyy.add_include_path(str(include_dir()))
    cppyy.include("cpp_grad/io.hpp")
    return cppyy.gbl.cpp_grad


# Loaded with the module, not on the first read: reading a file must not
# need the memory that starting cling takes (a process may cap its address
# space before it reads untrusted files).
_io()


@contextlib.contextmanager
def _idx_errors():
    """C++'s complaints about a file as ValueError, with its message."""
    import cppyy

    try:
        yield
    except cppyy.gbl.std.runtime_error as error:
        raise ValueError(str(error.what())) from None


def _parse_idx(stream, path: Path, expected_magic: int | None, bytes_held) -> np.ndarray:
    io = _io()
    head = np.frombuffer(_read_up_to(stream, int(io.kIdxMaxHeaderBytes)), dtype=np.uint8)
    magic = io.kIdxAnyBytes if expected_magic is None else expected_magic
    with _idx_errors():
        # One byte more than was read: cppyy passes no empty array as a pointer.
        header = io.parse_idx_header(np.append(head, np.uint8(0)), len(head), str(path), magic)
        io.check_idx_size(header, str(path), bytes_held(path, header))
    shape = tuple(int(size) for size in header.sizes)
    start, data_size = int(header.header_bytes), int(header.data_bytes)
    try:
        data = np.empty(data_size, dtype=np.uint8)
    except MemoryError:
        raise MemoryError(
            f"{path}: not enough memory for the {data_size} bytes of data (shape {shape}) its header promises"
        ) from None
    first = head[start : start + data_size]
    data[: len(first)] = first
    got = len(first) + _read_into(stream, data[len(first) :])
    extra = max(0, len(head) - start - data_size)
    if got != data_size or extra or stream.read(1):  # one byte more tells trailing garbage apart
        # The file changed under us, or gzip's size record lied: count what it holds.
        more = _count_up_to(stream, _CHUNK + 1)
        with _idx_errors():
            io.check_idx_size(header, str(path), start + got + extra + more, more > _CHUNK)
    return data.reshape(shape)


def _plain_size(path: Path, header) -> int:
    """An uncompressed file's size."""
    return path.stat().st_size


def _gzip_size(path: Path, header) -> int:
    """What a gzip file inflates to, as far as the header's promise needs it.

    It cannot inflate past deflate's ratio, and records its inflated size
    modulo 2**32 in its last 4 bytes (for the last member of the stream). A
    promise beyond the first is an error at once; one that agrees with the
    second is taken as held (reading checks it); any other is checked by
    inflating and counting, without keeping the data (a file of several gzip
    members is valid and has a partial record)."""
    promised = int(header.header_bytes) + int(header.data_bytes)
    compressed = path.stat().st_size
    most = compressed * DEFLATE_MAX_RATIO
    if header.overflows or promised > most:
        claim = "more than 2^64" if header.overflows else promised
        raise ValueError(
            f"{path}: truncated: header promises {claim} bytes (shape {header.shape}), but a "
            f"{compressed}-byte gzip file inflates to at most {most}"
        )
    with open(path, "rb") as stream:
        stream.seek(-4, os.SEEK_END)
        recorded = int.from_bytes(stream.read(4), "little")
    if promised % 2**32 == recorded:
        return promised
    with gzip.open(path, "rb") as stream:
        return _count_up_to(stream, promised + 1)


def _read_up_to(stream, size: int) -> bytearray:
    """Read ``size`` bytes, or fewer at end of file, in bounded chunks.

    A single ``read(size)`` would allocate ``size`` bytes up front, and a
    corrupt header can promise terabytes.
    """
    buffer = bytearray()
    while len(buffer) < size:
        chunk = stream.read(min(_CHUNK, size - len(buffer)))
        if not chunk:
            break
        buffer += chunk
    return buffer


def _read_into(stream, array: np.ndarray) -> int:
    """Fill ``array``'s bytes from ``stream`` in chunks; returns how many were read."""
    view = memoryview(array).cast("B")
    done = 0
    while done < len(view):
        count = stream.readinto(view[done : done + _CHUNK])
        if not count:
            break
        done += count
    return done


def _count_up_to(stream, size: int) -> int:
    """How many bytes ``stream`` holds, up to ``size``, keeping none of them."""
    done = 0
    while done < size:
        chunk = stream.read(min(_CHUNK, size - done))
        if not chunk:
            break
        done += len(chunk)
    return done


# --------------------------------------------------------------------------
# MNIST


class MnistUnavailableError(FileNotFoundError):
    """No MNIST on this machine, and no download: the message (one line) says
    what was tried and how to place the file by hand."""


def load_mnist(path=None, *, download=True, keras=False):
    """Load MNIST as ``((x_train, y_train), (x_test, y_test))``.

    Images are uint8 arrays of shape (n, rows, cols), (n, 28, 28) for MNIST;
    labels are uint8 arrays of shape (n,) with values 0-9.

    ``path`` (str or os.PathLike, ``~`` expanded) is either an ``.npz`` with
    keys x_train, y_train, x_test, y_test (keras' layout) or a folder with the
    four IDX files, plain or gzipped. Without ``path`` the data is looked for
    in ``$CPP_GRAD_MNIST``, keras' cache and cpp_grad's cache, and else
    downloaded into cpp_grad's cache (see the module docstring);
    ``download=False`` forbids the download, ``keras=True`` asks keras instead.

    Raises ``MnistUnavailableError`` (a ``FileNotFoundError``) when no data is
    found or downloaded, ``FileNotFoundError`` for a ``path`` or
    ``$CPP_GRAD_MNIST`` that does not exist, and ``ValueError`` when a file is
    malformed (bad archive, missing keys, wrong shapes or dtypes, labels
    outside 0-9, wrong IDX magic, truncated IDX, count mismatch) or a download
    is not canonical MNIST.
    """
    if path is not None:
        return _load_from(_as_path(path))
    env_value = os.environ.get(ENV_VAR)
    if env_value:
        env_path = _as_path(env_value)
        if not env_path.exists():
            raise FileNotFoundError(f"${ENV_VAR} is set to {env_value!r}, but {env_path} does not exist")
        return _load_from(env_path)
    for cached in (_keras_cache_path(), data_dir() / CACHE_FILE):
        if cached.is_file():
            return _load_npz(cached)
    if keras:
        return _load_with_keras()
    url = os.environ.get(URL_ENV_VAR) or KERAS_URL
    if not download:
        raise MnistUnavailableError(_unavailable_message(url, "download=False"))
    return _download(url)


def _keras_cache_path() -> Path:
    base = os.environ.get("KERAS_HOME") or "~/.keras"
    return Path(base).expanduser() / "datasets" / "mnist.npz"


def _load_with_keras():
    try:
        from keras.datasets import mnist
    except ImportError as error:
        raise MnistUnavailableError(
            f"load_mnist(keras=True) needs keras ({error}): `pip install cpp_grad[keras]`, "
            "or leave keras=False to let cpp_grad download MNIST itself"
        ) from None
    return _validated("keras.datasets.mnist.load_data()", _as_arrays(mnist.load_data()))


def _unavailable_message(url: str, reason: str) -> str:
    cache = data_dir() / CACHE_FILE
    return (
        f"MNIST not found: ${ENV_VAR} is not set, neither {_keras_cache_path()} nor {cache} exists, "
        f"and it could not be downloaded from {url} ({reason}). Place the file by hand: get mnist.npz "
        f"(keras' layout) or the four MNIST IDX files, then set {ENV_VAR}=/path/to/mnist.npz, pass "
        f"--data /path/to/mnist.npz (load_mnist('/path/to/mnist.npz') in Python), or copy it to {cache}"
    )


# Note [Verify the data, not the container]
# A mirror may serve keras' mnist.npz or the four IDX .gz files, and two honest
# archives of the same data differ byte for byte (zip and gzip record dates and
# levels). What must not differ is the data: written out as the four
# uncompressed IDX files of the original distribution, the decoded arrays have
# the MD5s in CANONICAL_MD5. Files are fetched into a staging folder inside
# the cache (one file system, so the final move is atomic) and only the
# verified data is moved to the cache; the staging folder goes in any case.


def _download(url: str):
    """Fetch MNIST from ``url`` with pooch, verify it, cache it and return it."""
    import pooch
    import requests

    cache = data_dir()
    try:
        cache.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".mnist-download-", dir=cache))
    except OSError as error:
        raise MnistUnavailableError(_unavailable_message(url, f"cannot write to {cache}: {error}")) from None
    try:
        from_npz = urlsplit(url).path.endswith(".npz")
        base_url, names = _download_plan(url, from_npz)
        fetcher = pooch.create(
            path=staging,
            base_url=base_url,
            registry=dict.fromkeys(names),
            retry_if_failed=_DOWNLOAD_RETRIES,
        )
        logger = pooch.get_logger()
        level = logger.level
        logger.setLevel("WARNING")  # the progress bar and our last line say what pooch's would
        try:
            for name in names:
                fetcher.fetch(name, downloader=_downloader(name))
        except (requests.exceptions.RequestException, OSError, ValueError) as error:
            raise MnistUnavailableError(_unavailable_message(url, _short_reason(error))) from None
        finally:
            logger.setLevel(level)
        try:
            data = _load_npz(staging / names[0]) if from_npz else _load_idx_folder(staging)
        except ValueError as error:
            raise ValueError(
                f"MNIST downloaded from {url} was refused, nothing was cached: {error}"
            ) from None
        _check_canonical(url, data)
        target = cache / CACHE_FILE
        packed = staging / names[0] if from_npz else staging / CACHE_FILE
        if not from_npz:
            np.savez_compressed(packed, **_as_arrays(data))
        os.chmod(packed, 0o644)  # pooch's temporary files are private to their owner
        os.replace(packed, target)
        print(f"cpp_grad: MNIST from {url} verified and cached as {target}", file=sys.stderr, flush=True)
        return data
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _downloader(name: str):
    import pooch

    return pooch.HTTPDownloader(
        progressbar=_ProgressBar(f"downloading {name}"), chunk_size=_CHUNK, timeout=_DOWNLOAD_TIMEOUT_SECONDS
    )


class _ProgressBar:
    """A tqdm bar for pooch, opened only when the server has answered with the
    size: offline, MnistUnavailableError's one line is all that is printed."""

    def __init__(self, description: str):
        self.description = description
        self.bar = None

    def __bool__(self):
        return True

    @property
    def total(self):
        return self.bar.total if self.bar is not None else None

    @total.setter
    def total(self, size):
        from tqdm import tqdm

        self.bar = tqdm(total=size or None, desc=self.description, unit="B", unit_scale=True, file=sys.stderr)

    def update(self, size):
        self.bar.update(size)

    def reset(self):
        self.bar.reset()

    def close(self):
        self.bar.close()


def _download_plan(url: str, from_npz: bool):
    """pooch's base URL and the file names to fetch under it."""
    if from_npz:
        base_url, _, name = url.rpartition("/")
        return base_url + "/", [name]
    base_url = url if url.endswith("/") else url + "/"
    return base_url, [name + ".gz" for name, _ in IDX_FILES.values()]


def _short_reason(error: Exception) -> str:
    """One line from an exception whose text may hold a chain of reprs."""
    text = " ".join(str(error).split())
    errno = re.search(r"\[Errno -?\d+\] [^'\")]+", text)
    if errno:
        return errno.group(0).strip()
    return text[:300] or type(error).__name__


def _check_canonical(url: str, data) -> None:
    arrays = _as_arrays(data)
    for key, (name, _) in IDX_FILES.items():
        array = np.ascontiguousarray(arrays[key])
        digest = hashlib.md5(_idx_header(array), usedforsecurity=False)
        digest.update(array)
        if digest.hexdigest() != CANONICAL_MD5[name]:
            raise ValueError(
                f"MNIST downloaded from {url} was refused, nothing was cached: its {key} written out as "
                f"{name} has MD5 {digest.hexdigest()}, canonical MNIST's is {CANONICAL_MD5[name]}"
            )


def _as_arrays(data) -> dict:
    (x_train, y_train), (x_test, y_test) = data
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def _load_from(path: Path):
    if not path.exists():
        raise FileNotFoundError(f"MNIST data not found: {path} does not exist")
    if path.is_dir():
        return _load_idx_folder(path)
    return _load_npz(path)


def _load_npz(path: Path):
    if not _looks_like_zip(path):
        raise ValueError(f"{path} is not an .npz archive (not a zip file)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            names = sorted(archive.files)
            arrays = {key: archive[key] for key in NPZ_KEYS if key in names}
    except _NPZ_ERRORS as error:
        raise ValueError(f"{path} is not a readable .npz archive ({error!r})") from error
    missing = [key for key in NPZ_KEYS if key not in arrays]
    if missing:
        raise ValueError(
            f"{path} lacks the keys {missing}; it holds {names}, keras' MNIST layout needs {list(NPZ_KEYS)}"
        )
    return _validated(str(path), arrays)


def _looks_like_zip(path: Path) -> bool:
    # np.load picks zip, .npy or pickle by the first bytes; only a zip start
    # guarantees it returns an archive rather than a bare array.
    with open(path, "rb") as stream:
        start = stream.read(4)
    return start in (b"PK\x03\x04", b"PK\x05\x06") and zipfile.is_zipfile(path)


def _load_idx_folder(folder: Path):
    arrays = {}
    for key, (name, magic) in IDX_FILES.items():
        arrays[key] = read_idx(_find_idx_file(folder, name), expected_magic=magic)
    return _validated(str(folder), arrays)


def _find_idx_file(folder: Path, name: str) -> Path:
    # Some mirrors spell "train-images-idx3-ubyte" as "train-images.idx3-ubyte".
    dotted = ".idx".join(name.rsplit("-idx", 1))
    candidates = [folder / f for f in (name, name + ".gz", dotted, dotted + ".gz")]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"MNIST IDX file {name} not found in {folder} (looked for {', '.join(c.name for c in candidates)})"
    )


def _validated(source: str, arrays: dict):
    """Check shapes, dtypes and label range; return keras' nested tuples."""
    for split in ("train", "test"):
        _check_split(source, split, arrays[f"x_{split}"], arrays[f"y_{split}"])
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def _check_split(source: str, split: str, images, labels) -> None:
    x_key, y_key = f"x_{split}", f"y_{split}"
    for key, array in ((x_key, images), (y_key, labels)):
        if not isinstance(array, np.ndarray) or array.dtype != np.uint8:
            dtype = getattr(array, "dtype", type(array).__name__)
            raise ValueError(f"{source}: {key} must be uint8, got {dtype}")
    if images.ndim != 3:
        raise ValueError(f"{source}: {x_key} must be 3-d (n, rows, cols), got shape {images.shape}")
    if labels.ndim != 1:
        raise ValueError(f"{source}: {y_key} must be 1-d (n,), got shape {labels.shape}")
    if images.shape[0] != labels.shape[0]:
        raise ValueError(
            f"{source}: {images.shape[0]} {split} images but {labels.shape[0]} "
            f"{split} labels ({x_key} shape {images.shape}, {y_key} shape {labels.shape})"
        )
    bad = np.flatnonzero(labels >= NUM_CLASSES)
    if bad.size:
        raise ValueError(
            f"{source}: {y_key}[{bad[0]}] = {labels[bad[0]]} is outside 0..{NUM_CLASSES - 1} "
            f"({bad.size} labels out of range)"
        )


def _as_path(path) -> Path:
    try:
        return Path(os.fspath(path)).expanduser()
    except TypeError:
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}") from None


# --------------------------------------------------------------------------
# Two moons


def make_moons(n_samples=100, noise=0.1, seed=0):
    """Two interleaving half circles (micrograd's demo data): ``(x, labels,
    source)`` with x of shape (n_samples, 2), labels 0/1, and source
    ``"sklearn"`` (scikit-learn's make_moons, when installed) or ``"numpy"``
    (the same construction)."""
    try:
        from sklearn.datasets import make_moons as sklearn_make_moons
    except ImportError:
        sklearn_make_moons = None
    if sklearn_make_moons is not None:
        x, y = sklearn_make_moons(n_samples=n_samples, noise=noise, random_state=seed)
        return x, y, "sklearn"
    rng = np.random.default_rng(seed)
    n_outer = n_samples // 2
    n_inner = n_samples - n_outer
    outer = np.linspace(0, np.pi, n_outer)
    inner = np.linspace(0, np.pi, n_inner)
    x = np.vstack(
        [
            np.column_stack([np.cos(outer), np.sin(outer)]),
            np.column_stack([1 - np.cos(inner), 1 - np.sin(inner) - 0.5]),
        ]
    )
    y = np.concatenate([np.zeros(n_outer, dtype=int), np.ones(n_inner, dtype=int)])
    order = rng.permutation(n_samples)
    x, y = x[order], y[order]
    return x + rng.normal(scale=noise, size=x.shape), y, "numpy"
