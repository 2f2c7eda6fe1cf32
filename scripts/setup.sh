#!/usr/bin/env bash
# Installs everything cpp_grad, its tests and its scripts need on a fresh
# Debian/Ubuntu machine: the C++ toolchain, GoogleTest and graphviz (apt, when
# run as root), then the Python package in editable mode with its test extras.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(g++ cmake make libgtest-dev graphviz)
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  missing=()
  for package in "${apt_packages[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
else
  echo "setup: not root or no apt-get; make sure these are installed: ${apt_packages[*]}"
fi

python3 -m pip install --quiet --disable-pip-version-check -e ".[test]"

# Compile the training loop for this machine now (cached under ~/.cache/cpp_grad),
# so that the first training run does not wait for it.
python3 -c "from cpp_grad._kernels import ensure_data_ops; ensure_data_ops()"
