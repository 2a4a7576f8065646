"""fastgrad.datasets' IDX reading (``_idx``): gzipped and raw files, each corruption named
with its file, and a gzip bomb refused without expanding it."""

from __future__ import annotations

import struct
import tracemalloc

import numpy as np
import pytest

from fastgrad.datasets import (
    MNISTError,
    MNISTFormatError,
    mnist,
)

from .conftest import (
    IMAGES_GZ,
    N_TRAIN,
    assert_matches,
    gz,
    idx_bytes,
    load_raw,
)


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
