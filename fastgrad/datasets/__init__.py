"""Data sets for fastgrad: MNIST as *Deep Learning from Scratch* loads it.

See :mod:`fastgrad.datasets.mnist`: the full IDX files (downloaded with pooch, each checked
against its known SHA-256) or an offline sample; where the files live (platformdirs' user
cache folder by default); and the parsed cache, keyed by the SHA-256 of its source files.
"""

from fastgrad.datasets.mnist import (
    DEFAULT_MIRRORS,
    MNIST_COUNTS,
    MNIST_SHA256,
    MNIST_SIZES,
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
    "MNIST_SIZES",
    "MNISTError",
    "MNISTFormatError",
    "MNISTSource",
    "load_mnist",
    "load_mnist_sample",
    "mnist_data_dir",
    "resolve_mnist_source",
]
