"""Pictures of the graph behind a Value, as in micrograd's trace_graph notebook.

    >>> from cpp_grad import Value
    >>> from cpp_grad.draw import draw_dot
    >>> a, b, c = Value(2.0), Value(-3.0), Value(10.0)
    >>> d = a * b + c
    >>> d.backward()
    >>> a.label, b.label, c.label, d.label = "a", "b", "c", "d"
    >>> draw_dot(d)  # shown inline in Jupyter

Each Value is a record showing its ``data`` and ``grad``; each value made by
an op has a small oval node with the op's name (``+``, ``*``, ``relu``,
``dot``, ``cross_entropy``...) and edges parent -> op -> value.

``draw_dot`` needs the ``graphviz`` Python package (``pip install graphviz``,
or ``pip install cpp_grad[draw]``). Building the ``Digraph`` needs nothing
else; rendering it (Jupyter's inline display, ``.pipe()``, ``.render()``)
runs Graphviz's ``dot`` program, and raises ``graphviz.ExecutableNotFound``
if it is not installed (Debian/Ubuntu: ``apt-get install graphviz``; macOS:
``brew install graphviz``). ``graph.source`` is the DOT text either way.

``trace`` lists the nodes and edges without graphviz.
"""

from __future__ import annotations

import numbers

from .value import Value, Value32

__all__ = ["draw_dot", "trace"]

_VALUE_CLASSES = (Value, Value32)
_RANKDIRS = ("LR", "TB")
# How far trace() keeps counting past max_nodes, to name a big graph's size.
_COUNT_LIMIT = 100_000


def trace(root, max_nodes: int | None = None):
    """The graph behind ``root``: ``(nodes, edges)``.

    ``nodes`` lists every Value ``root`` was computed from, ``root`` first,
    each once; ``edges`` lists ``(parent, child)`` pairs, one per parent
    slot (``a * a`` gives two edges from ``a``). The walk is a loop, not a
    recursion, so graphs of any depth fit. With ``max_nodes``, a larger graph
    raises ValueError naming its size.
    """
    _check_root(root)
    if max_nodes is not None:
        _check_max_nodes(max_nodes)
    nodes = {hash(root): root}  # Values hash by node: two handles of one node are one key
    edges = []
    stack = [root]
    while stack:
        child = stack.pop()
        for parent in child.parents:
            edges.append((parent, child))
            key = hash(parent)
            if key not in nodes:
                nodes[key] = parent
                stack.append(parent)
        if max_nodes is not None and len(nodes) > max_nodes:
            raise ValueError(
                f"the graph behind {root!r} has {_size_of(nodes, stack)} Values, more than "
                f"max_nodes={max_nodes}: a picture that big is unreadable. Draw a smaller "
                "expression (one neuron, one sample), or pass a larger max_nodes."
            )
    return list(nodes.values()), edges


def draw_dot(root, format="svg", rankdir="LR", max_nodes=2000, labels=None):
    """A ``graphviz.Digraph`` of the graph behind ``root``.

    ``format`` is the output format used by ``render()``/``pipe()`` (``"svg"``,
    ``"png"``...). ``rankdir`` is ``"LR"`` (left to right, default) or ``"TB"``
    (top to bottom). Graphs of more than ``max_nodes`` Values raise
    ValueError. A Value's ``label`` (``Value(2.0, label="a")`` or
    ``a.label = "a"``, as in micrograd) is shown in its record; ``labels``
    optionally maps Values to names shown instead, e.g. ``{a: "a", b: "b"}``.

    In Jupyter the returned graph displays inline; elsewhere use
    ``graph.render("graph")`` (writes ``graph.svg``) or ``graph.pipe()``
    (returns the bytes). Rendering runs Graphviz's ``dot`` program and raises
    ``graphviz.ExecutableNotFound`` when it is missing (Debian/Ubuntu:
    ``apt-get install graphviz``).
    """
    try:
        import graphviz
    except ImportError as error:
        raise ImportError(
            "draw_dot needs the graphviz Python package: pip install graphviz "
            "(or pip install cpp_grad[draw]); rendering also needs Graphviz's dot program "
            "(Debian/Ubuntu: apt-get install graphviz)"
        ) from error
    _check_root(root)
    if rankdir not in _RANKDIRS:
        raise ValueError(f"rankdir must be 'LR' or 'TB', got {rankdir!r}")
    names = _check_labels(labels)
    nodes, edges = trace(root, max_nodes)

    graph = graphviz.Digraph(format=format, graph_attr={"rankdir": rankdir})
    # Node ids follow the walk's order, so the DOT text is the same on every run.
    ids = {hash(v): f"v{i}" for i, v in enumerate(nodes)}
    for v in nodes:
        node_id = ids[hash(v)]
        fields = [f"data {v.data:.4f}", f"grad {v.grad:.4f}"]
        name = names.get(hash(v)) or v.label
        if name:
            fields.insert(0, _escape_record(str(name)))
        graph.node(node_id, label="{ " + " | ".join(fields) + " }", shape="record")
        if v.op:
            graph.node(node_id + "_op", label=v.op)
            graph.edge(node_id + "_op", node_id)
    for parent, child in edges:
        graph.edge(ids[hash(parent)], ids[hash(child)] + "_op")
    return graph


def _check_root(root) -> None:
    if not isinstance(root, _VALUE_CLASSES):
        raise TypeError(f"expected a Value or Value32, got {type(root).__name__}: {root!r}")


def _check_max_nodes(max_nodes) -> None:
    if isinstance(max_nodes, bool) or not isinstance(max_nodes, numbers.Integral) or max_nodes < 1:
        raise ValueError(f"max_nodes must be a positive integer, got {max_nodes!r}")


def _check_labels(labels) -> dict:
    if labels is None:
        return {}
    if not hasattr(labels, "items"):
        raise TypeError(f"labels must map Values to names, got {type(labels).__name__}")
    names = {}
    for v, name in labels.items():
        _check_root(v)
        names[hash(v)] = str(name)
    return names


def _escape_record(text: str) -> str:
    """``text`` safe inside a record label, where ``{}|<>`` have meanings."""
    for char in "\\{}|<>":
        text = text.replace(char, "\\" + char)
    return text


def _size_of(nodes: dict, stack: list) -> str:
    """The number of nodes in a graph whose walk was stopped early, counted
    without keeping the Values (up to _COUNT_LIMIT)."""
    seen = set(nodes)
    while stack:
        for parent in stack.pop().parents:
            key = hash(parent)
            if key not in seen:
                seen.add(key)
                if len(seen) >= _COUNT_LIMIT:
                    return f"at least {_COUNT_LIMIT}"
                stack.append(parent)
    return str(len(seen))
