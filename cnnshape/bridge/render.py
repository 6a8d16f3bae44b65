"""Rich output for the bridge commands: format results, compute nothing."""

from __future__ import annotations

from typing import Any


def render_verify(result: Any, console: Any, torch_version: str) -> None:
    """The totals side by side, then every mismatch (layer, what, cnnshape, PyTorch)."""
    from rich.table import Table

    console.print(
        f"{result.name}  ({result.file})  against PyTorch {torch_version} on {result.device}: "
        f"{result.layers} layers and block uses compared"
    )
    console.print()
    totals = Table(box=None, show_edge=False, pad_edge=False, header_style="bold")
    totals.add_column("Total")
    totals.add_column("cnnshape", justify="right")
    totals.add_column("PyTorch", justify="right")
    totals.add_column("check", justify="right")  # right-aligned: no trailing padding
    for total in result.totals:
        totals.add_row(total.quantity, f"{total.cnnshape:,}", f"{total.torch:,}", "ok" if total.ok else "MISMATCH")
    console.print(totals)
    console.print()
    if not result.mismatches:
        state = "every layer's output shape, parameters and buffers match" if result.ok else "the totals differ"
        console.print(f"{'OK' if result.ok else 'FAILED'}: {state}.")
        return
    table = Table(
        box=None,
        show_edge=False,
        pad_edge=False,
        header_style="bold",
        title_justify="left",
        title=f"{len(result.mismatches)} mismatch(es)",
    )
    table.add_column("Layer")
    table.add_column("What")
    table.add_column("cnnshape", justify="right")
    table.add_column("PyTorch", justify="right")
    for mismatch in result.mismatches:
        table.add_row(mismatch.name, mismatch.what, mismatch.cnnshape, mismatch.torch)
    console.print(table)
    console.print()
    console.print("FAILED: cnnshape and PyTorch disagree.")


def render_import(result: Any, console: Any, target: str, source: str = "PyTorch") -> None:
    """What was imported, or every operation that could not be mapped."""
    if result.unmapped:
        console.print(
            f"{target}: {len(result.unmapped)} operation(s) have no cnnshape layer kind:", markup=False, emoji=False
        )
        for item in result.unmapped:
            console.print(f"  {item.format()}", markup=False, emoji=False)
        return
    if result.problems:
        console.print(f"{target}: the written spec disagrees with {source}:", markup=False, emoji=False)
        for problem in result.problems:
            console.print(f"  {problem}", markup=False, emoji=False)
        return
    shapes = ", ".join(str(list(shape)) for shape in result.torch_outputs)
    console.print(
        f"{target}: {result.layers} layers in {result.blocks} block(s); "
        f"{result.torch_params:,} parameters and output {shapes}, as {source}",
        markup=False,
        emoji=False,  # a target such as `models.py:Star` is text, not the :star: emoji code
    )
