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
        "_numgrad_generic",
        "_n_chunks",
    }
    for qualname, d in found:
        kind = "generic" if qualname.rsplit(".", 1)[1] in generic else "cached"
        expected = dict(_config.EXPECTED_OPTIONS[kind])
        cache = expected.pop("cache")
        for option, value in expected.items():
            assert d.targetoptions.get(option) == value, (qualname, option)
        assert (type(d._cache).__name__ != "NullCache") == cache, qualname


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
