"""Downloads of files with known SHA-256 digests and sizes, through pooch, from mirrors.

pooch does the downloading: a :func:`pooch.create` registry of the known digests per mirror,
:meth:`pooch.Pooch.fetch` with ``retry_if_failed`` (it retries connection errors, time-outs,
HTTP 5xx, transfers cut short and digest mismatches, waiting 1 s, 2 s, ... in between), its
``HTTPDownloader`` (driving a tqdm progress bar), and its check of the digest before a file
takes its name. On top, only what pooch does not do:

- mirrors, tried in order, with a one-line reason per failed attempt in the error;
- a cap at the known size: a server that announces more is refused before the body is read,
  one that sends more is cut off at the first excess chunk; an HTTP 4xx is not retried;
- a private staging folder in the data folder (``.fastgrad-download-*``, removed afterwards,
  and by a later download if a killed process left it), and files landed with the umask's
  permissions (:func:`fastgrad._files.write_atomically`; pooch's files are private).
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from .._files import STALE_AFTER_S, write_atomically
from .._version import __version__
from ._errors import MNISTError

__all__ = ["STAGING_PREFIX", "download_files"]

STAGING_PREFIX = ".fastgrad-download-"
_CHUNK_BYTES = 1 << 16
_HEADERS = {
    "User-Agent": f"fastgrad/{__version__} (+https://pypi.org/project/fastgrad/)",
    "Accept-Encoding": "identity",  # the bytes on the wire are the file's: the cap holds
}


class _Refused(Exception):
    """An answer that retrying will not fix: HTTP 4xx, or more bytes than the file has.

    Deliberately neither a ValueError nor a requests exception: pooch retries only those.
    """


def download_files(
    folder: Path,
    names: list[str],
    *,
    mirrors: list[str],
    sha256: dict[str, str],
    sizes: dict[str, int],
    retries: int,
    timeout: float,
    progress: bool | None,
    hint: str,
) -> None:
    """Download each of ``names`` into ``folder`` from the first of ``mirrors`` that serves
    it whole and with its digest; files already there are not touched.

    Raises
    ------
    MNISTError
        If the folder cannot be written, or a file cannot be had from any mirror: the
        message lists each URL tried and why it failed, what is still missing, then ``hint``.
    """
    import pooch

    shown = importlib.util.find_spec("tqdm") is not None if progress is None else progress
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _remove_stale_downloads(folder)
        staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=folder))
    except OSError as exc:
        raise MNISTError(f"cannot write the MNIST files into {folder}: {exc}") from exc
    registry = {name: f"sha256:{sha256[name].lower()}" for name in names}
    fetchers = [
        pooch.create(path=staging, base_url=base, registry=registry, retry_if_failed=retries)
        for base in mirrors
    ]
    try:
        with _pooch_messages(pooch.get_logger(), shown=bool(shown)):
            for done, name in enumerate(names):
                attempts = []
                for fetcher in fetchers:
                    get = _capped_download(name, sizes[name], timeout, bool(shown))
                    try:
                        fetched = fetcher.fetch(name, downloader=get)
                    except (_Refused, OSError, ValueError) as exc:
                        # OSError covers requests' errors; ValueError pooch's digest check.
                        attempts.append(f"  {fetcher.get_url(name)}: {_describe(exc, timeout)}")
                        continue
                    _land(Path(fetched), folder / name)
                    break
                else:
                    raise MNISTError(
                        f"could not download {name} from any mirror.\nTried:\n"
                        + "\n".join(attempts)
                        + f"\nStill missing from {folder}: {', '.join(names[done:])}.\n{hint}"
                    )
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _land(fetched: Path, dest: Path) -> None:
    """Copy a verified download into place under its final name, with the umask's mode."""
    try:
        with open(fetched, "rb") as src:
            write_atomically(dest, lambda f: shutil.copyfileobj(src, f))
    except OSError as exc:
        raise MNISTError(f"cannot write the MNIST files into {dest.parent}: {exc}") from exc


