"""Probe: the resident memory around one TwoLayerNet numerical gradient, in a fresh process.

``python fastgrad/bench/probes/peak_memory.py HIDDEN BATCH``: loads the compiled kernel on a
small network, builds ``TwoLayerNet(784, HIDDEN, 10)`` and a batch, resets the peak-RSS mark
(Linux >= 4.0: ``5`` written to ``/proc/self/clear_refs``), makes one numerical gradient and
prints the marks before and after (KiB) as JSON. Run by path (see
:mod:`fastgrad.bench.probes`); :func:`fastgrad.bench.probes.peak_memory_probe` runs it and
turns the marks into the figure.
"""

import json
import resource
import sys


def _status(key: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key):
                return int(line.split()[1])
    return -1


def main(hidden: int, batch: int) -> dict:
    import numpy as np

    import fastgrad

    fastgrad.get_num_threads()  # start the threading layer first: numba issue #9938
    rng = np.random.default_rng(0)
    small = fastgrad.TwoLayerNet(784, 4, 10, rng=0)
    small.numerical_gradient(rng.random((3, 784)), np.arange(3))  # load the compiled kernel
    net = fastgrad.TwoLayerNet(784, hidden, 10, rng=0)
    x = rng.random((batch, 784))
    t = rng.integers(0, 10, batch)
    try:  # reset the peak-RSS mark, so that the call's own peak is measured
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        reset = True
    except OSError:
        reset = False

    def peak() -> int:
        return _status("VmHWM:") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    before_peak = peak()
    before_now = _status("VmRSS:")
    g = net.numerical_gradient(x, t)
    after_peak = peak()
    out_kib = sum(v.nbytes for v in g.values()) / 1024
    return {
        "before_peak_kib": before_peak,
        "before_rss_kib": before_now,
        "after_peak_kib": after_peak,
        "result_kib": out_kib,
        "reset": reset,
        "inputs_kib": (x.nbytes + sum(v.nbytes for v in net.params.values())) / 1024,
    }


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]), int(sys.argv[2]))))
