"""Data sets for fastgrad: MNIST as *Deep Learning from Scratch* loads it.

See :mod:`fastgrad.datasets.mnist` for the sources (the full IDX files, downloaded and
checked, or an offline sample), where the files live and how they are cached.
"""

from fastgrad.datasets.mnist import (
    DEFAULT_MIRRORS,
    MNIST_COUNTS,
    MNIST_SHA256,
    MNISTError,
    MNISTFormatError,
    MNISTSource,
    load_mnist,
    load_mnist_sample,
    mnist_data_dir,
    resolve_mnist_source,
)

__all__ = [
    "DEFAULT_MIRRORS",
    "MNIST_COUNTS",
    "MNIST_SHA256",
    "MNISTError",
    "MNISTFormatError",
    "MNISTSource",
    "load_mnist",
    "load_mnist_sample",
    "mnist_data_dir",
    "resolve_mnist_source",
]
