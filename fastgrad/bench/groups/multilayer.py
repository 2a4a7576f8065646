"""Group ``multilayer``: the book's chapter-6 ``MultiLayerNet`` at batch 100 on MNIST sample
digits, three networks (:data:`~fastgrad.bench.workloads.NETWORKS`): ``[100, 100]`` ReLU, the
chapter-5 ``[50]`` ReLU, and ``[100, 100]`` sigmoid with weight decay 0.1, each with the
class's default initialisation; the same rows as the ``twolayer`` group
(:func:`~fastgrad.bench.groups.twolayer.network_rows`)."""

from __future__ import annotations

from ..recorder import Recorder
from ..settings import Settings
from ..workloads import NETWORKS, multilayer_case
from .twolayer import network_rows


def run(rec: Recorder, s: Settings) -> None:
    for network in NETWORKS:
        case = multilayer_case(*network, s.seed)
        rows = network_rows(rec, s, "multilayer", case, s.subset, salt=10)
        rows[0].note += f"; {case.description}"
