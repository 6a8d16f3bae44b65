"""A spec as readable PyTorch code: one nn.Module class per block, submodules named as the
spec names them, forward() mirroring the graph. Writes text only; never imports torch.

The code is written from the spec's own block definitions, so a block's class takes the
block's args and evaluates the spec's `$(expressions)` in Python (`if:` becomes `if`, a
`repeat:` that depends on an arg becomes a loop). Sizes cnnshape infers (`in_channels`,
`in_features`, `num_features`, ...) are written as an expression of the block's args, or
of the block input's size (an `in_channels` constructor argument), once that expression is
checked against every use of the block in the spec. A block whose uses cannot share one
class (a size no expression explains, names that shift between uses) is written as one
specialised class per distinct use instead: always correct, less general.

Everything from the spec reaches the code through the safe writer (codegen.py): names as
checked identifiers, values and text as literals, expressions rebuilt from the evaluator's
parse tree; the file is parsed before it is returned.
"""

from __future__ import annotations

import re
from typing import Any, Optional

from cnnshape.bridge.analysed import Analysed, analyse_file, analyse_source, reads_indices
from cnnshape.bridge.classwriter import ClassInfo, ExportError, _ClassWriter, _some, attr_name, module_path
from cnnshape.bridge.codegen import CodegenError, Namespace, Unsupported, check_module, literal, runtime_source
from cnnshape.graph import Ref
from cnnshape.spec import LayerCall, parse_layer_entry

__all__ = [
    "Analysed",
    "ExportError",
    "analyse_file",
    "analyse_source",
    "attr_name",
    "export_analysed",
    "export_file",
    "module_path",
]


def _camel(name: str) -> str:
    words = re.split(r"[^A-Za-z0-9]+", name)
    text = "".join(word[:1].upper() + word[1:] for word in words if word)
    if not text or not text[0].isalpha():
        text = "Net" + text
    return text


