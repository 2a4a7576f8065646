"""The machine a run measured: CPU, cores, memory, load, and the versions and thread settings
of everything that decides the figures (Python, NumPy, Numba, BLAS, fastgrad, the peers)."""

from __future__ import annotations

import contextlib
import os
import platform
from typing import Any

import numba
import numpy as np

from .peers import PEER_MODULES

__all__ = ["machine_info"]


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _peer_versions() -> dict[str, str | None]:
    """Installed versions of the peer libraries (None: not installed)."""
    from importlib import metadata

    out: dict[str, str | None] = {}
    for name in PEER_MODULES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _memory_gib() -> float | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 1024**2
    return None


def machine_info() -> dict[str, Any]:
    """CPU, cores, Python, NumPy, Numba (version, threading layer, threads) and BLAS."""
    from threadpoolctl import threadpool_info

    import fastgrad

    with contextlib.suppress(Exception):  # a parallel kernel must have run to name the layer
        fastgrad.kernels.softmax(np.ones((2, 2)))
    try:
        layer = numba.threading_layer()
    except ValueError:
        layer = "unknown"
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        affinity = os.cpu_count()
    blas = [
        {
            k: v
            for k, v in lib.items()
            if k
            in (
                "user_api",
                "internal_api",
                "version",
                "num_threads",
                "threading_layer",
                "architecture",
                "prefix",
                "filepath",
            )
        }
        for lib in threadpool_info()
    ]
    return {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "cores_available": affinity,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "numba_threading_layer": layer,
        "numba_num_threads": numba.config.NUMBA_NUM_THREADS,
        "kernel_threads": numba.get_num_threads(),
        "blas": blas,
        "blas_threads": sorted({lib["num_threads"] for lib in blas if lib["user_api"] == "blas"}),
        "fastgrad": fastgrad.__version__,
        "peers": _peer_versions(),
        "memory_gib": _memory_gib(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }
