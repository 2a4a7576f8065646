"""Shared by the tests of fastgrad.datasets: tiny MNIST files and a local HTTP server.

The full-data tests build tiny but well-formed MNIST files (20 training and 10 test images of
28x28) and shrink the expected counts, digests and sizes to match them (:func:`fake`).
Downloads are real HTTP transfers through pooch from a server on 127.0.0.1 (:class:`Server`);
nothing leaves the machine. No test reads the real user cache (:func:`isolated_env`).
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import socket
import struct
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from fastgrad.datasets import (
    load_mnist,
    mnist,
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
