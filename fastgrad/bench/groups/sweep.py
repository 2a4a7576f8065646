"""Group ``sweep``: the twolayer rows across hidden size, batch and input size (the others
fixed at 784-50-10 b100), and the empirical exponent of each series (log-log slope)."""

from __future__ import annotations

import functools

import numpy as np

from ..recorder import Recorder, Row
from ..settings import Settings
from ..timing import measure
from ..workloads import two_layer_case
from .twolayer import two_layer_rows


def run(rec: Recorder, s: Settings) -> None:
    if s.quick:
        dims = {"hidden": (10, 100, 1000), "batch": (1, 100, 1000), "input": (16, 784)}
    else:
        dims = {
            "hidden": (10, 30, 100, 300, 1000),
            "batch": (1, 10, 100, 1000),
            "input": (16, 64, 256, 784),
        }
    budget = 0.25 if s.quick else 1.0
    measured: dict[tuple[int, int, int], dict[str, Row]] = {}
    for dim, values in dims.items():
        for v in values:
            sizes = {"input": 784, "hidden": 50, "batch": 100}
            sizes[dim] = v
            key = (sizes["input"], sizes["hidden"], sizes["batch"])
            if key not in measured:  # the base point is shared by the three sweeps
                case = two_layer_case(key[0], key[1], 10, key[2], "dense", s.seed)
                ref = case.reference()
                t_loss = measure(
                    functools.partial(ref.loss, case.x, case.t),
                    repeat=3,
                    budget=0.1,
                    min_sample=0.0,
                ).median
                k = int(min(s.subset, max(6, budget / (2 * t_loss))))
                measured[key] = two_layer_rows(rec, s, "sweep", case, k, {"dim": dim, "value": v})
            for row in measured[key].values():
                if row.timing is not None:
                    rec.sweep_points.append(
                        {
                            "dim": dim,
                            "value": v,
                            "params": row.params,
                            "backend": row.meta["series"],
                            "median_s": row.timing.median,
                            "extrapolated": row.timing.extrapolated,
                        }
                    )
    _exponents(rec)


def _exponents(rec: Recorder) -> None:
    by: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for p in rec.sweep_points:
        by.setdefault((p["dim"], p["backend"]), []).append((p["value"], p["median_s"]))
    for (dim, series), pts in by.items():
        if len(pts) >= 2:
            xs, ys = np.log([p[0] for p in pts]), np.log([p[1] for p in pts])
            slope = float(np.polyfit(xs, ys, 1)[0])
            rec.exponents.append(
                {"dim": dim, "backend": series, "exponent": slope, "points": len(pts)}
            )
