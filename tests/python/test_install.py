"""`pip install .` into a fresh virtual environment gives a working package,
headers included, importable from any directory."""

from __future__ import annotations

import os
import site
import subprocess
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(
    not os.environ.get("CI") and not os.environ.get("CPP_GRAD_TEST_INSTALL"),
    reason="slow (builds a wheel); runs in CI or with CPP_GRAD_TEST_INSTALL=1",
)
def test_wheel_installs_and_imports_from_elsewhere(tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    # The running environment's site-packages (often a virtual environment itself,
    # whose "system" site-packages would not be its own) lend cppyy and numpy:
    # installing cppyy anew takes minutes. A .pth line adds them after the new
    # environment's own, so cpp_grad itself comes from the wheel built here.
    own_site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(own_site, "lent_site_packages.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    clean_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", str(ROOT)],
        capture_output=True,
        text=True,
        env=clean_env,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    code = (
        "import cpp_grad, pathlib; from cpp_grad import Value; print(Value(2.0) * 3); "
        "print(pathlib.Path(cpp_grad.__file__).parent); "
        "print((pathlib.Path(cpp_grad.__file__).parent / 'include/cpp_grad/cpp_grad.hpp').is_file())"
    )
    run = subprocess.run(
        [str(python), "-c", code], cwd=tmp_path, capture_output=True, text=True, env=clean_env, timeout=300
    )
    assert run.returncode == 0, run.stderr[-3000:]
    value, location, has_headers = run.stdout.strip().splitlines()[-3:]
    assert value == "Value(data=6.0, grad=0.0)"
    assert Path(location).is_relative_to(env_dir), location
    assert has_headers == "True"
