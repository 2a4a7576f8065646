"""Fresh-process probes: what a first call costs, measured in a new Python process.

``python benchmarks/probes.py PROBE [ARGS]`` prints one line of JSON:

- ``compile TASKS``: the import, then the first and second call of each kernel family in
  ``TASKS`` (comma-separated: functions, generic, twolayer, analytic); ``NUMBA_CACHE_DIR``
  chooses the cache (an empty folder: cold compilation);
- ``first-gradient``: from before ``import fastgrad`` to the first TwoLayerNet 784-50-10
  numerical gradient at batch 100, then a second one;
- ``peak-memory HIDDEN BATCH``: the peak extra resident memory of one TwoLayerNet
  numerical gradient (tracemalloc does not see Numba's allocations: the kernel's own
  high-water mark, reset through ``/proc/self/clear_refs`` where Linux allows).

The script is run by path, not with ``-m``, so that nothing imports fastgrad before the
clock starts. :func:`run_probe` runs it from the suites (``bench_compile.py``,
``bench_twolayer.py``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path


def run_probe(*args: str, cache_dir: str | None = None, timeout: float = 1800) -> dict:
    """Run the probe in a fresh Python process (``NUMBA_CACHE_DIR=cache_dir`` when given);
    the JSON it printed. ``RuntimeError`` when it fails."""
    env = {**os.environ, **({"NUMBA_CACHE_DIR": str(cache_dir)} if cache_dir else {})}
    cmd = [sys.executable, str(Path(__file__).resolve()), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"probe {args} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def compile_times(tasks: str) -> dict:
    t0 = time.perf_counter()
    import numpy as np

    import fastgrad

    out = {"import": {"first": time.perf_counter() - t0}}
    fastgrad.get_num_threads()  # start the threading layer first (numba issue 9938)
    rng = np.random.default_rng(0)
    x, t, z = rng.random((100, 784)), rng.integers(0, 10, 100), rng.standard_normal((100, 10))
    net, quad = fastgrad.TwoLayerNet(784, 50, 10, rng=0), _quad()
    calls = {
        "functions": lambda: fastgrad.kernels.softmax_loss(z, t),
        "generic": lambda: fastgrad.numerical_gradient(quad, x[0]),
        "twolayer": lambda: net.numerical_gradient(x, t),
        "analytic": lambda: net.gradient(x, t),
    }
    for task in tasks.split(","):
        t0 = time.perf_counter()
        calls[task]()
        t1 = time.perf_counter()
        calls[task]()
        out[task] = {"first": t1 - t0, "second": time.perf_counter() - t1}
    return out


def _quad():
    import numba

    @numba.njit  # a user's function: compiled in this process, never cached
    def quad(x):
        s = 0.0
        for i in range(x.size):
            s += x[i] * x[i]
        return s

    return quad


def first_gradient() -> dict:
    t0 = time.perf_counter()
    import numpy as np

    import fastgrad

    t1 = time.perf_counter()
    rng = np.random.default_rng(0)
    x, t = rng.random((100, 784), dtype=np.float32), rng.integers(0, 10, 100)
    net = fastgrad.TwoLayerNet(784, 50, 10, rng=0)
    t2 = time.perf_counter()
    net.numerical_gradient(x, t)
    t3 = time.perf_counter()
    net.numerical_gradient(x, t)
    t4 = time.perf_counter()
    return {"import_s": t1 - t0, "first_call_s": t3 - t2, "total_s": t3 - t0, "second_s": t4 - t3}


def _status(key: str) -> int:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith(key))


def peak_memory(hidden: str, batch: str) -> dict:
    import resource

    import numpy as np

    import fastgrad

    fastgrad.get_num_threads()
    rng = np.random.default_rng(0)
    fastgrad.TwoLayerNet(784, 4, 10, rng=0).numerical_gradient(rng.random((3, 784)), np.arange(3))
    net = fastgrad.TwoLayerNet(784, int(hidden), 10, rng=0)
    x, t = rng.random((int(batch), 784)), rng.integers(0, 10, int(batch))
    try:  # reset the peak-RSS mark, so that the call's own peak is measured
        Path("/proc/self/clear_refs").write_text("5")
        reset = True
    except OSError:
        reset = False

    def peak() -> int:
        return _status("VmHWM:") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    before_peak, before = peak(), _status("VmRSS:")
    g = net.numerical_gradient(x, t)
    after = peak()
    return {
        "extra_mib": (after - before) / 1024,
        "result_mib": sum(v.nbytes for v in g.values()) / 2**20,
        "exact": reset or after > before_peak,
    }


if __name__ == "__main__":
    probes = {
        "compile": compile_times,
        "first-gradient": first_gradient,
        "peak-memory": peak_memory,
    }
    print(json.dumps(probes[sys.argv[1]](*sys.argv[2:])))
