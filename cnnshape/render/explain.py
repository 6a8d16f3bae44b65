"""`explain` and `calc`: each layer's working, as text, Markdown or JSON. Formats only."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rich.console import Console
from rich.text import Text

from cnnshape import escape
from cnnshape.explain import Explanation, Step
from cnnshape.render import units
from cnnshape.render.json import receptive_field
from cnnshape.render.markdown import code, text
from cnnshape.report import Report


def _shapes(shapes: list[tuple[int, ...]]) -> str:
    return ", ".join(units.shape(shape) for shape in shapes)


def _numbers(step: Step, sep: str = "  ") -> str:
    parts = []
    if step.params:
        parts.append(f"params {step.params:,}")
    if step.buffers:
        parts.append(f"buffers {step.buffers:,}")
    if step.macs:
        parts.append(f"MACs {step.macs:,}")
    if step.training_macs:
        parts.append(f"training-only MACs {step.training_macs:,}")
    return sep.join(parts)


def _lines(step: Step) -> list[str]:
    return step.working + step.rf_working


def step_text(step: Step, named: bool = True) -> Text:
    head = Text()
    if named:
        head.append(escape.terminal(step.name) + "  ", style="bold")
    head.append(escape.terminal(step.kind), style="cyan")
    head.append(f"  {_shapes(step.input_shapes)} -> {_shapes(step.output_shapes)}")
    numbers = _numbers(step)
    if numbers:
        head.append(f"  {numbers}", style="green")
    for line in _lines(step):
        head.append("\n    " + escape.terminal(line))
    return head


def render(explanation: Explanation, console: Console) -> None:
    name, file = escape.terminal(explanation.name), escape.terminal(explanation.file)
    console.print(Text(f"{name}  ({file})  input {units.shape(explanation.input_shape)}", style="bold"))
    for step in explanation.steps:
        console.print()
        console.print(step_text(step), soft_wrap=True)


def render_calc(explanation: Explanation, report: Report, console: Console) -> None:
    """One layer: its working, then the output shape and the counts."""
    (step,) = explanation.steps
    console.print(step_text(step, named=False), soft_wrap=True)
    t = report.totals
    console.print()
    console.print(
        f"output {_shapes(step.output_shapes)}   parameters {t.params:,}   MACs {t.macs:,}   FLOPs {t.flops:,}",
        soft_wrap=True,
    )


def markdown(explanation: Explanation) -> str:
    parts = [
        f"**{text(explanation.name)}** ({code(explanation.file, in_table=False)}), input {code(units.shape(explanation.input_shape), in_table=False)}"
    ]
    for step in explanation.steps:
        head = (
            f"**{code(step.name, in_table=False)}** {text(step.kind)}: "
            f"{code(_shapes(step.input_shapes), in_table=False)} → {code(_shapes(step.output_shapes), in_table=False)}"
        )
        numbers = _numbers(step, ", ")
        lines = _lines(step)
        body = "\n\n" + escape.code_fence(lines) if lines else ""
        parts.append(head + (f" ({text(numbers)})" if numbers else "") + body)
    return "\n\n".join(parts) + "\n"


def _step_dict(step: Step) -> dict[str, Any]:
    return {
        "name": step.name,
        "kind": step.kind,
        "parent": step.parent,
        "inputs": step.inputs,
        "input_shapes": [list(shape) for shape in step.input_shapes],
        "output_shapes": [list(shape) for shape in step.output_shapes],
        "params": step.params,
        "buffers": step.buffers,
        "macs": step.macs,
        "training_macs": step.training_macs,
        "training_only": step.training_only,
        "working": step.working,
        "rf_working": step.rf_working,
        "receptive_field": receptive_field(step.receptive_field),
    }


def _head(explanation: Explanation) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "name": explanation.name,
        "file": explanation.file,
        "input": list(explanation.input_shape),
    }


def to_dict(explanation: Explanation) -> dict[str, Any]:
    return {**_head(explanation), "layers": [_step_dict(step) for step in explanation.steps]}


def render_json(explanation: Explanation) -> str:
    """One compact line per layer."""
    return "".join(json_pieces(explanation))


def json_pieces(explanation: Explanation) -> Iterator[str]:
    """`render_json` in pieces, each layer's line built as it is written (a 250,000-layer
    working never exists as one big tree of dicts, nor as one string)."""
    from cnnshape.render.json import document_pieces

    return document_pieces(_head(explanation), {"layers": (_step_dict(step) for step in explanation.steps)})
