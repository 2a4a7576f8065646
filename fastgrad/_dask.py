"""The dask backend: numerical gradients and network gradients on a Dask cluster.

``backend="dask"`` builds nothing of its own: the tasks run fastgrad's local machinery on the
workers, and this module only splits the work, ships it once and assembles the results.

- **Parameters** (``fastgrad.numerical_gradient``, ``jacobian``, ``check_gradient``): the
  parameters ``0 .. n-1`` are cut into contiguous ranges; each task evaluates the stencil of
  its range with the Numba kernel for a compiled ``f`` (on all the worker's cores) or the NumPy
  reference otherwise, and returns its rows of stencil values; the rows are concatenated in
  parameter order and combined locally, so the result equals the local backend's bit for bit
  (each value is computed by exactly one task from the same inputs).
- **Rows** (``TwoLayerNet(backend="dask")``): the batch is cut into one contiguous shard of
  rows per worker; each worker runs the network kernel on its shard, which averages over its
  ``N_s`` rows, and the partial gradients are combined as ``sum_s g_s N_s / N`` in shard
  order (not in the order the workers finish).

Task size (:func:`task_size`): one evaluation of ``f`` is timed at the caller; a task gets
``ceil(TASK_SECONDS / (cost * evaluations per parameter))`` parameters, so that it carries at
least :data:`TASK_SECONDS` of work and the per-task overhead (a few ms on loopback) stays
small, but never so many that there are fewer tasks than worker threads.

``f``, ``x`` and ``args`` are scattered to every worker once per call
(``client.scatter(..., broadcast=True)``), not sent with each task. ``f`` must be picklable,
and a Numba-compiled ``f`` must be importable on the workers (define it in a module installed
there, not in ``__main__`` or a notebook).

Progress (:func:`show_progress`): with ``progress=None`` (the default) a tqdm bar over the
tasks, on stderr, appears only when more than :data:`PROGRESS_SECONDS` of work per worker
thread is expected from the measured cost of ``f``; ``progress=True`` asks for it on any call,
``False`` never. A bar is never drawn when stderr is not a terminal (logs, CI, pipes).

Dask is imported lazily: ``import fastgrad`` does not need it (``pip install
"fastgrad[dask]"``).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = [
    "TASK_SECONDS",
    "PROGRESS_SECONDS",
    "CONNECT_TIMEOUT",
    "get_client",
    "connect",
    "local_cluster",
    "check_progress_argument",
    "task_size",
    "show_progress",
    "map_ranges",
    "row_split",
]

#: The least work a task should carry (seconds of ``f``), so that scheduling stays small.
TASK_SECONDS = 0.05

#: With ``progress=None``, the expected seconds of work per worker thread past which a
#: gradient shows a progress bar (shorter calls stay quiet).
PROGRESS_SECONDS = 2.0

#: How long connecting to a scheduler address may take before it is an error (seconds).
CONNECT_TIMEOUT = 10.0

_HOW_TO_START = (
    "start one first, e.g. `from distributed import Client; client = Client()` (a "
    "LocalCluster on this machine), `Client(LocalCluster(n_workers=4, host='127.0.0.1'))`, or "
    "`Client('tcp://scheduler:8786')` for a running scheduler, and pass it as client=; "
    "`fastgrad train --scheduler local:N` starts one for a training run"
)


def _distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:  # pragma: no cover - exercised only without distributed
        raise ImportError(
            'backend="dask" needs Dask distributed: pip install "fastgrad[dask]" '
            '(or pip install "dask[distributed]")'
        ) from exc
    return distributed


#: The forms of a scheduler address, for the message that refuses one.
_ADDRESS_FORMS = (
    "give tcp://HOST:PORT (e.g. tcp://10.0.0.5:8786, what `dask scheduler` prints), "
    "tls://HOST:PORT, or HOST:PORT for tcp; `fastgrad train --scheduler` also takes local:N "
    "to start N workers on this machine"
)


def _check_address(address: str) -> None:
    """``ValueError`` naming ``address`` and the accepted forms unless Dask knows its
    protocol and it has a host and a port in 1-65535 (an ``inproc://`` address has none).

    Checked before a client is made: Dask raises its ``ValueError`` from inside the client,
    which is then left open (and its ``__del__`` waits twice the timeout to close it)."""
    from distributed.comm import registry
    from distributed.comm.addressing import parse_address

    try:
        scheme, location = parse_address(address)
        backend = registry.get_backend(scheme)  # ValueError: unknown protocol
        if scheme != "inproc":
            _, port = backend.get_address_host_port(location)  # ValueError: no port
            if not 0 < port < 65536:
                raise ValueError(f"port {port} is not in 1-65535")
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{address!r} is not a Dask scheduler address ({exc}); {_ADDRESS_FORMS}"
        ) from None


def connect(address: str, timeout: float | None = None) -> Any:
    """A client of the scheduler at ``address``: ``ValueError`` at once if it is not an
    address (:func:`_check_address`), ``OSError`` naming it if nothing answers there within
    ``timeout`` seconds (:data:`CONNECT_TIMEOUT` by default)."""
    distributed = _distributed()
    _check_address(address)
    timeout = CONNECT_TIMEOUT if timeout is None else float(timeout)
    try:
        return distributed.Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise OSError(
            f"could not reach the Dask scheduler at {address} within {timeout:g} s "
            f"({type(exc).__name__}: {exc}); is `dask scheduler` running there and the "
            "address (protocol, host, port) right?"
        ) from exc


_CLIENTS: dict[str, Any] = {}


def get_client(client: Any = None) -> Any:
    """``client`` itself, a client of the scheduler at ``client`` (a str), or the current
    client (``distributed.get_client()``); ``ValueError`` saying how to start one if none,
    or if the client given or current is closed (:func:`_open`)."""
    distributed = _distributed()
    if isinstance(client, str):  # one client per address, reused while it runs
        known = _CLIENTS.get(client)
        if known is None or known.status != "running":
            known = _CLIENTS[client] = connect(client)
        return known
    if client is not None:
        if not isinstance(client, distributed.Client):
            raise TypeError(
                f"client must be a distributed.Client or a scheduler address, "
                f"got {type(client).__name__}"
            )
        return _open(client)
    try:
        current = distributed.get_client()
    except ValueError:
        raise ValueError(f'backend="dask" found no Dask client: {_HOW_TO_START}') from None
    return _open(current)


def _open(client: Any) -> Any:
    """``client``, or ``ValueError`` saying what to do if it is closing or closed (by
    ``client.close()`` or by the shutdown of its cluster): Dask's own calls on a closed
    client fail with ``AttributeError: 'NoneType' object has no attribute ...``."""
    if client.status in ("closing", "closed"):
        raise ValueError(
            'the Dask client is closed; backend="dask" needs a running one (a client is '
            "closed by client.close() or when its cluster shuts down; keep both open until the "
            "last gradient): pass a client of a running cluster as client= (a network's "
            f"client is its .client attribute), or {_HOW_TO_START}"
        )
    return client


def check_client_argument(client: Any, backend: str) -> None:
    """``client=`` is only meaningful with ``backend="dask"``."""
    if client is not None and backend != "dask":
        raise ValueError(
            f'client= is only used by backend="dask", not backend={backend!r}; '
            'pass backend="dask" or drop client='
        )


def local_cluster(n_workers: int, threads_per_worker: int = 1) -> Any:
    """A ``LocalCluster`` of ``n_workers`` processes that listens on 127.0.0.1 only, dashboard
    included (on a free port): what fastgrad starts itself."""
    distributed = _distributed()
    return distributed.LocalCluster(
        n_workers=n_workers,
        threads_per_worker=threads_per_worker,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
        worker_dashboard_address="127.0.0.1:0",
    )


def _threads(client: Any) -> int:
    return max(1, sum(client.nthreads().values()))


def check_progress_argument(progress: Any, backend: str) -> None:
    """``progress=`` is None or a bool, and ``True`` only with ``backend="dask"``."""
    if progress is not None and not isinstance(progress, bool):
        raise TypeError(f"progress must be None, True or False, got {type(progress).__name__}")
    if progress and backend != "dask":
        raise ValueError(
            f'progress=True is only used by backend="dask" (a bar over its tasks), not '
            f"backend={backend!r}"
        )


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
        return False


def show_progress(progress: bool | None, expected_seconds: float, stream: Any = None) -> bool:
    """Whether to draw a progress bar: never when ``stream`` (default stderr) is not a
    terminal; otherwise ``progress`` if given, else whether ``expected_seconds`` (of work per
    worker thread) exceeds :data:`PROGRESS_SECONDS`."""
    if not _is_terminal(sys.stderr if stream is None else stream):
        return False
    if progress is None:
        return expected_seconds > PROGRESS_SECONDS
    return bool(progress)


#: How often a progress bar looks at the futures (seconds).
_POLL = 0.05


def _wait_with_bar(futures: list[Any], desc: str, stream: Any = None) -> None:
    """A tqdm bar on ``stream`` (default stderr), one step per finished task (failed ones
    included: the gather that follows raises their exception). It polls the futures every
    :data:`_POLL` seconds (``distributed.as_completed`` would need the client to be the
    default one)."""
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is in the train and test extras: no bar
        return
    with tqdm(
        total=len(futures),
        desc=desc,
        unit="task",
        file=sys.stderr if stream is None else stream,
        leave=False,
    ) as bar:
        pending = list(futures)
        while pending:
            still = [f for f in pending if not f.done()]
            bar.update(len(pending) - len(still))
            pending = still
            if pending:
                time.sleep(_POLL)


def task_size(n: int, cost: float, evaluations: int, threads: int) -> int:
    """Parameters per task: at least :data:`TASK_SECONDS` of work (``cost`` seconds per
    evaluation, ``evaluations`` per parameter), at most ``ceil(n / threads)`` so that every
    worker thread gets a task."""
    per_parameter = max(cost, 1e-9) * max(evaluations, 1)
    want = math.ceil(TASK_SECONDS / per_parameter)
    return max(1, min(want, math.ceil(n / max(threads, 1))))


def timed(call: Callable[[], Any]) -> tuple[Any, float]:
    """``call()`` and the seconds it took."""
    t0 = time.perf_counter()
    out = call()
    return out, time.perf_counter() - t0


def _check_picklable(f: Any) -> None:
    from distributed.protocol.pickle import dumps

    try:
        dumps(f)
    except Exception as exc:
        raise TypeError(
            f'backend="dask" must send f to the workers, and f cannot be pickled '
            f"({type(exc).__name__}: {exc}). Use a module-level function or an object that "
            "pickles; a Numba-compiled f must be importable on the workers (define it in a "
            "module installed on every worker, not in __main__ or a notebook)"
        ) from exc


def _check_args_picklable(args: tuple) -> None:
    """``TypeError`` naming the first element of ``args`` that does not pickle, if any."""
    from distributed.protocol.pickle import dumps

    for i, arg in enumerate(args):
        try:
            dumps(arg)
        except Exception as exc:
            raise TypeError(
                f'backend="dask" must send args to the workers, and args[{i}] (a '
                f"{type(arg).__name__}) cannot be pickled ({type(exc).__name__}: {exc}). Pass "
                "values that pickle: arrays, numbers, lists (not a generator or an iterator: "
                "list(...) of it), nothing that holds a lock, an open file or a connection"
            ) from exc


def map_ranges(
    client: Any,
    task: Callable[..., Any],
    n: int,
    chunk: int,
    shared: Sequence[Any],
    extra: Sequence[Any] = (),
    progress: bool = False,
    desc: str = "fastgrad (dask)",
) -> list[Any]:
    """``task(*shared, *extra, start, stop)`` for ``[0, chunk), [chunk, 2 chunk), ...`` up to
    ``n`` on the cluster, the objects of ``shared`` scattered once to every worker; returns the
    results in range order. ``progress``: a tqdm bar ``desc`` over the tasks on stderr (the
    caller decides, :func:`show_progress`).

    A callable in ``shared`` is ``f`` and must pickle (checked first, :func:`_check_picklable`);
    a tuple is ``f``'s ``args``, whose element that does not pickle is named if the scatter
    fails (:func:`_check_args_picklable`)."""
    for obj in shared:
        if callable(obj):
            _check_picklable(obj)
    try:
        futures_shared = client.scatter(list(shared), broadcast=True, hash=False)
    except Exception:
        for obj in shared:
            if isinstance(obj, tuple):
                _check_args_picklable(obj)
        raise
    futures = [
        client.submit(task, *futures_shared, *extra, start, min(start + chunk, n), pure=False)
        for start in range(0, n, chunk)
    ]
    try:
        if progress:
            _wait_with_bar(futures, desc)
        return client.gather(futures)
    finally:
        client.cancel(futures + list(futures_shared))


def _shard_call(net: Any, method: str, x: np.ndarray, t: np.ndarray, extra: tuple) -> Any:
    """On a worker: one shard's gradient from the network kernel (averaged over the shard)."""
    return getattr(net, method)(x, t, *extra)


def row_split(
    client: Any, net: Any, method: str, x: np.ndarray, t: np.ndarray, extra: tuple = ()
) -> dict[str, np.ndarray]:
    """``net.method(x, t, *extra)`` with the rows of the batch split across the workers:
    one contiguous shard per worker (fewer for a small batch), combined as
    ``sum_s g_s N_s / N`` in shard order.

    ``net`` is a network twin (``fastgrad.kernels``), scattered to every worker once."""
    N = x.shape[0]
    n_shards = max(1, min(N, len(client.nthreads())))
    bounds = [(s * N) // n_shards for s in range(n_shards + 1)]
    shards = [(x[a:b], t[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    net_future = client.scatter(net, broadcast=True, hash=False)
    data = client.scatter([s for pair in shards for s in pair], hash=False)
    futures = [
        client.submit(
            _shard_call, net_future, method, data[2 * s], data[2 * s + 1], extra, pure=False
        )
        for s in range(n_shards)
    ]
    try:
        parts = client.gather(futures)  # a list in shard order, whoever finished first
    finally:
        client.cancel([*futures, *data, net_future])
    sizes = [b - a for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    return combine_shards(parts, sizes)


def combine_shards(parts: Sequence[dict[str, np.ndarray]], sizes: Sequence[int]) -> dict:
    """``sum_s parts[s] * sizes[s] / sum(sizes)``, added in the order given."""
    N = sum(sizes)
    out = {}
    for name in parts[0]:
        acc = parts[0][name] * sizes[0]
        for g, n in zip(parts[1:], sizes[1:], strict=True):
            acc = acc + g[name] * n
        out[name] = acc / N
    return out
