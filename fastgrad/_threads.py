"""The kernels' thread count: fixed by the user, or adapted at run time from measured times.

A parallel region ends at a barrier that waits for every thread. When another process keeps
a core busy, the OS parks one of the kernel's threads for its time slice and the whole call
waits: measured on a 2-core machine, 2 threads then ran 2x slower than 1, with calls up to
19x the median (docs/design.md, "Parallelism"; part of that was BLAS threads, since held).
No fixed default is right on both an idle
and a busy machine, so by default each *call site* (a kernel and the shapes it runs on)
learns its own count from the calls it makes, as a training loop makes thousands:

- it starts at every thread, measures a few calls, then tries each neighbouring count
  (half or double) for up to :data:`PROBE_CALLS` calls, and keeps the faster one;
- a tried count that is clearly slower on its first call is dropped at once, and the next
  try waits twice as long (from :data:`FIRST_INTERVAL` up to :data:`MAX_INTERVAL` calls), so
  a settled site spends a percent or two of its time on tries;
- a try at *more* threads waits until the CPUs have had idle time to give (Linux's
  ``/proc/stat``, over the last :data:`IDLE_WINDOW` to :data:`IDLE_MAX_WINDOW` seconds; the
  process's own pauses between calls do not count as idle): on a busy machine it is not
  made at all, so it cannot cost a slow call, and it is asked again
  at the next interval (the refusal costs nothing, so the interval does not grow); where
  ``/proc/stat`` cannot be read it is made and timed like any other;
- when the settled count's calls become :data:`DEGRADED` times slower than when it was
  chosen (another process started), the next call tries again.

The thread count never changes a result (each kernel's arithmetic does not depend on it; the
tests check bitwise equality), only its time. :func:`set_num_threads` with a number fixes
the count for the calling Python thread; ``None`` returns it to the adaptive default.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
from collections import deque
from collections.abc import Hashable, Iterator

import numba

from ._config import PARALLEL_LOCK, blas_held
from ._validation import check_positive_int

#: Calls timed at a tried count before it is compared with the settled one.
PROBE_CALLS = 3
#: Calls between tries: the first interval, and the most it grows to after failed tries.
FIRST_INTERVAL = 8
MAX_INTERVAL = 1024
#: A tried count is dropped on its first call when that call is this much slower than the
#: settled count's median, and kept only if its median is faster by ``1 - SWITCH``.
REJECT = 1.25
SWITCH = 0.95
#: The settled count's recent median over its median when chosen that triggers a try.
DEGRADED = 1.5
#: Seconds of CPU accounting a try at more threads reads (at least, at most: an older
#: reading is replaced rather than averaged over), and the idle cores (on average, per extra
#: thread) that it needs. ``/proc/stat`` counts in ticks of 10 ms: 0.05 s of 2 CPUs is 10.
IDLE_WINDOW = 0.05
IDLE_MAX_WINDOW = 0.5
IDLE_PER_THREAD = 0.5
#: Call sites remembered; the least recently used is forgotten beyond this.
MAX_SITES = 256

_fixed = threading.local()


def max_threads() -> int:
    """The most threads a kernel can use: the count Numba started with."""
    return numba.config.NUMBA_NUM_THREADS


def set_num_threads(n: int | None) -> None:
    """Fix the kernels' thread count for this Python thread, 1 to ``NUMBA_NUM_THREADS``; or
    ``None``, the default: each call site adapts its count to the machine's load."""
    if n is not None:
        n = check_positive_int(n, "threads")
        if n > max_threads():
            raise ValueError(
                f"threads={n} exceeds the {max_threads()} threads Numba started with; set "
                "NUMBA_NUM_THREADS before importing fastgrad to allow more"
            )
    _fixed.n = n


def fixed_threads() -> int | None:
    """This Python thread's fixed thread count, or ``None`` where it adapts."""
    return getattr(_fixed, "n", None)


def get_num_threads() -> int:
    """The fixed thread count of this Python thread; where it adapts, the most it may use
    (:func:`settled` gives what a call site chose)."""
    n = fixed_threads()
    return max_threads() if n is None else n


@contextlib.contextmanager
def threads(n: int | None) -> Iterator[int]:
    """Run a block with ``n`` kernel threads (``None``: the adaptive default), restoring the
    setting afterwards.

    Examples
    --------
    >>> with threads(1):
    ...     get_num_threads()
    1
    """
    before = fixed_threads()
    set_num_threads(n)
    try:
        yield get_num_threads()
    finally:
        _fixed.n = before


