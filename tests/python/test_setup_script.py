"""scripts/setup.sh's decisions, with stand-ins for apt, dpkg, id and Python
(a real run takes minutes; CI makes one with Debian's python3 in .ci/run)."""

import os
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APT_PACKAGES = "python3-venv python3-dev g++ make cmake libgtest-dev graphviz"

# A Python stand-in: logs its arguments; `-m venv DIR` makes DIR/bin/python a
# copy of itself; `-m pip --version` fails when FAIL_PIP names this copy.
FAKE_PYTHON = """#!/usr/bin/env bash
echo "$0 $*" >> "$CALLS"
if [ "$1 $2" = "-m venv" ]; then mkdir -p "$3/bin" && cp "$0" "$3/bin/python"; fi
if [ "$1 $2 $3" = "-m pip --version" ] && [ "${FAIL_PIP:-}" = "$0" ]; then exit 1; fi
exit 0
"""


def executable(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def project(tmp_path):
    """A copy of the scripts set-up needs, and stand-ins on PATH."""
    root = tmp_path / "project"
    for name in ("setup.sh", "python_env.sh"):
        executable(root / "scripts" / name, (ROOT / "scripts" / name).read_text())
    bin_dir = tmp_path / "bin"
    executable(bin_dir / "dpkg", "#!/usr/bin/env bash\nexit 1\n")  # nothing installed
    executable(bin_dir / "apt-get", '#!/usr/bin/env bash\necho "apt-get $*" >> "$CALLS"\n')
    python = executable(tmp_path / "python3", FAKE_PYTHON)
    calls = tmp_path / "calls.log"
    calls.touch()
    return root, bin_dir, python, calls


def run_setup(project, uid="1000", **env):
    root, bin_dir, python, calls = project
    executable(bin_dir / "id", f"#!/usr/bin/env bash\necho {uid}\n")
    environment = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    environment.update(
        PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", PYTHON=str(python), CALLS=str(calls)
    )
    environment.update(env)
    result = subprocess.run(
        ["bash", str(root / "scripts" / "setup.sh")], capture_output=True, text=True, env=environment
    )
    return result, calls.read_text().splitlines()


def test_as_a_user_it_names_what_is_missing_and_makes_dot_venv(project):
    root = project[0]
    result, calls = run_setup(project)
    assert result.returncode == 0, result.stderr
    assert f"missing system packages: {APT_PACKAGES}" in result.stderr
    assert not [call for call in calls if call.startswith("apt-get")]
    assert calls[0].endswith("python3 -m venv .venv")
    assert calls[1] == ".venv/bin/python -m pip install --quiet --disable-pip-version-check -e .[test]"
    assert "load_training_loop" in calls[2]
    assert (root / ".venv" / "bin" / "python").is_file()


def test_as_root_it_installs_the_system_packages_first(project):
    result, calls = run_setup(project, uid="0")
    assert result.returncode == 0, result.stderr
    assert calls[:2] == ["apt-get update -qq", f"apt-get install -y -qq {APT_PACKAGES}"]
    assert calls[2].endswith("python3 -m venv .venv")


def test_a_working_dot_venv_is_reused_and_one_without_pip_made_again(project):
    root = project[0]
    run_setup(project)
    result, calls = run_setup(project)
    assert result.returncode == 0
    assert not [call for call in calls[3:] if "-m venv" in call]  # the second run reused it
    assert (root / ".venv" / "bin" / "python").is_file()
    result, calls = run_setup(project, FAIL_PIP=".venv/bin/python")  # as if made without pip
    assert result.returncode == 0
    assert calls[-4] == ".venv/bin/python -m pip --version"
    assert calls[-3].endswith("python3 -m venv .venv")


def test_an_active_virtual_environment_is_used_as_it_is(project, tmp_path):
    active = tmp_path / "active"
    executable(active / "bin" / "python", FAKE_PYTHON)
    result, calls = run_setup(project, VIRTUAL_ENV=str(active))
    assert result.returncode == 0, result.stderr
    assert not [call for call in calls if "-m venv" in call]
    assert calls[0].startswith(f"{active}/bin/python -m pip install")
    assert not (project[0] / ".venv").exists()


def test_a_python_that_cannot_make_a_venv_is_named(project):
    python = project[2]
    python.write_text("#!/usr/bin/env bash\nexit 1\n")
    result, _ = run_setup(project)
    assert result.returncode == 1
    assert "install python3-venv" in result.stderr.strip().splitlines()[-1]
    assert not (project[0] / ".venv").exists()


def test_a_missing_interpreter_is_named(project, tmp_path):
    result, _ = run_setup(project, PYTHON=str(tmp_path / "no-python"))
    assert result.returncode == 1
    assert "no Python interpreter" in result.stderr


def test_scripts_parse():
    for name in ("setup.sh", "test_all.sh", "python_env.sh"):
        subprocess.run(["bash", "-n", str(ROOT / "scripts" / name)], check=True)
    subprocess.run(["bash", "-n", str(ROOT / ".ci" / "run")], check=True)
