"""The front door of numerical differentiation: gradients, Jacobians, Hessians, checks.

``fastgrad.numerical_gradient`` (the book's central difference and five more methods),
``fastgrad.jacobian``, ``fastgrad.hessian`` and ``fastgrad.check_gradient`` validate their
input once, choose the steps, evaluate the stencil on the chosen backend (the NumPy
reference, :mod:`fastgrad.reference.differentiate`, or its Numba twin,
:mod:`fastgrad.kernels.differentiate`) and combine the values. The methods, their steps and
their error estimates are described in :mod:`fastgrad.reference.differentiate`.

The book's idiom is honoured on the numpy backend: a writable ``x`` of the working dtype
(float64; float32 for float32 input with ``h="auto"``) is nudged in place and restored bit
for bit, so that ``f = lambda w: net.loss(x, t)``, which reads ``net.W`` instead of its
argument, sees every nudge (``docs/design.md``, "The public contract").
"""

from __future__ import annotations

import contextlib
import os
import threading
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Literal

import numba
import numpy as np
from numba.extending import is_jitted
from numpy.typing import ArrayLike, NDArray

from . import _dask
from ._api import _kernel_region, _max_abs, resolve_backend
from ._config import blas_held
from ._idiom import nudged_in_place, nudging, reject_ignored_argument
from ._validation import check_bool, check_int, check_positive_float, check_step
from .kernels import differentiate as kd
from .reference import differentiate as rd

__all__ = [
    "METHODS",
    "DerivativeInfo",
    "GradientCheck",
    "numerical_gradient",
    "jacobian",
    "hessian",
    "check_gradient",
]

Method = Literal["central", "forward", "backward", "central4", "complex", "richardson"]

#: The methods of :func:`numerical_gradient` and :func:`jacobian`.
METHODS: tuple[str, ...] = tuple(rd.STENCILS)

#: Memory for one batch of stacked points of ``vectorized=True`` (bytes).
VECTORIZED_BUDGET = 4 * 2**20  # measured: 32 MiB stacks were 3.5x slower (cache misses)


@dataclass(frozen=True)
class DerivativeInfo:
    """What ``full_output=True`` returns beside the derivative.

    Attributes
    ----------
    error : ndarray of float64
        Per-element error estimate, shaped like the result (module docstring of
        :mod:`fastgrad.reference.differentiate`: two steps, or the Richardson table, plus the
        rounding bound).
    nfev : int
        Evaluations of ``f``: ``f(x)`` once (it checks what ``f`` returns, and the one-sided
        methods use it), the stencil's, and the error estimate's.
    h : ndarray of float64
        The step of each element of ``x``.
    method : str
    """

    error: NDArray[np.float64]
    nfev: int
    h: NDArray[np.float64]
    method: str


# -- checks ------------------------------------------------------------------------------------


def _checked_float_array(x: ArrayLike, name: str = "x") -> NDArray[np.floating]:
    """``x`` as an array (no copy), checked: a real float dtype, not empty, finite."""
    arr = np.asarray(x)
    if arr.dtype.kind in "iub":
        raise TypeError(
            f"{name} has integer dtype {arr.dtype}: nudges of h would be truncated to 0 "
            f"(the book's silent trap); pass a float array, e.g. {name}.astype(float)"
        )
    if arr.dtype.kind != "f":
        raise TypeError(f"{name} must be a real float array, got dtype {arr.dtype}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty; there is nothing to differentiate")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _check_scalar(value: Any, complex_ok: bool = False) -> Any:
    if type(value) is float:  # what a compiled f returns: the checks below cost 4 us
        return value
    if (
        np.ndim(value) != 0
        or isinstance(value, (str, bytes))
        or not (complex_ok or np.isrealobj(value))
        or not np.issubdtype(np.asarray(value).dtype, np.number)
    ):
        raise TypeError(
            f"f must return a real scalar, got {type(value).__name__}"
            + (
                f" of shape {np.shape(value)}; for a vector-valued f use fastgrad.jacobian"
                if np.ndim(value)
                else ""
            )
        )
    return value if complex_ok else float(value)


def _check_values(arr: NDArray, complex_ok: bool, what: str = "f") -> NDArray:
    """``arr`` if it holds real numbers (complex ones for a complex point); else a
    ``TypeError`` that names what ``f`` returned, as :func:`_check_scalar` does for a
    scalar (NumPy would truncate complex values, or fail on strings deep inside)."""
    kind = arr.dtype.kind
    if kind in "iuf" or (kind == "c" and complex_ok):
        return arr
    if kind == "c":
        raise TypeError(
            f"{what} returned complex values at a real point; f must return real values "
            "(only method='complex' evaluates f at complex points)"
        )
    raise TypeError(f"{what} must return real numbers, got an array of dtype {arr.dtype}")


def _check_vector(value: Any, m: int | None = None, complex_ok: bool = False) -> NDArray:
    arr = np.asarray(value)
    if arr.ndim != 1:
        raise TypeError(
            "f must return a 1-D array for jacobian, got "
            + (
                "a scalar; for a scalar f use fastgrad.numerical_gradient"
                if arr.ndim == 0
                else f"shape {arr.shape}"
            )
        )
    if m is not None and arr.shape[0] != m:
        raise ValueError(f"f returned {arr.shape[0]} values after {m} at the first call")
    return _check_values(arr, complex_ok)


def _warn_non_finite(result: NDArray, what: str) -> None:
    """One ``RuntimeWarning`` per call when elements of ``result`` are NaN or infinite (``f``
    returned NaN or inf at some stencil point): the values are kept, as NumPy keeps the
    result of an invalid operation, but never silently."""
    bad = ~np.isfinite(result)
    if bad.any():
        first = tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), result.shape))
        warnings.warn(
            f"{int(bad.sum())} of {result.size} elements of the {what} are NaN or infinite, "
            f"the first at index {first}: f returned NaN or inf at some of the points it was "
            "evaluated at (a step across a pole or outside f's domain?)",
            RuntimeWarning,
            stacklevel=3,
        )


