"""The lines `summary --memory/--batch` adds (computed in cnnshape.memory; formatted here)."""

from __future__ import annotations

from typing import Any

from cnnshape.render import units
from cnnshape.report import Report


def rows(report: Report) -> list[tuple[str, str]]:
    m = report.memory
    if m is None:
        return []
    t = m.training
    return [
        (
            "Inference",
            f"peak {units.size(m.inference.peak_bytes)} (tensors freed after last use; at {m.inference.peak_layer})",
        ),
        ("  every output", f"{units.size(m.inference.sum_bytes)} (none freed)"),
        ("Training", f"peak {units.size(t.peak_bytes)} (batch {t.batch}, {t.optimizer}, {t.precision}; estimate)"),
        ("  parameters", units.size(t.param_bytes)),
        ("  gradients", units.size(t.gradient_bytes)),
        ("  optimizer state", units.size(t.optimizer_bytes)),
        ("  saved for backward", units.size(t.saved_bytes)),
        *([("  16-bit weight copies", units.size(t.weight_copy_bytes))] if t.weight_copy_bytes else []),
    ]


def to_dict(report: Report) -> dict[str, Any] | None:
    m = report.memory
    if m is None:
        return None
    t = m.training
    return {
        "inference": {
            "peak_bytes": m.inference.peak_bytes,
            "peak_layer": m.inference.peak_layer,
            "sum_bytes": m.inference.sum_bytes,
        },
        "training": {
            "batch": t.batch,
            "optimizer": t.optimizer,
            "precision": t.precision,
            "param_bytes": t.param_bytes,
            "gradient_bytes": t.gradient_bytes,
            "optimizer_bytes": t.optimizer_bytes,
            "saved_bytes": t.saved_bytes,
            "weight_copy_bytes": t.weight_copy_bytes,
            "peak_bytes": t.peak_bytes,
        },
    }
