"""fastgrad.datasets' parsed cache (``_cache``): used only when it checks out; forged,
corrupt, edited or hostile caches are rebuilt or passed over with one clear reason."""

from __future__ import annotations

import io
import json
import os
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from fastgrad import _files
from fastgrad.datasets import (
    MNISTError,
    load_mnist,
    mnist,
    resolve_mnist_source,
)

from .conftest import (
    N_TEST,
    NAMES,
    FakeMNIST,
    assert_matches,
    closed_port_url,
    idx_bytes,
    leftovers,
    load_raw,
)


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
