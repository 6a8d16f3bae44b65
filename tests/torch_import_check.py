"""One comparison of an imported spec with the torch model it came from, for the
torchvision and timm import tests: everything measured from torch at test time."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from cnnshape.pipeline import analyze_text
from cnnshape.report import Report


@contextmanager
def leaf_shapes(model: torch.nn.Module, paths: Iterable[str]) -> Iterator[dict[str, list[list[tuple[int, ...]]]]]:
    """Forward hooks recording each call's output shapes of the modules at `paths`."""
    seen: dict[str, list[list[tuple[int, ...]]]] = {}
    wanted = set(paths)

    def hook_for(path: str) -> Any:
        def hook(module: torch.nn.Module, args: Any, output: Any) -> None:
            outputs = output if isinstance(output, (tuple, list)) else [output]
            seen.setdefault(path, []).append([tuple(t.shape) for t in outputs if isinstance(t, torch.Tensor)])

        return hook

    handles = [module.register_forward_hook(hook_for(path)) for path, module in model.named_modules() if path in wanted]
    try:
        yield seen
    finally:
        for handle in handles:
            handle.remove()


def torch_macs(model: torch.nn.Module, x: torch.Tensor) -> tuple[int, Any]:
    """Multiply-adds of one forward pass as torch counts them (torch.utils.flop_counter:
    convolutions, mm/addmm/bmm, scaled_dot_product_attention; 2 FLOPs each), so functional
    products (`q @ k.transpose(-2, -1)`, F.linear on a module's weights) count as the
    modules do. On the models whose products are all modules it equals the hook count
    torchvision uses (tests/test_torch_registry.py checks that rule against fvcore)."""
    with FlopCounterMode(display=False) as counter:
        out = model(x)
    flops = counter.get_total_flops()
    assert flops % 2 == 0
    return flops // 2, out


def check_against_torch(model: torch.nn.Module, shape: tuple[int, ...], result: Any, name: str) -> Report:
    """The imported spec's params, buffers, MACs (torch's flop counter, halved), eval output
    shape and every torch module call's output shape equal torch's, on meta."""
    assert result.ok, [item.format() for item in result.unmapped] + result.problems
    report = analyze_text(result.text, f"{name}.yaml")
    x = torch.zeros(shape, device="meta")
    with torch.no_grad(), leaf_shapes(model, result.module_rows) as torch_shapes:
        macs, out = torch_macs(model, x)
    rows = {row.name: row for row in report.rows}
    for path, names in result.module_rows.items():
        spec_shapes = [[tuple(s) for s in rows[row].output_shapes] for row in names if not rows[row].training_only]
        assert spec_shapes == torch_shapes.get(path, []), (path, names)
    assert report.totals.params == sum(p.numel() for p in model.parameters())
    assert report.totals.buffers == sum(b.numel() for b in model.buffers())
    assert report.totals.macs == macs
    # Training-only outputs (auxiliary heads) are not returned in eval mode.
    training_only = {row.name for row in report.rows if row.training_only}
    assert [tuple(o.shape) for o in report.outputs if o.name not in training_only] == [tuple(out.shape)]
    return report
