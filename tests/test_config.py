"""Every kernel is compiled with the options of ``fastgrad._config`` (stumpy checks the same)."""

from __future__ import annotations

import importlib
import pkgutil

from numba.core.registry import CPUDispatcher

import fastgrad
import fastgrad.kernels
from fastgrad import _config


def kernel_dispatchers():
    for info in pkgutil.iter_modules(fastgrad.kernels.__path__):
        module = importlib.import_module(f"fastgrad.kernels.{info.name}")
        for name, obj in vars(module).items():
            if isinstance(obj, CPUDispatcher) and obj.py_func.__module__ == module.__name__:
                yield f"{module.__name__}.{name}", obj


def test_every_kernel_uses_the_config():
    found = list(kernel_dispatchers())
    assert len(found) > 20
    generic = {
        "numerical_diff",
        "numerical_gradient",
        "gradient_descent",
        "stencil",
        "_central",
        "chunk_count",
        "_call",
        "evaluated",
        "_first_failure",
    }
    # every kernel of the differentiation toolkit takes the user's f
    generic_modules = {"fastgrad.kernels.differentiate"}
    n_parallel = 0
    for qualname, d in found:
        module, name = qualname.rsplit(".", 1)
        kind = "generic" if name in generic or module in generic_modules else "cached"
        expected = dict(_config.EXPECTED_OPTIONS[kind])
        cache = expected.pop("cache")
        for option, value in expected.items():
            assert d.targetoptions.get(option) == value, (qualname, option)
        assert (type(d._cache).__name__ != "NullCache") == cache, qualname
        # a parallel kernel's only parallel loop is its own prange (no np.zeros turned into a
        # parallel region, no NumPy reduction whose rounding follows the thread count)
        if "parallel" in d.targetoptions:
            assert d.targetoptions["parallel"] == _config.prange_only(), qualname
            n_parallel += 1
    assert n_parallel >= 10


def test_fastmath_keeps_inf_and_nan_and_exact_division():
    assert not {"nnan", "ninf", "arcp", "afn", "fast"} & set(_config.FASTMATH)


def test_cached_parallel_kernels_in_a_fresh_process():
    # Numba issue 9938: a kernel loaded from the disk cache that calls a parallel one used to
    # crash a fresh process (segfault) because the threading layer was never started.
    import subprocess
    import sys

    import numpy as np

    fastgrad.kernels.softmax(np.ones((1, 10)))  # make sure the cache is written
    code = (
        "import numpy as np, fastgrad;"
        "print(fastgrad.kernels.softmax(np.ones((2, 10))).sum(),"
        " fastgrad.TwoLayerNet(4, 3, 2).numerical_gradient(np.ones((2, 4)), [0, 1])['W1'].shape)"
    )
    for _ in range(2):
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
        )
        assert out.returncode == 0, out.stderr
        assert abs(float(out.stdout.split()[0]) - 2.0) < 1e-12


def test_import_without_a_thread_safe_threading_layer():
    # no TBB and no OpenMP runtime (a default macOS, say): simulated by making Numba's two
    # thread-safe layers unimportable. Importing must work, warn once, and serialise the
    # parallel calls fastgrad makes so that concurrent calls neither crash nor differ.
    import subprocess
    import sys

    code = """
import sys, warnings
sys.modules["numba.np.ufunc.tbbpool"] = None
sys.modules["numba.np.ufunc.omppool"] = None
warnings.simplefilter("always")
with warnings.catch_warnings(record=True) as caught:
    import fastgrad
    import fastgrad.kernels
import concurrent.futures, numba, numpy as np
from fastgrad import _config
kinds = [type(w.message).__name__ for w in caught]
assert kinds.count("ThreadingLayerWarning") == 1, kinds
assert "TBB" in str(caught[0].message) and "one parallel call at a time" in str(caught[0].message)
assert numba.threading_layer() == "workqueue", numba.threading_layer()
assert not _config.THREAD_SAFE_LAYER

@numba.njit
def f(v):
    return np.sum(v ** 3)

rng = np.random.default_rng(0)
xs = [rng.normal(size=300) for _ in range(8)]
net = fastgrad.TwoLayerNet(20, 5, 3, rng=0)
x, t = rng.random((16, 20)), rng.integers(0, 3, 16)
want = [fastgrad.numerical_gradient(f, v) for v in xs], net.numerical_gradient(x, t)["W1"]
with concurrent.futures.ThreadPoolExecutor(4) as pool:
    got = list(pool.map(lambda v: fastgrad.numerical_gradient(f, v), xs))
    nets = list(pool.map(lambda _: net.numerical_gradient(x, t)["W1"], range(8)))
assert all((g == w).all() for g, w in zip(got, want[0]))
assert all((g == want[1]).all() for g in nets)
print("ok")
"""
    env = {k: v for k, v in __import__("os").environ.items() if k != "NUMBA_THREADING_LAYER"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=600, env=env
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "ok"
