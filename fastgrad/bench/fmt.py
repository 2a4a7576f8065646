"""How figures are written: durations, ratios, differences, load averages.

The text report uses fixed decimals (``fmt_time(s)``: 16.21 us); the README tables three
significant digits (``fmt_time(s, sig=3)``: 16.2 us). Both share the units and the switch
to minutes, hours and days.

Examples
--------
>>> fmt_time(1.6213e-5), fmt_time(1.6213e-5, sig=3), fmt_time(7300.0)
('16.2 us', '16.2 us', '2.0 h')
>>> fmt_ratio(11179.4), fmt_ratio(4.183), fmt_diff(3.9e-12), fmt_diff(0.0)
('11,179x', '4.18x', '3.9e-12', '0')
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["fmt_time", "fmt_duration", "fmt_ratio", "fmt_diff", "fmt_load"]


def fmt_time(s: float | None, sig: int | None = None) -> str:
    """A duration in ns, us, ms, s, min, h or days: fixed decimals, or ``sig`` significant
    digits below two minutes."""
    if s is None or not math.isfinite(s):
        return "-"
    if s < 1e-6:
        return f"{s * 1e9:.0f} ns"
    if s < 1e-3:
        return f"{s * 1e6:{f'.{sig}g' if sig else '.1f'}} us"
    if s < 1:
        return f"{s * 1e3:{f'.{sig}g' if sig else '.2f'}} ms"
    return fmt_duration(s, sig)


def fmt_duration(s: float, sig: int | None = None) -> str:
    """A long duration: seconds (fixed decimals or ``sig`` digits) below two minutes, then
    minutes, hours, days."""
    if s < 120:
        return f"{s:{f'.{sig}g' if sig else '.2f'}} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    if s < 3 * 86400:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} days"


def fmt_ratio(r: float | None) -> str:
    if r is None or not math.isfinite(r):
        return "-"
    if r >= 100:
        return f"{r:,.0f}x"
    if r >= 10:
        return f"{r:.1f}x"
    if r >= 0.1:
        return f"{r:.2f}x"
    return f"{r:.2g}x"


def fmt_diff(d: float | None) -> str:
    if d is None:
        return "-"
    return "0" if d == 0 else f"{d:.1e}"


def fmt_load(load: Sequence[float] | None) -> str:
    return "n/a" if load is None else " ".join(f"{v:.2f}" for v in load)
