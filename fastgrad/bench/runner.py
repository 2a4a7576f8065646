"""A run of the bench: the chosen groups, in the registry's order, under the run's kernel
and BLAS thread counts; then the machine it measured (CPU, cores, load, the versions and
thread settings of Python, NumPy, Numba, BLAS, fastgrad and the peers) and the wall time."""

from __future__ import annotations

import contextlib
import os
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import numba
import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from .. import get_num_threads, kernels, threads
from .._version import __version__
from .groups import GROUPS, load
from .peers import PEER_MODULES
from .recorder import Recorder
from .settings import Settings

__all__ = ["Result", "run", "machine_info"]


@dataclass
class Result:
    """What a run recorded, under which settings, on which machine, in how long."""

    rec: Recorder
    settings: Settings
    groups: list[str]
    machine: dict[str, Any]
    wall: float


def steady_allocator() -> None:
    """Free one 32 MiB block first: glibc then raises its mmap and trim thresholds for the
    rest of the process (to 32 and 64 MiB, mallopt(3)), so that the reference's temporaries
    come from the heap in every run. Otherwise they depend on what the process freed before:
    the reference's backprop of 784-50-10 took 0.4 or 0.9 ms from one process to the next.
    The block is never touched; other allocators are unaffected."""
    block = np.empty(32 << 20, dtype=np.uint8)
    del block


def run(groups: Sequence[str], settings: Settings, blas_threads: int | None = None) -> Result:
    """Run ``groups`` with ``settings.threads`` kernel threads and, when given,
    ``blas_threads`` BLAS threads for the whole run (after :func:`steady_allocator`);
    progress goes to stderr."""
    steady_allocator()
    t_start = time.perf_counter()
    rec = Recorder()
    blas = contextlib.nullcontext()
    if blas_threads is not None:  # limited from here to the end of the run
        blas = threadpool_limits(limits=blas_threads, user_api="blas")
    with threads(settings.threads), blas:
        for name in (g for g in GROUPS if g in groups):
            t0 = time.perf_counter()
            load(name)(rec, settings)
            rec.out(f"[{name}] done in {time.perf_counter() - t0:.1f} s")
        machine = machine_info()
    return Result(rec, settings, list(groups), machine, time.perf_counter() - t_start)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            return next(
                line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")
            )
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def machine_info() -> dict[str, Any]:
    """CPU, cores, Python, NumPy, Numba (version, threading layer, threads), BLAS, peers."""
    kernels.softmax(np.ones((2, 2)))  # a parallel kernel names the threading layer
    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel kernel has run
        layer = "unknown"
    blas = [lib for lib in threadpool_info() if lib["user_api"] == "blas"]
    return {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "numba_threading_layer": layer,
        "kernel_threads": get_num_threads(),
        "blas": [
            {k: lib.get(k) for k in ("internal_api", "version", "num_threads")} for lib in blas
        ],
        "blas_threads": sorted({lib["num_threads"] for lib in blas}),
        "fastgrad": __version__,
        "peers": {name: _version(name) for name in PEER_MODULES},
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }
