"""Human units for display only: 61.1 M, 4.09 G, 44.6 MiB. The core keeps exact integers."""

from __future__ import annotations

from fractions import Fraction
from typing import Optional

from cnnshape.report import ReceptiveField


def count(value: int) -> str:
    """61100840 -> '61.1 M' (SI prefixes, three significant digits)."""
    for factor, suffix in ((10**18, "E"), (10**15, "P"), (10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "K")):
        if abs(value) >= factor:
            scaled = value / factor
            digits = 2 if abs(scaled) < 10 else (1 if abs(scaled) < 100 else 0)
            return f"{scaled:.{digits}f} {suffix}"
    return str(value)


def size(value: int) -> str:
    """Bytes in binary units: 244,403,360 -> '233.1 MiB'."""
    for factor, suffix in ((2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if value >= factor:
            return f"{value / factor:.1f} {suffix}"
    return f"{value} B"


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
    return text + (" !" if rf.unaligned else "")