def _check_method(method: Any) -> str:
    if method not in rd.STENCILS:
        choices = ", ".join(repr(m) for m in METHODS)
        raise ValueError(f"unknown method {method!r}; choose one of {choices}")
    return method


def _check_common(f: Any, args: Any, backend: Any, vectorized: bool, client: Any = None) -> str:
    if not callable(f):
        raise TypeError(f"f must be callable, got {type(f).__name__}")
    if not isinstance(args, tuple):
        raise TypeError(f"args must be a tuple, got {type(args).__name__}")
    vectorized = check_bool(vectorized, "vectorized")
    if backend == "auto":
        backend = "numba" if is_jitted(f) and not vectorized else "numpy"
    backend = resolve_backend(backend)
    _dask.check_client_argument(client, backend)
    if backend == "numba" and not is_jitted(f):
        raise TypeError(
            "backend='numba' needs f compiled with numba.njit (e.g. f = numba.njit(f)); "
            "for a plain Python function use backend='numpy'"
        )
    if vectorized and backend != "numpy":
        raise ValueError(
            "vectorized=True evaluates a NumPy f on stacks of points: it needs backend='numpy'"
        )
    return backend


def _working_dtype(arr: NDArray, h: Any) -> np.dtype:
    """float64 arithmetic, as the book's; float32 only for float32 input with ``h="auto"``,
    whose steps are chosen for float32. The book's step in float32 would be pure rounding:
    ``f`` changes by whole ulps of itself, so ``(f(x+h) - f(x-h)) / 2h`` of a sum of 78,400
    squares is 0 or 9.77, never the derivative."""
    auto = isinstance(h, str) and h == "auto"
    return np.dtype(np.float32 if arr.dtype == np.float32 and auto else np.float64)


def _steps(h: Any, method: str, arr: NDArray, dtype: np.dtype, power: float | None = None):
    if isinstance(h, str):
        if h != "auto":
            raise TypeError(f"h must be a positive float or 'auto', got {h!r}")
        return rd.auto_step(method, arr, dtype, power).reshape(-1)
    h = check_positive_float(h, "h")
    check_step(h, _max_abs(arr), float(np.finfo(dtype).eps))
    return np.full(arr.size, h, dtype=dtype)


_POOL_NAME = "fastgrad-vectorized"
_pool: tuple[int, int, ThreadPoolExecutor] | None = None  # (pid, threads, pool)
_pool_lock = threading.Lock()


