"""Checkpoints of :func:`fastgrad.training.train`, and the rules for resuming from one.

A checkpoint is one ``.npz`` file (no pickles): the parameters ``W1, b1, ..., W{L+1},
b{L+1}`` as float64 arrays, the optimiser's state arrays (``optimizer/<slot>/<key>``, and
Adam's ``optimizer/iter``) and a ``meta`` entry, JSON with the iteration count, the layer
sizes, the run's settings (:func:`run_config`), the random generator's
``bit_generator.state`` and the :class:`~fastgrad.training.History`. It is written
atomically (:func:`write_checkpoint`) and read back, checked, by :func:`load_checkpoint`.

Resuming (:func:`restore`) continues *the same run* or refuses: the checkpoint records
everything that decides the numbers, and :func:`check_resumable` compares it with this run.
Then the mini-batches (the generator's state), the parameters and the optimiser's state
(float64, saved exactly) and the order of the floating-point operations are those of an
uninterrupted run, so the final parameters are identical, bit for bit, and so is the history
(timings aside; see :func:`drop_closing_evaluation`).
"""

from __future__ import annotations

import hashlib
import json
import numbers
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .. import optimizers
from .._files import write_atomically
from .._version import __version__
from ..reference.multilayer import param_names
from ._history import History
from ._settings import Data, Settings, n_layers, param_keys, shape_str

__all__ = [
    "Checkpoint",
    "CheckpointError",
    "check_resumable",
    "drop_closing_evaluation",
    "load_checkpoint",
    "param_arrays",
    "restore",
    "run_config",
    "write_checkpoint",
]

FORMAT = "fastgrad.training checkpoint"
#: Version 2 records the backend, the data fingerprint and the library versions; version 3
#: the architecture (any depth), the optimiser, its hyper-parameters and its state.
VERSION = 3

#: The optimiser's hyper-parameters a checkpoint records besides ``lr`` (None where the
#: optimiser has no such attribute).
OPTIMIZER_HYPER = ("momentum", "decay_rate", "beta1", "beta2")

#: The prefix of the optimiser's state arrays in a checkpoint file.
OPTIMIZER_PREFIX = "optimizer/"

#: What decides the sequence of parameters, in the order :func:`check_resumable` compares it:
#: causes before consequences (the default ``eval_every`` follows from ``n_train`` and
#: ``batch_size``; the fingerprint from the sizes), so that a message names the root cause.
RESUME_KEYS = (
    "backend",
    "network",
    "activation",
    "weight_init",
    "weight_decay_lambda",
    "grad",
    "optimizer",
    "lr",
    *OPTIMIZER_HYPER,
    "batch_size",
    "n_train",
    "n_test",
    "eval_every",
    "seed",
    "data_sha256",
    "fastgrad_version",
    "numpy_version",
    "numba_version",
)

#: What to do about a mismatch of each key, for the error message.
_SAME_DATA = "resume on the same data, or use another checkpoint path to start a new run"
_RESUME_ADVICE = {
    "backend": "the backends round differently, so switching would not continue the same run; "
    "resume with backend={old!r}, or use another checkpoint path to start a new run",
    "n_train": _SAME_DATA,
    "n_test": _SAME_DATA,
    "data_sha256": f"the data differs (same sizes, other values); {_SAME_DATA}",
}
_VERSION_ADVICE = (
    "results are bitwise identical only with the same versions; finish the run with "
    "{name} {old}, or use another checkpoint path to start over"
)
_SETTINGS_ADVICE = (
    "resume with the same settings (or another checkpoint path) so that the run continues exactly"
)


class CheckpointError(ValueError):
    """A checkpoint cannot be read (corrupt, truncated, not a checkpoint, an older format) or
    does not fit the run being resumed (another network shape, backend, data, setting or
    library version).

    Attributes
    ----------
    field : str or None
        For a mismatch, the recorded field that differs (``"backend"``, ``"lr"``,
        ``"data_sha256"``, ``"numpy_version"``, ...; ``"shape"``, ``"iters"``); else None.
    old, new
        The checkpoint's value and this run's value of ``field`` (None when not a mismatch).
    """

    def __init__(
        self, message: str, *, field: str | None = None, old: Any = None, new: Any = None
    ) -> None:
        super().__init__(message)
        self.field = field
        self.old = old
        self.new = new


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint read back by :func:`load_checkpoint`.

    Attributes
    ----------
    path : pathlib.Path
    iteration : int
        Iterations done when it was written; a resumed run continues with this index.
    shape : tuple of int
        The layer sizes ``(input_size, *hidden_sizes, output_size)`` of the network.
    params : dict of str to ndarray of float64
        ``W1, b1, ..., W{L+1}, b{L+1}`` after ``iteration`` iterations.
    history : History
    rng_state : dict
        The generator's ``bit_generator.state``.
    config : dict
        What decides the run's numbers (:func:`run_config`): ``backend, network,
        activation, weight_init, weight_decay_lambda, grad, optimizer, lr, momentum,
        decay_rate, beta1, beta2, batch_size, eval_every, seed, n_train, n_test, data_sha256,
        fastgrad_version, numpy_version, numba_version``, and ``iters``, the iterations the
        run was asked for.
    optimizer_state : dict of str to ndarray
        The optimiser's :meth:`~fastgrad.optimizers.Optimizer.state` (empty for plain SGD).
    """

    path: Path
    iteration: int
    shape: tuple[int, ...]
    params: dict[str, NDArray[np.float64]]
    history: History
    rng_state: dict[str, Any]
    config: dict[str, Any]
    optimizer_state: dict[str, NDArray] = field(default_factory=dict)


# -- what a checkpoint records ----------------------------------------------------------------


def run_config(settings: Settings, net: Any, data: Data) -> dict[str, Any]:
    """What a checkpoint records (its ``config``): all that decides the run's numbers
    (:func:`check_resumable`), and ``iters``."""
    optimizer = settings.optimizer
    return {
        "backend": _backend_name(net),
        **_architecture(net),
        "grad": settings.grad,
        "optimizer": _optimizer_name(optimizer),
        "lr": settings.lr,
        **{name: _hyper(optimizer, name) for name in OPTIMIZER_HYPER},
        "batch_size": settings.batch_size,
        "eval_every": settings.eval_every,
        "seed": int(settings.seed) if isinstance(settings.seed, numbers.Integral) else None,
        "n_train": data.n_train,
        "n_test": int(data.x_test.shape[0]),
        "data_sha256": data_fingerprint(
            [
                ("x_train", data.x_train),
                ("t_train", data.t_train.astype(np.int64, copy=False)),
                ("x_test", data.x_test),
                ("t_test", data.t_test.astype(np.int64, copy=False)),
            ]
        ),
        **versions(),
        "iters": settings.iters,
    }


def _optimizer_name(optimizer: optimizers.Optimizer) -> str:
    """The name :func:`fastgrad.optimizers.make` knows it by, else its class's full name."""
    for name, cls in optimizers.OPTIMIZERS.items():
        if type(optimizer) is cls:
            return name
    cls = type(optimizer)
    return f"{cls.__module__}.{cls.__qualname__}"


def _hyper(optimizer: optimizers.Optimizer, name: str) -> float | None:
    value = getattr(optimizer, name, None)
    return float(value) if isinstance(value, numbers.Real) else None


def _architecture(net: Any) -> dict[str, Any]:
    """What a checkpoint records of the network besides its layer sizes: its class, its
    hidden activation, its initialisation (when the network tells it, as a
    ``weight_init_std`` attribute: the command line's networks do) and its weight decay. The
    book's ``TwoLayerNet`` is sigmoid without decay."""
    network = type(net).__name__
    activation = getattr(net, "activation", "sigmoid" if network == "TwoLayerNet" else None)
    init = getattr(net, "weight_init_std", None)
    if isinstance(init, numbers.Real) and not isinstance(init, bool):
        init = float(init)
    elif not isinstance(init, str):
        init = None
    decay = getattr(net, "weight_decay_lambda", 0.0)
    return {
        "network": network,
        "activation": activation if isinstance(activation, str) else None,
        "weight_init": init,
        "weight_decay_lambda": float(decay) if isinstance(decay, numbers.Real) else None,
    }


