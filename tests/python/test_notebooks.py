"""The notebooks in notebooks/ run top to bottom (nbclient, a fresh kernel
each) and still print what their text says."""

import os
from pathlib import Path

import pytest

nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def execute(name: str):
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    )
    client.execute()
    return notebook


def text_of(notebook) -> str:
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            parts.append(output.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def kinds_of(notebook) -> set:
    return {
        kind for cell in notebook.cells for out in cell.get("outputs", []) for kind in out.get("data", {})
    }


def test_value_notebook():
    notebook = execute("01_value_and_graph.ipynb")
    text = text_of(notebook)
    for figure in ("24.7041", "138.8338", "645.5773"):  # micrograd's README
        assert figure in text
    assert "softplus: True" in text and "softplus_wrong:" in text
    assert "image/svg+xml" in kinds_of(notebook)  # the graphs are drawn


def test_moons_notebook():
    notebook = execute("02_moons.ipynb")
    assert "step 99 loss" in text_of(notebook)
    assert "image/png" in kinds_of(notebook)


def test_mnist_notebook():
    if not os.environ.get("CPP_GRAD_MNIST"):
        pytest.skip("needs MNIST in $CPP_GRAD_MNIST (the tests never download)")
    notebook = execute("03_mnist.ipynb")
    text = text_of(notebook)
    assert "(60000, 28, 28) (60000,) (10000, 28, 28) (10000,) uint8" in text
    assert "epoch 3: loss" in text and "test digits wrong" in text
    assert "image/png" in kinds_of(notebook)


def test_notebooks_are_stored_with_outputs():
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        code = [cell for cell in notebook.cells if cell.cell_type == "code"]
        assert code and all(cell.execution_count for cell in code), path.name
        assert not [out for cell in code for out in cell.outputs if out.output_type == "error"], path.name
