"""Counting conventions: how each peer tool counts a network's work, one table of
per-operation rules per tool (fvcore's jit_handles style), applied to a Report's layers.

    from cnnshape.count import CONVENTIONS, count
    counted = count(report, CONVENTIONS["fvcore"])
"""

from __future__ import annotations

from cnnshape.count import deepspeed, fvcore, ptflops, thop, torchinfo, torchvision, ultralytics
from cnnshape.count.base import OP_NAMES, Convention, Counted, Counting, count, counting
from cnnshape.report import Report

CONVENTIONS: dict[str, Convention] = {
    convention.name: convention
    for convention in (
        torchvision.CONVENTION,
        fvcore.CONVENTION,
        ptflops.PYTORCH,
        ptflops.ATEN,
        thop.CONVENTION,
        torchinfo.CONVENTION,
        ultralytics.CONVENTION,
        deepspeed.CONVENTION,
    )
}
DEFAULT = "torchvision"

__all__ = ["CONVENTIONS", "DEFAULT", "OP_NAMES", "Convention", "Counted", "Counting", "count", "count_report"]


def count_report(report: Report, names: list[str], top: int | None = None, share: bool = False) -> Counting:
    """`report` counted in the named conventions ('all': every one, the default first)."""
    if names == ["all"]:
        names = list(CONVENTIONS)
    return counting(report, names, CONVENTIONS, DEFAULT, top, share)
