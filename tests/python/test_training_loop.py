"""The training loop compiled ahead of time (cpp_grad/_training_loop.py) and its
JIT fallback: both must train, and agree."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cpp_grad import _training_loop

ROOT = Path(__file__).resolve().parents[2]

FIT_SCRIPT = """
import json, warnings
import numpy as np
from cpp_grad.nn import MLP
from cpp_grad import _training_loop
rng = np.random.default_rng(0)
x = rng.normal(size=(300, 4))
y = (x[:, 0] + x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 1)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    model = MLP(4, [8, 3], seed=1)
    history = model.fit(x, y, epochs=10, batch_size=16, progress=False, threads=1, seed=0)
print(json.dumps({
    "library": _training_loop.load_training_loop(),
    "losses": [h["loss"] for h in history],
    "accuracy": model.evaluate(x, y),
    "warnings": [str(w.message) for w in caught],
}))
"""


def run_fit(tmp_path, **env) -> dict:
    environment = {**os.environ, "CPP_GRAD_CACHE": str(tmp_path / "cache"), **env}
    environment["PYTHONPATH"] = os.pathsep.join([str(ROOT), environment.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-c", FIT_SCRIPT], env=environment, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


needs_compiler = pytest.mark.skipif(_training_loop._compiler() is None, reason="no C++ compiler")


@needs_compiler
def test_the_library_is_built_once_and_then_reused(tmp_path):
    first = run_fit(tmp_path)
    assert first["library"] and Path(first["library"]).is_file()
    assert Path(first["library"]).parent == tmp_path / "cache"
    second = run_fit(tmp_path)
    assert second["library"] == first["library"]
    assert second["losses"] == first["losses"]  # same code, same numbers


@needs_compiler
def test_jit_fallback_trains_like_the_compiled_loop(tmp_path):
    compiled = run_fit(tmp_path)
    jit = run_fit(tmp_path, CPP_GRAD_JIT_ONLY="1")
    assert jit["library"] is None
    assert jit["accuracy"] > 0.8
    # Two compilers may round a few operations differently (fused multiply-adds).
    assert jit["losses"] == pytest.approx(compiled["losses"], rel=1e-6)


def test_a_broken_compiler_falls_back_to_jit_with_a_warning(tmp_path):
    result = run_fit(tmp_path, CXX="false")
    assert result["library"] is None
    assert any("could not compile" in w for w in result["warnings"]), result["warnings"]
    assert result["accuracy"] > 0.8


# ---- the cache: keyed by everything that changes a build, damage rebuilt -----------------------


@pytest.fixture(scope="module")
def built_cache(tmp_path_factory):
    """A cache folder holding one built library, to copy and damage."""
    root = tmp_path_factory.mktemp("built")
    library = Path(run_fit(root)["library"])
    return root / "cache", library.name


def damage_truncate(data: bytes) -> bytes:
    return data[: len(data) // 2]


def damage_flip_a_byte(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]


def damage_empty(data: bytes) -> bytes:
    return b""


@needs_compiler
@pytest.mark.parametrize("damage", [damage_truncate, damage_flip_a_byte, damage_empty])
def test_a_damaged_cached_library_is_rebuilt_not_loaded(tmp_path, built_cache, damage):
    """A crash here (dlopen of a truncated ELF) is a failed assert in run_fit."""
    cache, name = built_cache
    shutil.copytree(cache, tmp_path / "cache")
    library = tmp_path / "cache" / name
    good = library.read_bytes()
    library.write_bytes(damage(good))

    result = run_fit(tmp_path)

    assert result["library"] == str(library)
    assert library.read_bytes() != damage(good)
    assert not any("could not compile" in w for w in result["warnings"]), result["warnings"]
    assert result["accuracy"] > 0.8


CPUINFO = "processor\t: 0\nmodel name\t: Some CPU @ 2.00GHz\nflags\t\t: fpu sse2 {extra}\n\nprocessor\t: 1\n"


def library_name_with(monkeypatch, cpuinfo: str, compiler: str) -> str:
    original = Path.read_text

    def read_text(self, *args, **kwargs):
        if str(self) == "/proc/cpuinfo":
            return cpuinfo
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", read_text)
    return _training_loop._library_path(compiler).name


@needs_compiler
def test_the_cache_key_covers_the_cpus_feature_flags(monkeypatch):
    compiler = _training_loop._compiler()
    with_avx2 = library_name_with(monkeypatch, CPUINFO.format(extra="avx2"), compiler)
    with_avx512 = library_name_with(monkeypatch, CPUINFO.format(extra="avx2 avx512f"), compiler)
    assert with_avx2 != with_avx512
    assert library_name_with(monkeypatch, CPUINFO.format(extra="avx2"), compiler) == with_avx2


@needs_compiler
def test_the_cache_key_covers_the_compilers_identity(tmp_path, monkeypatch):
    """A wrapper around the same compiler (same --version) may add flags: its
    builds are not the plain compiler's."""
    compiler = _training_loop._compiler()
    wrapper = tmp_path / "c++"
    wrapper.write_text(f'#!/bin/sh\nexec {shutil.which(compiler) or compiler} "$@"\n')
    wrapper.chmod(0o755)
    assert _training_loop._library_path(str(wrapper)).name != _training_loop._library_path(compiler).name


@needs_compiler
def test_an_intact_library_in_a_read_only_cache_is_used(tmp_path, built_cache, monkeypatch):
    """Where the lock file cannot be created (a cache shared read-only), an
    intact library is still used, not rebuilt."""
    cache, name = built_cache
    shutil.copytree(cache, tmp_path / "cache")
    monkeypatch.setenv("CPP_GRAD_CACHE", str(tmp_path / "cache"))
    built = (tmp_path / "cache" / name).stat().st_mtime_ns
    real_open = open

    def open_without_lock_files(file, *args, **kwargs):
        if str(file).endswith(".lock"):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", open_without_lock_files)
    monkeypatch.setattr(_training_loop, "_build", lambda *args: pytest.fail("rebuilt an intact library"))
    assert _training_loop._ready_library(_training_loop._compiler()) == tmp_path / "cache" / name
    assert (tmp_path / "cache" / name).stat().st_mtime_ns == built
