"""Atomic file writes, honouring the user's umask: the one way fastgrad writes a file.

Used for the downloaded MNIST files and the parsed cache, training checkpoints and the
outputs of ``fastgrad train``. A file written through :func:`write_atomically` only ever
appears under its final name complete: it is written to a hidden temporary file in the same
folder (``.<name>.<random>.part``), flushed to disk, and moved into place with
``os.replace``, which is atomic on POSIX and Windows; the folder is then fsynced (where the
platform allows) so that the rename itself survives a crash. If the write fails or is
interrupted, the temporary file is removed; a process killed outright (SIGKILL, power loss)
can leave one behind, which is never read as data and which a later write of the same file
removes (once it is an hour old: a younger one may be another process's write in progress).

Files are created with mode ``0o666`` filtered by the process umask, as ``open(path, "w")``
would create them; the umask itself is never read or changed.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["create_new", "remove_stale_parts", "write_atomically"]

#: Mode of every file created here, before the umask: that of ``open(path, "w")``.
_FILE_MODE = 0o666

#: A temporary file untouched this long belongs to a killed process.
STALE_AFTER_S = 3600.0


def write_atomically(dest: str | os.PathLike[str], write: Callable[[BinaryIO], None]) -> None:
    """Write a file through ``write(fileobj)`` so that it appears complete or not at all.

    Parameters
    ----------
    dest : path-like
        Final location; its folder must exist.
    write : callable
        Called once with a binary file object open on a temporary file next to ``dest``.
        If it raises, the temporary file is removed and the exception propagates.

    Raises
    ------
    OSError
        When the temporary file cannot be created, written or moved into place; ``dest`` is
        then unchanged and no temporary file is left.
    """
    dest = Path(dest)
    remove_stale_parts(dest)
    with _temporary_path(dest) as (part, fh):
        with fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(part, dest)
    _fsync_folder(dest.parent)


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable, where the platform supports it."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def create_new(path: str | os.PathLike[str]) -> BinaryIO:
    """Create ``path``, which must not exist, and open it for binary writing.

    Its mode is ``0o666`` less the umask, as for ``open(path, "wb")``; unlike ``mkstemp``
    (always ``0o600``), a shared data folder stays shared.
    """
    fd = _open_exclusive(os.fspath(path))
    return os.fdopen(fd, "wb")


def remove_stale_parts(dest: str | os.PathLike[str], older_than: float = STALE_AFTER_S) -> None:
    """Remove temporary files left by an earlier, killed write of ``dest``.

    Only those untouched for ``older_than`` seconds: a younger one may be another process's
    write in progress.
    """
    dest = Path(dest)
    cutoff = time.time() - older_than
    for part in dest.parent.glob(f".{dest.name}.*.part"):
        with contextlib.suppress(OSError):
            if part.stat().st_mtime < cutoff:
                part.unlink()


def _open_exclusive(path: str) -> int:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    return os.open(path, flags, _FILE_MODE)


@contextlib.contextmanager
def _temporary_path(dest: Path) -> Iterator[tuple[Path, BinaryIO]]:
    # Same folder as dest, so that os.replace is a rename, never a copy across file systems.
    for _ in range(100):
        part = dest.with_name(f".{dest.name}.{secrets.token_hex(6)}.part")
        try:
            fh = create_new(part)
        except FileExistsError:
            continue
        break
    else:  # pragma: no cover - 100 collisions of 48 random bits
        raise FileExistsError(f"cannot find a free temporary name next to {dest}")
    try:
        yield part, fh
    finally:
        fh.close()
        with contextlib.suppress(FileNotFoundError):
            os.remove(part)
