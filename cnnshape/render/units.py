"""Human units for display only: 61.1 M, 4.09 G, 44.6 MiB. The core keeps exact integers."""

from __future__ import annotations

from fractions import Fraction
from typing import Optional

from cnnshape.quantity import count as count
from cnnshape.quantity import size as size
from cnnshape.report import ReceptiveField


def shape(dims: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(d) for d in dims) + "]"


def number(value: int | Fraction) -> str:
    if isinstance(value, Fraction) and value.denominator != 1:
        return f"{value.numerator}/{value.denominator}"
    return str(int(value))


def receptive_field(rf: Optional[ReceptiveField]) -> str:
    """'195 s32 p66' when all axes agree, '7x1 s2x1 p3x0' when not, 'global', or '-'."""
    if rf is None:
        return "-"
    if rf.kind == "global":
        text = "global"
    elif not rf.axes:
        text = "-"
    else:
        parts = []
        for key, prefix in (("size", ""), ("stride", "s"), ("padding", "p")):
            values = [number(getattr(axis, key)) for axis in rf.axes]
            parts.append(prefix + (values[0] if len(set(values)) == 1 else "x".join(values)))
        text = " ".join(parts)
        if not all(axis.exact for axis in rf.axes):
            text = "~" + text
        if rf.kind == "flat":
            text += " (flat)"
    return text + (" +g" if rf.global_context else "") + (" !" if rf.unaligned else "")


def percent(share: Fraction) -> str:
    """An exact share as a percentage with one decimal: '12.3%' ('<0.1%' for a sliver)."""
    if share and share * 1000 < 1:
        return "<0.1%"
    tenths = round(share * 1000)
    return f"{tenths // 10}.{tenths % 10}%"


def signed(value: int) -> str:
    """A difference with its sign and thousands separators: '+22,328,320', '0'."""
    return f"{value:+,}" if value else "0"
