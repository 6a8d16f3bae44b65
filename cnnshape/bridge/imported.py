"""What an import produces, whatever it reads (torch.fx or ONNX): the mapped operations,
what could not be mapped, the result, and the check that the written spec analyses to the
source model's own numbers. Imports neither torch nor onnx."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Unmapped:
    """One operation with no cnnshape layer kind, located in the model."""

    where: str  # module path ("layer1.0.conv1") or "forward" for the top level
    op: str  # what it is: "call_function operator.mul", "module TransformerEncoder"
    reason: str

    def format(self) -> str:
        return f"{self.where}: {self.op}: {self.reason}"


@dataclass
class Op:
    """A traced operation mapped to a layer kind."""

    node: str  # fx node name
    kind: str
    args: dict[str, Any]
    inputs: list[tuple[str, int]]  # (fx node name or "input", output index)
    path: str  # module path of a module call, else ""
    owner: str  # module path of the innermost custom module it runs in ("" for the model)
    n_outputs: int = 1
    local: str = ""
    training_only: bool = False  # runs only in training mode (an auxiliary head)
    # The call index of each custom module it runs in (module path -> 0 for the first call):
    # each call of a module is its own block use.
    calls: dict[str, int] = field(default_factory=dict)
    # What owns the weights it uses (a module path or a parameter's name), "" without any:
    # a later op with the same weights shares them (`share:`).
    weights: str = ""
    trainable: bool | None = None  # its parameters' requires_grad; None without parameters


@dataclass
class ImportResult:
    text: str  # the spec (empty when something is unmapped)
    unmapped: list[Unmapped]
    torch_params: int
    torch_outputs: list[tuple[int, ...]]
    layers: int
    blocks: int
    problems: list[str] = field(default_factory=list)  # the written spec disagrees with PyTorch
    # torch module path -> the spec's layer names of its calls, in order (compare per layer)
    module_rows: dict[str, list[str]] = field(default_factory=dict)
    spec_path: str = ""  # where the problems are located: write `text` there to follow them

    @property
    def ok(self) -> bool:
        return not self.unmapped and not self.problems


def check_spec(
    text: str,
    torch_params: int,
    torch_outputs: list[tuple[int, ...]],
    spec_path: str,
    source: str = "PyTorch",
    torch_trainable: int | None = None,
) -> list[str]:
    """The written spec, analysed by cnnshape, must agree with the model it came from
    (and with its trainable parameters, `requires_grad`, when given)."""
    from cnnshape.errors import SpecError
    from cnnshape.pipeline import analyze_text

    try:
        report = analyze_text(text, spec_path)
    except SpecError as exc:
        return [
            f"the written spec does not analyse: {problem.format()}"
            for problem in exc.problems
            if problem.severity == "error"
        ]
    problems = []
    if report.totals.params != torch_params:
        problems.append(f"parameters: the spec has {report.totals.params:,}, {source} {torch_params:,}")
    elif torch_trainable is not None and report.totals.trainable_params != torch_trainable:
        problems.append(
            f"trainable parameters: the spec has {report.totals.trainable_params:,}, {source} {torch_trainable:,}"
        )
    spec_outputs = [tuple(output.shape) for output in report.outputs]
    if spec_outputs != torch_outputs:
        problems.append(f"output shapes: the spec gives {spec_outputs}, {source} {torch_outputs}")
    return problems
