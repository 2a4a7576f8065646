"""Reading MNIST's IDX files (gzipped or not), checked as they are read.

Each file is checked against what MNIST is: the IDX magic number (2051 for images, 2049 for
labels), 28x28 images, matching image and label counts and the expected count of the split
(all read from the headers before any data), a size that matches the header exactly (so
truncation is caught), labels 0-9. A gzipped file is decompressed as a stream and never
beyond the size its header promises: one that would expand further (a "gzip bomb", or
trailing data) is refused after one byte too many. A bad file raises
:class:`~fastgrad.datasets.MNISTFormatError` naming the file and the problem. Every byte of a
file is hashed as it is read, so that the parsed cache can record what it was parsed from.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import math
import os
import zlib
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ._errors import MNISTError, MNISTFormatError

__all__ = ["IMAGE_SIZE", "N_CLASSES", "parse_idx_files"]

_IMAGE_MAGIC, _LABEL_MAGIC = 2051, 2049
_ROWS = _COLS = 28
IMAGE_SIZE = _ROWS * _COLS
N_CLASSES = 10


def parse_idx_files(
    paths: dict[str, Path], counts: dict[str, int]
) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
    """The arrays of the book's keys (``train_img`` ``(n, 784)`` and ``train_label``
    ``(n,)``, uint8, and the same for ``test``) and, for each, the name, size and SHA-256 of
    the bytes it was parsed from. ``counts`` holds the images expected in each split."""
    arrays, sources = {}, {}
    for split in ("train", "test"):
        img_key, label_key = f"{split}_img", f"{split}_label"
        img_path, label_path = paths[img_key], paths[label_key]
        # Both headers first: the counts are checked before any data is read.
        with (
            _IdxFile(img_path, _IMAGE_MAGIC) as images,
            _IdxFile(label_path, _LABEL_MAGIC) as labels,
        ):
            if images.count != labels.count:
                raise MNISTFormatError(
                    f"{img_path} holds {images.count} images but {label_path} holds "
                    f"{labels.count} labels"
                )
            for reader in (images, labels):
                if reader.count != counts[split]:
                    raise MNISTFormatError(
                        f"{reader.path}: holds {reader.count} items, the MNIST {split} split "
                        f"has {counts[split]}"
                    )
            img_array, label_array = images.read_data(), labels.read_data()
            sources[img_key], sources[label_key] = images.source(), labels.source()
        if label_array.size and label_array.max() >= N_CLASSES:
            bad = int(np.argmax(label_array >= N_CLASSES))
            raise MNISTFormatError(
                f"{label_path}: label {label_array[bad]} at index {bad} is not a digit 0-9"
            )
        arrays[img_key] = img_array.reshape(-1, IMAGE_SIZE)
        arrays[label_key] = label_array
    return arrays, sources


class _Hashing:
    """A binary file that feeds every byte read from it to a SHA-256."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh, self.digest, self.size = fh, hashlib.sha256(), 0

    def read(self, n: int = -1) -> bytes:
        data = self.fh.read(n)
        self.digest.update(data)
        self.size += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        n = self.fh.readinto(buffer)
        self.digest.update(memoryview(buffer)[:n])
        self.size += n
        return n


class _IdxFile:
    """One IDX file of unsigned bytes, gzipped or not: entering reads and checks the header;
    :meth:`read_data` then reads exactly the bytes the header promises, never more."""

    def __init__(self, path: Path, magic: int) -> None:
        self.path, self.magic = path, magic
        self.ndim = 3 if magic == _IMAGE_MAGIC else 1
        self.header_bytes = 4 * (1 + self.ndim)
        self.dims: list[int] = []
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> _IdxFile:
        try:
            raw = self._stack.enter_context(self._guard(lambda: open(self.path, "rb")))
            self._gzipped = self._guard(lambda: raw.read(2)) == b"\x1f\x8b"
            self._guard(lambda: raw.seek(0))
            self._file_size = self._guard(lambda: os.fstat(raw.fileno()).st_size)
            self._hashing = _Hashing(raw)
            self._stream: Any = self._hashing
            if self._gzipped:
                self._stream = self._stack.enter_context(
                    gzip.GzipFile(fileobj=self._hashing, mode="rb")  # type: ignore[arg-type]
                )
            self._read_header()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stack.close()

    @property
    def count(self) -> int:
        return self.dims[0]

    def _guard(self, action: Any) -> Any:
        """Run ``action``, turning read errors into this package's errors."""
        try:
            return action()
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            raise MNISTFormatError(f"{self.path}: not a valid gzip file ({exc})") from exc
        except OSError as exc:
            raise MNISTError(f"cannot read {self.path}: {exc}") from exc

    def _read_header(self) -> None:
        raw = self._guard(lambda: self._stream.read(self.header_bytes))
        if len(raw) < self.header_bytes:
            what = "decompresses to" if self._gzipped else "is"
            raise MNISTFormatError(
                f"{self.path}: {what} {len(raw)} bytes, too short for an IDX header "
                f"({self.header_bytes} bytes)"
            )
        found, *self.dims = (int(v) for v in np.frombuffer(raw, dtype=">u4"))
        if found != self.magic:
            kind = "image" if self.magic == _IMAGE_MAGIC else "label"
            raise MNISTFormatError(
                f"{self.path}: magic number {found}, expected {self.magic} (an IDX {kind} file)"
            )
        if self.ndim == 3 and self.dims[1:] != [_ROWS, _COLS]:
            raise MNISTFormatError(
                f"{self.path}: images are {self.dims[1]}x{self.dims[2]}, expected {_ROWS}x{_COLS}"
            )

    def read_data(self) -> np.ndarray:
        """The data after the header, shape ``dims``, in a new writable array."""
        n_data = math.prod(self.dims)
        expected = self.header_bytes + n_data
        if not self._gzipped and self._file_size != expected:
            # Known from the file's size, before reading anything.
            problem = "truncated" if self._file_size < expected else "has trailing bytes"
            raise MNISTFormatError(
                f"{self.path}: {problem}: {self._file_size} bytes, the header promises {expected}"
            )
        data = bytearray(n_data)
        got = self._guard(lambda: self._stream.readinto(data))  # all of it, unless it ends
        if got < n_data:
            raise MNISTFormatError(
                f"{self.path}: truncated: decompresses to {self.header_bytes + got} bytes, "
                f"the header promises {expected}"
            )
        if self._guard(lambda: self._stream.read(1)):
            raise MNISTFormatError(
                f"{self.path}: has trailing bytes: decompresses to more than the {expected} "
                "bytes its header promises (reading stopped there; a damaged file, or a "
                "gzip bomb)"
            )
        for _ in iter(lambda: self._guard(lambda: self._hashing.read(1 << 20)), b""):
            pass  # the rest of the file (a gzip trailer), for its digest
        return np.frombuffer(data, dtype=np.uint8).reshape(self.dims)

    def source(self) -> dict[str, Any]:
        """Name, size and SHA-256 of the file, once :meth:`read_data` has read it all."""
        return {
            "name": self.path.name,
            "bytes": self._hashing.size,
            "sha256": self._hashing.digest.hexdigest(),
        }
