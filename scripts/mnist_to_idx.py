"""Write MNIST as the four raw IDX files that the compiled C++ trainer reads.

    python scripts/mnist_to_idx.py [--data NPZ_OR_DIR] OUT_DIR

--data takes anything cpp_grad.datasets.load_mnist accepts (keras' mnist.npz
or a folder of IDX files); without it load_mnist's usual search applies
($CPP_GRAD_MNIST, keras' cache, keras). Written from the canonical set, the
files are byte-identical to the original MNIST distribution.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
OUTPUT_NAMES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


def import_datasets():
    """Return cpp_grad.datasets: installed package first, then this checkout.

    The package's __init__ loads the C++ engine through cppyy; where that is
    unavailable, datasets.py is loaded on its own, since it needs only numpy.
    """
    try:
        from cpp_grad import datasets

        return datasets
    except ImportError:
        pass
    sys.path.insert(0, str(REPO_ROOT))
    try:
        from cpp_grad import datasets

        return datasets
    except ImportError:
        pass
    source = REPO_ROOT / "cpp_grad" / "datasets.py"
    spec = importlib.util.spec_from_file_location("cpp_grad_datasets", source)
    datasets = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(datasets)
    return datasets


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data",
        help="keras-layout mnist.npz or a folder of IDX files (default: $CPP_GRAD_MNIST, then keras' cache)",
    )
    parser.add_argument("out_dir", type=Path, help="folder to write the IDX files to")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    datasets = import_datasets()
    (x_train, y_train), (x_test, y_test) = datasets.load_mnist(args.data)
    arrays = {
        "x_train": x_train,
        "y_train": y_train,
        "x_test": x_test,
        "y_test": y_test,
    }
    out_dir = args.out_dir.expanduser()
    out_dir.mkdir(parents=True, exist_ok=True)
    for key, name in OUTPUT_NAMES.items():
        datasets.write_idx(out_dir / name, arrays[key])
        print(f"wrote {out_dir / name} shape {arrays[key].shape}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