class _Exporter:
    def __init__(self, analysed: Analysed):
        self.a = analysed
        self.helpers: set[str] = set()
        self.needs: set[str] = set()
        self.classes: list[str] = []
        self.class_of_instance: dict[int, ClassInfo] = {}
        self.done: set[str] = set()
        # Module-level identifiers: the network's args first (expressions read them), then classes.
        self.module_ns = Namespace()
        self.arg_idents = {name: self.module_ns.bind(("arg", name), name) for name in analysed.graph.args}

    def ensure(self, kind: str) -> None:
        """Write the class(es) of a block kind, after the classes it uses."""
        if kind in self.done:
            return
        self.done.add(kind)
        spec = self.a.spec
        for raw in spec.blocks[kind].layers:
            call = parse_layer_entry(raw, ())
            if isinstance(call, LayerCall) and call.kind in spec.blocks:
                self.ensure(call.kind)
        instances: list[Optional[int]] = [b.index for b in self.a.graph.blocks if b.kind == kind]
        if not instances:
            return
        description = spec.blocks[kind].description or ""
        helpers, needs = set(self.helpers), set(self.needs)
        try:
            writer = _ClassWriter(self, kind, instances, True, self.module_ns.bind(("class", kind), kind))
            info = writer.write()
            self.classes.append(writer.text(description))
            for index in instances:
                self.class_of_instance[_some(index)] = info
            return
        except Unsupported as exc:
            self.helpers, self.needs = helpers, needs
            reason = str(exc)
        # Specialised classes: one per distinct use, identical ones shared.
        by_text: dict[str, ClassInfo] = {}
        for index in map(_some, instances):
            writer = _ClassWriter(self, kind, [index], False, "__NAME__")
            info = writer.write()
            args = ", ".join(
                f"{key}={value!r}" for key, value in self.a.block_vars(index).items() if key in spec.blocks[kind].args
            )
            body = writer.text(
                description, note=f"Specialised for {args} (one class cannot serve every use: {reason})."
            )
            if body not in by_text:
                name = self.module_ns.fresh(kind)
                info.name = name
                by_text[body] = info
                self.classes.append(body.replace("__NAME__", name, 1))
            self.class_of_instance[index] = by_text[body]

    def write(self) -> str:
        a = self.a
        for raw in a.spec.layers:
            call = parse_layer_entry(raw, ())
            if isinstance(call, LayerCall) and call.kind in a.spec.blocks:
                self.ensure(call.kind)
        root_name = self.module_ns.fresh(_camel(a.spec.name))
        helpers, needs = set(self.helpers), set(self.needs)
        try:
            writer = _ClassWriter(self, None, [None], True, root_name)
            writer.write()
        except Unsupported:
            self.helpers, self.needs = helpers, needs
            writer = _ClassWriter(self, None, [None], False, root_name)
            writer.write()
        root = writer.text(a.spec.description or "")
        parts = [self._header()]
        parts += runtime_source(self.helpers | self.needs)
        parts += self.classes
        parts.append(root)
        parts.append(self._footer(root_name))
        return "\n\n".join(part.rstrip("\n") + "\n" for part in parts)

    def _header(self) -> str:
        a = self.a
        doc = (
            "PyTorch code written by `cnnshape export` from the spec SPEC_FILE (its name: SPEC_NAME).\n\n"
            "build() returns the model for the spec's input, INPUT_SHAPE. The submodules are named as the\n"
            "spec names its layers, so `cnnshape verify` can compare them one by one.\n"
        )
        lines = ['"""' + doc + '"""', "", "from __future__ import annotations", ""]
        if "math" in self.needs:
            lines.append("import math")
            lines.append("")
        lines += ["import torch", "from torch import nn", ""]
        lines.append(f"SPEC_NAME = {literal(a.spec.name)}")
        lines.append(f"SPEC_FILE = {literal(str(a.report.file))}")
        lines.append(f"INPUT_SHAPE = {literal(tuple(a.graph.input_shape))}")
        if len(a.graph.inputs) > 1:
            lines.append("# The shapes of the network's inputs, in the spec's order (forward()'s arguments).")
            lines.append(f"INPUT_SHAPES = {literal(tuple(tuple(shape) for _, shape in a.graph.inputs))}")
        if a.graph.args:
            lines.append("")
            lines.append("# The spec's args, as analysed (with any --set applied); the classes read them.")
            for name, value in a.graph.args.items():
                lines.append(f"{self.arg_idents[name]} = {literal(value, as_tuple=False)}")
        return "\n".join(lines) + "\n"

    def _footer(self, root_name: str) -> str:
        dtype = ", dtype=torch.long" if reads_indices(self.a) else ""
        several = len(self.a.graph.inputs) > 1
        inputs = (
            f"*(torch.zeros(shape{dtype}) for shape in INPUT_SHAPES)" if several else f"torch.zeros(INPUT_SHAPE{dtype})"
        )
        return (
            "def build():\n"
            '    """The network for an input of shape INPUT_SHAPE."""\n'
            f"    return {root_name}()\n"
            "\n"
            "\n"
            'if __name__ == "__main__":\n'
            "    model = build().eval()\n"
            "    with torch.no_grad():\n"
            f"        out = model({inputs})\n"
            "    shapes = [tuple(t.shape) for t in (out if isinstance(out, tuple) else (out,)) if t is not None]\n"
            '    print("output", *shapes, "parameters", sum(p.numel() for p in model.parameters()))\n'
        )


# export writes two lines per layer (its module and its call). Python needs far more memory
# to compile such a file than to hold the analysis: 250,000 layers took 1.8 GB to compile
# (2.5 GB to `ast.parse`), 60,000 still fit in 1 GiB. Above this the file would not load.
MAX_EXPORT_LAYERS = 50_000


def export_analysed(analysed: Analysed) -> str:
    """The PyTorch source for an analysed spec, parsed before it is returned."""
    layers = len(analysed.graph.nodes) - len(analysed.graph.inputs)
    if layers > MAX_EXPORT_LAYERS:
        raise ExportError(
            f"the network has {layers:,} layers; export writes one module per layer and stops at "
            f"{MAX_EXPORT_LAYERS:,} (Python could not compile a larger file in reasonable memory); "
            "export a smaller `repeat` or a part of the network"
        )
    graph = analysed.graph
    left_out = [node for node in graph.nodes[graph.first_layer :] if Ref(node.index) not in analysed.shapes]
    if left_out:
        # A training-only layer that does not fit this input (summary warns and leaves it
        # out): the exported module must still build it, and its sizes come from its input.
        first = left_out[0]
        raise ExportError(
            f"{first.name} ({first.kind}) runs only in training and does not fit this input, so its "
            f"PyTorch module cannot be sized ({len(left_out):,} layer(s) left out); export at an input "
            "it fits (the spec's own), as the exported module holds the training-only layers too"
        )
    try:
        return check_module(_Exporter(analysed).write())
    except CodegenError as exc:
        raise ExportError(str(exc)) from None


def export_file(
    path: Any, overrides: Optional[dict[str, Any]] = None, input_shape: Optional[tuple[int, ...]] = None
) -> str:
    """The PyTorch source for a spec file (raises SpecError, ExportError)."""
    return export_analysed(analyse_file(path, overrides, input_shape))
