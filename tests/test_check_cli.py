"""``fastgrad check``: the book's gradient check on the offline MNIST sample, its table, its
exit status and its usage errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import fastgrad
from fastgrad import cli
from fastgrad.cli import check as check_cli

#: The label of the line with this run's figures in the book's "key:diff" form.
BOOK_FORM = "this run, printed as the book's gradient_check.py prints it: "


def test_the_books_gradient_check_passes(capsys):
    assert check_cli.main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("compile: the first check on an empty Numba cache")  # said first
    assert (
        "network: MultiLayerNet 784-50-10 relu, init 0.01, weight decay 0, backend numba; "
        "3 MNIST sample images\n"
    ) in out
    lines = out.splitlines()
    header = lines.index("param      mean |diff|    max |diff|  max rel diff  worst index")
    assert [line.split()[0] for line in lines[header + 1 : header + 5]] == ["W1", "b1", "W2", "b2"]
    assert BOOK_FORM + "W1:" in out and " b2:" in out
    assert out.rstrip().endswith("PASS: every mean |diff| is at most 1e-06")


def test_the_figures_are_gradient_check_of_the_books_network(capsys):
    """The printed figures are fastgrad.gradient_check's of MultiLayerNet(784, [50], 10,
    weight_init_std=0.01) on the sample's first images."""
    assert check_cli.main(["--batch", "2", "--seed", "5"]) == 0
    out = capsys.readouterr().out
    (x, t), _ = fastgrad.datasets.load_mnist(one_hot_label=True, source="sample")
    net = fastgrad.MultiLayerNet(784, [50], 10, weight_init_std=0.01, rng=5)
    expected = fastgrad.gradient_check(net, x[:2], t[:2])
    figures = " ".join(f"{name}:{c.mean_abs_diff:.6g}" for name, c in expected.items())
    assert f"{BOOK_FORM}{figures}\n" in out
    assert str(expected) in out


@pytest.mark.parametrize(
    ("argv", "shape", "keys"),
    [
        (["--hidden", "20,10", "--weight-decay", "0.1"], "784-20-10-10", 6),
        (["--hidden", "8", "--activation", "sigmoid", "--weight-init", "xavier"], "784-8-10", 4),
    ],
)
def test_other_networks_of_the_family(capsys, argv, shape, keys):
    assert check_cli.main([*argv, "--batch", "4"]) == 0
    out = capsys.readouterr().out
    assert f"network: MultiLayerNet {shape} " in out and "backend numba; 4 MNIST" in out
    assert sum(line[:1] in "Wb" and line[1:2].isdigit() for line in out.splitlines()) == keys
    assert "PASS" in out


def test_a_failing_check_exits_1(capsys):
    assert check_cli.main(["--tol", "1e-30"]) == 1
    out = capsys.readouterr().out
    assert "FAIL: mean |diff| above 1e-30 for W1, b1, W2, b2" in out


def test_a_kink_in_the_books_network_fails_and_is_named(capsys):
    """Seed 17 puts a hidden pre-activation of the first image within h of the ReLU kink:
    a correct backprop fails on b1 and W1, and the verdict says why (gradient_check's)."""
    assert check_cli.main(["--seed", "17"]) == 1
    last = capsys.readouterr().out.rstrip().splitlines()[-1]
    assert last.startswith("FAIL: mean |diff| above 1e-06 for W1, b1; 1 ReLU pre-activation")
    assert "straddles" in last


def test_a_wrong_backprop_fails(capsys, monkeypatch):
    """A backprop that is off (here: doubled) is caught."""
    real = fastgrad.MultiLayerNet.gradient

    def doubled(self, x, t):
        return {k: 2 * v for k, v in real(self, x, t).items()}

    monkeypatch.setattr(fastgrad.MultiLayerNet, "gradient", doubled)
    assert check_cli.main([]) == 1
    assert "FAIL" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--hidden", "0"], "--hidden must be an integer >= 1"),
        (["--hidden", "a,b"], "comma list of integers"),
        (["--activation", "tanh"], "invalid choice: 'tanh'"),
        (["--weight-decay", "-1"], "--weight-decay must be a finite number >= 0"),
        (["--weight-init", "glorot"], "--weight-init must be one of"),
        (["--backend", "cuda"], "invalid choice: 'cuda'"),
        (["--batch", "0"], "--batch must be an integer >= 1"),
        (["--batch", "x"], "argument --batch"),
        (["--tol", "0"], "--tol"),
        (["--seed", "-1"], "--seed: must be an integer >= 0"),
        (["--bogus"], "unrecognized arguments"),
    ],
)
def test_usage_errors_exit_2(capsys, argv, message):
    assert check_cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: fastgrad check") and message in err


def test_a_batch_larger_than_the_sample_exits_1(capsys):
    assert check_cli.main(["--batch", "4001"]) == 1
    assert "--batch 4001 exceeds the sample's 4,000 images" in capsys.readouterr().err


def test_help_and_dispatcher(capsys):
    """--help exits 0 and names each flag (its wording is free; the default network is
    tested by its figures above); the dispatcher routes ``check`` and lists it."""
    assert check_cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for flag in ("--hidden", "--activation", "--weight-init", "--weight-decay", "--backend"):
        assert flag in out, flag
    for flag in ("--batch", "--seed", "--tol"):
        assert flag in out, flag
    assert cli.main(["check", "--tol", "1e-30", "--batch", "1"]) == 1
    capsys.readouterr()
    assert cli.main([]) == 2
    assert "check" in capsys.readouterr().out


def test_python_m_fastgrad_check():
    proc = subprocess.run(
        [sys.executable, "-m", "fastgrad", "check", "--batch", "1"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "PASS" in proc.stdout and np.isfinite(
        float(proc.stdout.split(BOOK_FORM + "W1:")[1].split()[0])
    )


def test_the_reference_backend(capsys):
    assert check_cli.main(["--backend", "numpy", "--hidden", "5", "--batch", "1"]) == 0
    out = capsys.readouterr().out
    assert "network: MultiLayerNet 784-5-10 relu" in out and "backend numpy; 1 MNIST" in out
    assert "image\n" in out and "PASS" in out
    assert "compile:" not in out  # nothing to compile
