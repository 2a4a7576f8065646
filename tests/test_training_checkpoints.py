"""fastgrad.training's checkpoints (``_checkpoint``): the file, the resume rules, and resumed
runs that end bit for bit where uninterrupted ones do, after a crash, a callback's stop or a
SIGKILL of the process."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import random
import runpy
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import fastgrad
from fastgrad._files import write_atomically
from fastgrad.training import (
    CheckpointError,
    History,
    StopTraining,
    _checkpoint,
    load_checkpoint,
)

from .test_training import (
    FAST,
    N_HIDDEN,
    N_IN,
    N_OUT,
    PARAMS,
    TIMINGS,
    assert_same_history,
    assert_same_params,
    deep_net,
    make_problem,
    new_net,
    run,
)


@pytest.fixture(scope="module")
def problem():
    return make_problem()


def test_checkpoint_contents(problem, tmp_path):
    ck = tmp_path / "run.npz"
    net, h = run(problem, iters=20, checkpoint=ck, checkpoint_every=7)
    c = load_checkpoint(ck)
    assert c.iteration == 20 and c.shape == (N_IN, N_HIDDEN, N_OUT)
    assert_same_params(c.params, net.params)
    assert c.history.loss == h.loss and c.history.epoch_iters == h.epoch_iters
    assert c.config["lr"] == FAST["lr"] and c.config["seed"] == FAST["seed"]
    assert c.rng_state["bit_generator"] == "PCG64"
    with np.load(ck, allow_pickle=False) as f:  # plain arrays, no pickles
        assert sorted(f.files) == sorted(["meta", *PARAMS])
    assert sorted(os.listdir(tmp_path)) == ["run.npz"]  # no temporary files left


def checkpoints_written(problem, ck, **kwargs) -> list[int]:
    """Run with checkpoint ``ck``; the iteration of each checkpoint written, in order. Each
    write replaces the file (a new inode); a callback sees the writes of the iterations
    before its own (the checkpointer runs after the users' callbacks), the last after train."""
    written, inode = [], None

    def look():
        nonlocal inode
        if ck.exists() and ck.stat().st_ino != inode:
            inode = ck.stat().st_ino
            written.append(load_checkpoint(ck).iteration)

    run(problem, checkpoint=ck, callbacks=lambda i, h, n: look(), **kwargs)
    look()
    return written


def test_checkpoint_every_k_iterations(problem, tmp_path):
    written = checkpoints_written(problem, tmp_path / "c.npz", iters=20, checkpoint_every=6)
    assert written == [6, 12, 18, 20]
    # default: each epoch (300 rows / batch 20 = 15 iterations)
    assert checkpoints_written(problem, tmp_path / "d.npz", iters=20) == [15, 20]


class Crash(Exception):
    """Stands for a crash: not StopTraining, so train() propagates it without a final save."""


def crash_at(n):
    def callback(i, history, net):
        if i == n:
            raise Crash

    return callback


@pytest.mark.parametrize(("backend", "grad"), [("numpy", "backprop"), ("numba", "numerical")])
def test_resume_after_a_crash_gives_identical_parameters(problem, tmp_path, backend, grad):
    ck = tmp_path / "ck.npz"
    kw = {"iters": 50, "grad": grad, "checkpoint_every": 8}
    with pytest.raises(Crash):
        run(problem, new_net(backend), checkpoint=ck, callbacks=[crash_at(37)], **kw)
    assert load_checkpoint(ck).iteration == 32
    resumed_net = new_net(backend, seed=99)  # other initial weights: the checkpoint wins
    _, resumed = run(problem, resumed_net, checkpoint=ck, resume=True, **kw)
    straight_net, straight = run(problem, new_net(backend), iters=50, grad=grad)
    assert_same_params(resumed_net.params, straight_net.params)
    assert_same_history(resumed, straight)


def test_resume_without_a_file_starts_afresh_and_a_finished_run_does_nothing(problem, tmp_path):
    ck = tmp_path / "new.npz"
    net1, h1 = run(problem, iters=10, checkpoint=ck, resume=True)
    assert load_checkpoint(ck).iteration == 10
    net2 = new_net(seed=5)
    calls = []
    _, h2 = run(
        problem, net2, iters=10, checkpoint=ck, resume=True, callbacks=lambda *a: calls.append(a)
    )
    assert calls == [] and h2.loss == h1.loss
    assert_same_params(net2.params, net1.params)


def test_resume_can_extend_a_run(problem, tmp_path):
    ck = tmp_path / "ck.npz"
    _, first = run(problem, iters=20, checkpoint=ck)
    assert first.epoch_iters == [0, 15, 19]  # the closing evaluation describes what it returns
    assert load_checkpoint(ck).history.epoch_iters == [0, 15, 19]  # and so does the file
    net, h = run(problem, iters=45, checkpoint=ck, resume=True)
    straight, hs = run(problem, iters=45)
    assert_same_params(net.params, straight.params)
    assert_same_history(h, hs)  # iteration 19 is no longer the last: its evaluation goes
    assert h.epoch_iters == [0, 15, 30, 44]


def test_resume_with_another_network_shape_is_refused(problem, tmp_path):
    ck = tmp_path / "ck.npz"
    run(problem, iters=5, checkpoint=ck)
    before = ck.read_bytes()
    net = new_net(hidden=4)
    init = {k: v.copy() for k, v in net.params.items()}
    with pytest.raises(
        CheckpointError, match="is for a 6-5-3 network but the network being trained is 6-4-3"
    ):
        run(problem, net, iters=10, checkpoint=ck, resume=True)
    assert ck.read_bytes() == before
    assert_same_params(net.params, init)


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"lr": 0.5}, "lr"),
        ({"batch_size": 10}, "batch_size"),
        ({"grad": "numerical"}, "grad"),
        ({"seed": 4}, "seed"),
        ({"eval_every": 3}, "eval_every"),
    ],
)
def test_resume_with_other_settings_is_refused(problem, tmp_path, kwargs, key):
    ck = tmp_path / "ck.npz"
    run(problem, iters=5, checkpoint=ck)
    with pytest.raises(CheckpointError, match=f"written with {key}="):
        run(problem, iters=10, checkpoint=ck, resume=True, **kwargs)


@pytest.mark.parametrize("how", ["return", "raise"])
@pytest.mark.parametrize(("stop_at", "checkpoint_every"), [(12, None), (12, 5), (15, 4), (0, 7)])
def test_resume_after_a_callback_stop_has_the_uninterrupted_history(
    problem, tmp_path, how, stop_at, checkpoint_every
):
    """Run to k, stopped by a callback, then resume to N: the history and parameters are those
    of a run straight to N. The stop's closing evaluation (of iteration k when it is not on
    the schedule) is dropped on resume."""
    ck = tmp_path / "ck.npz"

    def stop(i, history, net):
        if i == stop_at:
            if how == "raise":
                raise StopTraining
            return True
        return None

    kw = {"iters": 50, "checkpoint": ck, "checkpoint_every": checkpoint_every}
    stopped_net, stopped = run(problem, callbacks=stop, **kw)
    assert stopped.iterations == stop_at + 1 and stopped.epoch_iters[-1] == stop_at
    saved = load_checkpoint(ck)
    assert saved.iteration == stop_at + 1
    assert_same_history(saved.history, stopped)  # the file describes its parameters
    assert_same_params(saved.params, stopped_net.params)

    net, resumed = run(problem, new_net(seed=99), resume=True, **kw)
    straight_net, straight = run(problem, iters=50)
    assert_same_params(net.params, straight_net.params)
    assert_same_history(resumed, straight)
    assert_same_history(load_checkpoint(ck).history, straight)


