"""``fastgrad train`` survives an interruption (issue 21): it checkpoints into ``--out`` by
default; SIGINT and SIGTERM stop it after the iteration in progress, write the last
checkpoint and print the command that resumes (exit status 130 and 143); the resumed run ends
with the parameters of an uninterrupted one, bit for bit.

Each interrupted run is ``python -m fastgrad train`` in a subprocess, signalled once its first
checkpoint exists (so it is a few iterations in, far from its end); every wait is bounded.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from fastgrad.cli import train as train_cli
from fastgrad.training import load_checkpoint

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

SMALL = ["--data", "sample", "--hidden", "10", "--quiet"]
#: numpy backprop with small batches: milliseconds per iteration.
NUMPY = [*SMALL, "--backend", "numpy", "--grad", "backprop", "--batch-size", "20"]
NUMPY_RUN = [*NUMPY, "--iters", "1500", "--eval-every", "500", "--checkpoint-every", "20"]
#: numba numerical gradients: most of each iteration is spent inside a compiled kernel, where
#: a KeyboardInterrupt used to end the run in a SystemError.
NUMBA_RUN = [*SMALL, "--threads", "1", "--iters", "300", "--eval-every", "100"]
NUMBA_RUN = [*NUMBA_RUN, "--checkpoint-every", "5"]
TIMEOUT = 180


def final_params(out: Path) -> dict[str, np.ndarray]:
    with np.load(out / "params.npz") as f:
        return {k: f[k] for k in f.files}


def run_and_signal(argv: list[str], out: Path, signum: int) -> tuple[int, str, str]:
    """Start ``python -m fastgrad train *argv --out out``, send ``signum`` once the first
    checkpoint is in ``out``, and return the exit status, stdout and stderr."""
    ck = out / "checkpoint.npz"
    with open(out.parent / "stdout", "w+") as so, open(out.parent / "stderr", "w+") as se:
        proc = subprocess.Popen(
            [sys.executable, "-m", "fastgrad", "train", *argv, "--out", str(out)],
            stdout=so,
            stderr=se,
        )
        try:
            deadline = time.monotonic() + TIMEOUT
            while not ck.exists():
                if proc.poll() is not None:
                    se.seek(0)
                    pytest.fail(f"the run ended before its first checkpoint: {se.read()}")
                if time.monotonic() > deadline:
                    pytest.fail("no checkpoint appeared")
                time.sleep(0.01)
            proc.send_signal(signum)
            rc = proc.wait(timeout=TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        so.seek(0)
        se.seek(0)
        return rc, so.read(), se.read()


def run_command(command: str) -> subprocess.CompletedProcess:
    """The printed ``fastgrad train ...`` command, run as ``python -m fastgrad train ...``."""
    words = shlex.split(command)
    assert words[:2] == ["fastgrad", "train"], command
    return subprocess.run(
        [sys.executable, "-m", "fastgrad", *words[1:]],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def check_interrupted(rc: int, err: str, status: int, name: str, out: Path, iters: int) -> str:
    """Exit status ``status``, one line on stderr naming the signal and the checkpoint and
    ending with the resume command, which it returns; the checkpoint holds 0 < k < iters."""
    assert rc == status, err
    assert "Traceback" not in err and "Error" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1, err  # --quiet: no progress bar
    ck = out / "checkpoint.npz"
    assert lines[0].startswith(f"fastgrad train: stopped by {name} after iteration "), err
    assert f"checkpoint written to {ck}; resume with: fastgrad train " in lines[0], err
    done = load_checkpoint(ck).iteration
    assert 0 < done < iters
    assert f"after iteration {done:,} of {iters:,};" in lines[0]
    assert not (out / "params.npz").exists()  # the outputs are a finished run's
    return lines[0].split("resume with: ", 1)[1]


def test_sigint_inside_numba_kernels_then_the_printed_command_resumes_exactly(tmp_path):
    straight = tmp_path / "straight"
    assert train_cli.main([*NUMBA_RUN, "--out", str(straight)]) == 0
    out = tmp_path / "out"
    rc, _, err = run_and_signal(NUMBA_RUN, out, signal.SIGINT)
    command = check_interrupted(rc, err, 130, "SIGINT", out, 300)
    assert command == shlex.join(["fastgrad", "train", *NUMBA_RUN, "--out", str(out), "--resume"])
    resumed = run_command(command)
    assert resumed.returncode == 0, resumed.stderr
    assert load_checkpoint(out / "checkpoint.npz").iteration == 300
    a, b = final_params(straight), final_params(out)
    assert a.keys() == b.keys() == {"W1", "b1", "W2", "b2"}
    for key in a:
        assert_array_equal(a[key], b[key])


def test_sigterm_then_resume_without_a_path_continues_exactly(tmp_path):
    straight = tmp_path / "straight"
    assert train_cli.main([*NUMPY_RUN, "--out", str(straight)]) == 0
    out = tmp_path / "out"
    rc, _, err = run_and_signal(NUMPY_RUN, out, signal.SIGTERM)
    check_interrupted(rc, err, 143, "SIGTERM", out, 1500)
    assert train_cli.main([*NUMPY_RUN, "--out", str(out), "--resume"]) == 0
    a, b = final_params(straight), final_params(out)
    for key in a:
        assert_array_equal(a[key], b[key])


def test_no_checkpoint_stops_cleanly_with_nothing_to_resume(tmp_path):
    out = tmp_path / "out"
    argv = [a for a in NUMPY if a != "--quiet"]
    argv += ["--iters", "100000", "--no-checkpoint", "--out", str(out)]
    assert "--quiet" not in argv  # the progress bar tells that training is under way
    with open(tmp_path / "stderr", "w+") as se:
        proc = subprocess.Popen(
            [sys.executable, "-m", "fastgrad", "train", *argv], stdout=subprocess.DEVNULL, stderr=se
        )
        try:
            deadline = time.monotonic() + TIMEOUT
            while "loss=" not in (tmp_path / "stderr").read_text():
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.01)
            proc.send_signal(signal.SIGINT)
            rc = proc.wait(timeout=TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        err = (tmp_path / "stderr").read_text()
    assert rc == 130, err
    assert "Traceback" not in err and "Error" not in err, err
    last = err.splitlines()[-1]
    assert last.startswith("fastgrad train: stopped by SIGINT after iteration "), err
    assert last.endswith("; no checkpoint (--no-checkpoint), nothing to resume from"), err
    assert os.listdir(out) == []


def test_a_finished_run_leaves_its_checkpoint_in_the_output_folder(tmp_path):
    out = tmp_path / "out"
    assert train_cli.main([*NUMPY, "--iters", "30", "--out", str(out)]) == 0
    assert load_checkpoint(out / "checkpoint.npz").iteration == 30
    # --resume without a path: the output folder's checkpoint, extended to 50
    assert train_cli.main([*NUMPY, "--iters", "50", "--out", str(out), "--resume"]) == 0
    assert load_checkpoint(out / "checkpoint.npz").iteration == 50
    assert train_cli.main([*NUMPY, "--iters", "50", "--out", str(tmp_path / "s")]) == 0
    a, b = final_params(tmp_path / "s"), final_params(out)
    for key in a:
        assert_array_equal(a[key], b[key])
    none = tmp_path / "none"
    assert train_cli.main([*NUMPY, "--iters", "5", "--no-checkpoint", "--out", str(none)]) == 0
    assert not (none / "checkpoint.npz").exists()
