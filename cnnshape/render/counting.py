"""The rows `summary --count/--share/--top` adds, as plain text cells that the table,
Markdown and CSV renderers lay out their own way (computed in cnnshape.count; only
formatted here)."""

from __future__ import annotations

from fractions import Fraction

from cnnshape.layers.base import OP_FAMILIES
from cnnshape.render import units
from cnnshape.report import Report

CONVENTION_HEADER = ["Convention", "MACs", "FLOPs", "vs default", "Follows"]


def convention_rows(report: Report) -> list[list[str]]:
    """One row per convention: its MACs and FLOPs, how far from the default, what the tool prints."""
    c = report.counting
    if c is None:
        return []
    rows = []
    for counted, convention in zip(c.counted, c.conventions, strict=True):
        difference = counted.macs - c.default.macs
        versus = (
            "(default)"
            if counted.convention == c.default.convention
            else (
                f"{units.signed(difference)} ({units.percent(Fraction(abs(difference), c.default.macs)) if c.default.macs else '-'})"
            )
        )
        rows.append(
            [
                counted.convention,
                f"{counted.macs:,}",
                f"{counted.flops:,}",
                versus,
                convention.version,
            ]
        )
    return rows


def family_header(report: Report) -> list[str]:
    c = report.counting
    return ["Family"] + ([counted.convention for counted in c.counted] if c else [])


def family_rows(report: Report, short: bool = False) -> list[list[str]]:
    """MACs by operation family (conv, linear, matmul, norm, ...), one column per convention
    (`short`: 4.09 G rather than every digit); families no convention counts are left out."""
    c = report.counting
    if c is None:
        return []
    number = units.count if short else "{:,}".format
    return [
        [family] + [number(counted.by_family[family]) if counted.by_family[family] else "0" for counted in c.counted]
        for family in OP_FAMILIES
        if any(counted.by_family[family] for counted in c.counted)
    ]


def family_columns(report: Report) -> tuple[list[str], list[list[str]]]:
    """The same breakdown turned: one row per convention, one column per family any of them
    counts (short numbers), so that eight conventions still fit a terminal's width."""
    c = report.counting
    if c is None:
        return [], []
    families = [family for family in OP_FAMILIES if any(counted.by_family[family] for counted in c.counted)]
    rows = [
        [counted.convention]
        + [units.count(counted.by_family[family]) if counted.by_family[family] else "0" for family in families]
        for counted in c.counted
    ]
    return ["Convention", *families], rows


TOP_HEADER = ["#", "Layer", "Kind", "MACs", "% MACs", "Params", "% params"]


def top_rows(report: Report) -> list[list[str]]:
    """The heaviest layers by MACs in the convention shown, with their shares."""
    c = report.counting
    if c is None:
        return []
    kinds = {row.name: row for row in report.rows}
    rows = []
    for rank, name in enumerate(c.top, 1):
        row = kinds[name]
        params_share, macs_share = c.shares[name]
        rows.append(
            [
                str(rank),
                name,
                row.kind,
                f"{c.layer_macs[name]:,}",
                units.percent(macs_share),
                f"{row.params:,}",
                units.percent(params_share),
            ]
        )
    return rows