@pytest.mark.parametrize("checkpoint_every", [1, 6, 15])
def test_resume_after_a_crash_has_the_uninterrupted_history(problem, tmp_path, checkpoint_every):
    ck = tmp_path / "ck.npz"
    kw = {"iters": 47, "checkpoint": ck, "checkpoint_every": checkpoint_every}
    with pytest.raises(Crash):
        run(problem, callbacks=crash_at(33), **kw)
    _, resumed = run(problem, resume=True, **kw)
    _, straight = run(problem, iters=47)
    assert_same_history(resumed, straight)


def test_a_finished_run_keeps_its_closing_evaluation_on_resume(problem, tmp_path):
    ck = tmp_path / "ck.npz"
    _, h = run(problem, iters=20, checkpoint=ck)
    _, again = run(problem, iters=20, checkpoint=ck, resume=True)
    assert_same_history(again, h)
    assert again.epoch_iters == [0, 15, 19]


def test_resume_under_another_backend_is_refused(problem, tmp_path):
    """numpy and numba round differently: a numpy checkpoint resumed on numba would give a run
    that neither backend gives."""
    ck = tmp_path / "ck.npz"
    run(problem, iters=10, checkpoint=ck)
    before = ck.read_bytes()
    net = new_net("numba")
    init = {k: v.copy() for k, v in net.params.items()}
    with pytest.raises(CheckpointError) as info:
        run(problem, net, iters=20, checkpoint=ck, resume=True)
    message = str(info.value)
    assert (
        f"checkpoint {ck} was written with backend='numpy' but this run has backend='numba'"
    ) in message
    assert "resume with backend='numpy', or use another checkpoint path" in message
    assert (info.value.field, info.value.old, info.value.new) == ("backend", "numpy", "numba")
    assert ck.read_bytes() == before
    assert_same_params(net.params, init)


def test_the_twin_classes_are_different_backends(problem, tmp_path):
    """Networks without a backend attribute are told apart by their class."""
    ck = tmp_path / "ck.npz"
    run(problem, fastgrad.reference.TwoLayerNet(N_IN, N_HIDDEN, N_OUT), iters=10, checkpoint=ck)
    with pytest.raises(
        CheckpointError,
        match="written with backend='fastgrad.reference.nets"
        r"\.TwoLayerNet' but this run has backend='fastgrad.kernels.nets",
    ):
        run(
            problem,
            fastgrad.kernels.TwoLayerNet(N_IN, N_HIDDEN, N_OUT),
            iters=20,
            checkpoint=ck,
            resume=True,
        )


def _nudge_x(x):
    x = x.copy()
    x[7, 2] = np.nextafter(x[7, 2], np.float32(1))
    return x


def _relabel(t):
    t = t.copy()
    t[5] = (t[5] + 1) % N_OUT
    return t


@pytest.mark.parametrize(
    ("index", "change", "match"),
    [
        (0, _nudge_x, "data_sha256="),
        (1, _relabel, "data_sha256="),
        (2, _nudge_x, "data_sha256="),
        (3, _relabel, "data_sha256="),
        (0, lambda x: x.astype(np.float64), "data_sha256="),  # other dtype, other rounding
        (0, lambda x: x[::-1], "data_sha256="),  # same rows, another order
        (0, lambda x: x[:-1], "n_train=300"),
        (2, lambda x: x[:-1], "n_test=100"),
    ],
)
def test_resume_on_other_data_is_refused(problem, tmp_path, index, change, match):
    ck = tmp_path / "ck.npz"
    run(problem, iters=10, checkpoint=ck)
    data = list(problem)
    data[index] = change(data[index])
    if data[0].shape[0] != data[1].shape[0]:
        data[1] = data[1][: data[0].shape[0]]
    if data[2].shape[0] != data[3].shape[0]:
        data[3] = data[3][: data[2].shape[0]]
    with pytest.raises(CheckpointError, match=f"was written with {match}") as info:
        run(tuple(data), iters=20, checkpoint=ck, resume=True)
    assert "resume on the same data, or use another checkpoint path" in str(info.value)
    assert info.value.field in ("data_sha256", "n_train", "n_test")


