"""fastgrad.training's callbacks (``_callbacks``): what runs after each iteration, and how a
callback stops training."""

from __future__ import annotations

import signal

import pytest

from fastgrad.training import StopOnSignal, StopTraining, load_checkpoint

from .test_training import make_problem, run


@pytest.fixture(scope="module")
def problem():
    return make_problem()


def test_callbacks_see_each_iteration(problem):
    seen = []

    class Recorder:
        def __call__(self, iteration, history, net):
            seen.append((iteration, history.iterations, net))

    net, _ = run(problem, iters=7, callbacks=[Recorder()])
    assert [s[:2] for s in seen] == [(i, i + 1) for i in range(7)]
    assert all(s[2] is net for s in seen)


@pytest.mark.parametrize("how", ["return", "raise"])
def test_callback_stops_training_early(problem, how):
    calls = []

    def stop_at_12(i, history, net):
        if i == 12:
            if how == "raise":
                raise StopTraining
            return True
        return None

    def other(i, history, net):
        calls.append(i)

    _, h = run(problem, callbacks=(stop_at_12, other))
    assert h.iterations == 13
    assert calls == list(range(13))  # the other callbacks of the last iteration still ran
    assert h.epoch_iters[-1] == 12  # the returned parameters are evaluated


def test_single_callable_is_accepted(problem):
    _, h = run(problem, callbacks=lambda i, h, n: h.loss[-1] < 10)
    assert h.iterations == 1


def test_other_exceptions_from_callbacks_propagate(problem):
    def boom(i, h, n):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        run(problem, callbacks=[boom])


# -- StopOnSignal: Ctrl-C and SIGTERM stop after the iteration, with a last checkpoint -------


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_stop_on_signal_stops_after_the_iteration_and_checkpoints(problem, tmp_path, signum):
    """A signal raised during iteration 6 (here by a callback, in the main thread) raises
    nothing: training stops after that iteration, the checkpoint holds 7 iterations, and the
    handlers of before are back."""
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    ck = tmp_path / "ck.npz"

    def send_at_6(i, history, net):
        if i == 6:
            signal.raise_signal(signum)

    with StopOnSignal() as stop:
        assert signal.getsignal(signum) != before[signum]
        _, history = run(problem, iters=50, checkpoint=ck, callbacks=[send_at_6, stop])
    assert stop.signum == signum and stop.exit_status == 128 + signum
    assert history.iterations == 7 and load_checkpoint(ck).iteration == 7
    assert {s: signal.getsignal(s) for s in before} == before


def test_stop_on_signal_restores_the_handlers_on_error():
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(ZeroDivisionError), StopOnSignal():
        1 / 0  # noqa: B018
    assert signal.getsignal(signal.SIGINT) is before
