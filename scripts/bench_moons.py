#!/usr/bin/env python3
"""micrograd's moons demo, timed on cpp_grad and on micrograd itself.

    python scripts/bench_moons.py                 # cpp_grad
    python scripts/bench_moons.py --engine micrograd   # pip install micrograd

The loop is micrograd's demo.ipynb as it is (one graph per sample built from
Python, max-margin loss plus L2, plain SGD, 100 steps, MLP(2, [16, 16, 1])),
written once and run with either engine's ``Value`` and ``MLP``: only the
imports differ. Prints the training time and the final accuracy.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from moons import make_moons  # noqa: E402


def engine(name: str):
    if name == "micrograd":
        from micrograd.engine import Value
        from micrograd.nn import MLP
    else:
        try:
            import cpp_grad  # noqa: F401
        except ImportError:  # a source checkout without installing
            sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from cpp_grad import Value
        from cpp_grad.nn import MLP
    return Value, MLP


def train(Value, MLP, x, y, steps: int):  # noqa: N803 - the engine's classes
    model = MLP(2, [16, 16, 1])

    def loss():
        inputs = [list(map(Value, row)) for row in x]
        scores = list(map(model, inputs))
        losses = [(1 + -yi * score).relu() for yi, score in zip(y, scores)]
        data_loss = sum(losses) * (1.0 / len(losses))
        reg_loss = 1e-4 * sum(p * p for p in model.parameters())
        accuracy = [(yi > 0) == (score.data > 0) for yi, score in zip(y, scores)]
        return data_loss + reg_loss, sum(accuracy) / len(accuracy)

    for k in range(steps):
        total_loss, _ = loss()
        model.zero_grad()
        total_loss.backward()
        learning_rate = 1.0 - 0.9 * k / steps
        for p in model.parameters():
            p.data -= learning_rate * p.grad
    return loss()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=["cpp_grad", "micrograd"], default="cpp_grad")
    parser.add_argument("--steps", type=int, default=100, help="SGD steps (default 100)")
    parser.add_argument("--json", metavar="PATH", help="write the figures as JSON")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error(f"--steps must be at least 1, got {args.steps}")

    Value, MLP = engine(args.engine)  # noqa: N806
    random.seed(1337)
    x, labels, source = make_moons(n_samples=100, noise=0.1, seed=0)
    x, y = x.tolist(), (labels * 2 - 1).tolist()
    started = time.perf_counter()
    total_loss, accuracy = train(Value, MLP, x, y, args.steps)
    seconds = time.perf_counter() - started
    loss = total_loss.data
    print(f"{args.engine}: {args.steps} steps in {seconds:.2f} s, loss {loss:.4f}, accuracy {accuracy:.0%}")
    if args.json:
        figures = {"engine": args.engine, "steps": args.steps, "seconds": seconds, "accuracy": accuracy}
        figures.update(loss=loss, data=source)
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
