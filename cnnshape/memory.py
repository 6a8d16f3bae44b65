"""Memory over a Report's graph: inference peak with liveness, and training memory.

Inference: each tensor is allocated when its layer runs and freed after the last layer that
reads it (execution order; a view or an in-place layer shares its input's storage and
extends its life; the network's outputs live to the end). The peak is the most bytes alive
at once, beside the sum of every output (nothing freed) that `summary` reports as
"Activations".

Training (one step at `batch`): parameters, gradients, optimizer state, and the tensors
autograd keeps for backward (each layer's Op.saves and Op.saved_extra: a convolution its
input, ReLU its output, batch norm its input and per-channel statistics, max pooling its
input and int64 indices, dropout a bool mask; a tensor kept by several layers counted once).
The peak is their sum at the end of the forward pass, when all of them are alive.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import prod

from cnnshape.report import DTYPE_BYTES, Report, Row, per_row

OPTIMIZERS = ("sgd", "momentum", "adam", "adamw")
PRECISIONS = ("fp32", "fp16-mixed", "bf16-mixed")
# State per parameter element after one step, in fp32 copies of the parameter
# (torch.optim: SGD without momentum keeps none; momentum_buffer; Adam's exp_avg and exp_avg_sq).
STATE_COPIES = {"sgd": 0, "momentum": 1, "adam": 2, "adamw": 2}
# Adam keeps a float32 `step` scalar tensor per parameter tensor.
STEP_BYTES = {"sgd": 0, "momentum": 0, "adam": 4, "adamw": 4}
# Bytes of an activation element: autocast runs convolutions and matmuls in 16 bits.
ACTIVATION_BYTES = {"fp32": 4, "fp16-mixed": 2, "bf16-mixed": 2}
EXTRA_BYTES = {"float32": 4, "int64": 8, "bool": 1}
# Operation families autocast runs in 16 bits (convolutions, linear layers, matmuls and
# scaled_dot_product_attention: its lower-precision lists, CPU and CUDA alike): they read a
# 16-bit copy of a float32 input and of their weights, and write a 16-bit output.
AUTOCAST_FAMILIES = ("conv", "linear", "matmul")
# Operations that join their input with a float32 parameter elementwise, so under autocast
# their output is float32 whatever the input's type (ViT's residual stream stays float32).
FLOAT32_PARAMETER_OPS = frozenset({"class_token", "position_embedding", "layer_scale"})


@dataclass
class InferenceMemory:
    sum_bytes: int  # every layer's output, none freed (summary's "Activations")
    peak_bytes: int  # the most activation bytes alive at once, the input included
    peak_layer: str  # the layer running at the peak
    # per row: bytes alive while the layer runs (a block: the most while any of its layers
    # runs); the largest is the peak
    alive_bytes: dict[str, int] = field(default_factory=dict)


@dataclass
class LayerTraining:
    """One layer's part of the training figures (summed over layers: the totals)."""

    param_bytes: int = 0
    gradient_bytes: int = 0
    optimizer_bytes: int = 0
    saved_bytes: int = 0  # the storages this layer is the first to keep, and its own extras
    weight_copy_bytes: int = 0

    @property
    def peak_bytes(self) -> int:
        return self.param_bytes + self.gradient_bytes + self.optimizer_bytes + self.saved_bytes + self.weight_copy_bytes


@dataclass
class TrainingMemory:
    batch: int
    optimizer: str
    precision: str
    param_bytes: int  # fp32 master weights (mixed precision keeps them in fp32)
    gradient_bytes: int
    optimizer_bytes: int
    saved_bytes: int  # tensors kept for backward, each storage once
    weight_copy_bytes: int  # mixed precision: the 16-bit copies autocast makes of conv/linear weights
    layers: dict[str, LayerTraining] = field(default_factory=dict)  # each leaf layer's part

    def row(self, report: Report) -> dict[str, LayerTraining]:
        """Every row's part (a block row: the sum of its layers'); leaf rows add up to the totals."""
        keys = ("param_bytes", "gradient_bytes", "optimizer_bytes", "saved_bytes", "weight_copy_bytes")
        columns = {
            key: per_row(report, {name: getattr(part, key) for name, part in self.layers.items()}) for key in keys
        }
        return {row.name: LayerTraining(*(columns[key][row.name] for key in keys)) for row in report.rows}

    @property
    def peak_bytes(self) -> int:
        return self.param_bytes + self.gradient_bytes + self.optimizer_bytes + self.saved_bytes + self.weight_copy_bytes


