"""One differentiation problem: the checks of ``f``, ``x`` and the arguments, the steps, and
the evaluation of a stencil on a backend (:class:`Problem`): the NumPy reference (the caller's
array nudged in place when the book's idiom may need it), the Numba kernel, stacks of points
(``vectorized=True``, :mod:`fastgrad._stacks`) or a Dask cluster. An exception of ``f`` names
the parameter it was raised at (:func:`located`), also when it was raised inside the parallel
kernel, which cannot carry it out (:func:`raise_again`).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numba.extending import is_jitted
from numpy.typing import ArrayLike, NDArray

from . import _dask, _stacks
from ._api import resolve_backend
from ._idiom import nudged_in_place, nudging, reject_ignored_argument
from ._stacks import POOL_NAME, keep_freed_stacks, on_workers
from ._threads import function_site, get_num_threads, region
from ._validation import check_bool, check_positive_float, check_step, max_abs
from .kernels import differentiate as kd
from .reference import differentiate as rd

#: The methods of :func:`fastgrad.numerical_gradient` and :func:`fastgrad.jacobian`.
METHODS: tuple[str, ...] = tuple(rd.STENCILS)


def checked_float_array(x: ArrayLike, name: str = "x") -> NDArray[np.floating]:
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


def check_method(method: Any) -> str:
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


def steps_for(h: Any, method: str, arr: NDArray, dtype: np.dtype, power: float | None = None):
    if isinstance(h, str):
        if h != "auto":
            raise TypeError(f"h must be a positive float or 'auto', got {h!r}")
        return rd.auto_step(method, arr, dtype, power).reshape(-1)
    h = check_positive_float(h, "h")
    check_step(h, max_abs(arr), float(np.finfo(dtype).eps))
    return np.full(arr.size, h, dtype=dtype)


def _private_args(args: tuple) -> tuple:
    """``args`` with every array copied, as each chunk of the kernel gets them."""
    return tuple(a.copy() if isinstance(a, np.ndarray) else a for a in args)


@dataclass
class Problem:
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
        # reject_real_only explains an f that cannot take complex input)
        f0 = self.base() if st.uses_f0 or method != "complex" or self.vector else None
        v, in_place = self.working_array(method == "complex")
        f0 = f0 if st.uses_f0 else None
        if self.vectorized:
            return self._values_vectorized(v, st.offsets, h), f0, in_place
        if self.backend == "numpy":
            call = located(self.call, v)
            values = rd.stencil_values(call, v, st.offsets, h.reshape(v.shape))
            return values, f0, in_place
        if self.backend == "dask":
            return self._values_dask(v, st.offsets, h), f0, in_place
        offsets = np.array(st.offsets, dtype=v.dtype)
        shape = (v.size, len(st.offsets)) + ((self._m,) if self.vector else ())
        values = np.empty(shape, dtype=np.complex128 if method == "complex" else np.float64)
        with region(function_site("stencil", self.f, v, len(offsets)), blas=True):
            p = kd.stencil_values(self.f, v, offsets, h, self.args, values)
        self.nfev += v.size * len(st.offsets)
        if p >= 0:
            raise_again(self, v, stencil_points(v, offsets, h, p))
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
        """The stencil values from stacks of points, at most
        :data:`fastgrad._stacks.VECTORIZED_BUDGET` bytes a stack, on as many threads as the
        kernels use (:func:`fastgrad.get_num_threads`): NumPy releases the GIL in its array
        operations, so the stacks of a NumPy ``f`` are evaluated on all cores. Each thread
        gives ``f`` its own copies of the arrays in ``args``, as the kernels' chunks do. The
        stacks do not depend on the thread count, so neither does the result
        (``docs/design.md``, "vectorized=True")."""
        keep_freed_stacks()
        n, K = v.size, len(offsets)
        flat = v.reshape(-1)
        chunk = max(1, _stacks.VECTORIZED_BUDGET // (max(1, v.nbytes) * K))
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

        threads = min(get_num_threads(), len(starts))
        if threads == 1 or threading.current_thread().name.startswith(POOL_NAME):
            parts = [stack(start) for start in starts]  # (f's own nested calls: in line)
        else:
            parts = on_workers(stack, starts, threads)
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
    problem = Problem(f, v, v, args, "numpy", v.dtype, vector)
    problem._m = m
    if is_jitted(f):
        K = len(offsets)
        shape = (stop - start, K) + ((m,) if vector else ())
        values = np.empty(shape, dtype=np.complex128 if np.iscomplexobj(v) else np.float64)
        o = np.array(offsets, dtype=v.dtype)
        with region(function_site("stencil", f, values, K), blas=True):
            p = kd.stencil_values(f, v, o, h, args, values, start)
        if p >= 0:
            raise_again(problem, v, stencil_points(v, o, h, p), _ON_WORKER)
        return values
    w = v.copy()  # the scattered v is shared by the tasks of this worker: nudge a copy
    call = located(problem.call, v, _ON_WORKER)
    return rd.stencil_values(call, w, offsets, h.reshape(w.shape), start, stop)


def _hessian_range(f, v, args, h, f0, start, stop):
    """On a dask worker: the second-difference values of the rows ``[start, stop)``, as
    :func:`_stencil_range` does for the stencils."""
    problem = Problem(f, v, v, args, "numpy", v.dtype, False)
    if is_jitted(f):
        with region(function_site("hessian", f, v, stop - start), blas=True):
            values, i, j = kd.hessian_values(f, v, h, args, float(f0), start, stop)
        if i >= 0:
            raise_again(problem, v, hessian_points(v, h, i, j), _ON_WORKER)
        return values
    call = located(problem.call, v, _ON_WORKER)
    return rd.hessian_values(call, v.copy(), h, f0, start, stop)


_ON_WORKER = " on a dask worker"


def located(call: Callable[[NDArray], Any], v: NDArray, where: str = "") -> Callable:
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


def stencil_points(v: NDArray, offsets: NDArray, h: NDArray, p: int) -> list[NDArray]:
    """The points at which the kernel evaluated ``f`` for parameter ``p``, computed as it
    computes them."""
    points = []
    for o in offsets:
        w = v.copy()
        w.reshape(-1)[p] = v.reshape(-1)[p] + o * h[p]
        points.append(w)
    return points


def hessian_points(v: NDArray, h: NDArray, i: int, j: int) -> list[NDArray]:
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


def raise_again(problem: Problem, v: NDArray, points: list[NDArray], where: str = "") -> None:
    """``f`` raised inside the parallel kernel, which cannot carry the exception out: evaluate
    it from Python at the kernel's points, so that ``f``'s own exception reaches the caller,
    naming the parameter."""
    call = located(problem.call, v, where)
    for point in points:
        call(point)
    raise RuntimeError(
        "f raised an exception inside the parallel kernel, but not when it was evaluated "
        "again from Python at the same points: does f depend on state other than its "
        "arguments? Run it with backend='numpy' to see the exception"
    )


def prepare(
    f,
    x,
    args,
    backend,
    vectorized,
    vector,
    h,
    method=None,
    full_output=False,
    client=None,
    progress=None,
):
    """The one validation of a differentiation entry point, called first (SciPy's
    ``_derivative_iv`` pattern): every argument is checked here, with an error that names it,
    and the :class:`Problem` it returns is trusted from then on (the kernels check nothing).
    ``method=None``: the caller checks its own (``hessian``)."""
    if method is not None:
        check_method(method)
    check_bool(full_output, "full_output")
    backend = _check_common(f, args, backend, vectorized, client)
    _dask.check_progress_argument(progress, backend)
    arr = checked_float_array(x)
    dtype = _working_dtype(arr, h)
    if backend == "numba":
        if any(isinstance(a, np.ndarray) and np.shares_memory(a, arr) for a in args):
            raise ValueError(
                "an array in args shares memory with x: the numba backend nudges private "
                "copies of x (one per thread) and gives f private copies of args, so f would "
                "never see the nudge through args; pass the array only as x"
            )
    return Problem(f, x, arr, args, backend, dtype, vector, vectorized, client, progress)


def reject_real_only(problem: Problem) -> None:
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