# -- idle CPU time -----------------------------------------------------------------------


class IdleCores:
    """The average number of idle CPUs (of those this process may run on) between readings,
    from Linux's ``/proc/stat`` and this process's own CPU time; ``available`` is False where
    ``/proc/stat`` cannot be read."""

    def __init__(self, path: str = "/proc/stat") -> None:
        self.path = path
        try:
            cpus = os.sched_getaffinity(0)
        except (AttributeError, OSError):
            cpus = None
        self.names = None if cpus is None else {f"cpu{c}" for c in cpus}
        self.hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.last: tuple[float, int, float] | None = None
        self.available = self.idle_ticks() is not None

    def idle_ticks(self) -> int | None:
        """Idle and I/O-wait clock ticks summed over this process's CPUs since boot."""
        try:
            with open(self.path, "rb") as fh:
                lines = fh.read().decode().splitlines()
            total = 0
            for line in lines[1:]:
                fields = line.split()
                if (
                    fields
                    and fields[0].startswith("cpu")
                    and (self.names is None or fields[0] in self.names)
                ):
                    total += int(fields[4]) + int(fields[5])
            return total
        except (OSError, ValueError, IndexError):
            return None

    def since_last(
        self, min_window: float, max_window: float = math.inf, own_threads: int = 0
    ) -> float | None:
        """Idle CPUs on average since the last reading, as if this process had kept
        ``own_threads`` CPUs busy all along: the idle ticks, plus this process's CPU time,
        less ``own_threads`` CPUs. (A pause of the caller between its calls leaves its CPUs
        idle, which says nothing of what its next call will find: counted as idle, it let a
        try at more threads start beside a busy core, and a parked thread made that call 25x
        slower.) A number if the last reading was between ``min_window`` and ``max_window``
        seconds ago, and a new reading starts; ``None`` before that (no reading taken), and
        at the first call or after ``max_window`` (a new reading is taken: the old one says
        nothing of the machine now)."""
        now = time.monotonic()
        if self.last is not None and now - self.last[0] < min_window:
            return None
        ticks = self.idle_ticks()
        if ticks is None:
            return None
        own = time.process_time()
        before, self.last = self.last, (now, ticks, own)
        if before is None or now - before[0] > max_window:
            return None
        window = now - before[0]
        return ((ticks - before[1]) / self.hz + own - before[2]) / window - own_threads


# -- one call site -----------------------------------------------------------------------


class Site:
    """What one call site has measured: recent times per thread count, the settled count
    and the try in progress. Not thread-safe: :class:`Adaptive` holds a lock around it."""

    def __init__(self, most: int) -> None:
        self.candidates = sorted({most >> k for k in range(most.bit_length())} - {0})
        self.current = most
        self.times: dict[int, deque] = {n: deque(maxlen=5) for n in self.candidates}
        self.chosen_median: float | None = None
        self.trying: int | None = None
        self.tried_calls = 0
        self.since_try = 0
        self.interval = FIRST_INTERVAL
        self.up_next = False
        self.calls = 0

    def neighbours(self) -> list[int]:
        i = self.candidates.index(self.current)
        return self.candidates[max(i - 1, 0) : i] + self.candidates[i + 1 : i + 2]

    def median(self, n: int, last: int = 5) -> float:
        """The median of count ``n``'s last ``last`` times (at most 5: sorting beats
        :func:`statistics.median` by 2 us a call here)."""
        times = sorted(list(self.times[n])[-last:])
        mid = len(times) // 2
        return times[mid] if len(times) % 2 else (times[mid - 1] + times[mid]) / 2

    def settle(self, n: int) -> None:
        self.current, self.trying = n, None
        self.chosen_median = self.median(n)
        self.since_try = 0

    def give_up_try(self) -> None:
        self.trying = None
        self.since_try = 0
        self.interval = min(MAX_INTERVAL, 2 * self.interval)
        self.chosen_median = self.median(self.current)

    def record(self, n: int, seconds: float) -> None:
        """Account one call at ``n`` threads that took ``seconds``."""
        self.times[n].append(seconds)
        if n not in (self.current, self.trying):  # a try given up while this call ran
            return
        if n != self.current:
            self.tried_calls += 1
            if seconds > REJECT * self.median(self.current):
                self.give_up_try()
            elif self.tried_calls >= PROBE_CALLS:
                if self.median(n, PROBE_CALLS) < SWITCH * self.median(self.current):
                    self.settle(n)
                    self.interval = FIRST_INTERVAL
                else:
                    self.give_up_try()
            return
        self.since_try += 1
        if self.chosen_median is None:
            if len(self.times[n]) >= PROBE_CALLS:
                self.chosen_median = self.median(n)
        elif self.median(n, 3) > DEGRADED * self.chosen_median:
            self.since_try = self.interval  # the machine changed: try now


