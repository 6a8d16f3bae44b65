"""The registry of layer kinds: every family module's KINDS, by PyTorch class name."""

from __future__ import annotations

import difflib

from cnnshape.layers import activation, conv, linear, merge, norm, pool, resample, reshape
from cnnshape.layers.base import Layer

FAMILIES = (conv, pool, linear, norm, activation, merge, reshape, resample)

REGISTRY: dict[str, type[Layer]] = {cls.kind(): cls for family in FAMILIES for cls in family.KINDS}


def suggest(kind: str, extra: list[str] = ()) -> str | None:
    """The closest known kind name, for "did you mean" hints (case slips first)."""
    names = list(REGISTRY) + list(extra)
    for name in names:
        if name.lower() == kind.lower():
            return name
    close = difflib.get_close_matches(kind, names, n=1, cutoff=0.6)
    return close[0] if close else None
