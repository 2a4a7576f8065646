"""fastgrad.datasets' downloads (``_download``): pooch's transfers and digest checks from
mirrors, held to the known sizes; what a failed, cut or killed download leaves (nothing).
Hostile servers (endless or oversized bodies, wrong files, stalls) are built here."""

from __future__ import annotations

import os
import tempfile
import time

import pytest
import requests

from fastgrad.datasets import (
    MNISTError,
    mnist,
    resolve_mnist_source,
)

from .conftest import (
    IMAGES_GZ,
    NAMES,
    assert_matches,
    closed_port_url,
    gz,
    leftovers,
    load_raw,
)


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
