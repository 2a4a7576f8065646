"""Every kernel is compiled with the options of ``fastgrad._config`` (stumpy checks the same)."""

from __future__ import annotations

import importlib
import pkgutil

from numba.core.registry import CPUDispatcher

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