def test_one_hot_targets_resume_a_run_on_labels(problem, tmp_path):
    """One-hot rows and labels train alike, so they are the same data."""
    x, t, xt, tt = problem
    eye = np.eye(N_OUT)
    ck = tmp_path / "ck.npz"
    run(problem, iters=20, checkpoint=ck)
    net, h = run((x, eye[t], xt, eye[tt].astype(np.float32)), iters=40, checkpoint=ck, resume=True)
    straight, hs = run(problem, iters=40)
    assert_same_params(net.params, straight.params)
    assert_same_history(h, hs)


def test_data_is_fingerprinted_once_per_call(problem, tmp_path, monkeypatch):
    calls = []
    real = _checkpoint.data_fingerprint
    monkeypatch.setattr(
        _checkpoint, "data_fingerprint", lambda arrays: calls.append(1) or real(arrays)
    )
    run(problem, iters=12, checkpoint=tmp_path / "ck.npz", checkpoint_every=1)
    assert len(calls) == 1
    run(problem, iters=12)  # no checkpoint: nothing to record
    assert len(calls) == 1


@pytest.mark.parametrize("name", ["fastgrad", "numpy", "numba"])
def test_resume_under_other_library_versions_is_refused(problem, tmp_path, monkeypatch, name):
    ck = tmp_path / "ck.npz"
    run(problem, iters=10, checkpoint=ck)
    recorded = load_checkpoint(ck).config[f"{name}_version"]
    assert (
        recorded
        == {
            "fastgrad": fastgrad.__version__,
            "numpy": np.__version__,
            "numba": __import__("numba").__version__,
        }[name]
    )
    real = _checkpoint.versions
    monkeypatch.setattr(_checkpoint, "versions", lambda: {**real(), f"{name}_version": "99.0"})
    with pytest.raises(CheckpointError) as info:
        run(problem, iters=20, checkpoint=ck, resume=True)
    assert (
        f"was written with {name} {recorded} but this run has {name} 99.0; results are "
        f"bitwise identical only with the same versions; finish the run with {name} "
        f"{recorded}"
    ) in str(info.value)
    assert info.value.field == f"{name}_version"


def test_checkpoint_records_what_decides_the_run(problem, tmp_path):
    ck = tmp_path / "ck.npz"
    run(problem, iters=10, checkpoint=ck, eval_every=4)
    config = load_checkpoint(ck).config
    assert {
        k: config[k]
        for k in (
            "backend",
            "grad",
            "lr",
            "batch_size",
            "eval_every",
            "seed",
            "n_train",
            "n_test",
            "iters",
        )
    } == {
        "backend": "numpy",
        "grad": "backprop",
        "lr": 1.0,
        "batch_size": 20,
        "eval_every": 4,
        "seed": 3,
        "n_train": 300,
        "n_test": 100,
        "iters": 10,
    }
    assert len(config["data_sha256"]) == 64
    with np.load(ck) as f:
        meta = json.loads(f["meta"].tobytes())
    assert meta["version"] == 3


def _rewrite_meta(path, **changes):
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(arrays.pop("meta").tobytes())
    meta.update(changes)
    np.savez(path, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), **arrays)


def test_checkpoint_of_the_old_format_is_refused(problem, tmp_path):
    ck = tmp_path / "ck.npz"
    run(problem, iters=10, checkpoint=ck)
    _rewrite_meta(ck, version=1)
    with pytest.raises(
        CheckpointError,
        match=f"checkpoint {ck} has format version 1, written "
        "by an older fastgrad .* cannot be resumed as the same run; delete it",
    ):
        run(problem, iters=20, checkpoint=ck, resume=True)
    _rewrite_meta(ck, version=4)
    with pytest.raises(CheckpointError, match="unsupported checkpoint version 4"):
        load_checkpoint(ck)


