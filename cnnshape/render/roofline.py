"""The lines `summary --device NAME` adds (computed in cnnshape.roofline; formatted here)."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from cnnshape.report import Report

SLOWEST = 5  # layers listed by their bound


def duration(seconds: Fraction) -> str:
    """A time to three significant digits: '1.23 ms', '45.6 µs' (display only)."""
    for unit, scale in (("s", 1), ("ms", 10**3), ("µs", 10**6), ("ns", 10**9)):
        value = seconds * scale
        if value >= 1 or unit == "ns":
            return f"{float(value):.3g} {unit}"
    return "0 s"


def rows(report: Report) -> list[tuple[str, str]]:
    r = report.roofline
    if r is None:
        return []
    memory_bound = sum(1 for layer in r.layers if layer.bound_by == "memory" and layer.seconds)
    lines = [
        (
            "Device",
            f"{r.device.name}: {float(r.peak_flops) / 1e12:.4g} TFLOP/s at {report.dtype}, "
            f"{float(r.device.bandwidth) / 1e9:.4g} GB/s",
        ),
        (
            "Latency bound",
            f"at least {duration(r.seconds)} (a lower bound, not a measurement: roofline per layer, "
            f"nothing fused; FLOPs as {r.convention} counts them)",
        ),
        ("Ridge point", f"{float(r.ridge):.1f} FLOPs/byte; {memory_bound} of {len(r.layers)} layers memory-bound"),
    ]
    if len(r.conventions) > 1:
        lines += [
            (
                f"  {bound.convention}",
                f"at least {duration(bound.seconds)} ({bound.flops:,} FLOPs; {bound.memory_bound} layers memory-bound)",
            )
            for bound in r.conventions
        ]
        lines.append(("Slowest layers", f"({r.convention})"))
    slowest = sorted(r.layers, key=lambda layer: -layer.seconds)[:SLOWEST]
    for layer in slowest:
        intensity = f"{float(layer.intensity):.1f} FLOPs/B" if layer.intensity is not None else "-"
        lines.append((f"  {layer.name}", f"{duration(layer.seconds)} ({layer.bound_by}-bound, {intensity})"))
    return lines


def _fraction(value: Fraction | None) -> str | None:
    return None if value is None else f"{value.numerator}/{value.denominator}"


def to_dict(report: Report) -> dict[str, Any] | None:
    r = report.roofline
    if r is None:
        return None
    return {
        "device": r.device.name,
        "source": r.device.source,
        "peak_flops": r.peak_flops,
        "bandwidth": r.device.bandwidth,
        "ridge": _fraction(r.ridge),
        "lower_bound_seconds": _fraction(r.seconds),
        "convention": r.convention,
        "conventions": [
            {
                "name": bound.convention,
                "flops": bound.flops,
                "lower_bound_seconds": _fraction(bound.seconds),
                "memory_bound_layers": bound.memory_bound,
            }
            for bound in r.conventions
        ],
        "layers": {
            layer.name: {
                "flops": layer.flops,
                "bytes": layer.bytes,
                "intensity": _fraction(layer.intensity),
                "lower_bound_seconds": _fraction(layer.seconds),
                "bound_by": layer.bound_by,
            }
            for layer in r.layers
        },
    }
