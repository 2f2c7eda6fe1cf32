"""The ``.npz`` file of a saved MLP: written by ``MLP.save``, read by ``MLP.load``.

Layout: an ``architecture`` entry (a JSON string: format, nin, nouts,
activation, dtype, seed) and, per layer ``i``, ``W{i}`` of shape (nout, nin)
and ``b{i}`` of shape (nout,), in the model's dtype. ``np.load`` reads it.

Reading treats the file as hostile: every size it states is checked against
the bytes it actually holds before anything is allocated. The architecture
must fit in the file (a deflated entry inflates at most 1032-fold), each
weight entry's header must give exactly the shape the architecture implies,
and must fit in its entry. A 1 KB file claiming a billion weights is a
``ValueError`` at once, not an allocation of gigabytes.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

from ._files import DEFLATE_MAX_RATIO, atomic_write
from ._loader import CTYPES

FORMAT = 1
_STORED_OR_DEFLATED = {zipfile.ZIP_STORED: 1, zipfile.ZIP_DEFLATED: DEFLATE_MAX_RATIO}
_MAX_ARCHITECTURE_BYTES = 1 << 16
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError)


def write(path, spec: dict, weights: list) -> None:
    """Saves ``spec`` and the per-layer ``(W, b)`` to ``path`` atomically.

    Non-finite weights are refused (``load`` refuses them too), so a run
    that diverged cannot replace a good model.
    """
    for i, (w, b) in enumerate(weights):
        bad = int(np.count_nonzero(~np.isfinite(w)) + np.count_nonzero(~np.isfinite(b)))
        if bad:
            raise ValueError(
                f"cannot save a model whose weights hold NaN or Inf: layer {i + 1} has {bad} of "
                f"{w.size + b.size} (did training diverge? see fit's warning); nothing was written"
            )
    arrays = {"architecture": np.array(json.dumps({"format": FORMAT, **spec}))}
    for i, (w, b) in enumerate(weights):
        arrays[f"W{i}"], arrays[f"b{i}"] = w, b
    with atomic_write(path) as stream:
        np.savez(stream, **arrays)


def read(path) -> tuple:
    """``(spec, weights)`` from a file ``write`` made, every size checked first.

    Raises ``FileNotFoundError`` when there is no file and ``ValueError``
    naming the entry and the numbers for anything else.
    """
    path = Path(os.fspath(path)).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"no saved model at {path}")
    try:
        with zipfile.ZipFile(path) as archive:
            entries = {
                info.filename[: -len(".npy")]: info
                for info in archive.infolist()
                if info.filename.endswith(".npy")
            }
            _check_entries_fit(path, entries)
            spec = _read_architecture(path, archive, entries)
            _check_weights_fit(path, spec, entries)
            weights = []
            for i, (nin, nout) in enumerate(zip([spec["nin"], *spec["nouts"]], spec["nouts"])):
                weights.append(
                    (
                        _read_array(path, archive, entries, f"W{i}", (nout, nin)),
                        _read_array(path, archive, entries, f"b{i}", (nout,)),
                    )
                )
    except _READ_ERRORS as error:
        raise ValueError(f"{path} is not a model saved by cpp_grad: {error}") from None
    return spec, weights


def _capacity(info: zipfile.ZipInfo) -> int:
    """The most bytes an entry can inflate to."""
    return info.compress_size * _STORED_OR_DEFLATED[info.compress_type]


def _check_entries_fit(path: Path, entries: dict) -> None:
    size = path.stat().st_size
    for name, info in entries.items():
        if info.compress_type not in _STORED_OR_DEFLATED:
            raise ValueError(
                f"{path}: entry {name} uses zip compression method {info.compress_type}; "
                "a saved model's entries are stored or deflated"
            )
        if info.compress_size > size or info.file_size > _capacity(info):
            raise ValueError(
                f"{path}: entry {name} claims {info.file_size:,} bytes from {info.compress_size:,} "
                f"compressed bytes in a {size:,}-byte file: the archive is damaged"
            )


def _header(path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str):
    """An .npy entry's (shape, dtype, fortran_order, header bytes)."""
    with archive.open(info) as stream:
        try:
            version = np.lib.format.read_magic(stream)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
        except ValueError as error:
            raise ValueError(f"{path}: entry {name} is not a readable array ({error})") from None
        return shape, dtype, fortran, stream.tell()


