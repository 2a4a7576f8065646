"""The kernels' thread count: fixed, or adapted per call site (``fastgrad._threads``).

The adaptive policy is tested on a simulated machine (each thread count's call time and the
idle CPUs are given), so that no test depends on this machine's load or timing; the real
kernels' results do not depend on the count (``tests/test_kernels_*`` check that bitwise).
"""

from __future__ import annotations

import numba
import numpy as np
import pytest
from numpy.testing import assert_array_equal

import fastgrad
from fastgrad import _threads
from fastgrad._threads import Adaptive, IdleCores


class Machine:
    """Call times per thread count and the idle CPUs a reading would find."""

    def __init__(self, times: dict[int, float], idle: float | None) -> None:
        self.times = times
        self.idle = idle
        self.readings = 0
        self.own: set[int] = set()

    # the IdleCores interface
    @property
    def available(self) -> bool:
        return self.idle is not None

    def since_last(
        self, min_window: float, max_window: float = float("inf"), own_threads: int = 0
    ) -> float | None:
        self.readings += 1
        self.own.add(own_threads)
        return self.idle


def run(adaptive: Adaptive, machine: Machine, calls: int, key="site") -> list[int]:
    """The thread count of each of ``calls`` calls at one site."""
    used = []
    for _ in range(calls):
        site, n, timed = adaptive.choose(key)
        used.append(n)
        if timed:
            adaptive.record(site, n, machine.times[n])
    return used


BUSY = {1: 2.0e-3, 2: 20e-3}  # one core kept busy: 2 threads wait on a parked one
IDLE = {1: 1.6e-3, 2: 1.0e-3}


def test_a_busy_core_settles_on_one_thread_and_makes_no_slow_tries():
    machine = Machine(BUSY, idle=0.05)
    used = run(Adaptive(machine, most=2), machine, 2000)
    first_one = used.index(1)
    assert first_one < 10
    assert used[first_one:].count(2) == 0  # upward tries refused on the idle reading
    assert machine.own == {1}  # read as if the settled thread had run all along
    # a refusal costs nothing, so the site keeps asking at every interval
    assert machine.readings >= (2000 - first_one) // (2 * _threads.FIRST_INTERVAL)


def test_an_idle_machine_settles_on_every_thread_and_tries_less_and_less():
    machine = Machine(IDLE, idle=1.0)
    used = run(Adaptive(machine, most=2), machine, 4000)
    assert used[-1] == 2
    tries = [i for i, n in enumerate(used) if n == 1]
    # each failed try is one call (dropped on its first slow call), and the interval doubles
    assert len(tries) <= 12
    assert tries[-1] - tries[-2] >= _threads.MAX_INTERVAL // 2


def test_without_idle_readings_tries_are_timed_and_dropped_at_once():
    machine = Machine(BUSY, idle=None)
    used = run(Adaptive(machine, most=2), machine, 4000)
    after = used[used.index(1) :]
    slow = [i for i, n in enumerate(after) if n == 2]
    gaps = np.diff(slow)
    assert len(slow) <= 10 and np.all(gaps >= _threads.FIRST_INTERVAL)


def test_a_neighbour_that_starts_moves_the_site_to_one_thread_within_a_few_calls():
    machine = Machine(IDLE, idle=1.0)
    adaptive = Adaptive(machine, most=2)
    assert run(adaptive, machine, 300)[-1] == 2
    machine.times, machine.idle = BUSY, 0.0
    used = run(adaptive, machine, 50)
    assert used.index(1) <= 5 and used[-1] == 1


def test_a_neighbour_that_stops_gives_the_threads_back():
    machine = Machine(BUSY, idle=0.0)
    adaptive = Adaptive(machine, most=2)
    assert run(adaptive, machine, 300)[-1] == 1
    machine.times, machine.idle = IDLE, 1.0
    used = run(adaptive, machine, 4 * _threads.FIRST_INTERVAL)
    assert used[-1] == 2


def test_many_cores_step_through_the_halvings():
    times = {1: 8.0, 2: 4.1, 4: 2.2, 8: 1.3, 16: 1.5}  # 16 threads: slower than 8
    machine = Machine(times, idle=16.0)
    adaptive = Adaptive(machine, most=16)
    used = run(adaptive, machine, 3000)
    assert used[-1] == 8 and set(used) == {16, 8, 4}


def test_the_first_call_of_a_site_is_not_timed():
    adaptive = Adaptive(Machine(IDLE, 1.0), most=2)
    site, n, timed = adaptive.choose("k")
    assert not timed and n == 2
    assert adaptive.choose("k")[2]


def test_sites_are_separate_and_bounded():
    machine = Machine(BUSY, idle=0.0)
    adaptive = Adaptive(machine, most=2)
    run(adaptive, machine, 100, key="a")
    assert adaptive.choose("b")[1] == 2
    for k in range(_threads.MAX_SITES + 5):
        adaptive.choose(k)
        adaptive.choose("a")  # used all along: the least recently used sites go first
    assert len(adaptive.sites) == _threads.MAX_SITES
    assert adaptive.sites["a"].current == 1 and 0 not in adaptive.sites


