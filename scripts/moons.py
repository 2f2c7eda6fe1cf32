#!/usr/bin/env python3
"""micrograd's demo: a 2-16-16-1 MLP separates two moons with a max-margin loss.

    python scripts/moons.py --plot moons.png

The training loop is micrograd's demo.ipynb, written with cpp_grad Values:
one graph per sample (model(x) row by row), loss mean(relu(1 - y_i * score_i))
plus alpha * sum(p * p), backward, and a plain SGD step p.data -= lr * p.grad
with lr falling from 1.0 to 0.1.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

try:
    import cpp_grad  # noqa: F401
except ImportError:  # run from a source checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cpp_grad._files import check_output_args, write_text
from cpp_grad.datasets import make_moons
from cpp_grad.nn import MLP

ALPHA = 1e-4  # L2 regularisation strength


def loss(model, x, y):
    """micrograd's loss(): max-margin data loss plus L2, and the accuracy."""
    scores = [model(row) for row in x]
    losses = [(1 + -yi * score).relu() for yi, score in zip(y, scores)]
    data_loss = sum(losses) * (1.0 / len(losses))
    reg_loss = ALPHA * sum(p * p for p in model.parameters())
    total_loss = data_loss + reg_loss
    accuracy = [(yi > 0) == (score.data > 0) for yi, score in zip(y, scores)]
    return total_loss, sum(accuracy) / len(accuracy)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=100, help="SGD steps (default 100)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data and the initial weights")
    parser.add_argument("--samples", type=int, default=100, help="number of points (default 100)")
    parser.add_argument("--plot", metavar="PATH", help="write a PNG of the decision boundary")
    parser.add_argument("--json", metavar="PATH", help="write the run's figures as JSON")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error(f"--steps must be at least 1, got {args.steps}")
    if args.samples < 2:
        parser.error(f"--samples must be at least 2, got {args.samples}")
    check_output_args(parser, args, "plot", "json")  # before training
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    x, labels, source = make_moons(n_samples=args.samples, noise=0.1, seed=args.seed)
    y = labels * 2 - 1  # -1 or +1

    model = MLP(2, [16, 16, 1], seed=args.seed)
    print(f"{model}; {len(x)} points from {source}")

    started = time.perf_counter()
    for k in range(args.steps):
        total_loss, accuracy = loss(model, x, y)

        model.zero_grad()
        total_loss.backward()

        learning_rate = 1.0 - 0.9 * k / args.steps
        for p in model.parameters():
            p.data -= learning_rate * p.grad

        if k % 10 == 0 or k == args.steps - 1:
            print(f"step {k} loss {total_loss.data:.4f}, accuracy {accuracy * 100:.0f}%", flush=True)
    total_loss, accuracy = loss(model, x, y)  # after the last step
    seconds = time.perf_counter() - started
    print(f"final loss {total_loss.data:.4f}, training accuracy {accuracy * 100:.0f}% ({seconds:.2f} s)")

    if args.json:
        figures = {
            "train_accuracy": accuracy,
            "final_loss": total_loss.data,
            "steps": args.steps,
            "seconds": seconds,
            "seed": args.seed,
            "samples": len(x),
            "data": source,
        }
        write_text(args.json, json.dumps(figures, indent=2) + "\n")
    if args.plot:
        from cpp_grad.plots import plot_decision_boundary

        plot_decision_boundary(
            model, x, y, args.plot, title=f"Two moons: {accuracy:.0%} after {args.steps} SGD steps"
        )
        print(f"plot written to {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
