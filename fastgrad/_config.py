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
``NUMBA_THREADING_LAYER``, fastgrad asks for a thread-safe one (TBB or OpenMP).
"""

from __future__ import annotations

import functools
import os

import numba

FASTMATH = {"contract", "reassoc", "nsz"}
CACHE = True

if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "threadsafe"

# Start the threading layer now. A cached kernel that calls a parallel one is loaded from
# disk without starting it, and its first call then crashes the process (seen here: a
# segfault on ``kernels.softmax`` in a fresh process; Numba issue 9938). Asking for the
# thread count launches the layer.
numba.get_num_threads()

_COMMON = {"fastmath": FASTMATH, "nogil": True, "error_model": "numpy"}

#: Serial kernel.
jit = functools.partial(numba.njit, cache=CACHE, **_COMMON)
#: Parallel driver (``prange``).
jit_parallel = functools.partial(numba.njit, cache=CACHE, parallel=True, **_COMMON)
# Kernels that take the user's compiled function as an argument: not cacheable, and with
# Numba's default float semantics. Numba lets a callee compiled on demand inherit the
# caller's fastmath flags, so a fastmath driver would silently recompile the user's ``f`` with
# fused multiply-adds and change its results (seen here: 1e-13 differences from the reference).
_GENERIC = {"fastmath": False, "nogil": True}
#: Serial kernel that takes a compiled function as an argument.
jit_generic = functools.partial(numba.njit, cache=False, **_GENERIC)
#: Parallel driver that takes a compiled function as an argument.
jit_generic_parallel = functools.partial(numba.njit, cache=False, parallel=True, **_GENERIC)

#: The options each kind of kernel must carry, for the test that walks the kernels.
EXPECTED_OPTIONS = {"cached": {**_COMMON, "cache": True}, "generic": {**_GENERIC, "cache": False}}
