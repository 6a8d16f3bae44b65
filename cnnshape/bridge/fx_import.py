"""A PyTorch model as a cnnshape spec: trace it with torch.fx and map every call onto a
layer kind (fx_map.py), write the spec (spec_writer.py), and check the written spec
against PyTorch: analysed again, its parameter count and output shapes must equal
PyTorch's, so a mapping mistake cannot pass silently.

What cannot be mapped is reported, located by module path, and nothing is written.
Imports torch (and runs the target's module); only the `import` command reaches it.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any, Optional, Union

from cnnshape.bridge._torch import torch  # first: torch imported quietly

# isort: split
import torch.fx as fx
from torch import nn

from cnnshape.bridge.fx_map import _CONTAINERS, Mapper, TargetError, _Recorder, _Tracer, load_target
from cnnshape.bridge.imported import ImportResult, Unmapped, check_spec
from cnnshape.bridge.spec_writer import SpecWriter

Shape = tuple[int, ...]


def import_model(
    model: nn.Module,
    input_shape: Union[Shape, dict[str, Shape]],
    name: Optional[str] = None,
    origin: str = "",
    spec_path: Optional[str] = None,
) -> ImportResult:
    """Trace, map, write the spec and check it against PyTorch. `input_shape` is the shape
    of forward()'s one tensor argument, or each argument's by name (`{"x1": ..., "x2": ...}`:
    the spec's named inputs). Problems are located in `spec_path` (default `NAME.yaml`,
    NAME the spec's name), the file the caller writes `result.text` to; the result keeps
    it as `spec_path`."""
    model = model.eval()
    inputs = _forward_inputs(model, input_shape)
    gm, recorder, result = _trace_and_run(model, inputs)
    eval_paths: Optional[set[str]] = None
    if _unreached_weights(model, gm):
        # Weights eval mode never reaches (GoogLeNet's and Inception's auxiliary heads,
        # run `if self.training`): trace in training mode, and mark what eval mode skips.
        eval_paths = _module_paths(gm)
        model.train()
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()  # batch statistics of one sample at 1x1 would fail; shapes are the same
        try:
            gm, recorder, result = _trace_and_run(model, inputs)
        finally:
            model.eval()
    torch_outputs = [
        tuple(t.shape)
        for t in (result if isinstance(result, (tuple, list)) else [result])
        if isinstance(t, torch.Tensor)
    ]
    torch_params = sum(p.numel() for p in model.parameters())
    torch_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    mapper = Mapper(gm, recorder.values, model, eval_paths, list(inputs))
    outputs = mapper.run()
    if mapper.unmapped or outputs is None:
        return ImportResult("", mapper.unmapped, torch_params, torch_outputs, len(mapper.ops), 0)
    spec_name = name or type(model).__name__.lower()
    writer = SpecWriter(model, mapper.ops, outputs, inputs, spec_name, origin, _CONTAINERS)
    root = writer.tree()
    text = writer.text(root)
    imported = ImportResult(
        text, [], torch_params, torch_outputs, len(mapper.ops), len(writer.blocks), module_rows=writer.module_rows(root)
    )
    imported.spec_path = spec_path or f"{spec_name}.yaml"
    imported.problems = check_spec(
        text, torch_params, torch_outputs, imported.spec_path, torch_trainable=torch_trainable
    )
    return imported


def _forward_inputs(model: nn.Module, given: Union[Shape, dict[str, Shape]]) -> dict[str, Shape]:
    """forward()'s tensor arguments with their shapes, in forward()'s order: the one
    required argument for a plain shape; the named ones for `{name: shape}` (an optional
    argument named there is an input too)."""
    try:
        every = list(inspect.signature(model.forward).parameters.values())
    except (TypeError, ValueError):
        every = []
    parameters = [p for p in every if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    # forward(self, *xs): the one shape is xs[0] (torch.fx names the placeholder `*xs`)
    star = [f"*{p.name}" for p in every if p.kind == p.VAR_POSITIONAL]
    required = [p.name for p in parameters if p.default is inspect.Parameter.empty]
    model_name = type(model).__name__
    if not isinstance(given, dict):
        if len(required) > 1:
            example = ";".join(f"{n}={','.join(map(str, given))}" for n in required)
            raise TargetError(
                f"{model_name}.forward takes {len(required)} inputs ({', '.join(required)}): give each one's "
                f"shape by name, e.g. --input '{example}'"
            )
        first = required[0] if required else (star or [p.name for p in parameters] or ["x"])[0]
        return {first: tuple(given)}
    known = [p.name for p in parameters]
    unknown = [n for n in given if n not in known]
    missing = [n for n in required if n not in given]
    if unknown or missing:
        problem = f"no argument {', '.join(map(repr, unknown))}" if unknown else f"no shape for {', '.join(missing)}"
        raise TargetError(f"{model_name}.forward takes {', '.join(known) or 'no named arguments'}: {problem}")
    return {n: tuple(given[n]) for n in known if n in given}


def _trace_and_run(model: nn.Module, inputs: dict[str, Shape]) -> tuple[fx.GraphModule, _Recorder, Any]:
    """The model traced in its current mode and run once on zeros (every value kept); the
    arguments of forward() not in `inputs` are traced at their defaults."""
    try:
        tracer = _Tracer()
        graph = tracer.trace(model, concrete_args=_defaults(model, inputs))
        gm = fx.GraphModule(tracer.root, graph)
    except Exception as exc:
        raise TargetError(
            f"torch.fx cannot trace {type(model).__name__}: {type(exc).__name__}: {exc}".splitlines()[0]
        ) from None
    recorder = _Recorder(gm)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    # One value per placeholder, in order: zeros for an input, its default for the rest.
    values = [
        torch.zeros(inputs[str(node.target)], device=device)
        if node.target in inputs
        else (node.args[0] if node.args else None)
        for node in gm.graph.nodes
        if node.op == "placeholder"
    ]
    shapes = ", ".join(f"{list(shape)}" for shape in inputs.values())
    try:
        with torch.no_grad():
            result = recorder.run(*values)
    except Exception as exc:
        raise TargetError(
            f"running {type(model).__name__} on a {shapes} input failed: {type(exc).__name__}: {exc}".splitlines()[0]
        ) from None
    return gm, recorder, result


def _module_paths(gm: fx.GraphModule) -> set[str]:
    """Every module path the traced graph runs: called modules and the modules each node ran in."""
    paths = {""}
    for node in gm.graph.nodes:
        if node.op == "call_module":
            paths.add(str(node.target))
        elif node.op == "get_attr":
            paths.add(str(node.target).rpartition(".")[0])
        for key, (path, _) in (node.meta.get("nn_module_stack") or {}).items():
            paths.add(key if isinstance(key, str) and not path else path)
    return paths


def _unreached_weights(model: nn.Module, gm: fx.GraphModule) -> bool:
    """True when a module with parameters of its own is not reached by the traced graph."""
    reached = _module_paths(gm)
    for path, module in model.named_modules():
        if not any(True for _ in module.parameters(recurse=False)):
            continue
        parts = path.split(".")
        if not any(".".join(parts[:depth]) in reached for depth in range(1, len(parts) + 1)):
            return True
    return False


def _defaults(model: nn.Module, inputs: dict[str, Shape]) -> Optional[dict[str, Any]]:
    """forward()'s optional arguments that are not inputs, at their defaults (timm's ViT:
    forward(x, attn_mask=None, is_causal=False)), so they trace as constants."""
    try:
        parameters = list(inspect.signature(model.forward).parameters.values())
    except (TypeError, ValueError):
        return None
    given = {
        p.name: p.default
        for p in parameters
        if p.name not in inputs
        and p.default is not inspect.Parameter.empty
        and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }
    return given or None


def import_target(
    target: str,
    input_shape: Union[Shape, dict[str, Shape]],
    name: Optional[str] = None,
    paths: Sequence[str] = (),
    spec_path: Optional[str] = None,
) -> ImportResult:
    """Import (run) the target's module, then import the model it names."""
    if name is None and target.startswith("timm:"):
        name = target[len("timm:") :]
    return import_model(load_target(target, paths), input_shape, name, target, spec_path)


__all__ = ["ImportResult", "TargetError", "Unmapped", "import_model", "import_target", "load_target"]
