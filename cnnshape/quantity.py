"""Human quantities: budgets read (`25M` parameters, `4.1G` MACs, `200MiB` of memory) and
numbers shown (`61.1 M`, `233.1 MiB`).

Exact integers come out: decimal suffixes (K, M, G, T) are powers of 1000, binary ones
(KiB, MiB, GiB, TiB) powers of 1024; a `B` after a decimal suffix (`200MB`) is allowed.
"""

from __future__ import annotations

import re
from fractions import Fraction

_SUFFIX = {
    "": 1,
    "K": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "KI": 2**10,
    "MI": 2**20,
    "GI": 2**30,
    "TI": 2**40,
}
_PATTERN = re.compile(r"^\s*([0-9][0-9_,]*(?:\.[0-9]+)?)\s*([KMGT]I?)?B?\s*$", re.IGNORECASE)


def parse_quantity(value: object) -> int:
    """`25M` -> 25_000_000, `4.1G` -> 4_100_000_000, `1.5MiB` -> 1_572_864, 1234 -> 1234."""
    if isinstance(value, bool):
        raise ValueError(f"expected a number like 25M or 4.1G, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"expected a non-negative number, got {value}")
        return value
    match = _PATTERN.match(str(value))
    if not match:
        raise ValueError(f"expected a number with an optional K/M/G/T or KiB/MiB/GiB suffix, like 25M, got {value!r}")
    number = Fraction(match.group(1).replace("_", "").replace(",", ""))
    scaled = number * _SUFFIX[(match.group(2) or "").upper()]
    if scaled.denominator != 1:
        raise ValueError(f"{value!r} is not a whole number")
    return int(scaled)


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
