#!/usr/bin/env bash
# Installs everything cpp_grad, its tests and its scripts need on a fresh
# Debian/Ubuntu machine: as root, the system packages (apt); then a virtual
# environment (.venv in the project, unless one is active) holding the Python
# package in editable mode with its test extras. The interpreter is
# ${PYTHON:-python3}. Afterwards run Python as .venv/bin/python, or
# `source .venv/bin/activate` first.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/python_env.sh

python=${PYTHON:-python3}

# What a stock system lacks: venv and headers for the system Python, a C++
# compiler and CMake (the training loop, the C++ tests), GoogleTest, graphviz
# (draw_dot).
apt_packages=(python3-venv python3-dev g++ make cmake libgtest-dev graphviz)
if command -v dpkg >/dev/null 2>&1; then
  missing=()
  for package in "${apt_packages[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "setup: installing ${missing[*]} (apt)"
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
      echo "setup: missing system packages: ${missing[*]}" >&2
      echo "setup: install them as root: apt-get install ${missing[*]}" >&2
    fi
  fi
else
  for tool in c++ cmake dot; do
    command -v "$tool" >/dev/null 2>&1 || echo "setup: $tool not found; install it (the C++ tests and draw_dot need it)" >&2
  done
fi

if ! command -v "$python" >/dev/null 2>&1; then
  echo "setup: no Python interpreter '$python'; install Python 3.9 or later, or set PYTHON=/path/to/python3" >&2
  exit 1
fi

if [ -n "${VIRTUAL_ENV:-}" ]; then
  echo "setup: installing into the active virtual environment $VIRTUAL_ENV"
else
  # A .venv left without pip (made while python3-venv was missing) is made again.
  if ! "$project_venv/bin/python" -m pip --version >/dev/null 2>&1; then
    rm -rf "$project_venv"
    echo "setup: creating $project_venv with $python"
    if ! "$python" -m venv "$project_venv"; then
      rm -rf "$project_venv"
      echo "setup: '$python -m venv' failed; on Debian/Ubuntu install python3-venv (apt-get install python3-venv)" >&2
      exit 1
    fi
  fi
fi
python_in_env=$(venv_python)

"$python_in_env" -m pip install --quiet --disable-pip-version-check -e ".[test]"

# Compile the training loop for this machine now (cached under ~/.cache/cpp_grad,
# or $CPP_GRAD_CACHE), so that the first training run does not wait for it.
"$python_in_env" -c "from cpp_grad._training_loop import load_training_loop; load_training_loop()"
echo "setup: done; run Python as $python_in_env"
