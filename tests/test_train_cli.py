"""``fastgrad train``: end to end on the offline MNIST sample, its outputs and its errors.

Small networks (10 hidden units) and few iterations keep each run to about a second; the
numba numerical path runs in-process (its compilation is shared with the other tests), a
numpy backprop run goes through ``python -m fastgrad train`` in a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from fastgrad import cli
from fastgrad.cli import train as train_cli
from fastgrad.optimizers import OPTIMIZERS
from fastgrad.training import History, load_checkpoint

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
OUTPUTS = ["accuracy.png", "history.json", "loss.png", "params.npz"]
OUTPUTS_IN_ORDER = "history.json, loss.png, accuracy.png, params.npz"
SMALL = ["--data", "sample", "--hidden", "10"]
FAST = [*SMALL, "--backend", "numpy", "--grad", "backprop", "--quiet"]


def check_outputs(out: Path, iters: int, hidden: int = 10) -> dict:
    # and no temporary files; the checkpoint is there unless --checkpoint put it elsewhere
    assert sorted(set(os.listdir(out)) - {"checkpoint.npz"}) == OUTPUTS
    assert len(os.listdir(out)) <= len(OUTPUTS) + 1
    doc = json.loads((out / "history.json").read_text())
    history = History.from_dict(doc["history"])
    assert history.iterations == iters
    assert len(history.train_acc) == len(history.test_acc) == len(history.epoch_iters) >= 1
    for name in ("loss.png", "accuracy.png"):
        data = (out / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and data.endswith(b"IEND\xaeB`\x82")
        import matplotlib.image

        image = matplotlib.image.imread(out / name)
        assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    with np.load(out / "params.npz", allow_pickle=False) as f:
        assert {k: f[k].shape for k in f.files} == {
            "W1": (784, hidden),
            "b1": (hidden,),
            "W2": (hidden, 10),
            "b2": (10,),
        }
    return doc


def test_numba_numerical_run_in_process(tmp_path, capsys):
    out = tmp_path / "out"
    rc = train_cli.main([*SMALL, "--iters", "60", "--threads", "1", "--out", str(out)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    doc = check_outputs(out, 60)
    stdout = captured.out
    assert "data: MNIST sample, 4,000 training / 1,000 test images" in stdout
    assert "network: TwoLayerNet 784-10-10 (7,960 parameters), backend numba, numerical" in stdout
    assert "1 thread" in stdout
    assert "compile: first numerical gradient call" in stdout
    # the wait is announced before it starts, then timed
    assert stdout.index("it compiles the kernels") < stdout.index("(JIT compilation or cache")
    assert "final accuracy: train" in stdout and "it/s" in stdout and "ms per numerical" in stdout
    run = doc["run"]
    assert run["network"] == "784-10-10" and run["backend"] == "numba"
    assert run["grad"] == "numerical" and run["data_kind"] == "sample"
    assert run["eval_every"] == 40  # 4,000 / 100: the book's epoch
    summary = run["summary"]
    assert summary["iterations"] == 60 and summary["first_gradient_call_s"] > 0
    assert summary["final_test_acc"] == doc["history"]["test_acc"][-1]
    assert doc["history"]["epoch_iters"] == [0, 40, 59]
    assert "train:" in captured.err  # the progress bar


def test_python_m_fastgrad_train(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "fastgrad", "train", *FAST, "--iters", "80", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # --quiet: no progress bar
    assert "final accuracy" in proc.stdout and "data:" not in proc.stdout
    doc = check_outputs(out, 80)
    assert doc["run"]["backend"] == "numpy"
    assert doc["run"]["summary"]["first_gradient_call_s"] is None


def test_same_seed_same_parameters_and_resume_continues_exactly(tmp_path):
    base = [*FAST, "--eval-every", "7"]
    assert train_cli.main([*base, "--iters", "50", "--out", str(tmp_path / "a")]) == 0
    ck = tmp_path / "ck" / "run.npz"
    first = [*base, "--checkpoint", str(ck), "--checkpoint-every", "10"]
    assert train_cli.main([*first, "--iters", "20", "--out", str(tmp_path / "b")]) == 0
    assert load_checkpoint(ck).iteration == 20
    assert train_cli.main([*first, "--iters", "50", "--resume", "--out", str(tmp_path / "c")]) == 0
    assert load_checkpoint(ck).iteration == 50
    with np.load(tmp_path / "a" / "params.npz") as a, np.load(tmp_path / "c" / "params.npz") as c:
        for k in ("W1", "b1", "W2", "b2"):
            assert_array_equal(a[k], c[k])
    ha = json.loads((tmp_path / "a" / "history.json").read_text())["history"]
    hc = json.loads((tmp_path / "c" / "history.json").read_text())["history"]
    for key in ("loss", "train_acc", "test_acc", "epoch_iters"):  # all but the timings
        assert ha[key] == hc[key], key
    assert ha["epoch_iters"] == [0, 7, 14, 21, 28, 35, 42, 49]  # not the first session's 19
    assert (
        train_cli.main([*base, "--seed", "1", "--iters", "50", "--out", str(tmp_path / "d")]) == 0
    )
    hd = json.loads((tmp_path / "d" / "history.json").read_text())["history"]
    assert hd["loss"] != ha["loss"]


@pytest.mark.parametrize(
    "argv",
    [
        ["--bogus"],
        ["--backend", "cuda"],
        ["--grad", "finite"],
        ["--data", "imagenet"],
        ["--lr", "fast"],
        ["--iters", "1.5"],
        ["--hidden"],
        ["--resume", "--no-checkpoint"],
        ["--checkpoint-every", "5", "--no-checkpoint"],
        ["--checkpoint", "ck.npz", "--no-checkpoint"],
    ],
)
def test_usage_errors_exit_2(argv, capsys, tmp_path):
    assert train_cli.main([*argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: fastgrad train") and "error:" in err
    assert not (tmp_path / "out").exists()


def test_dispatcher_and_help(capsys):
    assert cli.main(["train", "--bogus"]) == 2
    assert train_cli.main(["--help"]) == 0
    assert "--checkpoint-every" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--lr", "0"], "--lr must be a finite number > 0, got 0.0"),
        (["--lr", "-0.1"], "--lr must be a finite number > 0"),
        (["--lr", "nan"], "--lr must be a finite number > 0"),
        (["--batch-size", "0"], "--batch-size must be an integer >= 1, got 0"),
        (["--iters", "-5"], "--iters must be an integer >= 0"),
        (["--hidden", "0"], "--hidden must be an integer >= 1"),
        (["--threads", "0"], "--threads must be an integer >= 1"),
        (["--threads", "100000"], "--threads 100000 is more than this machine allows"),
        (["--eval-every", "0"], "--eval-every must be an integer >= 1"),
    ],
)
def test_bad_values_exit_1_with_one_line(argv, message, capsys, tmp_path):
    out = tmp_path / "out"
    assert train_cli.main([*FAST, *argv, "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("fastgrad train: error: ") and message in err
    assert err.count("\n") == 1
    assert not out.exists()  # nothing written, not even the folder


def test_unwritable_output_folder(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert train_cli.main([*FAST, "--iters", "5", "--out", str(blocker / "out")]) == 1
    err = capsys.readouterr().err
    assert "cannot write the outputs to" in err and err.count("\n") == 1
    assert blocker.read_text() == "not a folder"


def test_corrupt_data_files(tmp_path, capsys):
    data = tmp_path / "mnist"
    data.mkdir()
    for name in (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ):
        (data / name).write_bytes(b"\x00\x00\x08\x03 truncated")
    out = tmp_path / "out"
    argv = ["--data", "full", "--data-dir", str(data), "--quiet", "--out", str(out)]
    assert train_cli.main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("fastgrad train: error: cannot load MNIST:") and err.count("\n") == 1
    assert "train-images-idx3-ubyte" in err
    assert not out.exists()


def test_checkpoint_of_another_network_is_refused(tmp_path, capsys):
    ck = tmp_path / "ck.npz"
    argv = [*FAST, "--iters", "5", "--checkpoint", str(ck)]
    assert train_cli.main([*argv, "--out", str(tmp_path / "a")]) == 0
    before = ck.read_bytes()
    capsys.readouterr()
    out = tmp_path / "b"
    rc = train_cli.main([*argv, "--hidden", "12", "--resume", "--out", str(out)])
    assert rc == 1
    err = capsys.readouterr().err
    assert "is for a 784-10-10 network but the network being trained is 784-12-10" in err
    assert err.count("\n") == 1
    assert ck.read_bytes() == before
    assert not out.exists()  # the folder this run made is removed again


def test_corrupt_checkpoint(tmp_path, capsys):
    ck = tmp_path / "ck.npz"
    ck.write_bytes(b"PK\x03\x04 cut short")
    out = tmp_path / "out"
    rc = train_cli.main(
        [*FAST, "--iters", "5", "--checkpoint", str(ck), "--resume", "--out", str(out)]
    )
    assert rc == 1
    err = capsys.readouterr().err
    assert f"checkpoint {ck} is unreadable" in err and err.count("\n") == 1
    assert not out.exists()


def test_numba_resume_of_a_numpy_checkpoint_is_refused(tmp_path, capsys):
    """The backends round differently: resuming a numpy run on numba would end about 4e-12
    away from either uninterrupted run."""
    ck = tmp_path / "ck.npz"
    argv = [*FAST, "--iters", "5", "--checkpoint", str(ck)]
    assert train_cli.main([*argv, "--out", str(tmp_path / "a")]) == 0
    before = ck.read_bytes()
    capsys.readouterr()
    out = tmp_path / "b"
    rc = train_cli.main(
        [*argv, "--iters", "10", "--backend", "numba", "--resume", "--out", str(out)]
    )
    assert rc == 1
    err = capsys.readouterr().err
    assert err.startswith(
        f"fastgrad train: error: checkpoint {ck} was written with --backend "
        "numpy but this run has --backend numba; "
    )
    assert "resume with --backend numpy" in err
    assert err.count("\n") == 1
    assert ck.read_bytes() == before
    assert not out.exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (["--lr", "0.05"], "written with --lr 0.1 but this run has --lr 0.05"),
        (["--seed", "4"], "written with --seed 0 but this run has --seed 4"),
        (["--iters", "3"], "has 5 iterations done but this run asks for --iters 3; pass --iters 5"),
    ],
)
def test_resume_with_other_flags_is_refused(tmp_path, capsys, change, message):
    ck = tmp_path / "ck.npz"
    argv = [*FAST, "--iters", "5", "--checkpoint", str(ck)]
    assert train_cli.main([*argv, "--out", str(tmp_path / "a")]) == 0
    capsys.readouterr()
    assert train_cli.main([*argv, *change, "--resume", "--out", str(tmp_path / "b")]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


# -- MultiLayerNet and the book's optimizers (issue 10) --------------------------------------


def read_params(out: Path) -> dict:
    with np.load(out / "params.npz", allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def test_the_default_job_is_still_the_chapter_4_two_layer_net(tmp_path):
    """One --hidden value and none of the MultiLayerNet flags: TwoLayerNet, std 0.01, SGD
    with lr 0.1, initial weights from the first child of --seed."""
    import fastgrad

    ck = tmp_path / "ck.npz"
    argv = [*FAST, "--iters", "0", "--checkpoint", str(ck), "--out", str(tmp_path / "a")]
    assert train_cli.main(argv) == 0
    config = load_checkpoint(ck).config
    assert {k: config[k] for k in ("network", "activation", "weight_init", "optimizer", "lr")} == {
        "network": "TwoLayerNet",
        "activation": "sigmoid",
        "weight_init": 0.01,
        "optimizer": "sgd",
        "lr": 0.1,
    }
    rng = np.random.default_rng(np.random.SeedSequence(0).spawn(1)[0])
    book = fastgrad.TwoLayerNet(784, 10, 10, 0.01, rng=rng)
    params = read_params(tmp_path / "a")
    for k in ("W1", "b1", "W2", "b2"):
        assert_array_equal(params[k], book.params[k])
    run = json.loads((tmp_path / "a" / "history.json").read_text())["run"]
    assert run["architecture"]["class"] == "TwoLayerNet" and run["lr"] == 0.1


@pytest.mark.parametrize(
    ("flags", "hidden", "activation", "init", "decay"),
    [
        (["--hidden", "12,8"], [12, 8], "relu", "relu", 0.0),
        (["--hidden", "10", "--activation", "sigmoid"], [10], "sigmoid", "relu", 0.0),
        (["--hidden", "10", "--weight-init", "Xavier"], [10], "relu", "xavier", 0.0),
        (["--hidden", "10", "--weight-init", "0.05"], [10], "relu", 0.05, 0.0),
        (["--hidden", "10", "--weight-decay", "0.1"], [10], "relu", "relu", 0.1),
    ],
)
def test_multilayer_net_by_the_rule(tmp_path, capsys, flags, hidden, activation, init, decay):
    out = tmp_path / "out"
    argv = ["--data", "sample", "--backend", "numpy", "--grad", "backprop", "--iters", "3"]
    assert train_cli.main([*argv, *flags, "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    sizes = [784, *hidden, 10]
    shape = "-".join(map(str, sizes))
    assert f"network: MultiLayerNet {shape} {activation}, init {init}, weight decay {decay:g}" in (
        stdout
    )
    run = json.loads((out / "history.json").read_text())["run"]
    assert run["network"] == shape
    assert run["architecture"] == {
        "class": "MultiLayerNet",
        "hidden": hidden,
        "activation": activation,
        "weight_init": init,
        "weight_decay": decay,
    }
    params = read_params(out)
    assert {k: v.shape for k, v in params.items()} == {
        **{f"W{i}": (sizes[i - 1], sizes[i]) for i in range(1, len(sizes))},
        **{f"b{i}": (sizes[i],) for i in range(1, len(sizes))},
    }


@pytest.mark.parametrize(
    ("optimizer", "lr"),
    [("sgd", 0.1), ("momentum", 0.01), ("adagrad", 0.01), ("rmsprop", 0.01), ("adam", 0.001)],
)
def test_optimizers_and_their_default_lr(tmp_path, capsys, optimizer, lr):
    out = tmp_path / "out"
    argv = [*SMALL, "--backend", "numpy", "--grad", "backprop", "--hidden", "10,10"]
    argv += ["--iters", "3", "--optimizer", optimizer]
    assert train_cli.main([*argv, "--out", str(out)]) == 0
    assert f"optimizer {optimizer}, lr {lr}" in capsys.readouterr().out
    run = json.loads((out / "history.json").read_text())["run"]
    assert run["optimizer"] == optimizer and run["lr"] == lr
    assert train_cli.main([*argv, "--lr", "0.02", "--out", str(tmp_path / "b")]) == 0
    run = json.loads((tmp_path / "b" / "history.json").read_text())["run"]
    assert run["lr"] == 0.02


def test_multilayer_adam_resume_continues_exactly(tmp_path):
    base = [*FAST, "--hidden", "12,8", "--weight-decay", "0.01", "--optimizer", "adam"]
    base += ["--eval-every", "7"]
    assert train_cli.main([*base, "--iters", "30", "--out", str(tmp_path / "a")]) == 0
    ck = tmp_path / "run.npz"
    first = [*base, "--checkpoint", str(ck), "--checkpoint-every", "10"]
    assert train_cli.main([*first, "--iters", "15", "--out", str(tmp_path / "b")]) == 0
    assert train_cli.main([*first, "--iters", "30", "--resume", "--out", str(tmp_path / "c")]) == 0
    a, c = read_params(tmp_path / "a"), read_params(tmp_path / "c")
    assert list(a) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    for k in a:
        assert_array_equal(a[k], c[k])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ["--optimizer", "rmsprop"],
            "written with --optimizer adam but this run has --optimizer rmsprop",
        ),
        (["--lr", "0.01"], "written with --lr 0.001 but this run has --lr 0.01"),
        (
            ["--weight-decay", "0.2"],
            "written with --weight-decay 0.1 but this run has --weight-decay 0.2",
        ),
        (
            ["--activation", "sigmoid"],
            "written with --activation relu but this run has --activation sigmoid",
        ),
        (
            ["--weight-init", "he"],
            "written with --weight-init relu but this run has --weight-init he",
        ),
        (
            ["--hidden", "12,9"],
            "is for a 784-12-8-10 network but the network being trained is 784-12-9-10",
        ),
    ],
)
def test_resume_with_another_architecture_or_optimizer_is_refused(
    tmp_path, capsys, change, message
):
    ck = tmp_path / "ck.npz"
    argv = [*FAST, "--hidden", "12,8", "--weight-decay", "0.1", "--optimizer", "adam"]
    argv += ["--iters", "5", "--checkpoint", str(ck)]
    assert train_cli.main([*argv, "--out", str(tmp_path / "a")]) == 0
    capsys.readouterr()
    assert train_cli.main([*argv, *change, "--resume", "--out", str(tmp_path / "b")]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--hidden", "10,0"], "--hidden must be an integer >= 1, got 0"),
        (["--hidden", "10,,5"], "--hidden must be a comma list of integers >= 1"),
        (["--hidden", "ten"], "--hidden must be a comma list of integers >= 1"),
        (["--weight-init", "glorot"], "--weight-init must be one of relu, he, sigmoid, xavier"),
        (["--weight-init", "-1"], "--weight-init must be one of"),
        (["--weight-init", "inf"], "--weight-init must be one of"),
        (["--weight-decay", "-0.1"], "--weight-decay must be a finite number >= 0, got -0.1"),
        (["--weight-decay", "nan"], "--weight-decay must be a finite number >= 0"),
        (["--weight-decay", "inf"], "--weight-decay must be a finite number >= 0"),
        (["--optimizer", "adam", "--lr", "0"], "--lr must be a finite number > 0"),
    ],
)
def test_bad_multilayer_values_exit_1(argv, message, capsys, tmp_path):
    out = tmp_path / "out"
    assert train_cli.main([*FAST, *argv, "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("fastgrad train: error: ") and message in err
    assert err.count("\n") == 1
    assert not out.exists()


@pytest.mark.parametrize(
    "argv", [["--activation", "tanh"], ["--optimizer", "nesterov"], ["--weight-decay", "x"]]
)
def test_bad_multilayer_flags_exit_2(argv, capsys, tmp_path):
    assert train_cli.main([*argv, "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.startswith("usage: fastgrad train")


TRAIN_FLAGS = [
    "--data", "--data-dir", "--backend", "--scheduler", "--grad", "--hidden", "--activation",
    "--weight-init", "--weight-decay", "--optimizer", "--iters", "--batch-size", "--lr",
    "--seed", "--eval-every", "--threads", "--checkpoint", "--checkpoint-every", "--resume",
    "--no-checkpoint", "--out", "--quiet",
]  # fmt: skip


def test_help_lists_every_flag_and_every_optimizer(capsys):
    """--help exits 0 and names each flag and the optimizers to choose from (its wording is
    free; the network rule it states is tested by behaviour above)."""
    assert train_cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for flag in TRAIN_FLAGS:
        assert flag in out, flag
    for name in OPTIMIZERS:
        assert name in out, name


# -- no silent wrong answers (issue 18): a wrong run ends with one line, not a traceback ----


def run_cli(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``python -m fastgrad train *argv`` in a subprocess, with ``env`` added to the
    environment; a hang fails instead of blocking."""
    return subprocess.run(
        [sys.executable, "-m", "fastgrad", "train", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        env=None if env is None else {**os.environ, **env},
    )


def assert_one_line_error(proc: subprocess.CompletedProcess, *phrases: str) -> str:
    """Exit status 1 and exactly one line on stderr, the error, holding each of ``phrases``."""
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("fastgrad train: error: "), proc.stderr
    for phrase in phrases:
        assert phrase in lines[0]
    return lines[0]


def test_resume_from_a_checkpoint_with_nan_parameters(tmp_path):
    ck = tmp_path / "ck.npz"
    argv = [*FAST, "--iters", "5", "--checkpoint", str(ck)]
    assert train_cli.main([*argv, "--out", str(tmp_path / "a")]) == 0
    with np.load(ck) as f:
        arrays = {k: f[k] for k in f.files}
    arrays["W1"][3, 2] = np.nan
    np.savez(ck, **arrays)
    out = tmp_path / "b"
    proc = run_cli(*argv, "--iters", "10", "--resume", "--out", str(out))
    assert_one_line_error(proc, f"checkpoint {ck}", "W1", "NaN or infinite", "delete it")
    assert not out.exists()


def test_a_learning_rate_that_diverges_is_one_line(tmp_path):
    """lr 1e300: the first update throws the parameters far beyond what the numerical
    gradient's step h = 1e-4 can nudge; the run stops there, with the iteration and a hint."""
    out = tmp_path / "out"
    ck = tmp_path / "ck.npz"
    argv = [*SMALL, "--backend", "numpy", "--grad", "numerical", "--batch-size", "5", "--quiet"]
    argv += ["--iters", "3", "--lr", "1e300", "--checkpoint", str(ck), "--out", str(out)]
    proc = run_cli(*argv)
    line = assert_one_line_error(
        proc, "training diverged at iteration 1 of 3", "too large for the numerical gradient"
    )
    assert "lower --lr (this run has --lr 1e+300)" in line
    assert " h=" not in line.split("diverged")[0]  # the cause comes first, not h's complaint
    assert not out.exists() and not ck.exists()


def test_too_many_threads_names_the_limit_and_what_to_pass(tmp_path):
    import numba

    limit = numba.config.NUMBA_NUM_THREADS
    out = tmp_path / "out"
    proc = run_cli(*FAST, "--iters", "3", "--threads", str(limit + 1), "--out", str(out))
    line = assert_one_line_error(
        proc, f"--threads {limit + 1}", f"at most {limit} thread", f"--threads {limit} or fewer"
    )
    assert "importing" not in line  # the advice of the Python API, not the command line's
    assert not out.exists()


def test_too_many_threads_says_when_the_environment_sets_the_limit(tmp_path):
    out = tmp_path / "out"
    argv = [*FAST, "--iters", "3", "--threads", "2", "--out", str(out)]
    proc = run_cli(*argv, env={"NUMBA_NUM_THREADS": "1"})
    assert_one_line_error(
        proc, "at most 1 thread here (NUMBA_NUM_THREADS in the environment sets it)"
    )


@pytest.mark.parametrize("data", ["auto", "full", "sample"])
def test_a_data_dir_that_does_not_exist_is_an_error(tmp_path, data):
    missing = tmp_path / "no-such-folder"
    out = tmp_path / "out"
    argv = ["--data", data, "--data-dir", str(missing), "--hidden", "10", "--backend", "numpy"]
    proc = run_cli(*argv, "--grad", "backprop", "--quiet", "--iters", "3", "--out", str(out))
    assert_one_line_error(proc, f"--data-dir {missing} does not exist")
    assert not missing.exists() and not out.exists()


def test_a_data_dir_that_is_a_file_is_an_error(tmp_path):
    a_file = tmp_path / "mnist.gz"
    a_file.write_bytes(b"not a folder")
    proc = run_cli(*FAST, "--data-dir", str(a_file), "--iters", "3", "--out", str(tmp_path / "o"))
    assert_one_line_error(proc, f"--data-dir {a_file} is not a folder")


def test_progress_bar_ends_on_the_summarys_figures(tmp_path, capsys):
    # 60 iterations, an evaluation every 40: the last one the schedule makes is after
    # iteration 40, and the closing evaluation after iteration 59 is the summary's. The bar's
    # last refresh (when it closes) must show the closing figures, not iteration 40's.
    argv = [*SMALL, "--activation", "relu", "--backend", "numpy", "--grad", "backprop"]
    assert train_cli.main([*argv, "--iters", "60", "--out", str(tmp_path / "out")]) == 0
    captured = capsys.readouterr()
    doc = json.loads((tmp_path / "out" / "history.json").read_text())
    history = doc["history"]
    assert history["epoch_iters"] == [0, 40, 59]
    # the run must tell the two apart, else the test proves nothing
    assert (history["train_acc"][1], history["test_acc"][1]) != (
        history["train_acc"][2],
        history["test_acc"][2],
    )
    last_refresh = captured.err.replace("\r", "\n").strip().splitlines()[-1]
    summary = doc["run"]["summary"]
    train_acc, test_acc = summary["final_train_acc"], summary["final_test_acc"]
    assert f"loss={history['loss'][-1]:.4f} train={train_acc:.4f} test={test_acc:.4f}" in (
        last_refresh
    )
    assert f"final accuracy: train {train_acc:.4f}, test {test_acc:.4f}" in captured.out


def test_plots_describe_the_run_and_count_real_epochs(tmp_path):
    from PIL import Image

    from fastgrad.cli._train_outputs import accuracy_figure, loss_figure

    # A chapter-6 Adam run, batch 300 of 4,000 images: an epoch is 13.33 iterations, which
    # the book's integer iters_per_epoch (13) would round.
    out = tmp_path / "out"
    argv = [*FAST, "--hidden", "12,8", "--optimizer", "adam", "--batch-size", "300"]
    assert train_cli.main([*argv, "--iters", "30", "--eval-every", "10", "--out", str(out)]) == 0
    doc = json.loads((out / "history.json").read_text())
    history = History.from_dict(doc["history"])
    assert history.epoch_iters == [0, 10, 20, 29]
    words = "MultiLayerNet 784-12-8-10, Adam lr 0.001"
    titles = {name: Image.open(out / name).info["Title"] for name in ("loss.png", "accuracy.png")}
    assert titles == {"loss.png": f"Training loss: {words}", "accuracy.png": f"Accuracy: {words}"}

    ax = accuracy_figure(history, doc["run"], 4000).axes[0]
    assert ax.get_title() == f"Accuracy: {words}"
    assert ax.get_xlabel() == "epochs (iterations × batch 300 / 4,000 training images)"
    # images drawn / training images after iterations 1, 11, 21 and 30: 30 x 300 = 2.25 x 4,000
    for line in ax.get_lines():
        np.testing.assert_allclose(line.get_xdata(), [0.075, 0.825, 1.575, 2.25])
    ax = loss_figure(history, doc["run"]).axes[0]
    assert (ax.get_title(), ax.get_xlabel()) == (f"Training loss: {words}", "iteration")
    assert_array_equal(ax.get_lines()[0].get_xdata(), np.arange(30))


def test_the_output_folder_is_named_before_and_after(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = [*SMALL, "--backend", "numpy", "--grad", "backprop", "--iters", "5"]
    assert train_cli.main(argv) == 0  # the default --out, ./fastgrad-out
    lines = capsys.readouterr().out.splitlines()
    folder = Path.cwd() / "fastgrad-out"
    assert lines[1] == (
        f"output: writing to {folder}: history.json, loss.png, accuracy.png, params.npz at "
        "the end, checkpoint.npz during the run (the default --out; --out DIR writes elsewhere)"
    )
    written = "history.json, loss.png, accuracy.png, params.npz, checkpoint.npz"
    assert lines[-1] == f"wrote to {folder}: {written}"
    assert sorted(os.listdir(folder)) == sorted(written.split(", "))

    # another folder, the checkpoint elsewhere; and --quiet keeps only the closing lines
    ck = Path.cwd() / "ck" / "run.npz"
    more = ["--out", "runs/../runs/a", "--checkpoint", "ck/run.npz"]
    assert train_cli.main([*argv, *more]) == 0
    lines = capsys.readouterr().out.splitlines()
    folder = Path.cwd() / "runs" / "a"
    assert lines[1] == (
        f"output: writing to {folder}: history.json, loss.png, accuracy.png, params.npz at "
        f"the end; the checkpoint to {ck}"
    )
    closing = f"wrote to {folder}: {OUTPUTS_IN_ORDER}; the checkpoint to {ck}"
    assert lines[-1] == closing
    assert train_cli.main([*argv, *more, "--quiet", "--resume", "--iters", "6"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert not any(line.startswith("output:") for line in lines)
    assert lines[-1] == closing


def test_an_adaptive_run_says_where_its_threads_settled(tmp_path, capsys, monkeypatch):
    # the plan says the count adapts, a change is reported above the bar, and the summary
    # and history.json give the count the gradient settled on; the adaptive policy itself is
    # tested in test_threads.py, so the settled counts are given here
    counts = iter([2] * 5 + [1] * 100)
    monkeypatch.setattr(train_cli, "settled", lambda: next(counts))
    out = tmp_path / "out"
    rc = train_cli.main([*SMALL, "--iters", "20", "--out", str(out)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    limit = train_cli.numba.config.NUMBA_NUM_THREADS
    assert f"threads adapting between 1 and {limit}" in captured.out
    assert captured.out.count("threads: 1 from iteration 6") == 1
    assert "threads: 2" not in captured.out  # the starting count is not a change
    assert "; threads settled on 1" in captured.out
    run = json.loads((out / "history.json").read_text())["run"]
    assert run["threads"] == "adaptive" and run["summary"]["threads_settled"] == 1


def test_a_fixed_thread_count_reports_no_settling(tmp_path, capsys):
    out = tmp_path / "out"
    rc = train_cli.main([*SMALL, "--iters", "5", "--threads", "1", "--out", str(out)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "threads settled" not in captured.out and "threads:" not in captured.out
    run = json.loads((out / "history.json").read_text())["run"]
    assert run["threads"] == 1 and run["summary"]["threads_settled"] is None