def test_resume_with_fewer_iterations_than_done_is_refused(problem, tmp_path):
    ck = tmp_path / "ck.npz"
    run(problem, iters=20, checkpoint=ck)
    with pytest.raises(
        CheckpointError,
        match="has 20 iterations done but this run asks for iters=10; .* pass iters >= 20",
    ) as info:
        run(problem, iters=10, checkpoint=ck, resume=True)
    assert (info.value.field, info.value.old, info.value.new) == ("iters", 20, 10)


def test_resume_with_an_integer_seed_after_another_kind_is_refused(problem, tmp_path):
    ck = tmp_path / "ck.npz"
    run(problem, iters=20, checkpoint=ck, seed=np.random.default_rng(3))
    with pytest.raises(CheckpointError, match="written with seed=None but this run has seed=3"):
        run(problem, iters=40, checkpoint=ck, resume=True, seed=3)
    # A generator again: the checkpoint's state carries on, as the run it continues.
    net, h = run(problem, iters=40, checkpoint=ck, resume=True, seed=np.random.default_rng(8))
    straight, hs = run(problem, iters=40, seed=np.random.default_rng(3))
    assert_same_params(net.params, straight.params)
    assert_same_history(h, hs)


def test_a_failed_write_leaves_the_old_checkpoint(problem, tmp_path, monkeypatch):
    ck = tmp_path / "ck.npz"
    run(problem, iters=10, checkpoint=ck)
    before = ck.read_bytes()

    def half_then_fail(file, **arrays):
        file.write(b"PK\x03\x04 half a zip")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", half_then_fail)
    with pytest.raises(OSError, match="No space"):
        run(problem, iters=20, checkpoint=ck, resume=True)
    assert ck.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["ck.npz"]


def test_an_interrupted_write_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "f.bin"

    def interrupted(f):
        f.write(b"abc")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomically(target, interrupted)
    assert os.listdir(tmp_path) == []
    write_atomically(target, lambda f: f.write(b"done"))
    assert target.read_bytes() == b"done" and os.listdir(tmp_path) == ["f.bin"]


def _truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _bit_flipped(data: bytes) -> bytes:
    i = data.index(b"W1.npy") + 250  # inside W1's stored values: caught by the zip CRC
    return data[:i] + bytes([data[i] ^ 0x40]) + data[i + 1 :]


@pytest.mark.parametrize(
    ("corrupt", "match"),
    [
        (_truncated, "corrupt or truncated"),
        (_bit_flipped, "corrupt or truncated"),
        (lambda data: b"", "corrupt or truncated"),
        (lambda data: b"not a checkpoint at all", "corrupt or truncated"),
    ],
)
def test_corrupt_checkpoint_is_reported(problem, tmp_path, corrupt, match):
    ck = tmp_path / "ck.npz"
    run(problem, iters=5, checkpoint=ck)
    ck.write_bytes(corrupt(ck.read_bytes()))
    with pytest.raises(CheckpointError, match=f"checkpoint {ck} is unreadable: {match}"):
        load_checkpoint(ck)
    with pytest.raises(CheckpointError, match="delete it"):
        run(problem, iters=10, checkpoint=ck, resume=True)


def test_other_npz_files_are_not_checkpoints(tmp_path):
    plain = tmp_path / "params.npz"
    np.savez(plain, W1=np.zeros((2, 2)))
    with pytest.raises(CheckpointError, match="lacks meta"):
        load_checkpoint(plain)
    single = tmp_path / "array.npy"
    np.save(single, np.zeros(3))
    with pytest.raises(CheckpointError, match="not an .npz"):
        load_checkpoint(single)
    foreign = tmp_path / "foreign.npz"
    meta = np.frombuffer(json.dumps({"format": "other"}).encode(), dtype=np.uint8)
    np.savez(foreign, meta=meta, **{k: np.zeros(1) for k in PARAMS})
    with pytest.raises(CheckpointError, match="not a fastgrad training checkpoint"):
        load_checkpoint(foreign)
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.npz")
    assert zipfile.is_zipfile(plain)


