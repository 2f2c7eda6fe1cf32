"""Hostile use of the engine from Python: sizes that wrap or cannot fit, a
second fit while one runs, deep graphs that reuse a parent, threads that
cannot start, learning rates that round away. Each case that once crashed the
process runs in a child process, so that a crash fails its test instead of
ending the test run."""

from __future__ import annotations

import re
import subprocess

import numpy as np
import pytest
from isolated import run_isolated

from cpp_grad.nn import MLP


def assert_ran(done: subprocess.CompletedProcess) -> list[str]:
    assert done.returncode == 0, f"child ended with {done.returncode}:\n{done.stdout}\n{done.stderr[-3000:]}"
    return done.stdout.splitlines()


# Each line: the call, then the exception and the words its message must hold.
SIZE_CASES = [
    ("MLP(2**63, [2])", "ValueError", "parameters"),
    ("Neuron(2**64 - 1)", "ValueError", "18446744073709551615"),
    ("Layer(2**63, 2)", "ValueError", "parameters"),
    ("MLP(10**9, [10])", "ValueError", "10000000010 parameters"),
    ("MLP(10, [10**12])", "ValueError", "11000000000000 parameters"),
    ("MLP(2**64, [1])", "ValueError", "18446744073709551616"),
    ("MLP(3, [2**64])", "ValueError", "18446744073709551616"),
    ("Layer(2, 2**70)", "ValueError", str(2**70)),
    (
        "MLP(2, [3]).fit(np.zeros((4, 2)), np.zeros(4, int), batch_size=2**64, progress=False)",
        "ValueError",
        "18446744073709551616",
    ),
    (
        "MLP(2, [3]).fit(np.zeros((4, 2)), np.zeros(4, int), epochs=2**64, progress=False)",
        "ValueError",
        "18446744073709551616",
    ),
]


def test_sizes_that_wrap_or_cannot_fit_raise_value_errors_naming_them():
    checks = "\n".join(
        f"""
try:
    {call}
    print("no error:", {call!r})
except Exception as error:
    print(type(error).__name__, "|", error)
"""
        for call, _, _ in SIZE_CASES
    )
    lines = assert_ran(
        run_isolated("import numpy as np\nfrom cpp_grad.nn import MLP, Layer, Neuron\n" + checks)
    )
    assert len(lines) == len(SIZE_CASES)
    for (call, error, words), line in zip(SIZE_CASES, lines):
        kind, _, message = line.partition(" | ")
        assert kind == error and words in message, f"{call}: {line}"


def test_an_allocation_that_fails_anyway_is_a_memory_error_naming_its_size():
    # 10**8 parameters fit the machine (3.2 GB) but not under a cap of 1 GB more than in use.
    lines = assert_ran(
        run_isolated(
            """
            import resource
            from cpp_grad.nn import MLP
            MLP(2, [3])  # the engine is loaded before the cap
            with open("/proc/self/statm") as f:
                in_use = int(f.read().split()[0]) * resource.getpagesize()
            resource.setrlimit(resource.RLIMIT_AS, (in_use + 2**30, resource.RLIM_INFINITY))
            try:
                MLP(9999, [10**4])
            except MemoryError as error:
                print("MemoryError |", error)
            """
        )
    )
    assert lines[-1].startswith("MemoryError |") and "3200000000 bytes" in lines[-1], lines


@pytest.mark.parametrize("layout", ["reversed", "fortran_row", "strided"])
def test_model_called_on_a_non_contiguous_row(layout):
    model = MLP(4, [3, 2], seed=1)
    base = np.arange(1.0, 9.0).reshape(2, 4)
    row = {
        "reversed": base[0][::-1],
        "fortran_row": np.asfortranarray(base)[1],
        "strided": np.arange(1.0, 9.0)[::2],
    }[layout]
    assert not row.flags.c_contiguous
    got = [v.data for v in model(row)]
    expected = [v.data for v in model(list(row))]
    assert got == expected


def test_deep_graph_reusing_a_parent_is_freed():
    lines = assert_ran(
        run_isolated(
            """
            from cpp_grad import Value
            x = Value(1.0)
            for i in range(500_000):
                x = x * x if i % 2 else x + x - x
            x.backward()
            del x
            print("freed")
            """
        )
    )
    assert lines == ["freed"]


FIT_DATA = """
import threading
import numpy as np
from cpp_grad.nn import MLP
rng = np.random.default_rng(0)
x = rng.normal(size=(400, 5))
y = (x[:, 0] > 0).astype(np.int64)
model = MLP(5, [16, 2], seed=0)
"""


def test_fit_called_again_while_it_runs_raises_runtime_error():
    lines = assert_ran(
        run_isolated(
            FIT_DATA
            + """
def again(record):
    try:
        model.fit(x, y, progress=False)
    except RuntimeError as error:
        print("RuntimeError |", error)
history = model.fit(x, y, epochs=2, progress=False, on_epoch_end=again)
print(len(history), all(np.isfinite(h["loss"]) for h in history))
model.fit(x, y, progress=False)  # once the first is over, fit works again
print("again")
"""
        )
    )
    assert lines[0].startswith("RuntimeError |") and "already" in lines[0], lines
    assert lines[2:] == ["2 True", "again"], lines


def test_fit_on_one_model_from_two_threads():
    lines = assert_ran(
        run_isolated(
            FIT_DATA
            + """
outcomes = []
def train():
    try:
        model.fit(x, y, epochs=20, progress=False)
        outcomes.append("trained")
    except RuntimeError as error:
        outcomes.append("RuntimeError: " + str(error))
threads = [threading.Thread(target=train) for _ in range(2)]
for t in threads: t.start()
for t in threads: t.join()
print(sorted(outcomes))
"""
        )
    )
    assert "trained" in lines[-1], lines


def test_worker_threads_that_cannot_start_raise_runtime_error():
    # Under a cap on address space, 1,000 threads' stacks cannot be mapped.
    lines = assert_ran(
        run_isolated(
            FIT_DATA
            + """
import resource
model.fit(x[:50], y[:50], progress=False)  # compiled and loaded before the cap
with open("/proc/self/statm") as f:
    in_use = int(f.read().split()[0]) * resource.getpagesize()
resource.setrlimit(resource.RLIMIT_AS, (in_use + 2**29, resource.RLIM_INFINITY))
try:
    model.fit(x, y, threads=1000, progress=False)
except (RuntimeError, MemoryError) as error:
    print(type(error).__name__, "|", error)
resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
print(len(model.fit(x, y, threads=2, progress=False)))
"""
        )
    )
    assert lines[0].startswith(("RuntimeError |", "MemoryError |")) and "thread" in lines[0], lines
    assert lines[1] == "1", lines


@pytest.mark.parametrize("lr", [1e-50, 1e39])
def test_learning_rate_that_rounds_to_zero_or_inf_in_float32(lr):
    model = MLP(2, [2], dtype="float32")
    x, y = np.zeros((4, 2)), np.zeros(4, dtype=np.int64)
    with pytest.raises(ValueError, match=re.escape(f"learning rate {lr:g}") + ".*float32"):
        model.fit(x, y, lr=lr, progress=False)
    assert model.fit(x, y, lr=1e-30, progress=False)[0]["loss"] > 0
