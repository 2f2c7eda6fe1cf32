#!/usr/bin/env python3
"""Trains an MLP on MNIST with cpp_grad: the project's main job.

    CPP_GRAD_MNIST=../shared/data/mnist.npz python scripts/train_mnist.py

Defaults: 784-30-10, ReLU, batch 50, 3 epochs, Adam (lr 0.003), cross-entropy,
float32, seed 0. Prints one line per epoch; --json writes the figures,
--save the trained model, --plot a picture of the run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

try:
    import cpp_grad  # noqa: F401
except ImportError:  # run from a source checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cpp_grad._cli import check_data_argument, check_training_options, load_mnist_or_exit
from cpp_grad._files import check_output_args, write_text
from cpp_grad._loader import CTYPES
from cpp_grad.nn import HIDDEN_ACTIVATIONS, LOSSES, MLP, OPTIMIZERS


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data",
        help="mnist.npz or a folder of IDX files (default: $CPP_GRAD_MNIST, keras' cache, "
        "cpp_grad's cache, else a download)",
    )
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--hidden", default="30", help="hidden layer sizes, comma separated (default 30)")
    parser.add_argument(
        "--lr", type=float, default=None, help="learning rate (default: 0.003 for adam, 0.1 for sgd)"
    )
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default="adam")
    parser.add_argument("--momentum", type=float, default=0.0, help="SGD momentum")
    parser.add_argument("--loss", choices=LOSSES, default="cross_entropy")
    parser.add_argument("--activation", choices=HIDDEN_ACTIVATIONS, default="relu")
    parser.add_argument("--dtype", choices=sorted(CTYPES), default="float32")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="threads per batch (default 2)")
    parser.add_argument(
        "--limit", type=int, default=None, metavar="N", help="train on the first N samples only"
    )
    parser.add_argument("--save", metavar="PATH", help="write the trained model (.npz)")
    parser.add_argument("--json", metavar="PATH", help="write the run's figures as JSON")
    parser.add_argument("--plot", metavar="PATH", help="write a PNG of the loss, accuracy and test digits")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    try:
        args.hidden = [int(n) for n in args.hidden.split(",") if n.strip()]
    except ValueError:
        parser.error(f"--hidden takes comma-separated integers, got {args.hidden!r}")
    if not args.hidden or min(args.hidden) < 1:
        parser.error(f"--hidden sizes must be at least 1, got {args.hidden}")
    if args.limit is not None and args.limit < 1:
        parser.error(f"--limit must be at least 1, got {args.limit}")
    # What MLP.fit is given, checked now: a bad value stops the run before the data is read.
    args.fit_options = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "optimizer": args.optimizer,
        "loss": args.loss,
        "momentum": args.momentum,
        "threads": args.threads,
    }
    check_training_options(parser, **args.fit_options)
    check_output_args(parser, args, "save", "json", "plot")  # before the data is loaded
    check_data_argument(parser, args.data)
    return args


def resident_mb() -> float | None:
    """This process's resident memory now, in MB (Linux only)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return None


def peak_resident_mb() -> float:
    """This process's peak resident memory, in MB.

    Linux's VmHWM belongs to this program alone; ru_maxrss is carried over
    from the parent process across fork and exec (a benchmark that starts
    this script would otherwise see its own size here).
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except (OSError, ValueError, IndexError):
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


def main(argv=None) -> int:
    args = parse_args(argv)
    (x_train, y_train), (x_test, y_test) = load_mnist_or_exit(args.data)
    if args.limit is not None:
        x_train, y_train = x_train[: args.limit], y_train[: args.limit]
    # uint8 pixels go to C++ as they are and are scaled to [0, 1] as read:
    # a float copy of the training set would take 4 or 8 bytes per pixel instead of 1.
    x_train = x_train.reshape(len(x_train), -1)
    x_test = x_test.reshape(len(x_test), -1)
    pixel_scale = 1 / 255

    model = MLP(
        x_train.shape[1], [*args.hidden, 10], activation=args.activation, dtype=args.dtype, seed=args.seed
    )
    print(f"{model}; {len(x_train)} training and {len(x_test)} test images")

    def report(record):
        record["rss_mb"] = resident_mb()
        print(
            f"epoch {record['epoch']}: loss {record['loss']:.4f}  train accuracy {record['accuracy']:.4f}  "
            f"test accuracy {record['val_accuracy']:.4f}  {record['seconds']:.2f} s",
            flush=True,
        )

    started = time.perf_counter()
    history = model.fit(
        x_train,
        y_train,
        **args.fit_options,
        seed=args.seed,
        x_scale=pixel_scale,
        validation=(x_test, y_test),
        progress=not args.no_progress,
        on_epoch_end=report,
    )
    wall_seconds = time.perf_counter() - started
    test_accuracy = model.evaluate(x_test, y_test, x_scale=pixel_scale)
    train_seconds = sum(record["seconds"] for record in history)
    print(
        f"test accuracy {test_accuracy:.4f}; training {train_seconds:.2f} s "
        f"({wall_seconds:.2f} s with JIT and evaluation)"
    )

    not_saved = None
    if args.save:
        try:
            model.save(args.save)
            print(f"model saved to {args.save}")
        except ValueError as error:  # NaN/Inf weights: the previous model stays; the figures still go out
            not_saved = error
    if args.json:
        figures = {
            "test_accuracy": test_accuracy,
            "train_seconds": train_seconds,
            "wall_seconds": wall_seconds,
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "hidden": args.hidden,
            "optimizer": args.optimizer,
            "lr": args.lr,
            "loss": args.loss,
            "activation": args.activation,
            "dtype": args.dtype,
            "seed": args.seed,
            "threads": args.threads,
            "train_samples": len(x_train),
            "machine": f"{platform.machine()}, {platform.processor() or platform.system()}",
            "peak_rss_mb": peak_resident_mb(),
            "per_epoch": history,
        }
        write_text(args.json, json.dumps(figures, indent=2) + "\n")
    if args.plot:
        from cpp_grad.plots import plot_training

        plot_training(history, model, x_test, y_test, args.plot, x_scale=pixel_scale)
        print(f"plot written to {args.plot}")
    if not_saved is not None:
        print(f"{Path(sys.argv[0]).name}: model not saved: {not_saved}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
