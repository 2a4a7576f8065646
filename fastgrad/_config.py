"""The one place for Numba JIT options and the threading setup.

Every kernel in :mod:`fastgrad.kernels` is compiled through the decorators defined here, and
``tests/test_config.py`` walks the kernels to check that none bypasses them.

Flags and why:

- ``FASTMATH``: ``contract`` (fused multiply-add), ``reassoc`` (lets LLVM vectorise the
  per-parameter row sums) and ``nsz``. Left out on purpose: ``nnan``/``ninf`` (softmax and
  ``log`` must see ``inf``), ``arcp`` (measured here: it turned a division into a slow
  reciprocal chain) and ``afn`` (keeps libm-accurate ``exp``/``log``). ``reassoc`` changes the
  order of a sum inside one loop iteration only, the same order for every run and every
  thread count, so results stay deterministic.
- ``error_model="numpy"``: division by zero gives ``inf``/``nan`` as in NumPy, no exception.
- ``cache=True`` wherever valid: a later process loads the machine code from ``__pycache__``.
  Kernels that take a compiled function as an argument cannot be cached (``jit_generic``).
- ``nogil=True``: callers may run kernels from several Python threads at once.

Threading layer: Numba's default ``workqueue`` layer is not thread-safe (concurrent parallel
calls from two Python threads abort the process), so unless the user chose a layer through
``NUMBA_THREADING_LAYER``, fastgrad asks for a thread-safe one (TBB or OpenMP). Where neither
can be loaded (no TBB, no OpenMP runtime: a default macOS, for instance), importing still
works: fastgrad falls back to Numba's default layer, says so once in a
:class:`ThreadingLayerWarning`, and :data:`PARALLEL_LOCK` then serialises the parallel calls
that go through fastgrad's own Python code (the front door and the twin classes). A user who
calls the compiled functions of :mod:`fastgrad.kernels` directly from several Python threads
must hold that lock, or install TBB (``pip install tbb``).
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
import warnings
from collections.abc import Iterator

import numba
from numba import types
from numba.core import cgutils
from numba.core.cpu import ParallelOptions
from numba.extending import intrinsic

FASTMATH = {"contract", "reassoc", "nsz"}
CACHE = True


class ThreadingLayerWarning(RuntimeWarning):
    """No thread-safe Numba threading layer could be loaded; parallel calls are serialised."""


def _start_threading_layer() -> bool:
    """Start Numba's threading layer; return whether it is safe for concurrent calls.

    Starting it now matters: a cached kernel that calls a parallel one is loaded from disk
    without starting the layer, and its first call then crashed the process (seen here: a
    segfault on ``kernels.softmax`` in a fresh process; Numba issue 9938). Asking for the
    thread count launches the layer.
    """
    if "NUMBA_THREADING_LAYER" in os.environ:  # the user's choice, kept as it is
        numba.get_num_threads()
        return numba.threading_layer() in ("tbb", "omp")
    numba.config.THREADING_LAYER = "threadsafe"
    try:
        numba.get_num_threads()
        return True
    except ValueError as exc:  # "No threading layer could be loaded"
        reason = str(exc).splitlines()[0]
    numba.config.THREADING_LAYER = "default"
    numba.get_num_threads()
    warnings.warn(
        f"no thread-safe Numba threading layer (TBB or OpenMP) could be loaded ({reason}); "
        f"fastgrad uses Numba's {numba.threading_layer()!r} layer and runs one parallel call "
        "at a time. Install TBB (pip install tbb) for concurrent calls.",
        ThreadingLayerWarning,
        stacklevel=2,
    )
    return False


#: Whether the threading layer in use allows concurrent parallel calls.
THREAD_SAFE_LAYER = _start_threading_layer()

#: Held around every parallel kernel call that fastgrad's Python code makes: a no-op with a
#: thread-safe layer, a lock otherwise.
PARALLEL_LOCK: contextlib.AbstractContextManager = (
    contextlib.nullcontext() if THREAD_SAFE_LAYER else threading.RLock()
)

_COMMON = {"fastmath": FASTMATH, "nogil": True, "error_model": "numpy"}

#: Serial kernel.
jit = functools.partial(numba.njit, cache=CACHE, **_COMMON)


def prange_only() -> ParallelOptions:
    """Numba's parallel options with only ``prange`` on: a kernel's parallelism is its own
    ``prange`` loop. With ``parallel=True`` Numba also turns each ``np.zeros`` and array
    expression of a parallel kernel into a parallel loop of its own, each compiled apart
    (5% of TwoLayerNet's first call here) and each a region with a barrier at run time,
    and NumPy reductions into reductions whose rounding follows the thread count. An
    options object, not the dict Numba also takes: Numba empties that dict as it compiles,
    so a kernel's next specialisation would get ``parallel=True``'s options."""
    off = ("comprehension", "reduction", "inplace_binop", "setitem", "numpy", "stencil", "fusion")
    return ParallelOptions({"prange": True, **dict.fromkeys(off, False)})


def jit_parallel(*args, **options):
    """Parallel driver (``prange``): ``@jit_parallel`` or ``@jit_parallel(**options)``."""
    return numba.njit(*args, cache=CACHE, parallel=prange_only(), **_COMMON, **options)


# Kernels that take the user's compiled function as an argument: not cacheable, and with
# Numba's default float semantics. Numba lets a callee compiled on demand inherit the
# caller's fastmath flags, so a fastmath driver would silently recompile the user's ``f`` with
# fused multiply-adds and change its results (seen here: 1e-13 differences from the reference).
_GENERIC = {"fastmath": False, "nogil": True}
#: Serial kernel that takes a compiled function as an argument.
jit_generic = functools.partial(numba.njit, cache=False, **_GENERIC)


def jit_generic_parallel(*args, **options):
    """Parallel driver that takes a compiled function as an argument."""
    return numba.njit(*args, cache=False, parallel=prange_only(), **_GENERIC, **options)


#: The options each kind of kernel must carry, for the test that walks the kernels.
EXPECTED_OPTIONS = {"cached": {**_COMMON, "cache": True}, "generic": {**_GENERIC, "cache": False}}


# -- dynamic scheduling ----------------------------------------------------------------------
#
# Numba hands each thread one contiguous share of a ``prange`` (OpenMP's static schedule), so a
# thread that the OS deschedules (another process on its core, BLAS threads spinning after a
# NumPy call) holds up the whole loop: with one of two cores busy, 2 threads ran slower than 1
# (docs/design.md, "Parallelism"). The kernels that matter claim their tasks from a shared
# counter instead, so that a slow thread takes fewer tasks:
#
#     counter = np.zeros(1, dtype=np.int64)
#     for _ in prange(n_tasks):
#         task = next_task(counter)
#         while task < n_tasks:
#             run(task)
#             task = next_task(counter)
#
# Each task still runs exactly once, with the same arithmetic whichever thread runs it, so the
# results do not depend on the schedule.


@intrinsic
def _fetch_add(typingctx, counter, value):
    """``counter[0] += value`` atomically; returns the value before the addition."""
    if not (isinstance(counter, types.Array) and counter.dtype == types.int64):
        return None
    sig = types.int64(counter, types.int64)

    def codegen(context, builder, sig, args):
        ary = context.make_array(sig.args[0])(context, builder, args[0])
        zero = context.get_constant(types.intp, 0)
        ptr = cgutils.get_item_pointer(context, builder, sig.args[0], ary, [zero])
        return builder.atomic_rmw("add", ptr, args[1], "monotonic")

    return sig, codegen


@jit
def next_task(counter):
    """Claim the next task of a dynamically scheduled loop (``counter``: a zeroed
    one-element int64 array shared by the loop's threads)."""
    return _fetch_add(counter, 1)


@jit
def end_claims(counter, n_tasks):
    """After this call no thread claims another of the loop's ``n_tasks`` tasks (a task
    failed; the tasks already claimed run on)."""
    _fetch_add(counter, n_tasks)


# -- BLAS held at one thread -------------------------------------------------------------------

_blas: list | None = None
_blas_lock = threading.Lock()


def _blas_libraries() -> list:
    """threadpoolctl's controllers of the BLAS libraries, found once: NumPy's, and SciPy's,
    which Numba's ``np.dot`` calls. SciPy's is loaded first: Numba loads it at its first
    compilation or cache load in the process, and a list made before that (a first held
    region whose kernel compiles, as a kernel called directly does) missed it, so the
    products ran on 2 BLAS threads each: on 2 cores 2 Numba threads then took 10x longer
    than 1 (measured here: 3.7 ms against 0.35 ms for 6 products)."""
    global _blas
    with _blas_lock:
        if _blas is None:
            import scipy.linalg.cython_blas  # noqa: F401  (the BLAS Numba's np.dot calls)
            from threadpoolctl import ThreadpoolController

            _blas = [c for c in ThreadpoolController().lib_controllers if c.user_api == "blas"]
        return _blas


@contextlib.contextmanager
def blas_held() -> Iterator[None]:
    """Hold BLAS to one thread while Numba's threads run code that calls BLAS: each Numba
    thread then runs its own single-threaded BLAS call, and the BLAS library's own threads
    (which spin after a call) do not fight Numba's for the cores (docs/design.md,
    "Pitfalls"). The libraries' own setters are called directly: 4 us a region, against
    11 us for threadpoolctl's ``limit()``, which lists every library again. The caller's
    setting is restored afterwards, also on an exception."""
    libs = _blas_libraries()
    before = [lib.get_num_threads() for lib in libs]
    for lib in libs:
        lib.set_num_threads(1)
    try:
        yield
    finally:
        for lib, n in zip(libs, before, strict=True):
            lib.set_num_threads(n)
