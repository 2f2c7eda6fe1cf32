"""A tiny micrograd in pure Python (reverse mode, iterative topological
order), the reference the engine is checked against in the tests."""

from __future__ import annotations

import math


class Ref:
    """A tiny micrograd: reverse mode in pure Python, iterative topological sort."""

    def __init__(self, data, parents=(), local_grads=()):
        self.data, self.grad = data, 0.0
        self.parents, self.local_grads = parents, local_grads

    def __add__(self, o):
        o = o if isinstance(o, Ref) else Ref(o)
        return Ref(self.data + o.data, (self, o), (1.0, 1.0))

    __radd__ = __add__

    def __mul__(self, o):
        o = o if isinstance(o, Ref) else Ref(o)
        return Ref(self.data * o.data, (self, o), (o.data, self.data))

    __rmul__ = __mul__

    def __neg__(self):
        return self * -1.0

    def __sub__(self, o):
        return self + (-o)

    def __rsub__(self, k):
        return -self + k

    def __truediv__(self, o):
        return self * o**-1.0 if isinstance(o, Ref) else self * (1.0 / o)

    def __rtruediv__(self, k):
        return self**-1.0 * k

    def __pow__(self, k):
        return Ref(self.data**k, (self,), (k * self.data ** (k - 1),))

    def unary(self, value, grad):
        return Ref(value, (self,), (grad,))

    def relu(self):
        return self.unary(max(0.0, self.data), float(self.data > 0))

    def tanh(self):
        t = math.tanh(self.data)
        return self.unary(t, 1 - t * t)

    def exp(self):
        e = math.exp(self.data)
        return self.unary(e, e)

    def log(self):
        return self.unary(math.log(self.data), 1 / self.data)

    def sigmoid(self):
        s = 1 / (1 + math.exp(-self.data))
        return self.unary(s, s * (1 - s))

    def backward(self):
        order, seen, stack = [], set(), [(self, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
            elif id(node) not in seen:
                seen.add(id(node))
                stack.append((node, True))
                stack.extend((p, False) for p in node.parents)
        self.grad = 1.0
        for node in reversed(order):
            for parent, local in zip(node.parents, node.local_grads):
                parent.grad += local * node.grad
