"""Tests for cpp_grad.draw: the DOT graph of a Value, its limits and errors."""

import re
import shutil
import sys

import pytest

from cpp_grad._loader import cpp
from cpp_grad.draw import draw_dot, trace
from cpp_grad.nn import MLP
from cpp_grad.value import Value, Value32

graphviz = pytest.importorskip("graphviz")


def small_graph():
    """micrograd's example: d = a * b + c, e = d.relu() (6 Values, 3 ops)."""
    a, b, c = Value(2.0), Value(-3.0), Value(10.0)
    d = a * b + c
    e = d.relu()
    e.backward()
    return a, b, c, d, e


def records(source):
    return re.findall(r'\[label="\{ [^"]*\}" shape=record\]', source)


def op_labels(source):
    """The labels of the op nodes (DOT quotes only those that need it)."""
    return [label for _, label in re.findall(r'^\s*v\d+_op \[label=("?)(.*?)\1\]$', source, flags=re.M)]


def test_small_graph_has_one_record_per_value_and_one_node_per_op():
    a, b, c, d, e = small_graph()
    graph = draw_dot(e)
    source = graph.source
    assert source.startswith("digraph {")
    assert "rankdir=LR" in source
    assert len(records(source)) == 6  # a, b, c, a * b, d, e
    assert sorted(op_labels(source)) == ["*", "+", "relu"]
    # parent -> op edges, one per parent slot (2 + 2 + 1), and op -> value edges (3)
    assert len(re.findall(r"->", source)) == 8


def test_records_show_data_and_grad():
    a, b, c, d, e = small_graph()
    source = draw_dot(e).source
    assert "{ data 4.0000 | grad 1.0000 }" in source  # d = 2 * -3 + 10; e = relu(d)
    assert "{ data 2.0000 | grad -3.0000 }" in source  # a: de/da = b
    assert "{ data -3.0000 | grad 2.0000 }" in source  # b: de/db = a


def test_labels_name_values():
    a, b, c, d, e = small_graph()
    source = draw_dot(e, labels={a: "a", b: "b", e: "out"}).source
    assert "{ a | data 2.0000 | grad -3.0000 }" in source
    assert "{ out | data 4.0000 | grad 1.0000 }" in source


def test_value_labels_are_shown_as_in_micrograd():
    a, b, c, d, e = small_graph()
    a.label, d.label = "a", "d <1>"
    source = draw_dot(e, labels={a: "first"}).source
    assert "{ first | data 2.0000 | grad -3.0000 }" in source  # labels= wins
    assert "{ d \\<1\\> | data 4.0000 | grad 1.0000 }" in source
    assert "{ data -3.0000 | grad 2.0000 }" in source  # b has no label


def test_a_value_used_twice_is_one_record_with_two_edges():
    a = Value(3.0)
    graph = draw_dot(a * a)
    assert len(records(graph.source)) == 2
    assert graph.source.count("v1 -> v0_op") == 2


def test_handles_of_one_node_are_one_record():
    a = Value(1.5)
    b = a + 1.0
    c = b * b.parents[0]  # b.parents[0] is a new Python handle of a's node
    nodes, _ = trace(c)
    assert len(nodes) == 3


def test_top_to_bottom_and_dot_source_is_deterministic():
    *_, e = small_graph()
    assert "rankdir=TB" in draw_dot(e, rankdir="TB").source
    assert draw_dot(e).source == draw_dot(e).source


def test_fused_ops_and_losses_are_drawn():
    model = MLP(2, [2, 2], seed=1)
    logits = model([Value(0.5), Value(-1.0)])
    loss = cpp.cross_entropy["double"](logits, 1)
    loss.backward()
    source = draw_dot(loss).source
    assert sorted(op_labels(source)) == ["cross_entropy", "dot", "dot", "dot", "dot", "relu", "relu"]
    # 2 inputs, 2 * 2 * (2 + 1) parameters, 2 hidden dots and their relus, 2 logits, the loss
    assert len(records(source)) == 2 + 12 + 4 + 2 + 1


def test_deep_chain_does_not_recurse():
    x = Value(1.0)
    y = x
    for _ in range(3 * sys.getrecursionlimit()):
        y = y + 1.0
    nodes, edges = trace(y)
    assert len(nodes) == 3 * sys.getrecursionlimit() + 1
    assert len(edges) == len(nodes) - 1


def test_value32_graphs_are_drawn():
    a = Value32(2.0)
    source = draw_dot(a.tanh()).source
    assert op_labels(source) == ["tanh"]


def test_too_big_a_graph_is_refused_with_its_size():
    x = Value(0.0)
    y = x
    for _ in range(60):
        y = y * 1.0
    with pytest.raises(ValueError, match=r"has 61 Values, more than max_nodes=50"):
        draw_dot(y, max_nodes=50)
    assert len(records(draw_dot(y, max_nodes=61).source)) == 61


def test_bad_arguments():
    *_, e = small_graph()
    with pytest.raises(TypeError, match="expected a Value or Value32, got float"):
        draw_dot(1.0)
    with pytest.raises(ValueError, match="rankdir must be 'LR' or 'TB'"):
        draw_dot(e, rankdir="RL")
    with pytest.raises(ValueError, match="max_nodes must be a positive integer"):
        draw_dot(e, max_nodes=0)
    with pytest.raises(TypeError, match="labels must map Values to names"):
        draw_dot(e, labels=["a"])


def test_missing_graphviz_package_names_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "graphviz", None)  # makes `import graphviz` fail
    *_, e = small_graph()
    with pytest.raises(ImportError, match=r"pip install graphviz"):
        draw_dot(e)


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot program is not installed")
def test_renders_to_svg():
    *_, e = small_graph()
    graph = draw_dot(e)
    svg = graph.pipe(format="svg").decode()
    assert "<svg" in svg and "</svg>" in svg
    assert svg.count('class="node"') == 6 + 3
    assert "<svg" in graph._repr_mimebundle_()["image/svg+xml"]  # how Jupyter shows it
