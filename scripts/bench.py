"""Measures cpp_grad against its speed and memory targets, on this machine.

    python scripts/bench.py [--data mnist.npz] [--out bench_results] [--repeats 3]

Training (full MNIST unless --limit, batch 50, Adam lr 0.003, float32, 2
threads, cross-entropy) at three widths: 784-30-10 for 3 epochs, 784-100-10
and 784-300-100-10 for 1 epoch each. At each width, side by side, the runs
interleaved and each in its own process, the fastest of --repeats counting and
the spread (slowest / fastest - 1) shown:
  - cpp_grad from Python (scripts/train_mnist.py) and compiled (CMake target
    train_mnist), and their ratio;
  - PyTorch (when installed) on the same model, data and optimizer, 2 threads;
  - the floor: the same training as plain loops over float arrays, no graph,
    one thread (CMake target bench_floor, scripts/bench_floor.cpp);
  - test accuracy of each.
Besides: peak resident memory of the Python run of 784-30-10; build + backward
+ free per generic op (CMake target bench_ops) on graphs of 20 thousand, 200
thousand and 2 million nodes, against two references; `import cpp_grad` time.
Writes bench.json, bench.md (markdown tables) and bench.png (time per epoch
against the number of weights) to --out. Numbers, not verdicts: nothing here
fails when a target is missed, the table says so.
"""

from __future__ import annotations

import argparse
import importlib.util
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

from cpp_grad._cli import check_data_argument, load_mnist_or_exit  # noqa: E402
from cpp_grad._files import check_writable_folder, write_text  # noqa: E402
from cpp_grad.datasets import write_mnist_idx  # noqa: E402

THREADS = 2
BATCH_SIZE = 50
LR = 0.003
# (name, hidden layer sizes, epochs)
WIDTHS = (("784-30-10", (30,), 3), ("784-100-10", (100,), 1), ("784-300-100-10", (300, 100), 1))

# Each target: (limit, whether lower is better, how the table shows it).
TARGETS = {
    "python_over_torch": (1.0, True, "≤ 1.0 (stretch 0.5)"),
    "accuracy_vs_torch": (-0.5, False, "within 0.5 points"),  # points above PyTorch's
    "threads_over_floor": (3.0, True, "≤ 3"),
    "python_over_cpp": (1.10, True, "≤ 1.10"),
    "peak_rss_mb": (300.0, True, "≤ 300"),
    "import_seconds": (2.0, True, "≤ 2"),
}

# Graphs for the generic-op benchmark: in the caches, about L3-sized, and
# far larger than the caches.
GENERIC_OP_GRAPH_SIZES = (20_000, 200_000, 2_000_000)


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
    run(["cmake", "--build", str(build_dir), "--target", "train_mnist", "bench_ops", "bench_floor", "-j2"])


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


def python_run(data: str, hidden, epochs: int, args, path: Path) -> dict:
    cmd = [
        sys.executable,
        str(ROOT / "scripts" / "train_mnist.py"),
        "--data",
        data,
        "--hidden",
        ",".join(map(str, hidden)),
        "--epochs",
        str(epochs),
        "--threads",
        str(THREADS),
        "--json",
        str(path),
        "--no-progress",
    ]
    if args.limit:
        cmd += ["--limit", str(args.limit)]
    run(cmd)
    return json.loads(path.read_text())


def cpp_run(binary: Path, idx_dir: Path, hidden, epochs: int, args, path: Path) -> dict:
    cmd = [str(binary), "--data", str(idx_dir), "--json", str(path), "--hidden", ",".join(map(str, hidden))]
    cmd += ["--epochs", str(epochs), "--threads", str(THREADS)]
    if args.limit:
        cmd += ["--limit", str(args.limit)]
    run(cmd)
    return json.loads(path.read_text())


