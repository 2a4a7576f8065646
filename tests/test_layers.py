"""The package's layers import only downward (docs/contributing.md, "The layers")."""

from __future__ import annotations

import ast
import importlib
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import fastgrad
import fastgrad.kernels

ROOT = Path(fastgrad.__file__).parent

#: Bottom to top. A module may import modules of its own layer or below, never above.
LAYERS = [
    (
        "fastgrad._config",
        "fastgrad._lazy",
        "fastgrad._version",
        "fastgrad._files",
        "fastgrad._labels",
        "fastgrad._validation",
        "fastgrad._idiom",
        "fastgrad._threads",
    ),
    ("fastgrad.reference",),
    ("fastgrad.kernels",),
    ("fastgrad._api", "fastgrad._dask", "fastgrad._stacks", "fastgrad._accelerate"),
    ("fastgrad._problem",),
    ("fastgrad._differentiate",),
    ("fastgrad._gradcheck",),
    ("fastgrad.datasets", "fastgrad.training", "fastgrad.optimizers"),
    ("fastgrad.bench",),
    ("fastgrad.cli", "fastgrad.__main__"),
]


def layer_of(module: str) -> int | None:
    for level, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return level
    return None


def module_name(path: Path) -> str:
    parts = ("fastgrad", *path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, name: str):
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            yield mod
            # "from . import kernels" names a module too
            yield from (f"{mod}.{a.name}" for a in node.names)


def test_every_module_has_a_layer():
    missing = [
        module_name(p)
        for p in ROOT.rglob("*.py")
        if layer_of(module_name(p)) is None and module_name(p) != "fastgrad"
    ]
    assert not missing, f"add these modules to LAYERS: {missing}"


def test_imports_go_only_downward():
    upward = []
    for path in ROOT.rglob("*.py"):
        name = module_name(path)
        own = layer_of(name)
        for target in imported(path, name):
            level = layer_of(target)
            if own is not None and level is not None and level > own:
                upward.append(f"{name} (layer {own}) imports {target} (layer {level})")
    assert not upward, "\n".join(upward)


def private_imports(path: Path, name: str):
    """``from fastgrad.x import _y`` where ``_y`` is a name, not a module: another module's
    private helper."""
    modules = {module_name(p) for p in ROOT.rglob("*.py")}
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            mod = ".".join(base + ([node.module] if node.module else []))
        else:
            mod = node.module or ""
        if not mod.startswith("fastgrad"):
            continue
        for alias in node.names:
            private = alias.name.startswith("_") and not alias.name.startswith("__")
            if private and f"{mod}.{alias.name}" not in modules:
                yield f"{name} imports {alias.name} from {mod}"


def test_no_module_imports_another_modules_private_names():
    found = [line for p in ROOT.rglob("*.py") for line in private_imports(p, module_name(p))]
    assert not found, "\n".join(found)


#: Loaded at first use (fastgrad/_lazy.py): a TwoLayerNet script does not import them.
LAZY_MODULES = (
    "fastgrad._accelerate",
    "fastgrad._differentiate",
    "fastgrad._gradcheck",
    "fastgrad.kernels.multilayer",
)


def test_import_leaves_the_lazy_modules_unloaded():
    code = "import sys, fastgrad; print(' '.join(m for m in sys.modules if 'fastgrad' in m))"
    loaded = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout.split()
    assert "fastgrad.kernels.nets" in loaded
    assert not set(LAZY_MODULES) & set(loaded)


@pytest.mark.parametrize("package", [fastgrad, fastgrad.kernels], ids=["fastgrad", "kernels"])
def test_every_public_name_resolves_to_its_module(package):
    for name in package.__all__:
        value = getattr(package, name)
        if inspect.isfunction(value) or inspect.isclass(value):
            home = importlib.import_module(value.__module__)
            assert getattr(home, name) is value, name
        assert name in dir(package)
    with pytest.raises(AttributeError, match="has no attribute 'no_such_name'"):
        package.no_such_name  # noqa: B018
