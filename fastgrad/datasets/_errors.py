"""The errors of :mod:`fastgrad.datasets`, shared by the modules that find, fetch and read MNIST."""

__all__ = ["MNISTError", "MNISTFormatError"]


class MNISTError(OSError):
    """The MNIST data could not be found, downloaded or read."""


class MNISTFormatError(MNISTError, ValueError):
    """A data file exists but is not what it should be (corrupt, truncated, wrong counts)."""