@pytest.mark.parametrize(
    ("key", "value"), [("W1", np.nan), ("b2", -np.inf), ("optimizer/v/W2", np.inf)]
)
def test_checkpoint_with_non_finite_values_is_refused(problem, tmp_path, key, value):
    ck = tmp_path / "ck.npz"
    run(problem, iters=5, checkpoint=ck, optimizer="adam", lr=0.01)
    with np.load(ck) as f:
        arrays = {k: f[k] for k in f.files}
    arrays[key].flat[1] = value
    np.savez(ck, **arrays)
    match = f"checkpoint {ck} holds NaN or infinite values in {key}: .* delete it"
    with pytest.raises(CheckpointError, match=match):
        load_checkpoint(ck)
    with pytest.raises(CheckpointError, match=match):
        run(problem, iters=10, checkpoint=ck, resume=True, optimizer="adam", lr=0.01)


# -- a real crash: SIGKILL a training process, resume it in another ------------------------

KILL_ITERS = 400

KILL_SCRIPT = f"""
import sys
import time

import numpy as np

from fastgrad import TwoLayerNet
from fastgrad.training import train


def problem():
    rng = np.random.default_rng(0)
    teacher = rng.standard_normal((6, 3))
    x = rng.random((400, 6)).astype(np.float32)
    t = np.argmax((x - 0.5) @ teacher, axis=1)
    return x[:300], t[:300], x[300:], t[300:]


def run(checkpoint=None, delay=0.0):
    net = TwoLayerNet(6, 5, 3, backend="numpy", rng=1)
    slow = [lambda i, h, n: time.sleep(delay)] if delay else []
    history = train(net, *problem(), iters={KILL_ITERS}, batch_size=20, lr=0.5, grad="backprop",
                    seed=11, progress=False, callbacks=slow, checkpoint=checkpoint,
                    checkpoint_every=3 if checkpoint else None, resume=checkpoint is not None)
    return net, history


if __name__ == "__main__":
    run(sys.argv[1], float(sys.argv[2]))
"""


#: The kill moments: a seed draws the delay after the first checkpoint. Replay a failure with
#: FASTGRAD_KILL_SEED=<seed> (named in the assertion message).
KILL_SEEDS = (
    [int(os.environ["FASTGRAD_KILL_SEED"])]
    if os.environ.get("FASTGRAD_KILL_SEED")
    else [20240501, 7]
)


@pytest.mark.parametrize("kill_seed", KILL_SEEDS)
def test_sigkill_at_a_random_moment_then_resume_is_bitwise_identical(tmp_path, kill_seed):
    script = tmp_path / "train_me.py"
    script.write_text(KILL_SCRIPT)
    ck = tmp_path / "ck.npz"
    delay = random.Random(kill_seed).uniform(0.0, 1.0)
    replay = f"kill seed {kill_seed} (replay: FASTGRAD_KILL_SEED={kill_seed}), delay {delay:.3f} s"
    proc = subprocess.Popen(
        [sys.executable, str(script), str(ck), "0.005"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while not ck.exists():
            assert proc.poll() is None, f"{replay}: {proc.stderr.read().decode()}"
            assert time.monotonic() < deadline, f"{replay}: no checkpoint after 120 s"
            time.sleep(0.005)
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL, replay
    killed_at = load_checkpoint(ck).iteration
    replay += f", killed at iteration {killed_at}"
    assert 0 < killed_at < KILL_ITERS, replay

    done = subprocess.run(
        [sys.executable, str(script), str(ck), "0"], capture_output=True, timeout=300
    )
    assert done.returncode == 0, f"{replay}: {done.stderr.decode()}"
    resumed = load_checkpoint(ck)
    assert resumed.iteration == KILL_ITERS, replay

    net, history = runpy.run_path(str(script))["run"]()  # uninterrupted, here, no checkpoint
    for k in PARAMS:
        assert_array_equal(resumed.params[k], net.params[k], err_msg=f"{k}; {replay}")
    for f in dataclasses.fields(History):
        if f.name not in TIMINGS:
            assert getattr(resumed.history, f.name) == getattr(history, f.name), (
                f"{f.name}; {replay}"
            )


@contextlib.contextmanager
def umask(mask):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def test_checkpoint_folder_has_only_whole_files(problem, tmp_path):
    ck = tmp_path / "sub" / "ck.npz"
    (tmp_path / "sub").mkdir()
    with umask(0o022):
        run(problem, iters=12, checkpoint=ck, checkpoint_every=1)
    assert [p.name for p in Path(tmp_path / "sub").iterdir()] == ["ck.npz"]
    assert ck.stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o002, 0o077])
def test_files_get_the_mode_of_the_umask_at_the_time(tmp_path, mask):
    """The umask of the moment of writing, not one read at import."""
    target = tmp_path / "f.bin"
    with umask(mask):
        write_atomically(target, lambda f: f.write(b"x"))
        run(make_problem(), iters=2, checkpoint=tmp_path / "ck.npz")
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask
    assert (tmp_path / "ck.npz").stat().st_mode & 0o777 == 0o666 & ~mask
    assert sorted(os.listdir(tmp_path)) == ["ck.npz", "f.bin"]


UMASK_SPY = """
import os
import sys

calls = []
real = os.umask


def spy(mask):
    caller = sys._getframe(1).f_globals.get("__name__", "")
    if caller.split(".")[0] == "fastgrad":
        calls.append((caller, oct(mask)))
    return real(mask)


os.umask = spy
import fastgrad.cli.train
import fastgrad.training
import numpy as np

assert calls == [], f"import: {calls}"
x = np.random.default_rng(0).random((40, 6))
net = fastgrad.TwoLayerNet(6, 5, 3, backend="numpy", rng=0)
fastgrad.training.train(net, x, np.arange(40) % 3, x, np.arange(40) % 3, iters=3, batch_size=5,
                        grad="backprop", progress=False, checkpoint=sys.argv[1])
assert calls == [], f"train: {calls}"
"""


def test_fastgrad_never_touches_the_umask(tmp_path):
    """Reading the umask means setting it (process-wide, racing with other threads): neither
    importing fastgrad nor writing a checkpoint may do it."""
    script = tmp_path / "spy.py"
    script.write_text(UMASK_SPY)
    proc = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "ck.npz")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "ck.npz").exists()


# -- deeper networks and the book's optimisers ----------------------------------------------


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adagrad", "rmsprop", "adam"])
def test_resume_with_an_optimizer_is_bitwise_identical(problem, tmp_path, optimizer):
    ck = tmp_path / "ck.npz"
    kw = {"iters": 40, "lr": None, "optimizer": optimizer, "checkpoint_every": 7}
    with pytest.raises(Crash):
        run(problem, deep_net(), checkpoint=ck, callbacks=[crash_at(30)], **kw)
    saved = load_checkpoint(ck)
    assert saved.iteration == 28 and saved.shape == (N_IN, 5, 4, N_OUT)
    assert saved.config["optimizer"] == optimizer
    slots = {"sgd": set(), "momentum": {"v"}, "adagrad": {"h"}, "rmsprop": {"h"}}
    expected = {f"{s}/{k}" for s in slots.get(optimizer, {"m", "v"}) for k in saved.params}
    assert set(saved.optimizer_state) - {"iter"} == expected
    resumed_net = deep_net(seed=99)
    _, resumed = run(problem, resumed_net, checkpoint=ck, resume=True, **kw)
    straight_net, straight = run(problem, deep_net(), iters=40, lr=None, optimizer=optimizer)
    for k in straight_net.params:
        assert_array_equal(resumed_net.params[k], straight_net.params[k], err_msg=k)
    assert_same_history(resumed, straight)


