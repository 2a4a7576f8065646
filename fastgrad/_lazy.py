"""Names a package loads at first use (PEP 562), so that ``import fastgrad`` does not pay for
modules a script may never touch: the differentiation toolkit, ``accelerate`` and the
multilayer kernels are about half of the import (docs/design.md, "Pitfalls", warm start)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_names(namespace: dict[str, Any], where: Mapping[str, str]) -> tuple[Callable, Callable]:
    """The ``__getattr__`` and ``__dir__`` of the package whose ``globals()`` are
    ``namespace``: each name of ``where`` (name -> relative module) is loaded from its module
    at first use and kept in the package."""
    package = namespace["__name__"]

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(where))

    return __getattr__, __dir__
