"""Checked, atomic downloads and file writes for the data sets.

Nothing here knows about MNIST. Two promises hold for every file this module writes:

- A file only ever appears under its final name complete: it is written to a hidden temporary
  file in the same folder (``.<name>.<random>.part``), flushed to disk, and moved into place with
  ``os.replace``, which is atomic on POSIX and Windows.
- A download is kept only when its length matches ``Content-Length`` and its SHA-256 matches the
  expected digest. Anything else is deleted, and the next mirror is tried.

A process killed mid-download (SIGKILL, power loss) can leave a ``.part`` file behind; it is
never read as data, and the next download of the same file removes it.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from fastgrad._version import __version__

_CHUNK_BYTES = 1 << 16
_USER_AGENT = f"fastgrad/{__version__} (+https://pypi.org/project/fastgrad/)"


class DownloadError(OSError):
    """No URL gave a good copy of a file.

    ``attempts`` lists ``(url, reason)`` for every URL tried, in order.
    """

    def __init__(self, message: str, attempts: Sequence[tuple[str, str]]):
        super().__init__(message)
        self.attempts = list(attempts)


class _BadTransfer(OSError):
    """The server answered, but what arrived is not the file (short, or the wrong digest)."""


def download(
    urls: Sequence[str],
    dest: str | os.PathLike[str],
    *,
    sha256: str,
    timeout: float,
    progress: bool = False,
) -> str:
    """Download a file from the first URL that yields a verified copy.

    Parameters
    ----------
    urls : sequence of str
        Candidate URLs for the same file, tried in order.
    dest : path-like
        Final location. Its folder must exist and be writable.
    sha256 : str
        Expected SHA-256 of the file, hex.
    timeout : float
        Seconds to wait for the server on each connect or read (not for the whole transfer).
    progress : bool, default False
        Show a tqdm progress bar on stderr, when tqdm is installed.

    Returns
    -------
    str
        The URL that succeeded.

    Raises
    ------
    DownloadError
        When every URL failed; ``attempts`` says why each did.
    OSError
        When the temporary file cannot be created in ``dest``'s folder.
    """
    dest = Path(dest)
    remove_stale_parts(dest)
    attempts: list[tuple[str, str]] = []
    with _temporary_path(dest) as part:
        for url in urls:
            try:
                _fetch(url, part, dest.name, sha256=sha256, timeout=timeout, progress=progress)
            except (OSError, http.client.HTTPException, ValueError) as exc:
                # ValueError: a malformed URL ("unknown url type"); it is the mirror's fault,
                # not a reason to stop trying the others.
                attempts.append((url, _describe(exc)))
                continue
            os.replace(part, dest)
            return url
    raise DownloadError(f"could not download {dest.name}", attempts)


def write_atomically(dest: str | os.PathLike[str], write: Callable[[BinaryIO], None]) -> None:
    """Write a file through ``write(fileobj)`` so that it appears complete or not at all.

    Parameters
    ----------
    dest : path-like
        Final location; its folder must exist.
    write : callable
        Called once with a binary file object open on a temporary file next to ``dest``.
        If it raises, the temporary file is removed and the exception propagates.
    """
    dest = Path(dest)
    with _temporary_path(dest) as part:
        with open(part, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(part, dest)


def remove_stale_parts(dest: str | os.PathLike[str]) -> None:
    """Remove temporary files left by an earlier, killed write of ``dest``.

    Two processes downloading the same file into the same folder at the same moment could
    remove each other's temporary file; the loser then reports a failed attempt, and no
    broken file is ever kept.
    """
    dest = Path(dest)
    for part in dest.parent.glob(f".{dest.name}.*.part"):
        with contextlib.suppress(OSError):
            part.unlink()


@contextlib.contextmanager
def _temporary_path(dest: Path) -> Iterator[Path]:
    # Same folder as dest, so that os.replace is a rename, never a copy across file systems.
    fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    os.close(fd)
    # mkstemp makes the file private (0o600); data files are ordinary readable files.
    os.chmod(name, 0o644)
    try:
        yield Path(name)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(name)


def _fetch(url: str, part: Path, name: str, *, sha256: str, timeout: float, progress: bool) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    digest = hashlib.sha256()
    received = 0
    with urllib.request.urlopen(request, timeout=timeout) as response, open(part, "wb") as fh:
        length = response.headers.get("Content-Length", "")
        expected_bytes = int(length) if length.isdigit() else None
        with _progress_bar(progress, expected_bytes, name) as bar:
            while chunk := response.read(_CHUNK_BYTES):
                fh.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                bar.update(len(chunk))
    # http.client returns a short body without complaint when the server closes early.
    if expected_bytes is not None and received != expected_bytes:
        raise _BadTransfer(f"transfer cut short: received {received} of {expected_bytes} bytes")
    if digest.hexdigest() != sha256.lower():
        raise _BadTransfer(f"SHA-256 mismatch: got {digest.hexdigest()}, expected {sha256.lower()}")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    return str(exc) or type(exc).__name__


class _NoBar:
    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def update(self, n: int) -> None:
        return None


def _progress_bar(enabled: bool, total: int | None, desc: str):
    if enabled:
        try:
            from tqdm import tqdm
        except ImportError:
            pass
        else:
            return tqdm(
                total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, leave=False
            )
    return _NoBar()
