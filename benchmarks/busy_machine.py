"""The kernels as a user's machine meets them: a core kept busy by another process, and an
empty Numba cache. Each figure is printed beside its twin from the same run.

- ``threads``: TwoLayerNet 784-50-10, batch 100 of float32 images with 80% zeros at random,
  numerical gradient. Idle, then with a busy loop in another process: the default (the
  adaptive thread count) against one fixed thread and against every thread, in rounds of
  ``--calls`` calls each, interleaved (with a pause between blocks, :data:`PAUSE`); medians
  of the calls and the slowest call of the default. The default's first ``--calls`` calls
  in each state are its warm-up, timed apart.
- ``train``: ``fastgrad train --iters 1000`` (the offline sample) with the busy loop
  beside it: the default against ``--threads 1``, alternated, wall times.
- ``compile``: fresh processes on an empty ``NUMBA_CACHE_DIR``: ``import fastgrad`` plus
  the first TwoLayerNet gradient (float32, then float64 batch); the first
  ``MultiLayerNet(784, [100, 100], 10)`` gradient (ReLU, then sigmoid with weight decay in
  the same process). Then on the now warm cache: ``import fastgrad`` plus the first
  TwoLayerNet gradient beside ``import numpy, numba`` alone, and beside the first call of a
  cached one-line Numba kernel with a BLAS product (:data:`FLOOR_KERNEL`): the least any
  cached Numba kernel of this kind costs a fresh process.

Run it alone on the machine: ``python benchmarks/busy_machine.py [threads|train|compile]``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

BUSY_LOOP = "while True: pass"


def busy_process() -> subprocess.Popen:
    """Another process that keeps one core busy until it is killed."""
    return subprocess.Popen([sys.executable, "-c", BUSY_LOOP])


def _workload():
    import numpy as np

    import fastgrad

    rng = np.random.default_rng(0)
    x = rng.random((100, 784), dtype=np.float32)
    x[rng.random(x.shape) < 0.8] = 0
    t = rng.integers(0, 10, 100)
    return fastgrad.TwoLayerNet(784, 50, 10, rng=0), x, t


#: Seconds between two sides' blocks of calls: OpenMP's threads keep spinning for a while
#: after a region, and on a busy core the next block's first call would pay for the previous
#: side's idle threads (seen: the default's first call after a 2-thread block 4x its median,
#: none with this pause). A training loop calls one side only.
PAUSE = 0.05


def _timed_calls(net, x, t, calls: int, n: int | None) -> list[float]:
    import fastgrad

    time.sleep(PAUSE)
    out = []
    with fastgrad.threads(n):
        for _ in range(calls):
            start = time.perf_counter()
            net.numerical_gradient(x, t)
            out.append(time.perf_counter() - start)
    return out


def _state(net, x, t, calls: int, rounds: int) -> dict:
    """Warm-up of the default, then rounds of default, 1 thread and every thread."""
    from fastgrad import _threads

    _threads.ADAPTIVE.sites.clear()  # the default learns afresh in this state
    warm = _timed_calls(net, x, t, calls, None)
    times: dict = {"default": [], "1": [], str(_threads.max_threads()): []}
    for _ in range(rounds):
        times["default"] += _timed_calls(net, x, t, calls, None)
        times["1"] += _timed_calls(net, x, t, calls, 1)
        times[str(_threads.max_threads())] += _timed_calls(net, x, t, calls, _threads.max_threads())
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "median_ms": {k: v * 1e3 for k, v in med.items()},
        "default_over_1": med["default"] / med["1"],
        "1_over_default": med["1"] / med["default"],
        "slowest_default_over_median": max(times["default"]) / med["default"],
        "slowest_1_over_median": max(times["1"]) / med["1"],
        "warmup_median_ms": statistics.median(warm) * 1e3,
        "warmup_slowest_ms": max(warm) * 1e3,
        "settled": _threads.settled(),
    }


def threads(calls: int = 200, rounds: int = 3) -> None:
    net, x, t = _workload()
    net.numerical_gradient(x, t)  # compile or load from the cache
    idle = _state(net, x, t, calls, rounds)
    busy = busy_process()
    try:
        time.sleep(0.5)
        loaded = _state(net, x, t, calls, rounds)
    finally:
        busy.kill()
    print(
        f"TwoLayerNet 784-50-10 numerical gradient, batch 100, float32, 80% zeros; "
        f"{rounds} rounds of {calls} calls"
    )
    for name, r in (("idle", idle), ("one core busy", loaded)):
        med = ", ".join(f"{k} {v:.3f} ms" for k, v in r["median_ms"].items())
        print(
            f"  {name}: medians {med}; default/1-thread {r['default_over_1']:.2f}x, "
            f"1-thread/default {r['1_over_default']:.2f}x, slowest default call "
            f"{r['slowest_default_over_median']:.1f}x its median (1 thread: "
            f"{r['slowest_1_over_median']:.1f}x); settled on "
            f"{r['settled']} thread(s); warm-up median {r['warmup_median_ms']:.3f} ms, "
            f"slowest {r['warmup_slowest_ms']:.1f} ms"
        )


def train(iters: int = 1000, rounds: int = 2) -> None:
    walls: dict[str, list[float]] = {"default": [], "--threads 1": []}
    busy = busy_process()
    try:
        with tempfile.TemporaryDirectory() as out:
            for _ in range(rounds):
                for name, extra in (("default", []), ("--threads 1", ["--threads", "1"])):
                    cmd = [
                        sys.executable,
                        "-m",
                        "fastgrad",
                        "train",
                        "--data",
                        "sample",
                        "--iters",
                        str(iters),
                        "--quiet",
                        "--no-checkpoint",
                        "--out",
                        out,
                        *extra,
                    ]
                    start = time.perf_counter()
                    subprocess.run(cmd, check=True, capture_output=True)
                    walls[name].append(time.perf_counter() - start)
    finally:
        busy.kill()
    best = {k: min(v) for k, v in walls.items()}
    print(f"fastgrad train --iters {iters} with one core busy, {rounds} alternated runs each:")
    for k, v in walls.items():
        print(f"  {k}: " + ", ".join(f"{w:.1f} s" for w in v))
    print(f"  default / --threads 1 (best of each): {best['default'] / best['--threads 1']:.2f}x")


#: The floor of a warm start: Numba loads its registries (and, for ``np.dot``, SciPy's BLAS
#: bindings) at the first call of any cached kernel, whatever the kernel.
FLOOR_KERNEL = """
import numpy as np
from numba import njit