def test_resume_of_a_numba_multilayer_numerical_run(problem, tmp_path):
    ck = tmp_path / "ck.npz"
    kw = {"iters": 20, "grad": "numerical", "optimizer": "adam", "lr": 0.01}
    with pytest.raises(Crash):
        run(
            problem,
            deep_net("numba"),
            checkpoint=ck,
            checkpoint_every=6,
            callbacks=[crash_at(15)],
            **kw,
        )
    assert load_checkpoint(ck).iteration == 12
    resumed_net = deep_net("numba", seed=7)
    _, resumed = run(problem, resumed_net, checkpoint=ck, resume=True, **kw)
    straight_net, straight = run(problem, deep_net("numba"), **kw)
    for k in straight_net.params:
        assert_array_equal(resumed_net.params[k], straight_net.params[k], err_msg=k)
    assert_same_history(resumed, straight)


@pytest.mark.parametrize(
    ("first", "second", "key", "old", "new"),
    [
        ({"optimizer": "adam"}, {"optimizer": "rmsprop"}, "optimizer", "'adam'", "'rmsprop'"),
        ({"optimizer": "adam"}, {"optimizer": "adam", "lr": 0.01}, "lr", "0.001", "0.01"),
        (
            {"optimizer": fastgrad.optimizers.Adam(beta1=0.8)},
            {"optimizer": fastgrad.optimizers.Adam()},
            "beta1",
            "0.8",
            "0.9",
        ),
        ({"net": {"activation": "sigmoid"}}, {}, "activation", "'sigmoid'", "'relu'"),
        ({"net": {"weight_decay_lambda": 0.1}}, {}, "weight_decay_lambda", "0.1", "0.0"),
    ],
)
def test_resume_with_another_optimizer_or_architecture_is_refused(
    problem, tmp_path, first, second, key, old, new
):
    ck = tmp_path / "ck.npz"
    first, second = dict(first), dict(second)
    kw = {"lr": None, "iters": 5, "checkpoint": ck}
    run(problem, deep_net(**first.pop("net", {})), **{**kw, **first})
    with pytest.raises(
        CheckpointError, match=f"written with {key}={old} but this run has {key}={new}"
    ) as info:
        run(
            problem, deep_net(**second.pop("net", {})), **{**kw, "iters": 10, **second}, resume=True
        )
    assert info.value.field == key


def test_resume_with_another_depth_or_init_is_refused(problem, tmp_path):
    ck = tmp_path / "ck.npz"
    net = deep_net()
    net.weight_init_std = "relu"  # as the command line records it
    run(problem, net, iters=5, checkpoint=ck)
    assert load_checkpoint(ck).config["weight_init"] == "relu"
    other = deep_net()
    other.weight_init_std = 0.01
    with pytest.raises(
        CheckpointError, match="weight_init='relu' but this run has weight_init=0.01"
    ):
        run(problem, other, iters=10, checkpoint=ck, resume=True)
    deeper = fastgrad.MultiLayerNet(N_IN, [5, 4, 4], N_OUT, backend="numpy", rng=1)
    with pytest.raises(
        CheckpointError, match="is for a 6-5-4-3 network but the network being trained is 6-5-4-4-3"
    ):
        run(problem, deeper, iters=10, checkpoint=ck, resume=True)
    two_layer = fastgrad.MultiLayerNet(N_IN, [5], N_OUT, activation="sigmoid", backend="numpy")
    run(problem, new_net(), iters=5, checkpoint=tmp_path / "two.npz")
    with pytest.raises(
        CheckpointError, match="network='TwoLayerNet' but this run has network='MultiLayerNet'"
    ):
        run(problem, two_layer, iters=10, checkpoint=tmp_path / "two.npz", resume=True)


def test_a_checkpoint_whose_layers_do_not_match_its_shape_is_refused(problem, tmp_path):
    ck = tmp_path / "ck.npz"
    run(problem, deep_net(), iters=5, checkpoint=ck, lr=None, optimizer="adam")
    _rewrite_meta(ck, shape=[N_IN, 5, N_OUT])
    with pytest.raises(CheckpointError, match="parameter shapes do not match"):
        load_checkpoint(ck)