def _outputs(row: Row) -> list[str]:
    """The tensor names a layer produces, as Row.inputs refers to them."""
    if len(row.output_shapes) == 1:
        return [row.name]
    return [f"{row.name}.{i}" for i in range(len(row.output_shapes))]


def _storages(report: Report, training: bool) -> tuple[dict[str, str], dict[str, int]]:
    """Each tensor's storage (a view's is its input's) and each storage's elements."""
    owner: dict[str, str] = {"input": "input"}
    elements: dict[str, int] = {"input": prod(report.input_shape)}
    for row in report.rows:
        if row.is_block:
            continue
        first = row.ops[0] if row.ops else None
        view = (
            first is not None
            and len(row.ops) == 1
            and (first.view if not training or first.train_view is None else first.train_view)
        )
        for name, shape in zip(_outputs(row), row.output_shapes, strict=True):
            if view and row.inputs:
                owner[name] = owner.get(row.inputs[0], row.inputs[0])
            else:
                owner[name] = name
                elements[name] = prod(shape)
    return owner, elements


def inference(report: Report) -> InferenceMemory:
    """Activation memory in eval mode, with and without freeing tensors after their last use."""
    dtype_bytes = DTYPE_BYTES[report.dtype]
    owner, elements = _storages(report, training=False)
    leaves = [row for row in report.rows if not row.is_block]
    last_use: dict[str, int] = {}
    for step, row in enumerate(leaves):
        for name in row.inputs:
            last_use[owner.get(name, name)] = step
        for name in _outputs(row):
            last_use.setdefault(owner[name], step)
    keep = {owner.get(output.tensor, output.tensor) for output in report.outputs}
    alive = elements["input"]
    peak, peak_layer = alive, "input"
    alive_bytes = {}
    for step, row in enumerate(leaves):
        alive += sum(elements[name] for name in _outputs(row) if owner[name] == name)
        alive_bytes[row.name] = alive * dtype_bytes
        if alive > peak:
            peak, peak_layer = alive, row.name
        for storage in {owner.get(name, name) for name in [*row.inputs, *_outputs(row)]}:
            if last_use.get(storage) == step and storage not in keep and storage in elements:
                alive -= elements.pop(storage)
    return InferenceMemory(
        report.totals.activation_bytes, peak * dtype_bytes, peak_layer, per_row(report, alive_bytes, max)
    )