def _read_architecture(path: Path, archive: zipfile.ZipFile, entries: dict) -> dict:
    info = entries.get("architecture")
    if info is None:
        raise ValueError(f"{path} is not a model saved by cpp_grad: no 'architecture' entry")
    if info.file_size > _MAX_ARCHITECTURE_BYTES:
        raise ValueError(
            f"{path}: the architecture entry claims {info.file_size:,} bytes; "
            f"a model's is under {_MAX_ARCHITECTURE_BYTES:,}"
        )
    shape, dtype, _, header = _header(path, archive, info, "architecture")
    if shape != () or dtype.kind != "U" or header + dtype.itemsize > info.file_size:
        raise ValueError(
            f"{path}: the architecture entry is not a JSON string "
            f"(shape {shape}, dtype {dtype}, {info.file_size} bytes)"
        )
    with archive.open(info) as stream:
        text = str(np.lib.format.read_array(stream, allow_pickle=False))
    try:
        spec = json.loads(text)
        if not isinstance(spec, dict):
            raise TypeError(f"expected a JSON object, got {type(spec).__name__}")
        if spec.get("format", FORMAT) != FORMAT:
            raise ValueError(f"format {spec['format']!r} is not {FORMAT}, the one this cpp_grad reads")
        return {
            "nin": _count(spec["nin"], "nin"),
            "nouts": _layer_sizes(spec["nouts"]),
            "activation": spec["activation"],  # checked by the constructor, allocates nothing
            "dtype": _one_of(spec["dtype"], tuple(CTYPES), "dtype"),
            "seed": _count(spec.get("seed", 0), "seed", minimum=0),
        }
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{path} has a damaged architecture entry: {error!s}") from None


def _count(value, what: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{what} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{what} must be at least {minimum}, got {value}")
    return int(value)


def _layer_sizes(nouts) -> list:
    if not isinstance(nouts, list) or not nouts:
        raise TypeError(f"nouts must be a non-empty list of layer sizes, got {nouts!r}")
    return [_count(n, f"layer {i + 1}'s size") for i, n in enumerate(nouts)]


def _one_of(value, choices, what: str) -> str:
    if value not in choices:
        raise ValueError(f"{what} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _check_weights_fit(path: Path, spec: dict, entries: dict) -> None:
    """The architecture's weights must fit in what the file holds."""
    sizes = [spec["nin"], *spec["nouts"]]
    count = sum(nout * (nin + 1) for nin, nout in zip(sizes, sizes[1:]))
    needed = count * np.dtype(spec["dtype"]).itemsize
    holds = sum(_capacity(info) for name, info in entries.items() if name != "architecture")
    if needed > holds:
        raise ValueError(
            f"{path}: its architecture ({spec['nin']} inputs, layers {spec['nouts']}) needs "
            f"{count:,} weights ({needed:,} bytes as {spec['dtype']}), but the file holds at most "
            f"{holds:,} bytes of weights: the file is damaged"
        )


def _read_array(path: Path, archive, entries: dict, name: str, shape: tuple) -> np.ndarray:
    info = entries.get(name)
    if info is None:
        raise ValueError(f"{path} lacks the weights {name} (shape {shape})")
    found, dtype, _, header = _header(path, archive, info, name)
    if found != shape or dtype.kind != "f":
        raise ValueError(
            f"{path}: {name} has shape {found} and dtype {dtype}; the architecture needs "
            f"floating-point numbers of shape {shape}"
        )
    claimed = math.prod(shape) * dtype.itemsize
    if header + claimed > info.file_size:
        raise ValueError(
            f"{path}: {name} claims {claimed:,} bytes of data, but its entry holds "
            f"{info.file_size - header:,}: the file is truncated or damaged"
        )
    with archive.open(info) as stream:
        try:
            return np.lib.format.read_array(stream, allow_pickle=False)
        except ValueError as error:
            raise ValueError(f"{path}: {name} is damaged ({error})") from None
