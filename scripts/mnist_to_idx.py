"""Write MNIST as the four raw IDX files that the compiled C++ trainer reads.

    python scripts/mnist_to_idx.py [--data NPZ_OR_DIR] OUT_DIR

--data takes anything cpp_grad.datasets.load_mnist accepts (keras' mnist.npz
or a folder of IDX files); without it load_mnist's usual search applies
($CPP_GRAD_MNIST, keras' cache, cpp_grad's cache, else a download). Written from the canonical set, the
files are byte-identical to the original MNIST distribution.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

try:
    import cpp_grad  # noqa: F401
except ImportError:  # run from a source checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cpp_grad._cli import check_data_argument, load_mnist_or_exit
from cpp_grad._files import check_writable_folder
from cpp_grad.datasets import IDX_FILES, write_mnist_idx


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data",
        help="keras-layout mnist.npz or a folder of IDX files (default: load_mnist's search, or a download)",
    )
    parser.add_argument("out_dir", type=Path, help="folder to write the IDX files to")
    args = parser.parse_args(argv)
    try:  # before the data is loaded
        check_writable_folder(args.out_dir, [name for name, _ in IDX_FILES.values()])
    except OSError as error:
        parser.error(f"out_dir: {error}")
    check_data_argument(parser, args.data)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    data = load_mnist_or_exit(args.data)
    for path in write_mnist_idx(args.out_dir.expanduser(), data):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