def training(report: Report, optimizer: str = "adam", precision: str = "fp32") -> TrainingMemory:
    """One training step's memory for `report` analysed at the training batch size."""
    owner, elements = _storages(report, training=True)
    half = ACTIVATION_BYTES[precision]  # autocast's 16-bit type (float32 without mixed precision)
    mixed = precision != "fp32"
    element_bytes: dict[str, int] = {}  # each storage's element size: float32 (4) or 16-bit
    saved: set[str] = set()
    layers: dict[str, LayerTraining] = {}
    for row in report.rows:
        if row.is_block:
            continue
        part = layers[row.name] = LayerTraining(param_bytes=4 * row.params, gradient_bytes=4 * row.params)
        part.optimizer_bytes = 4 * row.params * STATE_COPIES[optimizer]
        in_bytes = [element_bytes.get(owner.get(name, name), 4) for name in row.inputs]
        out_bytes = _output_bytes(row, in_bytes, half) if mixed else 4
        for name in _outputs(row):
            if owner[name] == name:
                element_bytes[name] = out_bytes
        tensors = {
            "input": list(zip(row.inputs[:1], row.input_shapes[:1], strict=True)),
            "inputs": list(zip(row.inputs, row.input_shapes, strict=True)),
            "output": list(zip(_outputs(row)[:1], row.output_shapes[:1], strict=True)),
        }
        extra_bytes = {**EXTRA_BYTES, "half": half, "act": in_bytes[0] if in_bytes else 4}
        for op in row.ops:
            part.optimizer_bytes += STEP_BYTES[optimizer] * len(op.params)
            autocast = mixed and op.family in AUTOCAST_FAMILIES
            if autocast and not row.shared_with:  # one 16-bit copy of each weight per step (autocast's cache)
                part.weight_copy_bytes += half * sum(size for name, size in op.params if name.endswith("weight"))
            for what in op.saves:
                for name, shape in tensors[what]:
                    storage = owner.get(name, name)
                    if autocast and element_bytes.get(storage, 4) != half:
                        part.saved_bytes += half * prod(shape)  # the 16-bit copy autocast made of it
                    elif storage not in saved:
                        saved.add(storage)
                        part.saved_bytes += elements.get(storage, 0) * element_bytes.get(storage, 4)
            for dtype, count in op.saved_extra:
                part.saved_bytes += count * extra_bytes[dtype]
    return TrainingMemory(
        batch=report.input_shape[0] if report.input_shape else 1,
        optimizer=optimizer,
        precision=precision,
        param_bytes=sum(part.param_bytes for part in layers.values()),
        gradient_bytes=sum(part.gradient_bytes for part in layers.values()),
        optimizer_bytes=sum(part.optimizer_bytes for part in layers.values()),
        saved_bytes=sum(part.saved_bytes for part in layers.values()),
        weight_copy_bytes=sum(part.weight_copy_bytes for part in layers.values()),
        layers=layers,
    )


def _output_bytes(row: Row, in_bytes: list[int], half: int) -> int:
    """The element size of a layer's output under autocast: 16 bits after a convolution or
    matmul; float32 where a float32 parameter joins the input elementwise (type promotion:
    a class token, a position embedding, a layer scale); else its inputs' type, float32 if
    any of them is (an Add of a float32 and a 16-bit tensor is float32). Norms, activations
    and pooling keep their input's type."""
    if row.ops and row.ops[-1].family in AUTOCAST_FAMILIES:
        return half
    if any(op.name in FLOAT32_PARAMETER_OPS for op in row.ops):
        return 4
    return max(in_bytes, default=4)


@dataclass
class MemoryReport:
    """What `summary --memory` (or --batch/--optimizer/--precision) adds to a report."""

    inference: InferenceMemory
    training: TrainingMemory


def memory_report(report: Report, optimizer: str = "adam", precision: str = "fp32") -> MemoryReport:
    return MemoryReport(inference(report), training(report, optimizer, precision))


def parse_size(text: str) -> int:
    """'24GiB', '24 GB', '512MiB', '1.5GiB', '1000000' -> bytes (KiB/MiB/GiB/TiB are powers of
    1024, KB/MB/GB/TB of 1000); ValueError for anything else."""
    import re
    from fractions import Fraction

    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)?\s*", text, re.IGNORECASE)
    if not match:
        raise ValueError(f"not a size: {text!r} (write e.g. 24GiB, 512MiB or 16GB)")
    unit = (match.group(2) or "B").upper()
    power = "BKMGT".index(unit[0])
    base = 1024 if "I" in unit else 1000
    return int(Fraction(match.group(1)) * base**power)


@dataclass
class BatchFit:
    batch: int
    peak_bytes: int
    fits: bool


def largest_batch(
    reports: list[Report], budget: int, optimizer: str, precision: str
) -> tuple[list[BatchFit], int | None]:
    """Each batch's training peak against `budget`, and the largest batch that fits (None: none does)."""
    fits = []
    for report in reports:
        peak = training(report, optimizer, precision).peak_bytes
        fits.append(BatchFit(report.input_shape[0], peak, peak <= budget))
    best = max((fit.batch for fit in fits if fit.fits), default=None)
    return fits, best