def test_idle_cores_from_proc_stat(tmp_path, monkeypatch):
    stat = tmp_path / "stat"

    def write(idle0, idle1, iowait0=10):
        stat.write_text(
            "cpu  10 0 10 900 0 0 0 0 0 0\n"
            f"cpu0 5 0 5 {idle0} {iowait0} 0 0 0 0 0\n"
            f"cpu1 5 0 5 {idle1} 0 0 0 0 0 0\n"
            "intr 1 2 3\n"
        )

    write(100, 100)
    reader = IdleCores(str(stat))
    reader.names, reader.hz = {"cpu0", "cpu1"}, 100
    clock = iter([10.0, 10.1, 12.0])
    monkeypatch.setattr(_threads.time, "monotonic", lambda: next(clock))
    own = iter([1.0, 3.0, 3.5, 3.6])  # this process's CPU seconds at each reading
    monkeypatch.setattr(_threads.time, "process_time", lambda: next(own))
    assert reader.available
    assert reader.since_last(0.2) is None  # the first reading
    assert reader.since_last(0.2) is None  # too soon: 0.1 s
    # 200 idle or I/O-wait ticks in 2 s, one CPU idle on average; the process ran one
    # thread all along (2 CPU seconds): as it found the machine
    write(200, 150, 60)
    assert reader.since_last(0.2, own_threads=1) == pytest.approx(1.0)
    clock2 = iter([20.0, 20.3])
    monkeypatch.setattr(_threads.time, "monotonic", lambda: next(clock2))
    # 8 s after the last reading: too old to say anything of now; a fresh one starts
    assert reader.since_last(0.2, 0.5) is None
    # 40 idle ticks in 0.3 s, 1.33 CPUs on average, but the process ran for 0.1 s of
    # them: its pause made 0.67 of those idle CPUs, so 0.67 remain
    write(225, 165, 60)
    assert reader.since_last(0.2, 0.5, own_threads=1) == pytest.approx((40 / 100 + 0.1) / 0.3 - 1)
    reader.names = {"cpu1"}  # an affinity of one CPU counts only its line
    assert reader.idle_ticks() == 165


def test_idle_cores_unavailable(tmp_path):
    reader = IdleCores(str(tmp_path / "missing"))
    assert not reader.available and reader.since_last(0.0) is None


def test_a_fixed_count_is_used_and_not_timed(monkeypatch):
    calls = []
    monkeypatch.setattr(_threads.ADAPTIVE, "choose", lambda key: calls.append(key))
    with fastgrad.threads(1) as n:
        assert n == 1 and fastgrad.get_num_threads() == 1
        with _threads.region("fixed") as used:
            assert used == 1 and numba.get_num_threads() == 1
    assert calls == [] and fastgrad.get_num_threads() == numba.config.NUMBA_NUM_THREADS


def test_a_region_sets_numbas_count_and_restores_it():
    before = numba.get_num_threads()
    adaptive = _threads.ADAPTIVE
    adaptive.sites.pop("restore", None)
    for _ in range(3):
        with _threads.region("restore") as n:
            assert numba.get_num_threads() == n
        assert numba.get_num_threads() == before
    site = adaptive.sites["restore"]
    assert sum(len(t) for t in site.times.values()) == 2  # the first call is not timed
    with pytest.raises(RuntimeError), _threads.region("restore"):
        raise RuntimeError("kernel failed")
    assert numba.get_num_threads() == before
    assert sum(len(t) for t in site.times.values()) == 2  # a failed call is not timed


def test_set_num_threads_checks_its_argument():
    for bad in (0, -1, 1.5, "2", numba.config.NUMBA_NUM_THREADS + 1):
        with pytest.raises((ValueError, TypeError)):
            fastgrad.set_num_threads(bad)
    fastgrad.set_num_threads(1)
    fastgrad.set_num_threads(None)
    assert _threads.fixed_threads() is None


def test_an_adapting_network_gives_the_fixed_counts_result(rng):
    net = fastgrad.TwoLayerNet(20, 8, 4, rng=0)
    x, t = rng.normal(size=(30, 20)), rng.integers(0, 4, 30)
    with fastgrad.threads(1):
        one = net.numerical_gradient(x, t)
    for _ in range(12):  # past the first tries of the adaptive site
        adaptive = net.numerical_gradient(x, t)
        for k in one:
            assert_array_equal(adaptive[k], one[k])
    assert np.all(np.isfinite(one["W1"]))


def test_a_fresh_process_holds_the_blas_that_numba_calls(tmp_path):
    # a first held region that comes before Numba has loaded SciPy's BLAS (its np.dot's):
    # that library must be held too, or each kernel thread's product runs on several BLAS
    # threads (10x slower on 2 cores)
    import subprocess
    import sys

    code = (
        "import fastgrad, json, numba, numpy as np\n"
        "from threadpoolctl import threadpool_info\n"
        "from fastgrad._threads import region\n"
        "with region('first', blas=True):  # Numba's first compilation in the process\n"
        "    numba.njit(lambda v: np.sum(v * v))(np.ones(3))\n"
        "with region('second', blas=True):\n"
        "    inside = [(i['filepath'], i['num_threads']) for i in threadpool_info()"
        " if i['user_api'] == 'blas']\n"
        "print(json.dumps(inside))\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "OPENBLAS_NUM_THREADS"}
    env["OPENBLAS_NUM_THREADS"] = "2"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    import json

    inside = json.loads(out.stdout.strip().splitlines()[-1])
    assert any("scipy.libs" in path for path, _ in inside), inside  # SciPy's own OpenBLAS
    assert all(n == 1 for _, n in inside), inside
