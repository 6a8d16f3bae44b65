"""Roofline: each layer's arithmetic intensity (FLOPs per byte moved) and, for a device
profile (peak FLOP/s and memory bandwidth from the vendor's data sheet), a lower bound on
its latency: max(FLOPs / peak, bytes / bandwidth). A bound, not a measurement: it assumes
each layer reads its inputs and weights once and writes its outputs once, at full speed,
with nothing fused and no launch overhead.

Devices: DEVICES below, extended or overridden by `[tool.cnnshape.devices]` in the
nearest pyproject.toml:

    [tool.cnnshape.devices.my-gpu]
    flops = 50e12          # peak FLOP/s at the precision you run
    half-flops = 200e12    # optional: at float16/bfloat16 (tensor cores)
    bandwidth = 1.0e12     # bytes/s
    source = "vendor data sheet, 2024"
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from math import prod
from pathlib import Path
from typing import Any, Optional

from cnnshape.report import DTYPE_BYTES, Report, leaves_under


@dataclass(frozen=True)
class Device:
    name: str
    flops: int  # peak FLOP/s, float32 (no tensor cores)
    half_flops: int  # peak FLOP/s, float16/bfloat16 dense (tensor cores where there are)
    bandwidth: int  # bytes/s
    source: str


T = 10**12
G = 10**9
DEVICES: dict[str, Device] = {
    device.name: device
    for device in (
        Device(
            "a100-sxm4-80gb",
            19_500 * G,
            312 * T,
            2_039 * G,
            "NVIDIA A100 Tensor Core GPU datasheet: FP32 19.5 TFLOPS, FP16 Tensor Core 312 TFLOPS (dense), HBM2e 2,039 GB/s",
        ),
        Device(
            "h100-sxm",
            67 * T,
            989_400 * G,
            3_350 * G,
            "NVIDIA H100 Tensor Core GPU datasheet (SXM): FP32 67 TFLOPS, FP16 Tensor Core 989.4 TFLOPS dense "
            "(1,979 with sparsity), HBM3 3.35 TB/s",
        ),
        Device(
            "v100-sxm2",
            15_700 * G,
            125 * T,
            900 * G,
            "NVIDIA V100 datasheet (SXM2): FP32 15.7 TFLOPS, Tensor 125 TFLOPS, HBM2 900 GB/s",
        ),
        Device(
            "t4",
            8_100 * G,
            65 * T,
            320 * G,
            "NVIDIA T4 datasheet: FP32 8.1 TFLOPS, mixed FP16/FP32 65 TFLOPS, GDDR6 320 GB/s",
        ),
        Device(
            "rtx-4090",
            82_600 * G,
            165_200 * G,
            1_008 * G,
            "NVIDIA Ada Lovelace architecture whitepaper (RTX 4090): FP32 82.6 TFLOPS, FP16 Tensor with FP32 "
            "accumulate 165.2 TFLOPS dense, GDDR6X 1,008 GB/s",
        ),
    )
}


class DeviceError(ValueError):
    """A device name or a [tool.cnnshape.devices] entry that cannot be used."""


def _number(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise DeviceError(f"{what}: expected a positive number, got {value!r}")
    return int(Fraction(value))


def devices_from_table(table: Any, origin: str) -> dict[str, Device]:
    """`[tool.cnnshape.devices]` entries as Devices (raises DeviceError naming the entry)."""
    if not isinstance(table, dict):
        raise DeviceError(f"{origin} [tool.cnnshape.devices]: expected a table of devices")
    found = {}
    for name, entry in table.items():
        where = f"{origin} [tool.cnnshape.devices.{name}]"
        if not isinstance(entry, dict):
            raise DeviceError(f"{where}: expected a table with flops, bandwidth and source")
        unknown = set(entry) - {"flops", "half-flops", "half_flops", "bandwidth", "source"}
        if unknown:
            raise DeviceError(
                f"{where}: unknown key(s) {', '.join(sorted(unknown))} (flops, half-flops, bandwidth, source)"
            )
        if "flops" not in entry or "bandwidth" not in entry:
            raise DeviceError(f"{where}: needs flops (FLOP/s) and bandwidth (bytes/s)")
        flops = _number(entry["flops"], f"{where} flops")
        half = entry.get("half-flops", entry.get("half_flops", entry["flops"]))
        found[name] = Device(
            name,
            flops,
            _number(half, f"{where} half-flops"),
            _number(entry["bandwidth"], f"{where} bandwidth"),
            str(entry.get("source", "pyproject.toml")),
        )
    return found


def known_devices(start: Optional[Path] = None) -> dict[str, Device]:
    """The built-in devices, with those of the nearest pyproject.toml's [tool.cnnshape.devices]."""
    import sys

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    devices = dict(DEVICES)
    folder = (start or Path.cwd()).resolve()
    for candidate in (f / "pyproject.toml" for f in [folder, *folder.parents]):
        if not candidate.is_file():
            continue
        try:
            data = tomllib.loads(candidate.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            return devices  # lint reports a broken pyproject.toml with its place
        table = data.get("tool", {}).get("cnnshape") if isinstance(data.get("tool"), dict) else None
        if isinstance(table, dict):
            if "devices" in table:
                devices.update(devices_from_table(table["devices"], str(candidate.name)))
            return devices
    return devices


@dataclass
class LayerBound:
    name: str
    flops: int
    bytes: int  # inputs + weights read once, outputs written once
    intensity: Optional[Fraction]  # FLOPs per byte (None: moves nothing)
    seconds: Fraction  # the lower bound
    bound_by: str  # "compute" or "memory"


@dataclass
class ConventionBound:
    """The whole network's bound with FLOPs counted in one convention."""

    convention: str
    flops: int
    seconds: Fraction
    memory_bound: int  # layers whose bound is their bytes, not their FLOPs


@dataclass
class Roofline:
    device: Device
    peak_flops: int  # at the report's dtype
    ridge: Fraction  # FLOPs per byte where compute and memory take equally long
    layers: list[LayerBound]  # FLOPs in the convention `convention`
    convention: str = "torchvision"
    conventions: list[ConventionBound] = field(default_factory=list)  # with --count: each one counted

    @property
    def seconds(self) -> Fraction:
        return sum((layer.seconds for layer in self.layers), Fraction(0))

    def rows(self, report: Report) -> dict[str, LayerBound]:
        """Every row's bound: a layer's own, a block row's the sums over its layers (bound_by
        empty); leaf rows add up to the totals."""
        own = {layer.name: layer for layer in self.layers}
        found = {}
        for name, leaves in leaves_under(report).items():
            if name in own:
                found[name] = own[name]
                continue
            inside = [own[leaf] for leaf in leaves if leaf in own]
            flops, moved = sum(layer.flops for layer in inside), sum(layer.bytes for layer in inside)
            found[name] = LayerBound(
                name,
                flops,
                moved,
                Fraction(flops, moved) if moved else None,
                sum((layer.seconds for layer in inside), Fraction(0)),
                "",
            )
        return found


def _bounds(report: Report, device: Device, peak: int, layer_flops: Mapping[str, int]) -> list[LayerBound]:
    dtype_bytes = DTYPE_BYTES[report.dtype]
    layers = []
    for row in report.rows:
        if row.is_block:
            continue
        flops = layer_flops.get(row.name, 0)
        if row.ops and all(op.view for op in row.ops):
            moved = 0  # a view (or an eval-mode dropout) moves nothing
        else:
            moved = (
                sum(prod(shape) for shape in row.input_shapes)
                + row.params
                + sum(prod(shape) for shape in row.output_shapes)
            ) * dtype_bytes
        compute, memory = Fraction(flops, peak), Fraction(moved, device.bandwidth)
        layers.append(
            LayerBound(
                row.name,
                flops,
                moved,
                Fraction(flops, moved) if moved else None,
                max(compute, memory),
                "compute" if compute > memory else "memory",
            )
        )
    return layers


def roofline(report: Report, device: Device) -> Roofline:
    """Per-layer intensity and latency bound. FLOPs per layer are the default convention's
    (2 x MACs) or, when the report was counted (`--count`), those of the convention it
    shows, and then the network's bound in every convention counted as well."""
    peak = device.half_flops if DTYPE_BYTES[report.dtype] == 2 else device.flops
    counting = report.counting
    if counting is None:
        layers = _bounds(report, device, peak, {row.name: row.flops for row in report.rows if not row.is_block})
        return Roofline(device, peak, Fraction(peak, device.bandwidth), layers)
    conventions = []
    layers = []
    for counted in counting.counted:
        bounds = _bounds(report, device, peak, counted.layer_flops())
        if counted.convention == counting.shown:
            layers = bounds
        conventions.append(
            ConventionBound(
                counted.convention,
                counted.flops,
                sum((layer.seconds for layer in bounds), Fraction(0)),
                sum(1 for layer in bounds if layer.bound_by == "memory" and layer.seconds),
            )
        )
    return Roofline(device, peak, Fraction(peak, device.bandwidth), layers, counting.shown, conventions)
