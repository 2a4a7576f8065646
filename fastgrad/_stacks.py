"""The worker threads of ``vectorized=True``: a NumPy ``f`` evaluated on stacks of points,
the stacks claimed in turn by :func:`fastgrad.get_num_threads` threads (NumPy releases the
GIL in its array operations), kept between calls; and the one-time heap setting that keeps
the stacks' memory from page-faulting (``docs/design.md``, "vectorized=True").
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait

import numpy as np
from numpy.typing import NDArray

from ._config import blas_held

#: Memory for one batch of stacked points of ``vectorized=True`` (bytes).
VECTORIZED_BUDGET = 4 * 2**20  # measured: 32 MiB stacks were 3.5x slower (cache misses)


POOL_NAME = "fastgrad-vectorized"


_pool: tuple[int, int, ThreadPoolExecutor] | None = None  # (pid, threads, pool)


_pool_lock = threading.Lock()


def _stack_pool(threads: int) -> ThreadPoolExecutor:
    """The worker threads of ``vectorized=True``, started once (again after a fork, or for
    more threads): starting two threads costs more than a whole small gradient."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid() or _pool[1] < threads:
            _pool = (os.getpid(), threads, ThreadPoolExecutor(threads, POOL_NAME))
        return _pool[2]


def on_workers(fn: Callable[[int], NDArray], items: Sequence[int], threads: int) -> list:
    """``[fn(i) for i in items]``, computed by ``threads`` worker threads that claim the
    items in turn, under a BLAS hold (``f``'s BLAS on every worker would oversubscribe the
    cores, as in :func:`fastgrad._threads.region`). The first exception of ``fn`` is
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


def keep_freed_stacks() -> None:
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
