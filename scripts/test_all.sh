#!/usr/bin/env bash
# Every test: the C++ suite (GoogleTest through CTest) and the Python suite
# (pytest). Installs what they need first (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

echo "== C++ tests (Release) =="
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
ctest --test-dir build --output-on-failure

echo "== Python tests =="
python3 -m pytest -q