def _stack_pool(threads: int) -> ThreadPoolExecutor:
    """The worker threads of ``vectorized=True``, started once (again after a fork, or for
    more threads): starting two threads costs more than a whole small gradient."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid() or _pool[1] < threads:
            _pool = (os.getpid(), threads, ThreadPoolExecutor(threads, _POOL_NAME))
        return _pool[2]


def _on_workers(fn: Callable[[int], NDArray], items: Sequence[int], threads: int) -> list:
    """``[fn(i) for i in items]``, computed by ``threads`` worker threads that claim the
    items in turn, under a BLAS hold (``f``'s BLAS on every worker would oversubscribe the
    cores, as in :func:`fastgrad._api._kernel_region`). The first exception of ``fn`` is
    raised here once every worker has stopped, and so is an interrupt of the wait; no worker
    starts an item after either."""
    results: list = [None] * len(items)
    claims = iter(range(len(items)))
    lock = threading.Lock()
    stop = threading.Event()

    def worker() -> None:
        while not stop.is_set():
            with lock:
                i = next(claims, None)
            if i is None:
                return
            try:
                results[i] = fn(items[i])
            except BaseException:
                stop.set()
                raise

    with blas_held():
        futures = [_stack_pool(threads).submit(worker) for _ in range(threads)]
        try:
            for future in futures:
                future.result()
        finally:
            stop.set()
            wait(futures)
    return results


_heap_primed = False


def _keep_freed_stacks() -> None:
    """Once per process: free one block of 4x :data:`VECTORIZED_BUDGET`, so that glibc keeps
    the memory of the stacks and of ``f``'s temporaries for the next stack.

    glibc's malloc serves a block above its mmap threshold (128 KiB at start) with a fresh
    mapping, and returns freed memory above its trim threshold at the top of the heap to the
    system; either way the next stack touches fresh pages, a page fault per 4 KiB. Freeing a
    mapped block raises both thresholds, to its size and twice it (mallopt(3),
    ``M_MMAP_THRESHOLD``: glibc adapts them to a program that frees large blocks); this does
    it on purpose, once. Its cost is one 16 MiB mapping, never touched; other allocators are
    unaffected. Measured in ``docs/design.md``, "vectorized=True".
    """
    global _heap_primed
    if not _heap_primed:
        _heap_primed = True
        block = np.empty(4 * VECTORIZED_BUDGET, dtype=np.uint8)
        del block


def _private_args(args: tuple) -> tuple:
    """``args`` with every array copied, as each chunk of the kernel gets them."""
    return tuple(a.copy() if isinstance(a, np.ndarray) else a for a in args)


# -- evaluation --------------------------------------------------------------------------------


@dataclass
class _Problem:
    """One differentiation: the function, the point, the backend, and the evaluations."""

    f: Callable[..., Any]
    x: Any  # what the caller passed
    arr: NDArray  # x as an array, checked
    args: tuple
    backend: str
    dtype: np.dtype
    vector: bool  # f returns a 1-D array (jacobian)
    vectorized: bool = False
    client: Any = None  # the dask backend's: a Client, an address, or None for the current
    progress: bool | None = None  # the dask backend's bar: None = only for long calls
    nfev: int = 0
    _m: int | None = field(default=None)
    _f0: Any = field(default=None)
    _cost: float = 0.0  # seconds of one evaluation of f, timed at f(x)

    def __post_init__(self) -> None:
        # the calls made from Python get one private copy of the arrays in args (the kernels
        # make their own per chunk): f may use them as scratch, the caller's stay untouched
        self.private_args = _private_args(self.args)

    def call(self, v: NDArray) -> Any:
        self.nfev += 1
        out = self.f(v, *self.private_args)
        if self.vector:
            arr = _check_vector(out, self._m, complex_ok=np.iscomplexobj(v))
            self._m = arr.shape[0]
            return arr
        return _check_scalar(out, complex_ok=np.iscomplexobj(v))

    def working_array(self, complex_step: bool) -> tuple[NDArray, bool]:
        """The array to nudge, and whether it is the caller's own (the book's idiom)."""
        dtype = np.result_type(self.dtype, np.complex64) if complex_step else self.dtype
        if not complex_step and self.backend == "numpy" and nudged_in_place(self.x, dtype):
            return self.x, True
        return np.array(self.arr, dtype=dtype, order="C"), False

    def held(self) -> contextlib.AbstractContextManager:
        """While the caller's own array is nudged in place, other threads' in-place nudges
        wait (:func:`fastgrad._idiom.nudging`); stacks of points (``vectorized``) nudge
        nothing in place."""
        _, in_place = self.working_array(False)
        return nudging(self.x if in_place and not self.vectorized else None)

    def one(self, v: NDArray) -> Any:
        """``f`` at one point, whether or not ``f`` is vectorized."""
        if not self.vectorized:
            return self.call(v)
        self.nfev += 1
        return self._stacked(v[None], 1)[0]

    def base(self) -> Any:
        """``f(x)``, evaluated once (it also checks what ``f`` returns before any loop)."""
        if self._f0 is None:
            v, _ = self.working_array(False)
            self._f0, self._cost = _dask.timed(lambda: self.one(v))
        return self._f0

    def _stacked(self, X: NDArray, rows: int, args: tuple | None = None) -> NDArray:
        """``f`` on a stack of ``rows`` points, with ``args`` (default: the calling thread's
        private copies), its result's shape checked. It counts nothing, so the worker threads
        of :meth:`_values_vectorized` can call it; its callers count."""
        out = np.asarray(self.f(X, *(self.private_args if args is None else args)))
        m = self._m  # set by f(x), before any worker runs
        ok = out.ndim == (2 if self.vector else 1) and out.shape[0] == rows
        if ok and self.vector and m is not None:
            ok = out.shape[1] == m
        if not ok:
            want = f"({rows}, m)" if self.vector else f"({rows},)"
            raise ValueError(
                f"vectorized f must map a stack of {rows} points, shape ({rows}, *x.shape), "
                f"to shape {want}; it returned shape {out.shape}"
            )
        if self.vector and m is None:
            self._m = out.shape[1]
        return _check_values(out, np.iscomplexobj(X), "vectorized f")

    def values(self, method: str, h: NDArray) -> tuple[NDArray, Any, bool]:
        """Stencil values of ``method`` with steps ``h``, ``f(x)`` if it uses it, and whether
        the caller's array was nudged in place."""
        st = rd.STENCILS[method]
        # f(x) checks what f returns before any loop, gives a Jacobian its row count, and is
        # a value of the stencils that use it; a scalar f's complex step skips it (and
        # _reject_real_only explains an f that cannot take complex input)
        f0 = self.base() if st.uses_f0 or method != "complex" or self.vector else None
        v, in_place = self.working_array(method == "complex")
        f0 = f0 if st.uses_f0 else None
        if self.vectorized:
            return self._values_vectorized(v, st.offsets, h), f0, in_place
        if self.backend == "numpy":
            call = _located(self.call, v)
            values = rd.stencil_values(call, v, st.offsets, h.reshape(v.shape))
            return values, f0, in_place
        if self.backend == "dask":
            return self._values_dask(v, st.offsets, h), f0, in_place
        offsets = np.array(st.offsets, dtype=v.dtype)
        shape = (v.size, len(st.offsets)) + ((self._m,) if self.vector else ())
        values = np.empty(shape, dtype=np.complex128 if method == "complex" else np.float64)
        with _kernel_region():
            p = kd.stencil_values(self.f, v, offsets, h, self.args, values)
        self.nfev += v.size * len(st.offsets)
        if p >= 0:
            _raise_again(self, v, _stencil_points(v, offsets, h, p))
        return values, f0, in_place

    def _values_dask(self, v: NDArray, offsets: tuple, h: NDArray) -> NDArray:
        """The stencil values computed on a Dask cluster, in ranges of parameters sized by
        the cost of ``f`` (:mod:`fastgrad._dask`), concatenated in parameter order."""
        n, K = v.size, len(offsets)
        client, chunk, progress = self._dask_tasks(v, K)
        parts = _dask.map_ranges(
            client,
            _stencil_range,
            n,
            chunk,
            shared=(self.f, v, self.args, h),
            extra=(offsets, self.vector, self._m),
            progress=progress,
        )
        self.nfev += n * K
        return np.concatenate(parts)

    def _dask_tasks(self, v: NDArray, evaluations: int) -> tuple[Any, int, bool]:
        """The client, the parameters (or Hessian rows) per task for ``evaluations``
        evaluations each, from the measured cost of ``f``, and whether to show a progress bar
        (from the expected seconds of work per worker thread)."""
        client = _dask.get_client(self.client)
        self.base()
        cost = self._cost
        if is_jitted(self.f):  # the first call compiled f: time a second one
            _, cost = _dask.timed(lambda: self.call(v))
        threads = _dask._threads(client)
        expected = cost * evaluations * v.size / threads
        progress = _dask.show_progress(self.progress, expected)
        return client, _dask.task_size(v.size, cost, evaluations, threads), progress

    def hessian_values_dask(self, v: NDArray, h: NDArray) -> NDArray:
        """:func:`fastgrad.reference.differentiate.hessian_values` on a Dask cluster, in
        ranges of rows ``i`` (about ``2 n`` evaluations a row), concatenated in order."""
        n = v.size
        client, chunk, progress = self._dask_tasks(v, 2 * n)
        parts = _dask.map_ranges(
            client,
            _hessian_range,
            n,
            chunk,
            shared=(self.f, v, self.args, h),
            extra=(self.base(),),
            progress=progress,
        )
        self.nfev += 2 * n + 2 * n * (n - 1)
        return np.concatenate(parts)

    def _values_vectorized(self, v: NDArray, offsets: tuple, h: NDArray) -> NDArray:
        """The stencil values from stacks of points, at most :data:`VECTORIZED_BUDGET` bytes
        a stack, on as many threads as the kernels use (:func:`fastgrad.get_num_threads`):
        NumPy releases the GIL in its array operations, so the stacks of a NumPy ``f`` are
        evaluated on all cores. Each thread gives ``f`` its own copies of the arrays in
        ``args``, as the kernels' chunks do. The stacks do not depend on the thread count, so
        neither does the result (``docs/design.md``, "vectorized=True")."""
        _keep_freed_stacks()
        n, K = v.size, len(offsets)
        flat = v.reshape(-1)
        chunk = max(1, VECTORIZED_BUDGET // (max(1, v.nbytes) * K))
        starts = range(0, n, chunk)
        o = np.array(offsets, dtype=v.dtype)
        private = {threading.get_ident(): self.private_args}

        def stack(start: int) -> NDArray:
            stop = min(start + chunk, n)
            rows = (stop - start) * K
            me = threading.get_ident()
            if me not in private:
                private[me] = _private_args(self.args)
            X = np.broadcast_to(flat, (rows, n)).copy()
            p = np.repeat(np.arange(start, stop), K)
            X[np.arange(rows), p] = flat[p] + np.tile(o, stop - start) * h[p]
            out = self._stacked(X.reshape((rows, *v.shape)), rows, private[me])
            return out.reshape((stop - start, K) + out.shape[1:])

        threads = min(numba.get_num_threads(), len(starts))
        if threads == 1 or threading.current_thread().name.startswith(_POOL_NAME):
            parts = [stack(start) for start in starts]  # (f's own nested calls: in line)
        else:
            parts = _on_workers(stack, starts, threads)
        self.nfev += n * K
        return np.concatenate(parts)

    def derivative(
        self, method: str, h: NDArray, rounding: bool = True
    ) -> tuple[NDArray, NDArray | None, NDArray | None]:
        """The derivatives, the Richardson extrapolation error, and the rounding bound (None
        unless ``rounding``: only the error estimate needs it)."""
        values, f0, in_place = self.values(method, h)
        if method == "complex":
            self._check_complex(values, h)
        with np.errstate(invalid="ignore", over="ignore"):  # _warn_non_finite says it once
            d, extrapolation = rd.combine(method, values, h, f0)
        self.reject_if_ignored(d, in_place)
        if not rounding:
            return d, extrapolation, None
        eps = float(np.finfo(self.dtype).eps)
        return d, extrapolation, rd.rounding_bound(method, values, h, f0, eps)

    def reject_if_ignored(self, d: NDArray, in_place: bool) -> None:
        """An all-zero result from a private copy of ``x`` that a Python ``f`` could have
        ignored: raise if ``f`` ignores its argument
        (:func:`fastgrad._idiom.reject_ignored_argument`)."""
        if in_place or not isinstance(self.x, np.ndarray) or np.any(d):
            return
        if self.backend == "numpy" or (self.backend == "dask" and not is_jitted(self.f)):
            reject_ignored_argument(self.one, np.array(self.arr, dtype=self.dtype), self.x)

    def _check_complex(self, values: NDArray, h: NDArray) -> None:
        if values.imag.any():
            return
        # every imaginary part is 0: either f is flat, or it drops the imaginary part
        p = int(np.argmax(np.abs(self.arr.reshape(-1))))
        probe = rd.STENCILS["central"].offsets
        v = np.array(self.arr, dtype=self.dtype).reshape(-1)
        step = rd.auto_step("central", v[p : p + 1], self.dtype)[0]
        real = []
        for o in probe:
            w = v.copy()
            w[p] += o * step
            real.append(np.asarray(self.one(w.reshape(self.arr.shape))))
        if not np.array_equal(real[0], real[1]):
            raise ValueError(
                "method='complex' needs an f that carries the imaginary part through: "
                "Im f(x + ih) was 0 for every element while f changes along real steps, so f "
                "drops it (abs, .real, np.maximum, a cast to float, comparisons...); use "
                "method='central4' or 'richardson' for such an f"
            )


def _stencil_range(f, v, args, h, offsets, vector, m, start, stop):
    """On a dask worker: the stencil values of parameters ``[start, stop)``, with the Numba
    kernel for a compiled ``f`` and the reference otherwise; an exception of ``f`` carries
    the parameter it was raised at (``exc.fastgrad_parameter`` and a note)."""
    problem = _Problem(f, v, v, args, "numpy", v.dtype, vector)
    problem._m = m
    if is_jitted(f):
        K = len(offsets)
        shape = (stop - start, K) + ((m,) if vector else ())
        values = np.empty(shape, dtype=np.complex128 if np.iscomplexobj(v) else np.float64)
        o = np.array(offsets, dtype=v.dtype)
        with _kernel_region():
            p = kd.stencil_values(f, v, o, h, args, values, start)
        if p >= 0:
            _raise_again(problem, v, _stencil_points(v, o, h, p), _ON_WORKER)
        return values
    w = v.copy()  # the scattered v is shared by the tasks of this worker: nudge a copy
    call = _located(problem.call, v, _ON_WORKER)
    return rd.stencil_values(call, w, offsets, h.reshape(w.shape), start, stop)


def _hessian_range(f, v, args, h, f0, start, stop):
    """On a dask worker: the second-difference values of the rows ``[start, stop)``, as
    :func:`_stencil_range` does for the stencils."""
    problem = _Problem(f, v, v, args, "numpy", v.dtype, False)
    if is_jitted(f):
        with _kernel_region():
            values, i, j = kd.hessian_values(f, v, h, args, float(f0), start, stop)
        if i >= 0:
            _raise_again(problem, v, _hessian_points(v, h, i, j), _ON_WORKER)
        return values
    call = _located(problem.call, v, _ON_WORKER)
    return rd.hessian_values(call, v.copy(), h, f0, start, stop)


_ON_WORKER = " on a dask worker"


def _located(call: Callable[[NDArray], Any], v: NDArray, where: str = "") -> Callable:
    """``call`` whose exceptions name the parameter(s) nudged away from ``v``: the attribute
    ``exc.fastgrad_parameter`` (the flat index) and a note."""
    base = v.reshape(-1).copy()  # v itself may be the array being nudged

    def located(point):
        try:
            return call(point)
        except Exception as exc:
            moved = [int(p) for p in np.flatnonzero(point.reshape(-1) != base)]
            if not moved:  # f raised at x itself
                raise
            p = moved[0]
            idx = tuple(int(i) for i in np.unravel_index(p, v.shape))
            exc.fastgrad_parameter = p
            also = f" (nudged with {moved[1:]})" if len(moved) > 1 else ""
            note = f"fastgrad: f raised at parameter {p} (index {idx} of x){also}{where}"
            if hasattr(exc, "add_note"):
                exc.add_note(note)
                raise
            raise RuntimeError(f"{note}: {type(exc).__name__}: {exc}") from exc

    return located


def _stencil_points(v: NDArray, offsets: NDArray, h: NDArray, p: int) -> list[NDArray]:
    """The points at which the kernel evaluated ``f`` for parameter ``p``, computed as it
    computes them."""
    points = []
    for o in offsets:
        w = v.copy()
        w.reshape(-1)[p] = v.reshape(-1)[p] + o * h[p]
        points.append(w)
    return points


def _hessian_points(v: NDArray, h: NDArray, i: int, j: int) -> list[NDArray]:
    """The points of the pair ``(i, j)`` of the Hessian kernel (steps ``2 h_i`` on the
    diagonal)."""
    flat = v.reshape(-1)
    if i == j:
        moves = [((i, flat[i] + 2 * h[i]),), ((i, flat[i] - 2 * h[i]),)]
    else:
        moves = [
            ((i, flat[i] + si * h[i]), (j, flat[j] + sj * h[j])) for si in (1, -1) for sj in (1, -1)
        ]
    points = []
    for move in moves:
        w = v.copy()
        for q, value in move:
            w.reshape(-1)[q] = value
        points.append(w)
    return points


def _raise_again(problem: _Problem, v: NDArray, points: list[NDArray], where: str = "") -> None:
    """``f`` raised inside the parallel kernel, which cannot carry the exception out: evaluate
    it from Python at the kernel's points, so that ``f``'s own exception reaches the caller,
    naming the parameter."""
    call = _located(problem.call, v, where)
    for point in points:
        call(point)
    raise RuntimeError(
        "f raised an exception inside the parallel kernel, but not when it was evaluated "
        "again from Python at the same points: does f depend on state other than its "
        "arguments? Run it with backend='numpy' to see the exception"
    )


def _prepare(f, x, args, backend, vectorized, vector, h, client=None, progress=None):
    backend = _check_common(f, args, backend, vectorized, client)
    _dask.check_progress_argument(progress, backend)
    arr = _checked_float_array(x)
    dtype = _working_dtype(arr, h)
    if backend == "numba":
        if any(isinstance(a, np.ndarray) and np.shares_memory(a, arr) for a in args):
            raise ValueError(
                "an array in args shares memory with x: the numba backend nudges private "
                "copies of x (one per thread) and gives f private copies of args, so f would "
                "never see the nudge through args; pass the array only as x"
            )
    return _Problem(f, x, arr, args, backend, dtype, vector, vectorized, client, progress)


def _reject_real_only(problem: _Problem) -> None:
    """After method="complex" failed: if ``f`` cannot even be called at ``x + 0i``, say that
    it needs complex input (checked only then: a probe before every call cost 6 us)."""
    probe, _ = problem.working_array(complex_step=True)
    try:
        problem.one(probe)
    except Exception as exc:
        raise TypeError(
            f"method='complex' needs an f that accepts complex input, and this one "
            f"raised {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}; "
            "use method='central4' or 'richardson' for an f of real input only"
        ) from exc


def _differentiate(problem: _Problem, method: str, h: Any, full_output: bool):
    with problem.held():
        return _derivative_and_info(problem, method, h, full_output)


def _derivative_and_info(problem: _Problem, method: str, h: Any, full_output: bool):
    steps = _steps(h, method, problem.arr, problem.dtype)
    try:
        d, extrapolation, rounding = problem.derivative(method, steps, rounding=full_output)
    except Exception:
        if method == "complex":
            _reject_real_only(problem)
        raise
    if not full_output:
        return d, None
    if extrapolation is None:
        d2, _, _ = problem.derivative(method, 2 * steps, rounding=False)
        # |D(h) - D(2h)| is (2^order - 1) times D(h)'s truncation error: at least twice it
        order = rd.STENCILS[method].order
        error = np.abs(d - d2) * max(1.0, 2.0 / (2.0**order - 1.0)) + rounding
    else:
        error = extrapolation + rounding
    info = DerivativeInfo(error, problem.nfev, steps.astype(np.float64), method)
    return d, info


def numerical_gradient(
    f: Callable[..., float],
    x: ArrayLike,
    *,
    h: float | Literal["auto"] = 1e-4,
    method: Method = "central",
    args: tuple = (),
    backend: Literal["auto", "numpy", "numba", "dask"] = "auto",
    full_output: bool = False,
    vectorized: bool = False,
    client: Any = None,
    progress: bool | None = None,
) -> NDArray[np.float64] | tuple[NDArray[np.float64], DerivativeInfo]:
    """Numerical gradient of a scalar function; by default the book's central difference.

    Parameters
    ----------
    f : callable
        ``f(x, *args) -> float``. For ``backend="numba"`` it must be compiled with
        ``numba.njit``; for ``method="complex"`` it must accept complex input.
    x : ndarray of float, any shape
        The parameters. With the numpy backend a writable array of the working dtype
        (float64; float32 for float32 ``x`` with ``h="auto"``) is nudged in place and
        restored bit for bit (also when ``f`` raises or the call is interrupted), as in the
        book, so that
        ``f = lambda w: net.loss(x, t)``, which reads ``net.W`` rather than its argument,
        sees every nudge. Any other ``x`` (read-only, another dtype, a list) is copied, and
        an ``f`` that then ignores its argument is an error, not a zero gradient. With the
        numba backend every thread nudges its own copy.
    h : float or "auto", default 1e-4
        The book's absolute step, within ``[100 eps, 0.1] * max(1, max|x|)`` (smaller steps
        are lost to rounding, larger ones measure a secant); or ``"auto"``: per element, the
        method's power of the working precision's ``eps`` times ``max(1, |x_p|)``, made
        exactly representable (:mod:`fastgrad.reference.differentiate`).
    method : {"central", "forward", "backward", "central4", "complex", "richardson"}
    args : tuple
        Extra arguments passed to ``f``. On the numba backend each chunk of parameters gets
        its own copies of the arrays in ``args``, so ``f`` may use them as scratch; ``f``
        must not rely on what an earlier call left in them. Arrays inside other containers
        are shared, not copied.
    backend : {"auto", "numpy", "numba", "dask"}
        ``"auto"``: the parallel kernel when ``f`` is a Numba-compiled function, the
        reference otherwise (never ``"dask"``). ``"dask"``: ranges of parameters evaluated on
        a Dask cluster, each with the kernel (compiled ``f``) or the reference, the result
        equal bit for bit to the local backend's (:mod:`fastgrad._dask`; ``f`` must pickle,
        a compiled ``f`` must be importable on the workers, ``x`` is never nudged in place).
    full_output : bool, default False
        Also return a :class:`DerivativeInfo` (per-element error estimate, evaluations).
    vectorized : bool, default False
        NumPy backend: ``f`` takes a stack of points, shape ``(k, *x.shape)``, and returns
        ``(k,)``; many perturbations are evaluated per call, in batches of at most
        :data:`VECTORIZED_BUDGET` bytes, on :func:`fastgrad.get_num_threads` threads (NumPy
        releases the GIL in its array operations): ``f`` may be called from several threads
        at once, each with its own copies of the arrays in ``args``.
    client : distributed.Client or str, optional
        ``backend="dask"`` only (an error otherwise): the client, or a scheduler address to
        connect to (within ``fastgrad._dask.CONNECT_TIMEOUT`` seconds); default, the
        current client (``distributed.get_client()``).
    progress : bool, optional
        ``backend="dask"``: a progress bar over the tasks, on stderr. ``None`` (default): only
        when more than ``fastgrad._dask.PROGRESS_SECONDS`` of work per worker thread is
        expected from the measured cost of ``f``; never when stderr is not a terminal.

    Returns
    -------
    ndarray of float64, shaped like ``x`` (and a :class:`DerivativeInfo` if ``full_output``)

    Notes
    -----
    Section 4.4 of the book. The numba backend perturbs the parameters concurrently on all
    cores; the result does not depend on the number of threads and equals the reference bit
    for bit for the same compiled ``f``. float32 ``x`` is differentiated in float64
    arithmetic (the book's step in float32 arithmetic would measure only rounding), except
    with ``h="auto"``, which differentiates it in float32 with steps chosen for float32 and
    an error estimate (``full_output``) that includes float32's rounding; the result is
    float64.

    Examples
    --------
    >>> numerical_gradient(lambda x: (x**2).sum(), np.array([3.0, 4.0]))
    array([6., 8.])
    >>> g, info = numerical_gradient(np.exp, np.array(1.0), method="richardson", h="auto",
    ...                              full_output=True)
    >>> bool(abs(g - np.e) < 1e-12), bool(info.error >= abs(g - np.e)), info.nfev  # f(x) + 6
    (True, True, 7)

    The book's idiom (section 4.4.2): ``f`` ignores its argument and reads ``net.W``.

    >>> from fastgrad import SimpleNet
    >>> net = SimpleNet(W=[[0.47355232, 0.9977393, 0.84668094],
    ...                    [0.85557411, 0.03563661, 0.69422093]], backend="numpy")
    >>> f = lambda w: net.loss(np.array([0.6, 0.9]), np.array([0, 0, 1]))
    >>> numerical_gradient(f, net.W).round(6)  # the book prints the same to 6 digits
    array([[ 0.219248,  0.143562, -0.36281 ],
           [ 0.328871,  0.215344, -0.544215]])
    """
    method = _check_method(method)
    full_output = check_bool(full_output, "full_output")
    problem = _prepare(f, x, args, backend, vectorized, False, h, client, progress)
    d, info = _differentiate(problem, method, h, full_output)
    grad = np.asarray(d, dtype=np.float64).reshape(problem.arr.shape)
    _warn_non_finite(grad, "gradient")
    if info is None:
        return grad
    return grad, DerivativeInfo(
        info.error.reshape(problem.arr.shape),
        info.nfev,
        info.h.reshape(problem.arr.shape),
        method,
    )


def jacobian(
    f: Callable[..., ArrayLike],
    x: ArrayLike,
    *,
    h: float | Literal["auto"] = 1e-4,
    method: Method = "central",
    args: tuple = (),
    backend: Literal["auto", "numpy", "numba", "dask"] = "auto",
    full_output: bool = False,
    vectorized: bool = False,
    client: Any = None,
    progress: bool | None = None,
) -> NDArray[np.float64] | tuple[NDArray[np.float64], DerivativeInfo]:
    """Numerical Jacobian of ``f: R^n -> R^m``, shape ``(m, *x.shape)``.

    The same parameters as :func:`numerical_gradient`; ``f(x, *args)`` returns a 1-D array of
    ``m`` values (with ``vectorized=True``: ``(k, m)`` for a stack of ``k`` points).

    Examples
    --------
    >>> J = jacobian(lambda v: np.array([v[0] * v[1], v[0] + v[1] ** 2]), np.array([2.0, 3.0]),
    ...              h="auto", method="central4")
    >>> J.round(8)
    array([[3., 2.],
           [1., 6.]])
    """
    method = _check_method(method)
    full_output = check_bool(full_output, "full_output")
    problem = _prepare(f, x, args, backend, vectorized, True, h, client, progress)
    d, info = _differentiate(problem, method, h, full_output)  # (n, m)
    shape = (d.shape[1], *problem.arr.shape)
    J = np.ascontiguousarray(np.asarray(d, dtype=np.float64).T).reshape(shape)
    _warn_non_finite(J, "Jacobian")
    if info is None:
        return J
    error = np.ascontiguousarray(info.error.T).reshape(shape)
    return J, DerivativeInfo(error, info.nfev, info.h.reshape(problem.arr.shape), method)


def hessian(
    f: Callable[..., float],
    x: ArrayLike,
    *,
    h: float | Literal["auto"] = "auto",
    method: Literal["central"] = "central",
    args: tuple = (),
    backend: Literal["auto", "numpy", "numba", "dask"] = "auto",
    full_output: bool = False,
    client: Any = None,
    progress: bool | None = None,
) -> NDArray[np.float64] | tuple[NDArray[np.float64], DerivativeInfo]:
    """Numerical Hessian of a scalar ``f``, shape ``(n, n)`` for ``n = x.size``, symmetric.

    Second central differences, ``(f(+i+j) - f(+i-j) - f(-i+j) + f(-i-j)) / (4 h_i h_j)``
    (on the diagonal, steps of ``2 h_i``): ``1 + 2n + 2n(n-1)`` evaluations; the parallel
    kernel fills each pair ``i <= j`` once. ``h="auto"`` is ``eps^(1/4) max(1, |x_p|)``.
    ``backend="dask"`` (with ``client=`` and ``progress=``, as for
    :func:`numerical_gradient`) evaluates ranges
    of rows ``i`` on the workers, the result equal bit for bit to the local backend's.

    Examples
    --------
    >>> hessian(lambda v: v[0] ** 2 * v[1], np.array([1.0, 2.0])).round(6)
    array([[4., 2.],
           [2., 0.]])
    """
    if method != "central":
        raise ValueError(f"hessian supports method='central' (second differences), got {method!r}")
    full_output = check_bool(full_output, "full_output")
    problem = _prepare(f, x, args, backend, False, False, h, client, progress)
    with problem.held():
        steps = _hessian_steps(problem, h)
        H, values = _second_differences(problem, steps)
        _warn_non_finite(H, "Hessian")
        if not full_output:
            return H
        H2, _ = _second_differences(problem, 2 * steps)
    eps = float(np.finfo(problem.dtype).eps)
    mag = float(np.max(np.abs(values)))
    hs = steps.astype(np.float64)
    error = np.abs(H - H2) + 4 * eps * mag / np.outer(hs, hs)
    return H, DerivativeInfo(error, problem.nfev, hs.reshape(problem.arr.shape), method)


def _hessian_steps(problem: _Problem, h: Any) -> NDArray:
    if isinstance(h, str) and h == "auto":
        return rd.auto_step("central", problem.arr, problem.dtype, rd.HESSIAN_POWER).reshape(-1)
    return _steps(h, "central", problem.arr, problem.dtype)


def _second_differences(problem: _Problem, hs: NDArray) -> tuple[NDArray, NDArray]:
    """The Hessian with steps ``hs`` on the problem's backend, and its second-difference
    values."""
    in_place = False
    if problem.backend == "numpy":
        v, in_place = problem.working_array(False)
        if not v.flags.c_contiguous:
            v, in_place = v.copy(), False
        values = rd.hessian_values(_located(problem.call, v), v, hs, problem.base())
    elif problem.backend == "dask":
        v = np.array(problem.arr, dtype=problem.dtype, order="C")
        values = problem.hessian_values_dask(v, hs)
    else:
        v = np.array(problem.arr, dtype=problem.dtype, order="C")
        f0 = float(problem.base())
        with _kernel_region():
            values, i, j = kd.hessian_values(problem.f, v, hs, problem.args, f0)
        if i >= 0:
            _raise_again(problem, v, _hessian_points(v, hs, i, j))
        n = v.size
        problem.nfev += 2 * n + 2 * n * (n - 1)
    with np.errstate(invalid="ignore", over="ignore"):  # _warn_non_finite says it once
        H = rd.combine_hessian(values, hs)
    problem.reject_if_ignored(H, in_place)
    return H, values


def _directional_derivatives(problem: _Problem, u: NDArray, h: Any, method: str) -> NDArray:
    """The derivatives of ``s -> f(x + s u_d)`` at 0 for each row ``u_d`` of ``u``, evaluated
    locally whatever the backend (a few evaluations each). Like :func:`numerical_gradient`, it
    moves the caller's own array when the numpy backend may (the book's idiom: ``f`` may read
    that array instead of its argument) and restores it bit for bit; on a copy, an ``f``
    that ignores its argument is an error."""
    v, in_place = problem.working_array(False)
    in_place = in_place and method != "complex"  # a complex point needs a complex copy
    out = np.empty(u.shape[0])
    with problem.held():
        saved = np.array(v, dtype=np.float64).reshape(-1)
        try:
            for d in range(u.shape[0]):
                along = _along(problem, v if in_place else None, saved, u[d])
                out[d] = numerical_gradient(along, np.zeros(1), h=h, method=method)[0]
        finally:
            if in_place:
                np.copyto(v, saved.reshape(v.shape), casting="same_kind")
    problem.reject_if_ignored(out, in_place)
    return out


def _along(problem: _Problem, v: NDArray | None, saved: NDArray, u: NDArray) -> Callable:
    """``s -> f(x + s u)``, written into ``v`` (the caller's array) or, for ``None``, into a
    new array of the working dtype (complex for a complex ``s``)."""
    shape, dtype = problem.arr.shape, problem.dtype

    def along(s: NDArray) -> Any:
        point = (saved + s[0] * u).reshape(shape)
        if v is None:
            return problem.call(point.astype(np.result_type(dtype, point.dtype)))
        np.copyto(v, point, casting="same_kind")
        return problem.call(v)

    return along


# -- gradient checks ---------------------------------------------------------------------------


@dataclass(frozen=True)
class GradientCheck:
    """The result of :func:`check_gradient`: truthy when every element passes.

    Attributes
    ----------
    ok : bool
        ``|g - n| <= atol + rtol |n|`` for every element (or direction).
    max_abs_error, max_rel_error : float
        Largest ``|g - n|`` and ``|g - n| / max(|n|, tiny)``.
    worst : tuple of int
        Index (into ``x``, or ``(direction,)``) of the largest ``|g - n| - rtol |n|``.
    analytic, numerical : ndarray
        The compared values: the gradient elements, or the directional derivatives.
    rtol, atol : float
    directions : int or None
    """

    ok: bool
    max_abs_error: float
    max_rel_error: float
    worst: tuple[int, ...]
    analytic: NDArray[np.float64]
    numerical: NDArray[np.float64]
    rtol: float
    atol: float
    directions: int | None

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        what = f"{self.directions} random directions" if self.directions else "every element"
        lines = [
            f"gradient check ({what}, |g - n| <= {self.atol:g} + {self.rtol:g} |n|): "
            + ("passed" if self.ok else "FAILED"),
            f"max abs error {self.max_abs_error:.3e}, max rel error {self.max_rel_error:.3e}",
            f"{'index':>16} {'analytic':>14} {'numerical':>14} {'abs error':>10}",
        ]
        err = np.abs(self.analytic - self.numerical)
        order = np.argsort(-err, axis=None)[:5]
        for flat in order:
            idx = np.unravel_index(flat, err.shape)
            lines.append(
                f"{str(tuple(int(i) for i in idx)):>16} {self.analytic[idx]:>14.6e} "
                f"{self.numerical[idx]:>14.6e} {err[idx]:>10.2e}"
            )
        return "\n".join(lines)


def check_gradient(
    f: Callable[..., float],
    grad: Callable[..., ArrayLike],
    x: ArrayLike,
    *,
    args: tuple = (),
    rtol: float = 1e-5,
    atol: float = 1e-8,
    method: Method = "central",
    h: float | Literal["auto"] = "auto",
    directions: int | None = None,
    backend: Literal["auto", "numpy", "numba", "dask"] = "auto",
    seed: int = 0,
    client: Any = None,
    progress: bool | None = None,
) -> GradientCheck:
    """Compare a gradient function with the numerical gradient, element by element or along
    ``directions`` random directions (two evaluations each, PyTorch's fast mode).

    Parameters
    ----------
    f : callable
        ``f(x, *args) -> float``.
    grad : callable
        ``grad(x, *args) -> ndarray`` shaped like ``x``: the gradient to check.
    x : ndarray of float
    rtol, atol : float
        An element passes when ``|g - n| <= atol + rtol |n|``.
    method, h, backend, args, client, progress
        As for :func:`numerical_gradient` (``h`` defaults to ``"auto"`` here). With
        ``directions``, the few directional derivatives are evaluated locally on any
        backend.
    directions : int, optional
        Check ``directions`` directional derivatives ``g . u`` along random unit vectors
        ``u`` (seeded by ``seed``) instead of every element.

    Returns
    -------
    GradientCheck
        Truthy when every element (or direction) passes; ``str()`` is a small table.

    Examples
    --------
    >>> x = np.array([1.0, 2.0])
    >>> bool(check_gradient(lambda v: np.sum(v**3), lambda v: 3 * v**2, x))
    True
    >>> bool(check_gradient(lambda v: np.sum(v**3), lambda v: 3 * v, x))
    False
    """
    rtol = float(rtol)
    atol = float(atol)
    if not (np.isfinite(rtol) and rtol >= 0 and np.isfinite(atol) and atol >= 0):
        raise ValueError(f"rtol and atol must be finite and >= 0, got {rtol!r}, {atol!r}")
    if not callable(grad):
        raise TypeError(f"grad must be callable, got {type(grad).__name__}")
    arr = _checked_float_array(x)
    _dask.check_client_argument(client, backend)
    _dask.check_progress_argument(progress, backend)
    # grad may read the array being nudged, as f may (the book's idiom): both under the lock
    with nudging(x if isinstance(x, np.ndarray) and x.flags.writeable else None):
        g = np.asarray(grad(np.array(arr, dtype=np.float64), *args), dtype=np.float64)
        if g.shape != arr.shape:
            raise ValueError(f"grad returned shape {g.shape}, but x has shape {arr.shape}")
        if directions is None:
            numerical = numerical_gradient(
                f,
                x,
                h=h,
                method=method,
                args=args,
                backend=backend,
                client=client,
                progress=progress,
            )
            analytic = g
        else:
            k = check_int(directions, "directions", 1)
            _check_method(method)
            problem = _prepare(f, x, args, backend, False, False, h, client)
            u = np.random.default_rng(seed).standard_normal((k, arr.size))
            u /= np.linalg.norm(u, axis=1, keepdims=True)
            numerical = _directional_derivatives(problem, u, h, method)
            analytic = u @ g.reshape(-1)
    return _compared(analytic, numerical, rtol, atol, directions)


def _compared(analytic, numerical, rtol: float, atol: float, directions) -> GradientCheck:
    err = np.abs(analytic - numerical)
    excess = err - (atol + rtol * np.abs(numerical))
    worst_flat = int(np.argmax(excess))
    worst = tuple(int(i) for i in np.unravel_index(worst_flat, np.shape(numerical)))
    rel = err / np.maximum(np.abs(numerical), np.finfo(np.float64).tiny)
    return GradientCheck(
        ok=bool(np.all(excess <= 0)),
        max_abs_error=float(err.max()),
        max_rel_error=float(rel.max()),
        worst=worst,
        analytic=np.asarray(analytic, dtype=np.float64),
        numerical=np.asarray(numerical, dtype=np.float64),
        rtol=rtol,
        atol=atol,
        directions=None if directions is None else int(directions),
    )
