"""Check cnnshape's numbers against PyTorch: build the exported module, run it once, and
compare every layer's output shapes, parameters and buffers, and the totals (parameters,
buffers, MACs counted by forward hooks on the torch side) with the analysis.

Runs on the meta device by default (no memory for weights, no arithmetic), or on the CPU
with a zero tensor of the spec's input shape. Imports torch; only the `verify` command
reaches this module.
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field
from typing import Any, Optional

from cnnshape.bridge._torch import torch  # first: torch imported quietly

# isort: split
from torch import nn

from cnnshape.bridge.analysed import Analysed, reads_indices
from cnnshape.bridge.export import export_analysed, module_path


@dataclass
class Mismatch:
    """One disagreement between cnnshape and PyTorch, for one layer or block (or a total)."""

    name: str
    what: str  # "output shape", "params", "buffers", "module", "ran"
    cnnshape: str
    torch: str


@dataclass
class Total:
    quantity: str
    cnnshape: int
    torch: int

    @property
    def ok(self) -> bool:
        return self.cnnshape == self.torch


@dataclass
class VerifyResult:
    name: str
    file: str
    device: str
    layers: int  # layers and block uses compared
    mismatches: list[Mismatch] = field(default_factory=list)
    totals: list[Total] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches and all(total.ok for total in self.totals)


def load_code(code: str, name: str = "cnnshape_export") -> types.ModuleType:
    """The exported source as a module (it is our own generated code)."""
    module = types.ModuleType(name)
    exec(compile(code, f"<cnnshape export {name}>", "exec"), module.__dict__)
    return module


# --- MACs on the torch side, by the torchvision convention ---------------------------------


def mac_rule(module: nn.Module) -> Any:
    """The MAC rule the layer registry declares for this module's class (or a base class:
    a subclass of nn.Linear counts as nn.Linear); None when it costs no MACs itself."""
    from cnnshape.layers import REGISTRY

    for cls in type(module).__mro__:
        kind = REGISTRY.get(cls.__name__)
        if kind is None or kind.pytorch is None or kind.pytorch.class_name != cls.__name__:
            continue
        return kind.torch_macs
    return None


def count_macs(model: nn.Module, run: Any) -> tuple[int, Any]:
    """MACs of one call `run()`, counted by hooks on convolutions, linear layers and attention."""
    total = [0]
    handles = []

    def hook_for(rule: Any):
        def hook(module: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
            inputs = tuple(args) + tuple(kwargs[name] for name in ("query", "key", "value") if name in kwargs)
            if isinstance(output, tuple):
                output = output[0]
            shapes = [tuple(t.shape) for t in inputs if isinstance(t, torch.Tensor)]
            total[0] += rule(module, shapes, tuple(output.shape))

        return hook

    for module in model.modules():
        rule = mac_rule(module)
        if rule is not None:
            handles.append(module.register_forward_hook(hook_for(rule), with_kwargs=True))
    try:
        result = run()
    finally:
        for handle in handles:
            handle.remove()
    return total[0], result


def _held(row: Any, rows: dict[str, Any], children: dict[Optional[str], list[Any]]) -> tuple[int, int]:
    """The parameters and buffers the module of a row holds: its own numbers, plus, for the
    layers inside it that share another's weights (`share:`, counted 0 in the report), the
    weights they share when those live outside it, once each (PyTorch's parameters() counts
    a tensor once, however many of the module's children hold it)."""
    if row.shared_with is not None:
        original = rows[row.shared_with]
        return original.params, original.buffers
    params, buffers = row.params, row.buffers
    outside: dict[str, Any] = {}
    pending = list(children.get(row.name, [])) if row.is_block else []
    while pending:
        child = pending.pop()
        if child.shared_with is not None:
            if not child.shared_with.startswith(row.name + "."):
                outside[child.shared_with] = rows[child.shared_with]
        elif child.is_block:
            pending.extend(children.get(child.name, []))
    for original in outside.values():
        params, buffers = params + original.params, buffers + original.buffers
    return params, buffers


def _shapes(output: Any) -> list[tuple[int, ...]]:
    """The shapes of a module's result, nested tuples flattened (nn.LSTM: output, (h_n, c_n))."""
    if isinstance(output, torch.Tensor):
        return [tuple(output.shape)]
    if isinstance(output, (tuple, list)):
        return [shape for item in output for shape in _shapes(item)]
    return []


def _fmt(shapes: list) -> str:
    return ", ".join("[" + ", ".join(str(d) for d in shape) + "]" for shape in shapes) or "-"


def _without_fast_path():
    """MultiheadAttention's and TransformerEncoderLayer's fused CPU path skips the submodules
    the MAC hooks watch; switch it off while verifying."""
    mha = getattr(torch.backends, "mha", None)
    if mha is None or not hasattr(mha, "set_fastpath_enabled"):
        return lambda: None
    before = mha.get_fastpath_enabled()
    mha.set_fastpath_enabled(False)
    return lambda: mha.set_fastpath_enabled(before)


def verify_analysed(analysed: Analysed, device: str = "meta") -> VerifyResult:
    """Export, build, run once and compare; never raises for a mismatch (see VerifyResult.ok)."""
    graph, report = analysed.graph, analysed.report
    module = load_code(export_analysed(analysed), graph.name.replace("-", "_"))
    with torch.device(device):
        model = module.build()
    model.eval()
    rows = {row.name: row for row in report.rows}
    result = VerifyResult(graph.name, report.file, device, 0)
    watched: dict[str, tuple[Optional[nn.Module], Any, bool]] = {}
    for node in graph.nodes[graph.first_layer :]:
        watched[node.name] = (None, rows.get(node.name), node.training_only)
    for block in graph.blocks:
        training_only = block.end > block.first and all(
            graph.nodes[i].training_only for i in range(block.first, block.end)
        )
        watched[block.name] = (None, rows.get(block.name), training_only)
    seen: dict[str, list[tuple[int, ...]]] = {}
    handles = []
    for name, (_, row, training_only) in list(watched.items()):
        try:
            submodule = model.get_submodule(module_path(name))
        except AttributeError:
            result.mismatches.append(Mismatch(name, "module", "present", "missing"))
            continue
        watched[name] = (submodule, row, training_only)

        def hook(mod: nn.Module, args: tuple, output: Any, name: str = name) -> None:
            seen[name] = _shapes(output)

        def pre_hook(mod: nn.Module, args: tuple, name: str = name) -> None:
            started.append(name)

        handles.append(submodule.register_forward_hook(hook))
        handles.append(submodule.register_forward_pre_hook(pre_hook))
    restore = _without_fast_path()
    failed: Optional[Exception] = None
    macs = 0
    started: list[str] = []
    try:
        with torch.no_grad():
            dtype = torch.long if reads_indices(analysed) else None
            xs = [
                torch.zeros(shape, device=device, dtype=dtype)
                for _, shape in graph.inputs or [("input", graph.input_shape)]
            ]
            macs, _ = count_macs(model, lambda: model(*xs))
    except Exception as exc:  # the built model does not run: that is the finding
        failed = exc
    finally:
        restore()
        for handle in handles:
            handle.remove()
    children: dict[Optional[str], list[Any]] = {}
    for child in report.rows:
        children.setdefault(child.parent, []).append(child)
    for name, (submodule, row, training_only) in watched.items():
        if submodule is None or row is None:
            continue
        result.layers += 1
        if name in seen:
            if [tuple(s) for s in row.output_shapes] != seen[name]:
                result.mismatches.append(Mismatch(name, "output shape", _fmt(row.output_shapes), _fmt(seen[name])))
        elif not training_only and failed is None:
            result.mismatches.append(Mismatch(name, "ran", "yes", "not called in forward()"))
        own_params, own_buffers = _held(row, rows, children)
        params = sum(p.numel() for p in submodule.parameters())
        if params != own_params:
            result.mismatches.append(Mismatch(name, "params", f"{own_params:,}", f"{params:,}"))
        buffers = sum(b.numel() for b in submodule.buffers())
        if buffers != own_buffers:
            result.mismatches.append(Mismatch(name, "buffers", f"{own_buffers:,}", f"{buffers:,}"))
    if failed is not None:
        where = next((name for name in reversed(started) if name not in seen), "(forward)")
        message = str(failed).splitlines()[0] if str(failed) else type(failed).__name__
        result.mismatches.append(Mismatch(where, "forward", "runs", f"{type(failed).__name__}: {message}"))
    totals = report.totals
    result.totals = [
        Total("params", totals.params, sum(p.numel() for p in model.parameters())),
        Total("buffers", totals.buffers, sum(b.numel() for b in model.buffers())),
    ]
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if totals.non_trainable_params or trainable != result.totals[0].torch:  # frozen on either side
        result.totals.insert(1, Total("trainable params", totals.trainable_params, trainable))
    if failed is None:
        result.totals.append(Total("MACs", totals.macs, macs))
    return result
