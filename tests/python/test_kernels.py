"""The training loop compiled ahead of time (cpp_grad/_kernels.py) and its
JIT fallback: both must train, and agree."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cpp_grad import _kernels

ROOT = Path(__file__).resolve().parents[2]

FIT_SCRIPT = """
import json, warnings
import numpy as np
from cpp_grad.nn import MLP
from cpp_grad import _kernels
rng = np.random.default_rng(0)
x = rng.normal(size=(300, 4))
y = (x[:, 0] + x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 1)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    model = MLP(4, [8, 3], seed=1)
    history = model.fit(x, y, epochs=10, batch_size=16, progress=False, threads=1, seed=0)
print(json.dumps({
    "library": _kernels.ensure_data_ops(),
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


needs_compiler = pytest.mark.skipif(_kernels._compiler() is None, reason="no C++ compiler")


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
