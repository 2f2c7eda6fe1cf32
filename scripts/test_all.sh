#!/usr/bin/env bash
# Every test: the C++ suite (GoogleTest through CTest) and the Python suite
# (pytest), the notebooks among them. Installs what they need first
# (scripts/setup.sh); pytest runs in the environment set-up installed into.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/python_env.sh

bash scripts/setup.sh

echo "== C++ tests (Release) =="
python_path=$(venv_python)
case "$python_path" in /*) ;; *) python_path="$PWD/$python_path" ;; esac
# The wheel consumer test builds the wheel with the environment's Python.
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DPython3_EXECUTABLE="$python_path" >/dev/null
cmake --build build -j"$(nproc)"
ctest --test-dir build --output-on-failure

echo "== C++ tests under AddressSanitizer, UndefinedBehaviorSanitizer and LeakSanitizer =="
cmake -S . -B build-sanitize -DCPP_GRAD_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-sanitize -j"$(nproc)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-sanitize --output-on-failure

echo "== Threaded C++ tests under ThreadSanitizer =="
cmake -S . -B build-tsan -DCPP_GRAD_TSAN=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-tsan -j"$(nproc)" --target value_test detail_workers_test detail_pool_test train_test
TSAN_OPTIONS=halt_on_error=1 build-tsan/value_test --gtest_filter='*Thread*'
TSAN_OPTIONS=halt_on_error=1 build-tsan/detail_workers_test
TSAN_OPTIONS=halt_on_error=1 build-tsan/detail_pool_test
TSAN_OPTIONS=halt_on_error=1 build-tsan/train_test

echo "== Python tests =="
"$(venv_python)" -m pytest -q