def _backend_name(net: Any) -> str:
    """``net.backend``, or the network's class when it has none (the twin classes)."""
    backend = getattr(net, "backend", None)
    if isinstance(backend, str):
        return backend
    cls = type(net)
    return f"{cls.__module__}.{cls.__qualname__}"


def data_fingerprint(arrays: Iterable[tuple[str, NDArray]]) -> str:
    """SHA-256 of the named arrays: each one's name, dtype, shape and bytes (in row chunks, so
    that a non-contiguous array is not copied whole). :func:`run_config` passes the labels as
    int64, so that one-hot rows and labels, which train alike, match; it runs once per
    ``train`` call that has a checkpoint (about 0.1 s for the whole of MNIST)."""
    h = hashlib.sha256()
    for name, a in arrays:
        h.update(f"{name}:{a.dtype.str}:{a.shape};".encode())
        rows = a.reshape(a.shape[0], -1) if a.ndim else a.reshape(1)
        step = max(1, (1 << 24) // max(rows[:1].nbytes, 1))  # ~16 MB a chunk
        for start in range(0, rows.shape[0], step):
            h.update(memoryview(np.ascontiguousarray(rows[start : start + step])).cast("B"))
    return h.hexdigest()


def versions() -> dict[str, str | None]:
    """The versions of the code that computes the numbers."""
    try:
        import numba
    except ImportError:  # pragma: no cover - numba is a dependency
        numba_version = None
    else:
        numba_version = numba.__version__
    return {
        "fastgrad_version": __version__,
        "numpy_version": np.__version__,
        "numba_version": numba_version,
    }


# -- the file ---------------------------------------------------------------------------------


def _to_json(value: Any) -> Any:
    """``bit_generator.state`` to JSON: MT19937 and Philox hold arrays; PCG64 only ints."""
    if isinstance(value, dict):
        return {k: _to_json(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return {"__ndarray__": value.tolist(), "dtype": value.dtype.str}
    if isinstance(value, np.generic):
        return value.item()
    return value


def _from_json(value: Any) -> Any:
    if isinstance(value, dict):
        if "__ndarray__" in value:
            return np.array(value["__ndarray__"], dtype=np.dtype(value["dtype"]))
        return {k: _from_json(v) for k, v in value.items()}
    return value


def _generator_from_state(state: dict[str, Any]) -> np.random.Generator:
    name = state.get("bit_generator") if isinstance(state, dict) else None
    cls = getattr(np.random, str(name), None)
    if not (isinstance(cls, type) and issubclass(cls, np.random.BitGenerator)):
        raise CheckpointError(f"unknown random bit generator {name!r} in the checkpoint")
    bit_generator = cls()
    bit_generator.state = state
    return np.random.Generator(bit_generator)


def param_arrays(params: dict[str, Any]) -> dict[str, NDArray[np.float64]]:
    """``W1, b1, ..., W{L+1}, b{L+1}`` as float64 arrays, ready for :func:`numpy.savez`."""
    return {k: np.asarray(params[k], dtype=np.float64) for k in param_keys(params)}


def write_checkpoint(
    path: Path,
    params: dict[str, NDArray],
    history: History,
    rng: np.random.Generator,
    shape: tuple[int, ...],
    config: dict[str, Any],
    optimizer: optimizers.Optimizer,
) -> None:
    """Write the checkpoint through :func:`fastgrad._files.write_atomically`: a temporary
    file in the same folder (mode ``0o666`` less the umask, which is never read or changed),
    fsynced, then moved over the old one, so a crash at any moment leaves either the previous
    checkpoint or the new one, never a mixture."""
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "iteration": history.iterations,
        "shape": list(shape),
        "config": config,
        "rng_state": _to_json(rng.bit_generator.state),
        "history": history.to_dict(),
    }
    blob = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    arrays = param_arrays(params)
    arrays.update({OPTIMIZER_PREFIX + k: v for k, v in optimizer.state().items()})
    write_atomically(path, lambda f: np.savez(f, meta=blob, **arrays))


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Read a checkpoint written by :func:`~fastgrad.training.train`.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    Checkpoint

    Raises
    ------
    FileNotFoundError
        If there is no file at ``path``.
    CheckpointError
        If the file is not a complete, consistent checkpoint (truncated, corrupt, another
        kind of file, an older format, parameters or optimiser state holding NaN or
        infinity); the message names the file.
    """
    path = Path(path)

    def bad(why: str) -> CheckpointError:
        return CheckpointError(
            f"checkpoint {path} is unreadable: {why}; delete it (or pick another path) to "
            "start over"
        )

    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise bad("it is a single .npy array, not an .npz archive")
        with data:
            names = param_names(max(n_layers(data.files), 2))
            missing = [k for k in ("meta", *names) if k not in data.files]
            if missing:
                raise bad(f"it lacks {', '.join(missing)}")
            meta = json.loads(data["meta"].tobytes().decode("utf-8"))
            params = {k: np.array(data[k], dtype=np.float64) for k in names}
            optimizer_state = {
                k[len(OPTIMIZER_PREFIX) :]: np.array(data[k])
                for k in data.files
                if k.startswith(OPTIMIZER_PREFIX)
            }
    except (FileNotFoundError, IsADirectoryError, PermissionError, CheckpointError):
        raise
    except Exception as exc:  # zip, zlib, npy-header, JSON and UTF-8 errors all mean corrupt
        raise bad(f"corrupt or truncated file ({type(exc).__name__}: {exc})") from exc
    _check_version(path, meta, bad)
    try:
        shape = tuple(int(s) for s in meta["shape"])
        iteration = int(meta["iteration"])
        history = History.from_dict(meta["history"])
        rng_state = _from_json(meta["rng_state"])
        config = dict(meta["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise bad(f"inconsistent metadata ({exc})") from exc
    expected = {}
    for k in range(1, len(shape)):
        expected[f"W{k}"], expected[f"b{k}"] = (shape[k - 1], shape[k]), (shape[k],)
    if set(expected) != set(params) or any(params[k].shape != expected[k] for k in params):
        raise bad("its parameter shapes do not match its network shape")
    if history.iterations != iteration:
        raise bad(f"its history has {history.iterations} iterations, not {iteration}")
    _check_finite_arrays(path, params, optimizer_state)
    return Checkpoint(path, iteration, shape, params, history, rng_state, config, optimizer_state)


def _check_version(path: Path, meta: Any, bad: Any) -> None:
    """Refuse another kind of file, and a format older than :data:`VERSION` (version 1
    recorded neither the backend, nor the data, nor the versions; version 2 neither the
    architecture nor the optimiser), which cannot be resumed as the same run."""
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise bad("it is not a fastgrad training checkpoint")
    version = meta.get("version")
    if isinstance(version, int) and not isinstance(version, bool) and version < VERSION:
        raise CheckpointError(
            f"checkpoint {path} has format version {version}, written by an older fastgrad "
            f"that did not record the backend, the data, the library versions, the "
            f"architecture and the optimizer (format {VERSION} does), so it cannot "
            "be resumed as the same run; delete it (or pick another path) to start over"
        )
    if version != VERSION:
        raise bad(f"unsupported checkpoint version {version!r} (a newer fastgrad wrote it?)")


def _check_finite_arrays(
    path: Path, params: dict[str, NDArray], optimizer_state: dict[str, NDArray]
) -> None:
    """Refuse a checkpoint whose parameters or optimiser state hold NaN or infinity: no run
    continues from them (the front doors refuse such parameters; an update spreads them)."""
    arrays = {**params, **{OPTIMIZER_PREFIX + k: v for k, v in optimizer_state.items()}}
    bad = [k for k, v in arrays.items() if v.dtype.kind == "f" and not np.isfinite(v).all()]
    if bad:
        raise CheckpointError(
            f"checkpoint {path} holds NaN or infinite values in {', '.join(bad)}: the run it "
            "saved had diverged, or the file was altered; delete it (or pick another path) "
            "to start over"
        )


# -- resuming ---------------------------------------------------------------------------------


def check_resumable(ck: Checkpoint, shape: tuple[int, ...], config: dict[str, Any]) -> None:
    """Refuse to resume from ``ck`` unless the run it holds is this one: a
    :class:`CheckpointError` names the field, both values and what to do when any of these
    differ (:data:`RESUME_KEYS`, in that order):

    - the network: its layer sizes, class, hidden activation, initialisation and weight decay;
    - the backend: the backends round differently (a numpy checkpoint finished on numba
      once ended 3.9e-12 away from the uninterrupted run);
    - the optimiser, its hyper-parameters, ``grad, batch_size, eval_every`` and ``seed`` (an
      integer, or None for a Generator, a SeedSequence or fresh entropy, whose stream the
      checkpoint's generator state carries on either way);
    - the data (:func:`data_fingerprint`, and the set sizes for a clearer message);
    - the versions of fastgrad, NumPy and Numba: bitwise-identical results are not promised
      across versions.

    ``iters`` may grow (a run of 20 iterations resumed with ``iters=45`` is the run of 45),
    not shrink below the iterations done. The machine is not recorded: the numba kernels give
    the same bits for any thread count, but another CPU or BLAS may round differently.
    """
    if ck.shape != shape:
        raise CheckpointError(
            f"checkpoint {ck.path} is for a {shape_str(ck.shape)} network but the network "
            f"being trained is {shape_str(shape)}; use a matching network or another "
            "checkpoint path",
            field="shape",
            old=ck.shape,
            new=shape,
        )
    for key in RESUME_KEYS:
        old, new = ck.config.get(key), config[key]
        if old == new and type(old) is type(new):  # 1 == 1.0 == True: not the same setting
            continue
        if key.endswith("_version"):
            name = key[: -len("_version")]
            raise CheckpointError(
                f"checkpoint {ck.path} was written with {name} {old} but this run has "
                f"{name} {new}; {_VERSION_ADVICE.format(name=name, old=old)}",
                field=key,
                old=old,
                new=new,
            )
        shown_old, shown_new = old, new
        if key == "data_sha256":  # a prefix is enough to tell them apart
            shown_old = old[:16] + "..." if isinstance(old, str) else old
            shown_new = new[:16] + "..."
        advice = _RESUME_ADVICE.get(key, _SETTINGS_ADVICE).format(old=old)
        raise CheckpointError(
            f"checkpoint {ck.path} was written with {key}={shown_old!r} but this run "
            f"has {key}={shown_new!r}; {advice}",
            field=key,
            old=old,
            new=new,
        )
    if config["iters"] < ck.iteration:
        raise CheckpointError(
            f"checkpoint {ck.path} has {ck.iteration} iterations done but this run asks for "
            f"iters={config['iters']}; a resumed run may go on to more iterations, not fewer: "
            f"pass iters >= {ck.iteration}, or use another checkpoint path",
            field="iters",
            old=ck.iteration,
            new=config["iters"],
        )


def drop_closing_evaluation(history: History, eval_every: int) -> None:
    """Drop the *closing* evaluation of a resumed history that goes on.

    A history's evaluations are the scheduled ones (iteration 0, ``eval_every``, ...) plus
    one of the last iteration done when that is not scheduled, so that it describes the
    parameters ``train`` returns (also after a callback's early stop), and so does the
    checkpoint written at the end. A run that goes on past it has no evaluation there, so
    neither may the resumed one. It is recognised without a flag: an evaluation of the last
    iteration done that is off the schedule (which a resume must keep) can only be a closing
    one.
    """
    last = history.iterations - 1
    if history.epoch_iters[-1:] == [last] and last % eval_every:
        del history.train_acc[-1], history.test_acc[-1], history.epoch_iters[-1]


def restore(
    net: Any, shape: tuple[int, ...], settings: Settings, config: dict[str, Any]
) -> tuple[History, np.random.Generator]:
    """Resume from ``settings.checkpoint``: refuse it unless it holds this very run, then put
    its parameters into ``net`` and the optimiser's state into ``settings.optimizer``, and
    return its history and random generator, with which the run continues exactly."""
    path = settings.checkpoint
    ck = load_checkpoint(path)
    check_resumable(ck, shape, config)
    for key in ck.params:
        net.params[key] = ck.params[key]
    try:
        settings.optimizer.load_state(ck.optimizer_state)
    except (TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"checkpoint {path} has a bad optimizer state: {exc}") from exc
    history = ck.history
    if ck.iteration < settings.iters:
        drop_closing_evaluation(history, settings.eval_every)
    try:
        rng = _generator_from_state(ck.rng_state)
    except (TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"checkpoint {path} has a bad random state: {exc}") from exc
    return history, rng