class _CappedFile:
    """The download's output file: it refuses bytes past the file's known size."""

    def __init__(self, fh: BinaryIO, limit: int, name: str) -> None:
        self.fh, self.limit, self.name, self.received = fh, limit, name, 0

    def write(self, chunk: bytes) -> int:
        self.received += len(chunk)
        if self.received > self.limit:
            raise _Refused(
                f"the server sent more than the {self.limit:,} bytes of {self.name}; stopped there"
            )
        return self.fh.write(chunk)

    def flush(self) -> None:
        self.fh.flush()


def _capped_download(name: str, size: int, timeout: float, progress: bool) -> Callable:
    """A pooch downloader: ``pooch.HTTPDownloader`` into a :class:`_CappedFile`, refusing a
    response that announces more than ``size`` bytes, and an HTTP 4xx without a retry."""
    import pooch
    import requests

    def download(url: str, output_file: str, pooch_: Any) -> None:
        responses = []

        def refuse_oversized(response: Any, *args: Any, **kwargs: Any) -> Any:
            responses.append(response)  # closed below, however the transfer ends
            length = response.headers.get("Content-Length", "")
            if 200 <= response.status_code < 300 and length.isdigit() and int(length) > size:
                raise _Refused(
                    f"the server offers {int(length):,} bytes, more than the {size:,} "
                    f"bytes of {name}; not downloaded"
                )
            return response

        bar = _progress_bar(name, size) if progress else None
        http = pooch.HTTPDownloader(
            progressbar=bar or False,
            chunk_size=_CHUNK_BYTES,
            timeout=timeout,
            headers=_HEADERS,
            hooks={"response": refuse_oversized},
        )
        try:
            with open(output_file, "wb") as fh:
                http(url, _CappedFile(fh, size, name), pooch_)
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else 0
            if 400 <= status < 500 and status not in (408, 429):
                raise _Refused(_describe(exc, timeout)) from exc
            raise
        finally:
            for response in responses:
                response.close()
            if bar is not None:
                bar.close()

    return download


def _progress_bar(name: str, size: int) -> Any:
    """A tqdm bar named after the file, for pooch to drive (None without tqdm)."""
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=size, desc=name, unit="B", unit_scale=True, leave=False, file=sys.stderr)


@contextlib.contextmanager
def _pooch_messages(logger: logging.Logger, *, shown: bool) -> Iterator[None]:
    """pooch logs each download at INFO level on stderr: keep that only with the progress bar."""
    level = logger.level
    if not shown:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _remove_stale_downloads(folder: Path) -> None:
    """Remove staging folders that a killed process left behind (untouched for an hour).

    A folder in use by another process is younger than that: each byte written touches it.
    """
    cutoff = time.time() - STALE_AFTER_S
    for staging in folder.glob(f"{STAGING_PREFIX}*"):
        try:
            newest = max([staging.stat().st_mtime, *(p.stat().st_mtime for p in staging.iterdir())])
        except OSError:
            continue
        if newest < cutoff:
            shutil.rmtree(staging, ignore_errors=True)


def _describe(exc: BaseException, timeout: float) -> str:
    """One short line on why a download attempt failed."""
    import requests

    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code} {exc.response.reason}"
    if isinstance(exc, requests.Timeout):
        return f"timed out: no answer within {timeout:g} s"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return f"transfer cut short (connection broken: {_innermost(exc)})"
    if isinstance(exc, requests.ConnectionError):
        return f"connection failed: {_innermost(exc)}"
    if isinstance(exc, ValueError) and not isinstance(exc, requests.RequestException):
        return f"SHA-256 mismatch, not the MNIST file ({exc})"  # pooch's digest check
    return str(exc) or type(exc).__name__


def _innermost(exc: BaseException) -> str:
    """requests wraps urllib3's errors two or three deep; the innermost says what happened
    ("HTTPConnection(host=..., port=...): Failed to establish ...": the part after ": ")."""
    reason: BaseException = exc
    while True:
        inner = getattr(reason, "reason", None)
        if not isinstance(inner, BaseException):
            inner = next((a for a in reason.args if isinstance(a, BaseException)), None)
        if inner is None or inner is reason:
            break
        reason = inner
    return str(reason).split("): ", 1)[-1]
