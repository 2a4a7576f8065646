"""fastgrad.datasets.mnist: which data a load uses, where the files live, and the book's
``load_mnist`` format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import platformdirs
import pytest
from numpy.testing import assert_array_equal

from fastgrad.datasets import (
    MNISTError,
    load_mnist,
    mnist_data_dir,
    resolve_mnist_source,
)

from .conftest import (
    N_TEST,
    N_TRAIN,
    NAMES,
    assert_matches,
    load_raw,
)


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


def test_returned_arrays_are_the_callers_own(fake, tmp_path):
    folder = fake.write(tmp_path / "data")
    (x_train, t_train), _ = load_raw(source="full", data_dir=folder, download=False)
    x_train[:] = 0
    t_train[:] = 0
    assert_matches(load_raw(source="full", data_dir=folder, download=False), fake)


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