@njit(cache=True)
def product(a, b):
    return np.dot(a, b)
"""

_PROBE = r"""
import sys, time, json
start = time.perf_counter()
what = sys.argv[1]
if what in ("bare", "floor"):
    import numpy, numba
    out = {"import": time.perf_counter() - start}
    if what == "floor":
        sys.path.insert(0, sys.argv[2])
        import floor_kernel
        floor_kernel.product(numpy.ones((2, 2)), numpy.ones((2, 2)))
        out["call"] = time.perf_counter() - start - out["import"]
    print(json.dumps(out)); raise SystemExit
import numpy as np
import fastgrad
imported = time.perf_counter() - start
rng = np.random.default_rng(0)
out = {"import": imported}
if what == "twolayer":
    net = fastgrad.TwoLayerNet(784, 50, 10, rng=0)
    t = rng.integers(0, 10, 100)
    for dtype in ("float32", "float64"):
        x = rng.random((100, 784)).astype(dtype)
        s = time.perf_counter(); net.numerical_gradient(x, t)
        out[dtype] = time.perf_counter() - s
else:
    x = rng.random((100, 784)); t = rng.integers(0, 10, 100)
    for name, kw in (("relu", {}), ("sigmoid_wd", {"activation": "sigmoid",
                                                   "weight_decay_lambda": 0.1})):
        net = fastgrad.MultiLayerNet(784, [100, 100], 10, rng=0, **kw)
        s = time.perf_counter(); net.numerical_gradient(x, t)
        out[name] = time.perf_counter() - s
print(json.dumps(out))
"""


def _probe(what: str, cache: str) -> dict:
    env = {**os.environ, "NUMBA_CACHE_DIR": cache}
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, what, cache],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def compile_times(warm_rounds: int = 5) -> None:
    with tempfile.TemporaryDirectory() as cache:
        cold2 = _probe("twolayer", cache)
        coldm = _probe("multilayer", cache)
        with open(os.path.join(cache, "floor_kernel.py"), "w") as f:
            f.write(FLOOR_KERNEL)
        _probe("floor", cache)  # compiles it into the cache
        bare, floor, warm = [], [], []
        for _ in range(warm_rounds):
            bare.append(_probe("bare", cache)["import"])
            floor.append(_probe("floor", cache)["call"])
            w = _probe("twolayer", cache)
            warm.append(w["import"] + w["float32"])
    print("empty Numba cache, fresh processes:")
    print(
        f"  import fastgrad {cold2['import']:.2f} s; first TwoLayerNet gradient: float32 "
        f"{cold2['float32']:.2f} s (import included: {cold2['import'] + cold2['float32']:.2f} s),"
        f" then float64 {cold2['float64']:.2f} s"
    )
    print(
        f"  first MultiLayerNet(784, [100, 100], 10) gradient: ReLU {coldm['relu']:.1f} s, "
        f"then sigmoid with weight decay {coldm['sigmoid_wd']:.1f} s "
        f"(in all {coldm['relu'] + coldm['sigmoid_wd']:.1f} s)"
    )
    b, w = min(bare), min(warm)
    print(
        f"warm cache, best of {warm_rounds} fresh processes: import numpy, numba "
        f"{b * 1e3:.0f} ms;"
        f" import fastgrad + first TwoLayerNet gradient {w * 1e3:.0f} ms, "
        f"{(w - b) * 1e3:.0f} ms beyond"
    )
    print(
        f"  a cached one-line Numba kernel with a BLAS product, its first call: "
        f"{min(floor) * 1e3:.0f} ms beyond import numpy, numba (fastgrad: "
        f"{(w - b - min(floor)) * 1e3:.0f} ms beyond that)"
    )


if __name__ == "__main__":
    parts = sys.argv[1:] or ["threads", "train", "compile"]
    for part in parts:
        {"threads": threads, "train": train, "compile": compile_times}[part]()