def floor_run(binary: Path, idx_dir: Path, hidden, epochs: int, args, path: Path) -> dict:
    cmd = [str(binary), "--data", str(idx_dir), "--json", str(path), "--hidden", ",".join(map(str, hidden))]
    cmd += ["--epochs", str(epochs)]
    if args.limit:
        cmd += ["--limit", str(args.limit)]
    run(cmd)
    return json.loads(path.read_text())


def torch_available() -> bool:
    # Not imported here: this process stays small, and PyTorch runs in its own.
    return importlib.util.find_spec("torch") is not None


def torch_run(data: str, hidden, epochs: int, args, path: Path) -> dict:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--torch-worker",
        "--data",
        data,
        "--json",
        str(path),
    ]
    cmd += ["--hidden", ",".join(map(str, hidden)), "--epochs", str(epochs)]
    if args.limit:
        cmd += ["--limit", str(args.limit)]
    run(cmd)
    return json.loads(path.read_text())


def torch_worker(args) -> int:
    """PyTorch on the same model, data and optimizer: one process, one run."""
    import numpy as np
    import torch

    torch.manual_seed(0)
    torch.set_num_threads(THREADS)
    (x_train, y_train), (x_test, y_test) = load_mnist_or_exit(args.data)
    if args.limit:
        x_train, y_train = x_train[: args.limit], y_train[: args.limit]
    xt = torch.tensor(x_train.reshape(len(x_train), -1), dtype=torch.float32) / 255
    yt = torch.tensor(y_train, dtype=torch.long)
    sizes = [xt.shape[1], *args.hidden, 10]
    layers = []
    for nin, nout in zip(sizes, sizes[1:]):
        layers += [torch.nn.Linear(nin, nout), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1])
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(0)
    started = time.perf_counter()
    for _ in range(args.epochs):
        order = torch.randperm(len(xt), generator=generator)
        for i in range(0, len(xt), BATCH_SIZE):
            idx = order[i : i + BATCH_SIZE]
            optimizer.zero_grad()
            loss_fn(model(xt[idx]), yt[idx]).backward()
            optimizer.step()
    seconds = time.perf_counter() - started
    with torch.no_grad():
        xs = torch.tensor(x_test.reshape(len(x_test), -1), dtype=torch.float32) / 255
        accuracy = float((model(xs).argmax(1).numpy() == np.asarray(y_test)).mean())
    Path(args.json).write_text(
        json.dumps({"train_seconds": seconds, "test_accuracy": accuracy, "version": torch.__version__}) + "\n"
    )
    return 0


def best_and_spread(runs: list) -> dict:
    """The fastest run, with the spread of all runs' times."""
    times = [r["train_seconds"] for r in runs]
    best = dict(min(runs, key=lambda r: r["train_seconds"]))
    best["times"] = times
    best["spread"] = max(times) / min(times) - 1
    return best


def train_width(name, hidden, epochs, data, idx_dir, build_dir, args, out_dir) -> dict:
    """Every trainer at one width, the runs interleaved."""
    sides = {"python": [], "cpp": [], "floor": []}
    with_torch = torch_available()
    if with_torch:
        sides["torch"] = []
    for k in range(args.repeats):
        for side in sides:
            print(f"{name}, run {k + 1}/{args.repeats}: {side}...", flush=True)
            path = out_dir / f"{name}_{side}_{k}.json"
            if side == "python":
                sides[side].append(python_run(data, hidden, epochs, args, path))
            elif side == "cpp":
                sides[side].append(cpp_run(build_dir / "train_mnist", idx_dir, hidden, epochs, args, path))
            elif side == "floor":
                sides[side].append(floor_run(build_dir / "bench_floor", idx_dir, hidden, epochs, args, path))
            else:
                sides[side].append(torch_run(data, hidden, epochs, args, path))
    result = {side: best_and_spread(runs) for side, runs in sides.items()}
    sizes = [784, *hidden, 10]
    result["weights"] = sum((nin + 1) * nout for nin, nout in zip(sizes, sizes[1:]))
    result["epochs"] = epochs
    py = result["python"]["train_seconds"]
    result["python_over_cpp"] = py / result["cpp"]["train_seconds"]
    result["threads_over_floor"] = py * THREADS / result["floor"]["train_seconds"]
    if with_torch:
        result["python_over_torch"] = py / result["torch"]["train_seconds"]
        result["accuracy_vs_torch"] = 100 * (
            result["python"]["test_accuracy"] - result["torch"]["test_accuracy"]
        )
    return result


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


def met(target: str, value: float) -> str:
    limit, lower_is_better, _ = TARGETS[target]
    ok = value <= limit if lower_is_better else value >= limit
    return "yes" if ok else "**no**"


def op_figure(timing: dict) -> str:
    return (
        f"{timing['total_ns']:.1f} ({timing['build_ns']:.0f} + {timing['backward_ns']:.0f} + "
        f"{timing['free_ns']:.0f})"
    )


def seconds_figure(side: dict) -> str:
    return f"{side['train_seconds']:.2f} (±{side['spread']:.0%})"


def markdown(results: dict) -> str:
    widths = results["widths"]
    names = list(widths)
    with_torch = all("torch" in widths[n] for n in names)
    lines = [
        f"Machine: {results['machine']}. {results['date']}. Train set: {results['train_samples']} images; "
        f"batch {BATCH_SIZE}, Adam lr {LR}, float32, {THREADS} threads (the floor: 1). Training seconds, "
        f"the fastest of {results['repeats']} interleaved runs (± how much slower the slowest was).",
        "",
        "| | "
        + " | ".join(
            f"{n} ({widths[n]['epochs']} epoch{'s' if widths[n]['epochs'] > 1 else ''}, "
            f"{widths[n]['weights']:,} weights)"
            for n in names
        )
        + " | target |",
        "|---|" + "---|" * len(names) + "---|",
    ]

    def row(label, cell, target=""):
        lines.append(f"| {label} | " + " | ".join(cell(widths[n]) for n in names) + f" | {target} |")

    row("cpp_grad from Python (s)", lambda w: seconds_figure(w["python"]))
    row("cpp_grad, compiled C++ (s)", lambda w: seconds_figure(w["cpp"]))
    if with_torch:
        version = widths[names[0]]["torch"]["version"]
        row(f"PyTorch {version} (s)", lambda w: seconds_figure(w["torch"]))
    row("floor, 1 thread (s)", lambda w: seconds_figure(w["floor"]))
    if with_torch:
        row(
            "Python / PyTorch time",
            lambda w: f"{w['python_over_torch']:.2f} ({met('python_over_torch', w['python_over_torch'])})",
            TARGETS["python_over_torch"][2],
        )
    row(
        f"Python time × {THREADS} threads / floor time",
        lambda w: f"{w['threads_over_floor']:.2f} ({met('threads_over_floor', w['threads_over_floor'])})",
        TARGETS["threads_over_floor"][2],
    )
    row(
        "Python / C++ time",
        lambda w: f"{w['python_over_cpp']:.3f} ({met('python_over_cpp', w['python_over_cpp'])})",
        TARGETS["python_over_cpp"][2],
    )
    row("test accuracy: cpp_grad", lambda w: f"{w['python']['test_accuracy']:.4f}")
    if with_torch:
        row("test accuracy: PyTorch", lambda w: f"{w['torch']['test_accuracy']:.4f}")
        row(
            "cpp_grad − PyTorch (points)",
            lambda w: f"{w['accuracy_vs_torch']:+.2f} ({met('accuracy_vs_torch', w['accuracy_vs_torch'])})",
            "≥ −0.5",
        )
    row("test accuracy: floor", lambda w: f"{w['floor']['test_accuracy']:.4f}")

    first = widths[names[0]]["python"]
    imports = results["import"]
    rows = [
        (f"Peak resident memory, Python run of {names[0]} (MB)", f"{first['peak_rss_mb']:.0f}",
         TARGETS["peak_rss_mb"][2], met("peak_rss_mb", first["peak_rss_mb"])),
        ("`import cpp_grad` (s)", f"{imports['import_seconds']:.2f}", TARGETS["import_seconds"][2],
         met("import_seconds", imports["import_seconds"])),
        ("`import cpp_grad` + first op, JIT included (s)", f"{imports['import_and_first_op_seconds']:.2f}",
         TARGETS["import_seconds"][2], met("import_seconds", imports["import_and_first_op_seconds"])),
    ]  # fmt: skip
    if results.get("micrograd"):
        m = results["micrograd"]
        rows.append(("micrograd, per training sample (s)", f"{m['seconds_per_sample']:.2f}", "", ""))
    # Generic ops have no target of their own; the references
    # (without ownership; with nothing but a shared_ptr per node) are for reading them.
    ops = results["ops"]
    for size in sorted(ops, key=int, reverse=True):
        measured = ops[size]
        kahn, tape = measured["reference_kahn"]["total_ns"], measured["reference_tape"]["total_ns"]
        rows += [
            (f"Generic op, {int(size):,}-node graph: build + backward + free (ns/op)",
             op_figure(measured["cpp_grad"]), "", ""),
            ("… without ownership, Kahn walk / creation-order walk (ns/op)",
             f"{kahn:.1f} / {tape:.1f}", "", ""),
            ("… the least engine with a shared_ptr per node (ns/op)",
             op_figure(measured["reference_shared_ptr"]), "", ""),
        ]  # fmt: skip
    lines += ["", "| figure | measured | target | met |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return "\n".join(lines) + "\n"


def plot(results: dict, path: Path) -> bool:
    """Time per epoch against the number of weights, one line per trainer."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    widths = results["widths"]
    names = list(widths)
    weights = [widths[n]["weights"] for n in names]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    lines = [("python", f"cpp_grad from Python, {THREADS} threads", "o-"),
             ("torch", f"PyTorch, {THREADS} threads", "s-"),
             ("floor", "plain-array floor, 1 thread", "^--")]  # fmt: skip
    for side, label, style in lines:
        if not all(side in widths[n] for n in names):
            continue
        per_epoch = [widths[n][side]["train_seconds"] / widths[n]["epochs"] for n in names]
        ax.plot(weights, per_epoch, style, label=label)
    for name, x in zip(names, weights):
        ax.annotate(name, (x, widths[name]["python"]["train_seconds"] / widths[name]["epochs"]),
                    textcoords="offset points", xytext=(4, -12), fontsize=8)  # fmt: skip
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.minorticks_off()
    ax.set_xticks(weights, [f"{w:,}" for w in weights])
    low, high = ax.get_ylim()
    seconds = [t for t in (0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100) if low <= t <= high]
    ax.set_yticks(seconds, [f"{t:g}" for t in seconds])
    ax.set_ylim(low, high)
    ax.set_xlabel("weights and biases")
    ax.set_ylabel("seconds per epoch (60,000 images)")
    ax.set_title(f"MNIST MLP training, batch {BATCH_SIZE}, Adam, float32", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.text(0.01, 0.01, results["machine"], fontsize=6, alpha=0.7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def hidden_sizes(text: str) -> list:
    sizes = [int(n) for n in text.split(",") if n.strip()]
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"hidden sizes must be positive integers, got {text!r}")
    return sizes


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data",
        default=os.environ.get("CPP_GRAD_MNIST"),
        help="mnist.npz or a folder of IDX files (default $CPP_GRAD_MNIST, else load_mnist's search)",
    )
    parser.add_argument("--out", default=str(ROOT / "bench_results"))
    parser.add_argument("--repeats", type=int, default=3, help="runs of each trainer; the fastest counts")
    parser.add_argument("--limit", type=int, default=None, help="train on the first N images only")
    parser.add_argument("--build-dir", default=str(ROOT / "build-bench"))
    parser.add_argument(
        "--widths",
        default=",".join(n for n, _, _ in WIDTHS),
        help="which of the widths to run, comma separated",
    )
    parser.add_argument("--no-ops", action="store_true", help="skip the generic-op benchmark")
    # One PyTorch run in this process (bench.py runs itself so, once per run).
    parser.add_argument("--torch-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", help=argparse.SUPPRESS)
    parser.add_argument("--hidden", type=hidden_sizes, default=[30], help=argparse.SUPPRESS)
    parser.add_argument("--epochs", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    if args.limit is not None and args.limit < 1:
        parser.error(f"--limit must be at least 1, got {args.limit}")
    if args.torch_worker:
        return torch_worker(args)
    chosen = [w for w in WIDTHS if w[0] in args.widths.split(",")]
    if not chosen:
        parser.error(f"--widths: none of {args.widths!r} is one of {', '.join(n for n, _, _ in WIDTHS)}")
    check_data_argument(parser, args.data)
    out_dir = Path(args.out)
    outputs = [
        "bench.json",
        "bench.md",
        "bench.png",
        *(f"ops_{size}.json" for size in GENERIC_OP_GRAPH_SIZES),
    ]
    outputs += [
        f"{name}_{side}_{k}.json"
        for name, _, _ in chosen
        for side in ("python", "cpp", "floor", "torch")
        for k in range(args.repeats)
    ]
    try:  # before hours of building and measuring
        check_writable_folder(out_dir, outputs)
    except OSError as error:
        parser.error(f"--out: {error}")
    out_dir.mkdir(parents=True, exist_ok=True)

    (x_train, y_train), (x_test, y_test) = load_mnist_or_exit(args.data)
    data = args.data
    idx_dir = Path(tempfile.mkdtemp(prefix="cpp_grad_idx_"))
    write_mnist_idx(idx_dir, ((x_train, y_train), (x_test, y_test)))
    if data is None:  # found in a cache or downloaded: hand the same files to the script
        data = str(idx_dir)

    print("building the C++ trainer, the floor and the op benchmark...", flush=True)
    build_dir = Path(args.build_dir)
    build_cpp(build_dir)

    results = {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "train_samples": args.limit or len(x_train),
        "repeats": args.repeats,
        "load_before": os.getloadavg()[0],
    }
    print("import time...", flush=True)
    results["import"] = time_import()
    # The training loop is compiled once per machine (cpp_grad/_training_loop.py):
    # not inside a measured run.
    run([sys.executable, "-c", "import cpp_grad._training_loop as loop; loop.load_training_loop()"])
    results["widths"] = {}
    for name, hidden, epochs in chosen:
        results["widths"][name] = train_width(name, hidden, epochs, data, idx_dir, build_dir, args, out_dir)
    print("micrograd...", flush=True)
    results["micrograd"] = micrograd_run(x_train, y_train)
    results["ops"] = {}
    for size in () if args.no_ops else GENERIC_OP_GRAPH_SIZES:
        print(f"generic ops, {size:,} nodes...", flush=True)
        ops_json = out_dir / f"ops_{size}.json"
        run([str(build_dir / "bench_ops"), "--ops", str(size), "--json", str(ops_json)])
        results["ops"][str(size)] = json.loads(ops_json.read_text())
    results["load_after"] = os.getloadavg()[0]

    write_text(out_dir / "bench.json", json.dumps(results, indent=2) + "\n")
    table = markdown(results)
    load = f"{results['load_before']:.2f}, {results['load_after']:.2f}"
    table += f"\nLoad average (1 min) before and after: {load}.\n"
    write_text(out_dir / "bench.md", table)
    if plot(results, out_dir / "bench.png"):
        print(f"plot written to {out_dir / 'bench.png'}")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
