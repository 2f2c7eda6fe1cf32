#!/usr/bin/env python3
"""Measures cpp_grad against its speed and memory targets, on this machine.

    python scripts/bench.py [--data mnist.npz] [--out bench_results] [--repeats 2]

Figures (784-30-10 MLP, batch 50, 3 epochs on the full MNIST unless --limit):
  - training time and test accuracy of scripts/train_mnist.py (the Python path)
    and of the compiled C++ trainer (CMake target train_mnist), and their ratio;
  - PyTorch on the same model and data, and micrograd per sample, when installed;
  - peak resident memory of the Python run, and resident memory after epoch 1
    and after the last epoch;
  - build + backward + free per generic op (CMake target bench_ops);
  - `import cpp_grad` time, JIT included.
Writes bench.json and bench.md (a markdown table) to --out. Numbers, not
verdicts: nothing here fails when a target is missed, it says so in the table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cpp_grad.datasets import load_mnist, write_mnist_idx  # noqa: E402

TARGETS = {
    "python_train_seconds": 10.0,
    "python_over_torch": 10.0,
    "python_over_cpp": 1.10,
    "peak_rss_mb": 300.0,
    "rss_growth": 0.05,
    "generic_op_ns": 40.0,
    "import_seconds": 2.0,
}


def run(cmd, **kwargs) -> subprocess.CompletedProcess:
    # The checkout's package, whether or not it is installed.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(cmd, text=True, capture_output=True, env=env, **kwargs)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed with exit code {done.returncode}:\n{done.stderr[-3000:]}")
    return done


def build_cpp(build_dir: Path) -> None:
    run(
        [
            "cmake",
            "-S",
            str(ROOT),
            "-B",
            str(build_dir),
            "-DCMAKE_BUILD_TYPE=Release",
            "-DCPP_GRAD_BUILD_TESTS=OFF",
        ]
    )
    run(["cmake", "--build", str(build_dir), "--target", "train_mnist", "bench_ops", "-j2"])


def machine() -> str:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({cpu}), {platform.machine()}, Python {platform.python_version()}"


def time_import() -> dict:
    code = (
        "import time; t = time.perf_counter(); import cpp_grad; t1 = time.perf_counter(); "
        "v = cpp_grad.Value(2.0) * 3; v.backward(); t2 = time.perf_counter(); "
        "print(t1 - t, t2 - t)"
    )
    best = None
    for _ in range(3):
        out = run([sys.executable, "-c", code], cwd=tempfile.gettempdir()).stdout.split()
        seconds = (float(out[0]), float(out[1]))
        best = seconds if best is None or seconds[1] < best[1] else best
    return {"import_seconds": best[0], "import_and_first_op_seconds": best[1]}


def python_run(data: str, args, out_dir: Path, k: int) -> dict:
    path = out_dir / f"python_run_{k}.json"
    cmd = [
        sys.executable,
        str(ROOT / "scripts" / "train_mnist.py"),
        "--data",
        data,
        "--json",
        str(path),
        "--no-progress",
    ]
    if args.limit:
        cmd += ["--limit", str(args.limit)]
    started = time.perf_counter()
    run(cmd)
    figures = json.loads(path.read_text())
    figures["process_seconds"] = time.perf_counter() - started
    return figures


def cpp_run(binary: Path, idx_dir: Path, args, out_dir: Path, k: int) -> dict:
    path = out_dir / f"cpp_run_{k}.json"
    cmd = [str(binary), "--data", str(idx_dir), "--json", str(path)]
    if args.limit:
        cmd += ["--limit", str(args.limit)]
    run(cmd)
    return json.loads(path.read_text())


def torch_run(x_train, y_train, x_test, y_test, epochs=3, batch_size=50, lr=0.003, seed=0) -> dict | None:
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(seed)
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    xt = torch.tensor(x_train.reshape(len(x_train), -1), dtype=torch.float32) / 255
    yt = torch.tensor(y_train, dtype=torch.long)
    model = torch.nn.Sequential(torch.nn.Linear(784, 30), torch.nn.ReLU(), torch.nn.Linear(30, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(seed)
    started = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(xt), generator=generator)
        for i in range(0, len(xt), batch_size):
            idx = order[i : i + batch_size]
            optimizer.zero_grad()
            loss_fn(model(xt[idx]), yt[idx]).backward()
            optimizer.step()
    seconds = time.perf_counter() - started
    with torch.no_grad():
        xs = torch.tensor(x_test.reshape(len(x_test), -1), dtype=torch.float32) / 255
        accuracy = (model(xs).argmax(1).numpy() == y_test).mean()
    return {"train_seconds": seconds, "test_accuracy": float(accuracy), "version": torch.__version__}


def micrograd_run(x_train, y_train, samples=3) -> dict | None:
    try:
        from micrograd.nn import MLP as MicroMLP
    except ImportError:
        return None
    import random

    random.seed(0)
    model = MicroMLP(784, [30, 10])
    started = time.perf_counter()
    for i in range(samples):
        x = [float(p) / 255 for p in x_train[i].reshape(-1)]
        out = model(x)
        loss = sum((o - (1.0 if j == y_train[i] else 0.0)) ** 2 for j, o in enumerate(out))
        model.zero_grad()
        loss.backward()
        for p in model.parameters():
            p.data -= 0.01 * p.grad
    per_sample = (time.perf_counter() - started) / samples
    return {"seconds_per_sample": per_sample, "estimated_3_epochs_seconds": per_sample * 180000}


def markdown(results: dict) -> str:
    def check(value, target, lower_is_better=True):
        if value is None:
            return "n/a"
        met = value <= target if lower_is_better else value >= target
        return "yes" if met else "**no**"

    py, cpp, torch = results["python"], results["cpp"], results.get("torch")
    rows = [
        (
            "Python training, 3 epochs (s)",
            f"{py['train_seconds']:.2f}",
            "≤ 10",
            check(py["train_seconds"], 10),
        ),
        (
            "Python test accuracy",
            f"{py['test_accuracy']:.4f}",
            "≥ 0.95",
            check(py["test_accuracy"], 0.95, False),
        ),
        ("Compiled C++ training (s)", f"{cpp['train_seconds']:.2f}", "", ""),
        (
            "Python / C++ time",
            f"{results['python_over_cpp']:.3f}",
            "≤ 1.10",
            check(results["python_over_cpp"], 1.10),
        ),
    ]
    if torch:
        rows += [
            (f"PyTorch {torch['version']} training (s)", f"{torch['train_seconds']:.2f}", "", ""),
            (
                "Python / PyTorch time",
                f"{results['python_over_torch']:.2f}",
                "≤ 10 (stretch 3)",
                check(results["python_over_torch"], 10),
            ),
        ]
    else:
        rows.append(("PyTorch", "not installed", "", ""))
    if results.get("micrograd"):
        m = results["micrograd"]
        rows.append(("micrograd, per training sample (s)", f"{m['seconds_per_sample']:.2f}", "", ""))
    rows += [
        (
            "Peak resident memory, Python run (MB)",
            f"{py['peak_rss_mb']:.0f}",
            "≤ 300",
            check(py["peak_rss_mb"], 300),
        ),
        (
            "Resident memory, epoch 1 → last (MB)",
            f"{results['rss_first_epoch_mb']:.0f} → {results['rss_last_epoch_mb']:.0f} "
            f"({results['rss_growth']:+.1%})",
            "within 5%",
            check(abs(results["rss_growth"]), 0.05),
        ),
        (
            "Generic op: build + backward + free (ns/op)",
            f"{results['ops']['total_ns']:.1f} ({results['ops']['build_ns']:.0f} + "
            f"{results['ops']['backward_ns']:.0f} + {results['ops']['free_ns']:.0f})",
            "≤ 40",
            check(results["ops"]["total_ns"], 40),
        ),
        (
            "`import cpp_grad` (s)",
            f"{results['import']['import_seconds']:.2f}",
            "≤ 2",
            check(results["import"]["import_seconds"], 2),
        ),
        (
            "`import cpp_grad` + first op, JIT included (s)",
            f"{results['import']['import_and_first_op_seconds']:.2f}",
            "≤ 2",
            check(results["import"]["import_and_first_op_seconds"], 2),
        ),
    ]
    lines = [
        f"Machine: {results['machine']}. {results['date']}. Train set: {results['train_samples']} images.",
        "",
        "| figure | measured | target | met |",
        "|---|---|---|---|",
    ]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data", default=os.environ.get("CPP_GRAD_MNIST"), help="mnist.npz (default $CPP_GRAD_MNIST)"
    )
    parser.add_argument("--out", default=str(ROOT / "bench_results"))
    parser.add_argument("--repeats", type=int, default=2, help="runs of each trainer; the fastest counts")
    parser.add_argument("--limit", type=int, default=None, help="train on the first N images only")
    parser.add_argument("--build-dir", default=str(ROOT / "build-bench"))
    args = parser.parse_args(argv)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)

    (x_train, y_train), (x_test, y_test) = load_mnist(args.data)
    data = args.data
    idx_dir = Path(tempfile.mkdtemp(prefix="cpp_grad_idx_"))
    write_mnist_idx(idx_dir, ((x_train, y_train), (x_test, y_test)))
    if data is None:  # found through keras' cache: hand the same files to the script
        data = str(idx_dir)

    print("building the C++ trainer and benchmark...", flush=True)
    build_dir = Path(args.build_dir)
    build_cpp(build_dir)

    results = {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d"),
        "train_samples": args.limit or len(x_train),
    }
    print("import time...", flush=True)
    results["import"] = time_import()
    python_runs, cpp_runs = [], []
    for k in range(args.repeats):  # alternate, so that both see the same machine
        print(f"training, run {k + 1}/{args.repeats}: Python...", flush=True)
        python_runs.append(python_run(data, args, out_dir, k))
        print(f"training, run {k + 1}/{args.repeats}: C++...", flush=True)
        cpp_runs.append(cpp_run(build_dir / "train_mnist", idx_dir, args, out_dir, k))
    py = min(python_runs, key=lambda r: r["train_seconds"])
    cpp = min(cpp_runs, key=lambda r: r["train_seconds"])
    results["python"], results["cpp"] = py, cpp
    results["python_over_cpp"] = py["train_seconds"] / cpp["train_seconds"]
    rss = [e["rss_mb"] for e in py["per_epoch"] if e.get("rss_mb")]
    results["rss_first_epoch_mb"], results["rss_last_epoch_mb"] = rss[0], rss[-1]
    results["rss_growth"] = rss[-1] / rss[0] - 1

    print("PyTorch...", flush=True)
    limit = args.limit or len(x_train)
    results["torch"] = torch_run(x_train[:limit], y_train[:limit], x_test, y_test)
    if results["torch"]:
        results["python_over_torch"] = py["train_seconds"] / results["torch"]["train_seconds"]
    print("micrograd...", flush=True)
    results["micrograd"] = micrograd_run(x_train, y_train)
    print("generic ops...", flush=True)
    ops_json = out_dir / "ops.json"
    run([str(build_dir / "bench_ops"), "--json", str(ops_json)])
    results["ops"] = json.loads(ops_json.read_text())

    (out_dir / "bench.json").write_text(json.dumps(results, indent=2) + "\n")
    table = markdown(results)
    (out_dir / "bench.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
