"""A composite expression over every op against PyTorch, when it is installed
(it is not a dependency: pip install torch==2.13.0 to run this)."""

from __future__ import annotations

import random

import pytest

from cpp_grad import Value

torch = pytest.importorskip("torch")


class ValueFunctions:
    tanh = staticmethod(lambda v: v.tanh())
    sigmoid = staticmethod(lambda v: v.sigmoid())
    relu = staticmethod(lambda v: v.relu())
    exp = staticmethod(lambda v: v.exp())
    log = staticmethod(lambda v: v.log())


def expression(a, b, c, d, f):
    e = a * b + c / (d * d + 1) - 2 / (a * a + 1) + (3 - b) * 0.5
    g = f.tanh(e) + f.sigmoid(c * d) + f.relu(a - d) + f.exp(b * 0.3) + f.log(c * c + 1)
    h = g**2 - (-e) ** 3 + 1.5 * g / (1 + e * e)
    return h * e + g


@pytest.mark.parametrize("seed", range(5))
def test_composite_expression_matches_pytorch(seed):
    rng = random.Random(seed)
    xs = [rng.uniform(-2, 2) for _ in range(4)]
    values = [Value(x) for x in xs]
    out = expression(*values, ValueFunctions)
    out.backward()
    tensors = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in xs]
    reference = expression(*tensors, torch)
    reference.backward()
    assert out.data == pytest.approx(reference.item(), abs=1e-9)
    for value, tensor in zip(values, tensors):
        assert value.grad == pytest.approx(tensor.grad.item(), abs=1e-9)
