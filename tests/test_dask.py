"""The dask backend (fastgrad._dask) on a LocalCluster of two worker processes on 127.0.0.1.

Every generic result is compared with the local backend's bit for bit; the row-split networks
within a stated bound; failures (an exception in f, an unpicklable f, an unreachable
scheduler, a worker killed mid-gradient) reach the caller as stated in fastgrad/_dask.py.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time

import numba
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import fastgrad
from fastgrad import _dask
from fastgrad._differentiate import METHODS

distributed = pytest.importorskip(
    "distributed", reason='backend="dask" needs Dask distributed: pip install "fastgrad[dask]"'
)
psutil = pytest.importorskip("psutil")  # a dependency of distributed

import cloudpickle  # noqa: E402  (a dependency of distributed)

# the workers cannot import this test module: send its functions by value
cloudpickle.register_pickle_by_value(sys.modules[__name__])

#: Seconds any one test may wait on the cluster.
WAIT = 30


@pytest.fixture(scope="module")
def cluster():
    cluster = _dask.local_cluster(2)  # what fastgrad itself starts: 127.0.0.1 only
    try:
        yield cluster
    finally:
        cluster.close(timeout=WAIT)


@pytest.fixture(scope="module")
def client(cluster):
    client = distributed.Client(cluster, timeout=WAIT, set_as_default=False)
    client.wait_for_workers(2, timeout=WAIT)
    try:
        yield client
    finally:
        client.close(timeout=WAIT)


def smooth(v, a):
    """A plain NumPy f of an array argument, safe for complex steps."""
    return np.sum(np.sin(v) * a) + np.prod(np.cos(v[..., :2] / 3))


def smooth_vector(v, a):
    return np.array([np.sum(np.sin(v) * a), np.sum(v**3), v.flat[0] * v.flat[-1]])


@numba.njit
def compiled(v, a):
    s = 0.0
    for i in range(v.size):
        s += np.sin(v.flat[i]) * a.flat[i]
    return s


def point(shape=(3, 4)):
    n = int(np.prod(shape))
    return np.linspace(-0.7, 1.3, n).reshape(shape), np.arange(1.0, n + 1).reshape(shape)


# -- the range arguments the tasks use ---------------------------------------------------------


def test_reference_ranges_concatenate_to_the_whole():
    # the kernel's ranges: test_compiled_f_runs_the_kernel... and test_hessian_... below
    from fastgrad.reference import differentiate as rd

    x, a = point((2, 5))
    h = np.full(x.size, 1e-3)
    offsets = (2.0, 1.0, -1.0, -2.0)
    whole = rd.stencil_values(lambda v: smooth(v, a), x.copy(), offsets, h.reshape(x.shape))
    parts = [
        rd.stencil_values(lambda v: smooth(v, a), x.copy(), offsets, h.reshape(x.shape), lo, hi)
        for lo, hi in ((0, 3), (3, 4), (4, 10))
    ]
    assert_array_equal(np.concatenate(parts), whole)
    whole = rd.hessian_values(lambda v: smooth(v, a), x.copy(), h)
    parts = [
        rd.hessian_values(lambda v: smooth(v, a), x.copy(), h, None, lo, hi)
        for lo, hi in ((0, 4), (4, 10))
    ]
    assert_array_equal(np.concatenate(parts), whole)


# -- equality with the local backends ------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_gradient_equals_the_local_backend_bit_for_bit(client, method, monkeypatch):
    monkeypatch.setattr(_dask, "task_size", lambda *a: 5)  # ranges that do not divide 12
    x, a = point()
    local, info_local = fastgrad.numerical_gradient(
        smooth, x, args=(a,), method=method, h="auto", backend="numpy", full_output=True
    )
    remote, info = fastgrad.numerical_gradient(
        smooth,
        x,
        args=(a,),
        method=method,
        h="auto",
        backend="dask",
        client=client,
        full_output=True,
    )
    assert_array_equal(remote, local)
    assert_array_equal(info.error, info_local.error)


def test_jacobian_and_check_gradient_equal_the_local_backend(client):
    x, a = point((7,))
    local = fastgrad.jacobian(smooth_vector, x, args=(a,), backend="numpy")
    remote = fastgrad.jacobian(smooth_vector, x, args=(a,), backend="dask", client=client)
    assert_array_equal(remote, local)

    def grad(v, a):
        g = np.cos(v) * a
        c0, c1 = np.cos(v[:2] / 3)
        g[0] -= np.sin(v[0] / 3) / 3 * c1
        g[1] -= np.sin(v[1] / 3) / 3 * c0
        return g

    ok = fastgrad.check_gradient(smooth, grad, x, args=(a,), backend="dask", client=client)
    ref = fastgrad.check_gradient(smooth, grad, x, args=(a,), backend="numpy")
    assert ok.ok and ref.ok
    assert_array_equal(ok.numerical, ref.numerical)


def test_compiled_f_runs_the_kernel_and_equals_numba(client):
    x, a = point((40,))
    local = fastgrad.numerical_gradient(compiled, x, args=(a,), backend="numba")
    remote = fastgrad.numerical_gradient(compiled, x, args=(a,), backend="dask", client=client)
    assert_array_equal(remote, local)


def test_hessian_equals_the_local_backends_bit_for_bit(client, monkeypatch):
    monkeypatch.setattr(_dask, "task_size", lambda *a: 4)  # row ranges that do not divide 9
    x, a = point((9,))
    local, info_local = fastgrad.hessian(smooth, x, args=(a,), backend="numpy", full_output=True)
    remote, info = fastgrad.hessian(
        smooth, x, args=(a,), backend="dask", client=client, full_output=True
    )
    assert_array_equal(remote, local)
    assert_array_equal(info.error, info_local.error)
    assert info.nfev == info_local.nfev
    local = fastgrad.hessian(compiled, x, args=(a,), backend="numba")
    assert_array_equal(
        fastgrad.hessian(compiled, x, args=(a,), backend="dask", client=client), local
    )


def test_the_current_client_is_used_when_none_is_given(client):
    x, a = point()
    with client.as_current():
        remote = fastgrad.numerical_gradient(smooth, x, args=(a,), backend="dask")
    assert_array_equal(remote, fastgrad.numerical_gradient(smooth, x, args=(a,), backend="numpy"))


def test_x_and_args_are_scattered_once_not_sent_per_task(client, monkeypatch):
    monkeypatch.setattr(_dask, "task_size", lambda *a: 1)  # one task per parameter
    scattered, submitted = [], []
    scatter, submit = client.scatter, client.submit

    def spy_scatter(data, **kw):
        scattered.append((data, kw))
        return scatter(data, **kw)

    def spy_submit(fn, *args, **kw):
        submitted.append(args)
        return submit(fn, *args, **kw)

    monkeypatch.setattr(client, "scatter", spy_scatter)
    monkeypatch.setattr(client, "submit", spy_submit)
    x, a = point()
    fastgrad.numerical_gradient(smooth, x, args=(a,), backend="dask", client=client)
    assert len(scattered) == 1 and scattered[0][1]["broadcast"] is True
    assert len(submitted) == x.size
    for args in submitted:  # futures and small values only: no array of x's size
        assert not any(isinstance(v, np.ndarray) and v.size >= x.size for v in args)
        assert not any(isinstance(v, tuple) and any(b is a for b in v) for v in args)


def test_import_fastgrad_does_not_import_dask():
    code = "import sys, fastgrad; print(sorted({'dask', 'distributed'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=WAIT)
    assert out.stdout.strip() == "[]", out.stderr


def test_task_size_rule():
    # >= 50 ms of work per task: 10 ms per evaluation, 2 per parameter -> 3 parameters
    assert _dask.task_size(1000, 0.01, 2, 2) == 3
    # a cheap f: capped so that every worker thread gets a task
    assert _dask.task_size(1000, 1e-7, 2, 8) == 125
    # a slow f: one parameter per task
    assert _dask.task_size(10, 2.0, 2, 2) == 1
    assert _dask.task_size(3, 1e-7, 2, 8) == 1


# -- progress ------------------------------------------------------------------------------


class Terminal(io.StringIO):
    """A stderr that says it is a terminal."""

    def isatty(self):
        return True


def test_progress_rule():
    tty, pipe = Terminal(), io.StringIO()
    long, short = 2 * _dask.PROGRESS_SECONDS, _dask.PROGRESS_SECONDS / 2
    assert _dask.show_progress(None, long, tty) is True  # long work on a terminal
    assert _dask.show_progress(None, short, tty) is False  # short calls stay quiet
    assert _dask.show_progress(True, short, tty) is True
    assert _dask.show_progress(False, long, tty) is False
    for progress in (None, True):  # never when stderr is not a terminal
        assert _dask.show_progress(progress, long, pipe) is False


def test_a_progress_bar_counts_the_tasks_on_a_terminal(client, monkeypatch):
    monkeypatch.setattr(_dask, "task_size", lambda *a: 5)  # 12 parameters: 3 tasks
    x, a = point()
    local = fastgrad.numerical_gradient(smooth, x, args=(a,), backend="numpy")
    for progress, drawn in ((True, True), (None, False), (False, False)):
        err = Terminal()
        monkeypatch.setattr(sys, "stderr", err)
        g = fastgrad.numerical_gradient(
            smooth, x, args=(a,), backend="dask", client=client, progress=progress
        )
        assert_array_equal(g, local)
        assert ("fastgrad (dask)" in err.getvalue() and "/3 [" in err.getvalue()) is drawn, (
            progress,
            err.getvalue(),
        )


def test_a_long_call_shows_the_bar_by_default(client, monkeypatch):
    # the measured cost of f says more than PROGRESS_SECONDS of work per thread
    monkeypatch.setattr(_dask, "PROGRESS_SECONDS", 0.0)
    err = Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    x, a = point()
    fastgrad.hessian(smooth, x, args=(a,), backend="dask", client=client)
    assert "task" in err.getvalue()


def test_progress_argument_is_checked():
    x, a = point()
    with pytest.raises(ValueError, match='progress=True is only used by backend="dask"'):
        fastgrad.numerical_gradient(smooth, x, args=(a,), backend="numpy", progress=True)
    with pytest.raises(TypeError, match="progress must be None, True or False"):
        fastgrad.numerical_gradient(smooth, x, args=(a,), progress="yes")


# -- client argument -----------------------------------------------------------------------


def test_client_is_an_error_without_the_dask_backend(client):
    x, a = point()
    with pytest.raises(ValueError, match='client= is only used by backend="dask"'):
        fastgrad.numerical_gradient(smooth, x, args=(a,), backend="numpy", client=client)
    with pytest.raises(ValueError, match='client= is only used by backend="dask"'):
        fastgrad.TwoLayerNet(3, 2, 2, client=client)


def test_no_client_says_how_to_start_one():
    x, a = point()
    with pytest.raises(ValueError, match=r"no Dask client.*Client\(\).*--scheduler local:N"):
        fastgrad.numerical_gradient(smooth, x, args=(a,), backend="dask")


@pytest.mark.parametrize("closed", ["its cluster", "the client"])
def test_a_closed_client_says_so(closed, cluster):
    if closed == "its cluster":  # a cluster of its own, shut down under its client
        own = _dask.local_cluster(1)
        dead = distributed.Client(own, timeout=WAIT, set_as_default=False)
        own.close(timeout=WAIT)
    else:  # a second client of the module's cluster
        dead = distributed.Client(cluster, timeout=WAIT, set_as_default=False)
        dead.close(timeout=WAIT)
    deadline = time.monotonic() + WAIT
    while dead.status != "closed" and time.monotonic() < deadline:  # the scheduler's word
        time.sleep(0.05)
    assert dead.status == "closed"
    x, a = point()
    net = fastgrad.TwoLayerNet(3, 2, 2, backend="dask", client=dead)
    calls = {
        "client=": lambda: fastgrad.numerical_gradient(
            smooth, x, args=(a,), backend="dask", client=dead
        ),
        "a network's client": lambda: net.gradient(np.ones((4, 3)), np.array([0, 1, 0, 1])),
        "the current client": lambda: fastgrad.hessian(smooth, x, args=(a,), backend="dask"),
    }
    try:
        for what, call in calls.items():
            with dead.as_current(), pytest.raises(ValueError) as info:
                call()
            assert str(info.value).startswith("the Dask client is closed; "), what
            assert "pass a client of a running cluster as client=" in str(info.value), what
    finally:
        dead.close()


def test_unreachable_scheduler_fails_in_time_naming_the_address(monkeypatch):
    monkeypatch.setattr(_dask, "CONNECT_TIMEOUT", 2.0)
    import socket

    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{s.getsockname()[1]}"
    x, a = point()
    t0 = time.monotonic()
    with pytest.raises(OSError, match=f"scheduler at {address} within 2 s"):
        fastgrad.numerical_gradient(smooth, x, args=(a,), backend="dask", client=address)
    assert time.monotonic() - t0 < 2.0 + 10.0


@pytest.mark.parametrize(
    "address",
    ["http://x", "x", "tcp://127.0.0.1", "tcp://127.0.0.1:port", "tcp://127.0.0.1:99999"],
)
def test_a_malformed_address_is_refused_before_a_client_is_made(address, monkeypatch):
    # Dask's own ValueError comes from inside a client that it then leaves open: its
    # __del__ waits 2 * CONNECT_TIMEOUT to close it
    def no_client(*args, **kwargs):
        raise AssertionError(f"a Client was made for {address!r}")

    monkeypatch.setattr(distributed, "Client", no_client)
    with pytest.raises(ValueError, match=rf"^'{address}' is not a Dask scheduler address \("):
        _dask.connect(address)
    with pytest.raises(ValueError, match=r"tcp://HOST:PORT .*tls://HOST:PORT, or HOST:PORT"):
        _dask.get_client(address)


@pytest.mark.parametrize("address", ["tcp://10.0.0.5:8786", "127.0.0.1:8786", "tls://h:1"])
def test_the_accepted_address_forms_reach_the_client(address, monkeypatch):
    made = []
    monkeypatch.setattr(distributed, "Client", lambda *args, **kwargs: made.append(args))
    _dask.connect(address)
    assert made == [(address,)]


# -- failures ------------------------------------------------------------------------------


def raises_at_parameter_7(v):
    if v.flat[7] != 0.5:
        raise ZeroDivisionError("boom")
    return float(np.sum(v))


def test_an_exception_in_f_names_the_parameter(client):
    x = np.full((3, 4), 0.5)
    with pytest.raises(ZeroDivisionError, match="boom") as info:
        fastgrad.numerical_gradient(raises_at_parameter_7, x, backend="dask", client=client)
    assert info.value.fastgrad_parameter == 7
    assert "parameter 7 (index (1, 3) of x)" in "".join(getattr(info.value, "__notes__", []))


def test_an_unpicklable_f_says_so(client):
    lock = threading.Lock()

    def f(v):
        with lock:
            return float(np.sum(v))

    with pytest.raises(TypeError, match="f cannot be pickled.*importable on the workers"):
        fastgrad.numerical_gradient(f, np.ones(3), backend="dask", client=client)


def ignores_extra(v, a, extra):
    return smooth(v, a)


@pytest.mark.parametrize(
    "make", [lambda: (i for i in range(3)), threading.Lock], ids=["generator", "lock"]
)
def test_an_unpicklable_argument_is_named(client, make):
    x, a = point((4,))
    bad = make()  # f runs with it here; only the trip to the workers fails
    for differentiate in (fastgrad.numerical_gradient, fastgrad.hessian):
        with pytest.raises(TypeError) as info:
            differentiate(ignores_extra, x, args=(a, bad), backend="dask", client=client)
        message = str(info.value)
        assert message.startswith('backend="dask" must send args to the workers'), message
        assert f"args[1] (a {type(bad).__name__}) cannot be pickled" in message


# -- networks: the rows split across the workers -----------------------------------------------


def test_row_split_network_within_bound_of_the_single_machine(client):
    rng = np.random.default_rng(3)
    x, t = rng.standard_normal((101, 20)), rng.integers(0, 3, 101)
    local = fastgrad.TwoLayerNet(20, 10, 3, weight_init_std=0.5, rng=1)
    remote = fastgrad.TwoLayerNet(
        20, 10, 3, weight_init_std=0.5, rng=1, backend="dask", client=client
    )
    for method in ("numerical_gradient", "gradient"):
        g_local = getattr(local, method)(x, t)
        g_remote = getattr(remote, method)(x, t)
        assert list(g_remote) == list(g_local)
        for name in g_local:
            # another summation order: within 1e-12 of the largest element (measured ~1e-15)
            scale = np.max(np.abs(g_local[name]))
            np.testing.assert_allclose(g_remote[name], g_local[name], rtol=0, atol=1e-12 * scale)
        again = getattr(remote, method)(x, t)
        for name in g_local:
            assert_array_equal(again[name], g_remote[name])
    assert remote.loss(x, t) == local.loss(x, t)


def test_any_network_sharing_the_two_layer_methods_splits_its_rows(client):
    rng = np.random.default_rng(5)
    x, t = rng.standard_normal((30, 6)), rng.integers(0, 3, 30)
    kw = {"weight_init_std": 0.5, "weight_decay_lambda": 0.1, "rng": 3}
    local = fastgrad.MultiLayerNet(6, [5, 4], 3, **kw).numerical_gradient(x, t)
    net = fastgrad.MultiLayerNet(6, [5, 4], 3, backend="dask", **kw)
    with client.as_current():
        remote = net.numerical_gradient(x, t)
    for name in local:
        scale = np.max(np.abs(local[name]))
        np.testing.assert_allclose(remote[name], local[name], rtol=0, atol=1e-12 * scale)


def test_simplenet_refuses_the_dask_backend():
    with pytest.raises(ValueError, match="6 parameters"):
        fastgrad.SimpleNet(backend="dask")


class FirstShardWaits:
    """A network twin whose first shard (the one that starts with the value ``first``) returns
    only after the distributed Event ``name`` is set: the test sets it once it has seen the
    other shard's future finish. The waiting task secedes from its worker's thread pool, so
    the other shard runs wherever the scheduler put it, on the same worker included."""

    def __init__(self, net, first, name):
        self.net, self.first, self.name = net, first, name

    def gradient(self, x, t):
        if x[0, 0] == self.first:
            distributed.secede()
            if not distributed.Event(self.name).wait(WAIT):
                raise TimeoutError("the other shard was not seen to finish")
        return self.net.gradient(x, t)


def test_row_split_combines_in_shard_order_whoever_finishes_first(client, monkeypatch):
    # the completion order is forced, not hoped for: the second shard finishes first every
    # time, so a combination in completion order fails every time
    client.wait_for_workers(2, timeout=WAIT)
    assert len(client.nthreads()) == 2  # two shards: rows [0, 4) and [4, 9)
    rng = np.random.default_rng(4)
    x, t = rng.standard_normal((9, 5)), rng.integers(0, 3, 9)
    net = fastgrad.kernels.TwoLayerNet(5, 4, 3, weight_init_std=0.5, rng=2)
    warm = [client.submit(net.gradient, x, t, workers=[w], pure=False) for w in client.nthreads()]
    client.gather(warm)  # the kernel compiled on every worker before any shard waits
    name = f"fastgrad-test-{os.getpid()}-{time.monotonic_ns()}"
    futures, submit = [], client.submit

    def spy_submit(*args, **kwargs):  # the shards' futures, in shard order
        futures.append(submit(*args, **kwargs))
        return futures[-1]

    monkeypatch.setattr(client, "submit", spy_submit)
    first_still_running = []  # when the second shard's future is done

    def release_the_first_shard():
        try:
            deadline = time.monotonic() + WAIT
            while len(futures) < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            futures[1].result(timeout=WAIT)
            first_still_running.append(not futures[0].done())
        except Exception as exc:  # reported by the assertion below
            first_still_running.append(exc)
        finally:
            distributed.Event(name, client=client).set()

    releaser = threading.Thread(target=release_the_first_shard)
    releaser.start()
    got = _dask.row_split(client, FirstShardWaits(net, x[0, 0], name), "gradient", x, t)
    releaser.join(WAIT)
    assert first_still_running == [True]  # the second shard did finish first
    sizes = [4, 5]
    want = _dask.combine_shards([net.gradient(x[:4], t[:4]), net.gradient(x[4:], t[4:])], sizes)
    # a shard's gradient computed here and on a worker has differed in the last bit (once, in
    # a CI run from a fresh clone: 1 ulp in one element of W2; the cause is not pinned down:
    # not the thread count, not x's alignment), so not bit for bit. Combining in completion
    # order mixes the shards' weights 4/9 and 5/9, far beyond 1e-12 relative (a reversed
    # combination fails this test)
    for key in want:
        assert_allclose(got[key], want[key], rtol=1e-12, atol=1e-15)


# -- the cluster fastgrad starts listens on 127.0.0.1 only ---------------------------------------


def test_every_socket_of_the_cluster_listens_on_loopback(client):
    pids = {os.getpid(), *client.run(os.getpid).values()}  # scheduler and nannies; workers
    listening = [
        (pid, c.laddr)
        for pid in pids
        for c in psutil.Process(pid).net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    ]
    assert len(listening) >= 2 * len(pids) - 1  # the dashboards are there too
    assert all(addr.ip == "127.0.0.1" for _, addr in listening), listening


# -- fastgrad train --scheduler ---------------------------------------------------------------

TRAIN = ["--data", "sample", "--hidden", "10", "--iters", "3", "--batch-size", "50"]


def test_train_on_a_local_cluster_matches_the_numba_run(tmp_path, capsys, monkeypatch):
    from fastgrad.cli import train as train_cli

    split, calls = _dask.row_split, []

    def counted(client, *args):
        calls.append(len(client.nthreads()))
        return split(client, *args)

    monkeypatch.setattr(_dask, "row_split", counted)

    assert train_cli.main([*TRAIN, "--quiet", "--out", str(tmp_path / "numba")]) == 0
    rc = train_cli.main([*TRAIN, "--scheduler", "local:2", "--out", str(tmp_path / "dask")])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "dask: scheduler tcp://127.0.0.1:" in out and "2 workers" in out
    assert "dashboard http://127.0.0.1:" in out
    assert len(calls) >= 3 and set(calls) == {2}  # every gradient on the 2-worker cluster
    with (
        np.load(tmp_path / "numba" / "params.npz") as a,
        np.load(tmp_path / "dask" / "params.npz") as b,
    ):
        for name in a.files:  # three steps from the row-split gradient
            np.testing.assert_allclose(b[name], a[name], rtol=0, atol=1e-12)


@pytest.mark.parametrize("scheduler", ["local:0", "local:two"])
def test_train_refuses_a_bad_local_cluster(scheduler, tmp_path, capsys):
    from fastgrad.cli import train as train_cli

    argv = [*TRAIN, "--scheduler", scheduler, "--out", str(tmp_path / "out")]
    assert train_cli.main(argv) == 1
    assert "--scheduler local:N needs a number of workers >= 1" in capsys.readouterr().err


def test_train_names_an_unreachable_scheduler(tmp_path, capsys, monkeypatch):
    import socket

    from fastgrad.cli import train as train_cli

    monkeypatch.setattr(_dask, "CONNECT_TIMEOUT", 2.0)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{s.getsockname()[1]}"
    argv = [*TRAIN, "--quiet", "--scheduler", address, "--out", str(tmp_path / "out")]
    assert train_cli.main(argv) == 1
    assert f"scheduler at {address} within 2 s" in capsys.readouterr().err


def run_train_cli(tmp_path, scheduler, connect_timeout=None):
    """``fastgrad train --scheduler SCHEDULER`` in a fresh interpreter (``python -m
    fastgrad``, or with ``CONNECT_TIMEOUT`` set first); a hang fails by the timeout."""
    argv = ["train", *TRAIN, "--quiet", "--scheduler", scheduler, "--out", str(tmp_path / "o")]
    if connect_timeout is None:
        command = [sys.executable, "-m", "fastgrad", *argv]
    else:
        code = (
            "import sys; from fastgrad import _dask; from fastgrad.cli import main; "
            f"_dask.CONNECT_TIMEOUT = {connect_timeout!r}; sys.exit(main(sys.argv[1:]))"
        )
        command = [sys.executable, "-c", code, *argv]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=tmp_path)


def test_train_refuses_a_malformed_address_in_one_line(tmp_path):
    out = run_train_cli(tmp_path, "http://x")
    assert out.returncode == 1, out.stderr
    assert "Traceback" not in out.stderr and out.stderr.count("\n") == 1, out.stderr
    assert out.stderr.startswith("fastgrad train: error: 'http://x' is not a Dask scheduler")
    assert "tcp://HOST:PORT" in out.stderr and "local:N" in out.stderr


def test_train_names_an_unreachable_address_in_one_line(tmp_path):
    import socket

    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{s.getsockname()[1]}"
    out = run_train_cli(tmp_path, address, connect_timeout=2.0)
    assert out.returncode == 1, out.stderr
    assert "Traceback" not in out.stderr and out.stderr.count("\n") == 1, out.stderr
    assert f"scheduler at {address} within 2 s" in out.stderr


# -- a worker killed mid-gradient (last: the cluster restarts a worker) -------------------------


def slow_sum(v, a):
    time.sleep(0.02)
    return float(np.sum(np.sin(v) * a))


def test_a_worker_killed_mid_gradient_costs_time_not_correctness(client):
    x, a = point((60,))
    local = fastgrad.numerical_gradient(slow_sum, x, args=(a,), backend="numpy")
    before = set(client.run(os.getpid).values())
    victim = min(before)
    moment = np.random.default_rng(12).uniform(0.3, 0.6)  # the seeded moment, in seconds
    killed = threading.Event()

    def kill():
        time.sleep(moment)
        os.kill(victim, signal.SIGKILL)
        killed.set()

    killer = threading.Thread(target=kill)
    killer.start()
    remote = fastgrad.numerical_gradient(slow_sum, x, args=(a,), backend="dask", client=client)
    assert killed.is_set()  # before the gradient returned: mid-gradient
    killer.join(WAIT)
    assert_array_equal(remote, local)
    client.wait_for_workers(2, timeout=WAIT)
    assert victim not in set(client.run(os.getpid).values())


# -- the bench group ---------------------------------------------------------------------


def test_bench_projection_model():
    from fastgrad.bench.groups import dask as dg

    # 400 params, 10 ms per f: 3 params per task (>= 50 ms), 134 tasks
    t, tasks, chunk = dg.project(400, 0.01, 0.002, 0.01, 8)
    assert (tasks, chunk) == (134, 3)
    assert t == pytest.approx(17 * 3 * 2 * 0.01 + 134 * 0.002 + 0.01 + 2 * 0.01)
    # more workers than tasks: one parameter per task, one round
    t, tasks, chunk = dg.project(400, 0.01, 0.002, 0.01, 512)
    assert (tasks, chunk) == (400, 1)
    assert t == pytest.approx(2 * 0.01 + 400 * 0.002 + 0.01 + 2 * 0.01)


def test_bench_group_records_checked_rows_and_the_projection(monkeypatch):
    from fastgrad.bench.groups import dask as dg
    from fastgrad.bench.recorder import Recorder
    from fastgrad.bench.settings import Settings

    monkeypatch.setattr(dg, "PARAMS_QUICK", 6)
    monkeypatch.setattr(dg, "COST_QUICK", 2e-4)
    monkeypatch.setattr(dg, "OVERHEAD_TASKS_QUICK", 10)
    rec = Recorder(out=lambda line: None)
    dg.run(rec, Settings.make(quick=True, threads=2))
    assert rec.failures == []
    by_backend = {r.backend: r for r in rec.rows}
    for backend in (dg.SERIAL, dg.NUMBA, dg.CLUSTER):
        assert by_backend[backend].max_abs_diff == 0.0  # bit for bit the local numba result
        assert by_backend[backend].timing is not None
    assert by_backend[dg.OVERHEAD_BACKEND].timing.median > 0
    assert [r.meta["workers"] for r in rec.rows if r.meta.get("workers")] == [2, 8, 64, 512]


def test_float32_input_with_the_books_step_is_differentiated_in_float64(client):
    # as on the local backends (tests/test_differentiate_errors.py): in float32 arithmetic the
    # book's step gave elements that were only 0 or 9.765625
    x = np.random.default_rng(0).random((20, 30), dtype=np.float32)
    g = fastgrad.numerical_gradient(lambda w: float((w**2).sum()), x, backend="dask", client=client)
    assert np.max(np.abs(g - 2 * x.astype(np.float64))) < 1e-7