class Adaptive:
    """The adaptive thread counts of every call site, keyed by a hashable name."""

    def __init__(self, idle: IdleCores | None = None, most: int | None = None) -> None:
        self.most = most
        self.sites: dict[Hashable, Site] = {}
        self.lock = threading.Lock()
        self.idle = IdleCores() if idle is None else idle

    def choose(self, key: Hashable) -> tuple[Site, int, bool]:
        """The site of ``key``, the thread count for its next call and whether to time it
        (a site's first call compiles, so it is not timed)."""
        with self.lock:
            site = self.sites.pop(key, None)  # put back last: the least recently used is first
            if site is None:
                if len(self.sites) >= MAX_SITES:
                    del self.sites[next(iter(self.sites))]
                site = Site(self.most or max_threads())
            self.sites[key] = site
            site.calls += 1
            if site.calls == 1:
                return site, site.current, False
            if site.trying is None and site.chosen_median is not None:
                if site.since_try >= site.interval:
                    self._start_try(site)
            return site, site.trying or site.current, True

    def _start_try(self, site: Site) -> None:
        """Try the next neighbour of the settled count, alternating down and up; a try at
        more threads needs idle CPUs, where they can be measured."""
        options = site.neighbours()
        if not options:
            site.since_try = 0
            return
        site.up_next = not site.up_next
        n = options[-1] if site.up_next else options[0]
        if n > site.current and self.idle.available:
            idle = self.idle.since_last(IDLE_WINDOW, IDLE_MAX_WINDOW, site.current)
            if idle is None:
                site.up_next = not site.up_next  # no measured window yet: ask again next call
                return
            if idle < IDLE_PER_THREAD * (n - site.current):
                site.since_try = 0  # busy CPUs: no try, no slow call; ask again later
                return
        site.trying, site.tried_calls = n, 0
        site.times[n].clear()

    def record(self, site: Site, n: int, seconds: float) -> None:
        with self.lock:
            site.record(n, seconds)

    def busiest(self) -> Site | None:
        """The site that has made the most calls (a training loop's gradient)."""
        with self.lock:
            return max(self.sites.values(), key=lambda s: s.calls, default=None)


ADAPTIVE = Adaptive()


def settled() -> int | None:
    """The thread count the busiest call site has settled on, where this Python thread's
    count adapts (``None`` before any call, or where the count is fixed): what
    ``fastgrad train`` reports."""
    site = ADAPTIVE.busiest()
    return None if site is None or fixed_threads() is not None else site.current


def function_site(kind: str, f: object, v: object, n: int) -> tuple:
    """The call site of a generic kernel running ``f``: keyed by ``f``'s code, so that a
    lambda made anew for every call (``jac=lambda x: ...``) is one site, and by the size of
    the work (``v``'s shape and ``n``)."""
    code = getattr(getattr(f, "py_func", f), "__code__", type(f))
    return (kind, code, getattr(v, "shape", None), n)


@contextlib.contextmanager
def region(key: Hashable, *, blas: bool = False) -> Iterator[int]:
    """Run a parallel kernel call: at this Python thread's fixed thread count, or at the one
    call site ``key`` adapts to (timing the call); BLAS held at one thread if ``blas``
    (:func:`fastgrad._config.blas_held`); serialised where the threading layer needs it
    (:data:`fastgrad._config.PARALLEL_LOCK`). Yields the thread count used."""
    n = fixed_threads()
    site = None
    timed = False
    if n is None:
        site, n, timed = ADAPTIVE.choose(key)
    before = numba.get_num_threads()
    with PARALLEL_LOCK, blas_held() if blas else contextlib.nullcontext():
        if n != before:  # 1.4 us a call each way, saved where nothing changes
            numba.set_num_threads(n)
        try:
            start = time.perf_counter()
            yield n
            elapsed = time.perf_counter() - start
        finally:
            if n != before:
                numba.set_num_threads(before)
    if timed:
        ADAPTIVE.record(site, n, elapsed)
