"""The parsed cache: MNIST's arrays as parsed from the IDX files, and proof of where from.

After the first load the arrays are cached in the data folder as ``mnist-cache-v2.npz`` (a zip
of ``.npy`` members that ``numpy.load`` reads), with a ``meta.json`` that records the name and
SHA-256 of each IDX file they were parsed from and the SHA-256 of each array. A cache is used
only when it checks out (:func:`read_cache`): its arrays match their digests, and it was
parsed from the IDX files there now or, with none there, from the standard ``.gz`` files. It
is read defensively (each member's size and ``.npy`` header checked before anything is
allocated), so that a corrupt, truncated or hostile cache is a reason not to use it, never a
``zlib.error`` or a huge allocation. These checks catch accidents and corruption; they are
not a signature: whoever can write to the folder can forge a cache, as they could replace
the files. It is written atomically, with the umask's permissions (:func:`write_cache`).
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
import zipfile
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from .._files import write_atomically

__all__ = ["CACHE_NAME", "read_cache", "write_cache"]

CACHE_NAME = "mnist-cache-v2.npz"
_FORMAT = "fastgrad MNIST cache"
_VERSION = 2
_META = "meta.json"
_META_MAX_BYTES = 1 << 16
_NPY_HEADER_MAX_BYTES = 1 << 12  # a .npy header for a 2-d uint8 array is 128 bytes
_KEYS = ("train_img", "train_label", "test_img", "test_label")


class _CacheProblem(Exception):
    """Why the parsed cache cannot be used (the message completes "the cache is not used: ")."""


def read_cache(
    folder: Path,
    sources: dict[str, dict[str, Any]] | None,
    *,
    shapes: dict[str, tuple[int, ...]],
    standard: dict[str, tuple[str, str]],
) -> tuple[dict[str, np.ndarray] | None, str | None]:
    """The cached arrays if the cache in ``folder`` checks out, else None and why (None when
    there is no cache).

    ``sources``: the digests of the IDX files in the folder, which the cache must have been
    parsed from; None when there are none, and the cache must then come from the standard
    files, ``standard`` (for each of the book's keys, the name and SHA-256 of its ``.gz``).
    ``shapes``: the shape each array must have.
    """
    path = folder / CACHE_NAME
    if not path.is_file():
        return None, None
    try:
        return _read(path, sources, shapes, standard), None
    except _CacheProblem as exc:
        return None, str(exc)
    except Exception as exc:  # noqa: BLE001 - an untrusted file: any failure means "corrupt"
        return None, f"it is unreadable or corrupt ({type(exc).__name__}: {exc})"


def _read(
    path: Path,
    sources: dict[str, dict[str, Any]] | None,
    shapes: dict[str, tuple[int, ...]],
    standard: dict[str, tuple[str, str]],
) -> dict[str, np.ndarray]:
    with open(path, "rb") as fh, zipfile.ZipFile(fh) as zf:
        meta = _read_meta(zf)
        _check_provenance(meta["sources"], sources, standard)
        arrays = {key: _read_array(zf, key, shape) for key, shape in shapes.items()}
    for key, array in arrays.items():
        if hashlib.sha256(array).hexdigest() != meta["arrays"][key]["sha256"]:
            raise _CacheProblem(
                f"its {key} array does not match the SHA-256 recorded with it (corrupt or edited)"
            )
    for split in ("train", "test"):
        labels = arrays[f"{split}_label"]
        if labels.size and labels.max() >= 10:
            raise _CacheProblem(f"its {split} labels are not all digits 0-9")
    return arrays


def _read_meta(zf: zipfile.ZipFile) -> dict[str, Any]:
    try:
        info = zf.getinfo(_META)
    except KeyError:
        raise _CacheProblem(
            f"it has no {_META} (not a cache written by this fastgrad version)"
        ) from None
    if info.file_size > _META_MAX_BYTES:
        raise _CacheProblem(f"its {_META} is {info.file_size:,} bytes, far too large")
    with zf.open(info) as member:
        meta = json.loads(member.read(_META_MAX_BYTES + 1).decode("utf-8"))
    if not isinstance(meta, dict) or (meta.get("format"), meta.get("version")) != (
        _FORMAT,
        _VERSION,
    ):
        raise _CacheProblem("it is not a cache in this fastgrad version's format")
    for field in ("sources", "arrays"):
        entries = meta.get(field)
        if (
            not isinstance(entries, dict)
            or set(entries) != set(_KEYS)
            or not all(
                isinstance(entry, dict) and isinstance(entry.get("sha256"), str)
                for entry in entries.values()
            )
        ):
            raise _CacheProblem(f"its {_META} has no valid {field!r} record")
    return meta


def _check_provenance(
    recorded: dict[str, dict[str, Any]],
    sources: dict[str, dict[str, Any]] | None,
    standard: dict[str, tuple[str, str]],
) -> None:
    """With IDX files there, the cache must have been parsed from them (a changed file, even
    of the same size and modification time, invalidates it); with none, from the standard
    ``.gz`` files: a cache parsed from other files (uncompressed ones, another data set in
    MNIST's format, edited files) cannot stand in for MNIST once they are gone."""
    if sources is not None:
        changed = [
            sources[key]["name"]
            for key in _KEYS
            if (recorded[key].get("name"), recorded[key]["sha256"])
            != (sources[key]["name"], sources[key]["sha256"])
        ]
        if changed:
            raise _CacheProblem(
                f"it was parsed from other files than those there now ({', '.join(changed)} "
                "differ by name or SHA-256)"
            )
        return
    for key in _KEYS:
        name, sha256 = standard[key]
        entry = recorded[key]
        if entry.get("name") != name or entry["sha256"] != sha256.lower():
            raise _CacheProblem(
                f"it was parsed from {entry.get('name')!s} with SHA-256 {entry['sha256'][:16]}..., "
                f"not from the standard {name}, so it cannot stand in for the MNIST files "
                "once they are gone"
            )


def _read_array(zf: zipfile.ZipFile, key: str, shape: tuple[int, ...]) -> np.ndarray:
    """One uint8 array member, its size and header checked before any data is allocated."""
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
        if version not in ((1, 0), (2, 0)):
            raise _CacheProblem(f"its {key} array has an unknown .npy version {version}")
        read_header = getattr(np.lib.format, f"read_array_header_{version[0]}_0")
        found_shape, fortran_order, dtype = read_header(member, _NPY_HEADER_MAX_BYTES)
        if tuple(found_shape) != shape or dtype != np.uint8 or fortran_order:
            raise _CacheProblem(
                f"its {key} array is {dtype} {tuple(found_shape)}, expected uint8 {shape}"
            )
        data = bytearray(n_data)
        if member.readinto(data) < n_data:
            raise _CacheProblem(f"its {key} array is truncated")
        if member.read(1):  # also makes zipfile check the member's CRC-32
            raise _CacheProblem(f"its {key} array has trailing bytes")
    return np.frombuffer(data, dtype=np.uint8).reshape(shape)


def write_cache(
    folder: Path, sources: dict[str, dict[str, Any]], arrays: dict[str, np.ndarray]
) -> None:
    """Write the cache of ``arrays``, parsed from ``sources``; a folder that cannot take it
    is a warning: the data loads, and the next load parses the IDX files again."""
    meta = {
        "format": _FORMAT,
        "version": _VERSION,
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
            zf.writestr(_META, json.dumps(meta, indent=1, sort_keys=True))
            for key in _KEYS:
                with zf.open(f"{key}.npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, arrays[key], allow_pickle=False)

    try:
        write_atomically(folder / CACHE_NAME, write)
    except OSError as exc:
        warnings.warn(
            f"could not cache the parsed MNIST arrays in {folder} ({exc}); the data loads, "
            "but the next load parses the IDX files again",
            stacklevel=4,
        )
