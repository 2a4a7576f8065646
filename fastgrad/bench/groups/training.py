"""Group ``training``: one iteration of the book's loop (sample a batch, gradient, update)
on the MNIST sample, per backend and gradient; the reference's numerical-gradient iteration
is its extrapolated gradient plus the measured sampling and update. Without ``--quick``, also
the default ``fastgrad train`` job in a fresh process, timed by its own history."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

import fastgrad

from ...reference.nets import PARAM_NAMES
from ..checks import TOL_ANALYTIC, TOL_KERNEL
from ..recorder import Recorder, Row, relate
from ..settings import Settings
from ..timing import Timing
from ..workloads import TwoLayerCase, training_data, two_layer_reference_subset

BATCH, LR = 100, 0.1


class _ZeroGradient:
    """A network whose gradient costs nothing: times a training iteration's other work."""

    def __init__(self, params: Mapping[str, NDArray]) -> None:
        self.params = {k: v.copy() for k, v in params.items()}
        self._zero = {k: np.zeros_like(v) for k, v in params.items()}

    def gradient(self, x: NDArray, t: NDArray) -> dict[str, NDArray]:
        return self._zero


def run(rec: Recorder, s: Settings) -> None:
    x_train, t_train, source = training_data(s.rng(5))
    work = f"one iteration, 784-50-10 b{BATCH}, {source}"

    def iteration(net: Any, method: str, rng: np.random.Generator) -> None:
        mask = rng.choice(x_train.shape[0], BATCH)
        grads = getattr(net, method)(x_train[mask], t_train[mask])
        for key in PARAM_NAMES:
            net.params[key] -= LR * grads[key]

    base = fastgrad.TwoLayerNet(784, 50, 10, rng=s.seed).params
    # the check: the first iteration's numba gradient against the reference (a subset)
    mask = s.rng(6).choice(x_train.shape[0], BATCH)
    case = TwoLayerCase(
        (784, 50, 10),
        x_train[mask],
        t_train[mask],
        {k: v.copy() for k, v in base.items()},
        "mnist",
        source,
    )
    sub = two_layer_reference_subset(case, max(10, s.subset // 4), s.rng(7))
    rows: dict[str, Row] = {}
    for backend, method in (
        ("numba", "numerical_gradient"),
        ("numba", "gradient"),
        ("numpy", "gradient"),
    ):
        net = fastgrad.TwoLayerNet(784, 50, 10, backend=backend)
        net.params = {k: v.copy() for k, v in base.items()}
        label = f"{backend} {'numgrad' if method == 'numerical_gradient' else 'analytic'}"
        row = rows[label] = rec.add(Row("training", work, label, None, case.n_params))
        g = getattr(net, method)(case.x, case.t)
        tol = TOL_KERNEL if method == "numerical_gradient" else TOL_ANALYTIC
        if rec.check(row, sub.max_abs_diff(g), tol, work):
            it_rng = s.rng(8)
            iteration(net, method, it_rng)  # warm
            row.timing = s.timeit(functools.partial(iteration, net, method, it_rng))
    # the reference numgrad iteration: measured sampling and update + the extrapolated
    # gradient (a fresh subset on this batch)
    stub = _ZeroGradient(base)
    t_rest = s.timeit(functools.partial(iteration, stub, "gradient", s.rng(9)))
    est = sub.estimate()
    rest = t_rest.median
    total = Timing(
        est.median + rest,
        est.q1 + rest,
        est.q3 + rest,
        est.best + t_rest.best,
        est.n,
        extrapolated=True,
    )
    ref = rec.add(
        Row(
            "training",
            work,
            "numpy numgrad (reference)",
            total,
            case.n_params,
            0.0,
            note=f"gradient {sub.label}, + measured sampling/update",
        )
    )
    relate([ref, *rows.values()], ref, rows.get("numpy analytic"))
    for r in (ref, *rows.values()):
        if r.timing is not None:
            rec.project(f"training iteration: {r.backend}", r.timing)
    if s.quick:
        rec.note("the default training job (fastgrad train --data sample) runs without --quick")
    else:
        training_job(rec)


#: The default training job, as the README runs it.
TRAINING_JOB = ("train", "--data", "sample")
#: Seconds the default job may take before the probe gives up.
TRAINING_JOB_TIMEOUT = 600


def training_job(rec: Recorder) -> None:
    """Run the default ``fastgrad train`` job in a fresh process and record its training time
    and test accuracy (from the job's own ``history.json``)."""
    command = "fastgrad " + " ".join(TRAINING_JOB)
    with tempfile.TemporaryDirectory(prefix="fastgrad-bench-train-") as out:
        cmd = [sys.executable, "-m", "fastgrad", *TRAINING_JOB, "--quiet", "--out", out]
        t0 = time.perf_counter()
        try:
            done = subprocess.run(
                cmd, capture_output=True, text=True, timeout=TRAINING_JOB_TIMEOUT, check=False
            )
        except subprocess.TimeoutExpired:
            rec.fail(f"training: {command} took over {TRAINING_JOB_TIMEOUT} s")
            return
        process_s = time.perf_counter() - t0
        if done.returncode != 0:
            rec.fail(f"training: {command} exited {done.returncode}: {done.stderr[-300:]}")
            return
        doc = json.loads((Path(out) / "history.json").read_text(encoding="utf-8"))
    summary = doc["run"]["summary"]
    rec.training_job = {
        "command": command,
        "wall_time_s": summary["wall_time_s"],
        "iterations": summary["iterations"],
        "test_acc": summary["final_test_acc"],
        "train_acc": summary["final_train_acc"],
        "process_s": process_s,
    }
