"""Walk a resolved graph once, in order: shapes, parameters, MACs, receptive fields -> Report.

Each node is visited once and each block's sums come from prefix sums, so the work is
linear in the number of layers. The layers compute; this module only threads tensors
through them and adds up.
"""

from __future__ import annotations

from math import prod
from typing import Optional

from cnnshape.errors import Issue, ShapeError, SpecError
from cnnshape.graph import Graph, Node, Ref
from cnnshape.layers.base import RF, Shape, fmt_shape
from cnnshape.report import DTYPE_BYTES, AxisField, Output, ReceptiveField, Report, Row, Totals
from cnnshape.source import Source

MAX_ELEMENTS = 2**50  # per tensor; past this a spec is a mistake or an attack


def to_field(rf: Optional[RF], cache: Optional[dict] = None) -> Optional[ReceptiveField]:
    """The report's copy of a receptive field; `cache` shares it between the many layers
    that pass one field through unchanged (keyed by identity while the RFs are alive)."""
    if rf is None:
        return None
    if cache is not None and id(rf) in cache:
        return cache[id(rf)]
    axes = tuple(AxisField(a.size, a.stride, a.padding, a.exact) for a in rf.axes)
    field = ReceptiveField(rf.kind, axes, rf.unaligned)
    if cache is not None:
        cache[id(rf)] = field
    return field


def analyze(graph: Graph, source: Source, dtype: str = "float32") -> Report:
    """Propagate shapes through the graph; raises SpecError with every shape problem."""
    tensors: dict[Ref, tuple[Shape, RF]] = {Ref(0): (graph.input_shape, RF.for_input(graph.input_shape))}
    issues: list[Issue] = []
    warnings: list[Issue] = []
    leaf: dict[int, Row] = {}
    fields: dict[int, ReceptiveField] = {}
    for node in graph.nodes[1:]:
        if node.layer is None or any(ref not in tensors for ref in node.inputs):
            continue  # its own problem is already reported, or an input failed upstream
        row = _visit(node, graph, tensors, issues, warnings, fields)
        if row is not None:
            leaf[node.index] = row
    found = graph.problems + source.problems(issues)
    if any(problem.severity == "error" for problem in found):
        raise SpecError(found + source.problems(warnings))
    dtype_bytes = DTYPE_BYTES[dtype]
    rows = _tree_rows(graph, leaf, tensors)
    outputs = [
        Output(name, tensors[ref][0], to_field(tensors[ref][1]), _ref_name(graph, ref))
        for name, ref in zip(_output_names(graph), graph.outputs)
    ]
    layer_rows = leaf.values()
    params = sum(row.params for row in layer_rows)
    buffers = sum(row.buffers for row in layer_rows)
    macs = sum(row.macs for row in layer_rows)
    training_macs = sum(row.training_macs for row in layer_rows)
    totals = Totals(
        params=params,
        trainable_params=params,
        non_trainable_params=0,
        buffers=buffers,
        macs=macs,
        flops=2 * macs,
        param_bytes=params * dtype_bytes,
        buffer_bytes=buffers * dtype_bytes,
        input_bytes=prod(graph.input_shape) * dtype_bytes,
        activation_bytes=sum(row.activation_elements for row in layer_rows) * dtype_bytes,
        layers=len(leaf),
        training_only_macs=training_macs,
    )
    return Report(
        name=graph.name,
        file=source.path,
        input_shape=graph.input_shape,
        dtype=dtype,
        args=graph.args,
        rows=rows,
        outputs=outputs,
        totals=totals,
        warnings=graph.problems + source.problems(warnings),
    )


def _output_names(graph: Graph) -> list[str]:
    if len(graph.output_names) == len(graph.outputs):
        return graph.output_names
    return [graph.nodes[ref.node].name for ref in graph.outputs]


def _visit(node: Node, graph: Graph, tensors: dict, issues: list[Issue], warnings: list[Issue],
           fields: dict[int, ReceptiveField]) -> Optional[Row]:
    layer = node.layer
    shapes = [tensors[ref][0] for ref in node.inputs]
    rfs = [tensors[ref][1] for ref in node.inputs]
    where = f" ({node.context})" if node.context else ""
    try:
        result = layer.infer(shapes)
        for shape in result.shapes:
            if any(dim <= 0 for dim in shape):
                raise ShapeError(f"output shape {fmt_shape(shape)} has a dimension that shrank to zero")
            if prod(shape) > MAX_ELEMENTS:
                raise ShapeError(f"output shape {fmt_shape(shape)} has more than {MAX_ELEMENTS:,} elements", code="limit")
    except ShapeError as exc:
        inputs = ", ".join(fmt_shape(shape) for shape in shapes)
        shown = "" if fmt_shape(shapes[0]) in exc.message else f"; input {inputs}"
        message = exc.message.removeprefix(f"{node.kind}: ").removeprefix(f"{node.kind} ")
        issues.append(Issue(node.loc, exc.code, f"{node.name} ({node.kind}): {message}{shown}{where}", at_key=True))
        return None
    out_rfs = layer.receptive_field(rfs, shapes, result.shapes)
    for i, (shape, rf) in enumerate(zip(result.shapes, out_rfs)):
        tensors[Ref(node.index, i)] = (shape, rf)
    if any(rf.unaligned for rf in out_rfs) and not any(rf.unaligned for rf in rfs):
        detail = ", ".join(_describe(rf) for rf in rfs)
        warnings.append(Issue(node.loc, "unaligned-rf", f"{node.name} ({node.kind}) merges paths whose receptive fields are not aligned: {detail}{where}", "warning", at_key=True))
    for message in result.warnings:
        warnings.append(Issue(node.loc, "layer-warning", f"{node.name} ({node.kind}): {message}{where}", "warning", at_key=True))
    parent = graph.blocks[node.block].name if node.block is not None else None
    return Row(
        name=node.name,
        kind=node.kind,
        depth=node.depth,
        is_block=False,
        parent=parent,
        output_shapes=list(result.shapes),
        params=result.params,
        buffers=result.buffers,
        macs=0 if node.training_only else result.macs,
        activation_elements=sum(prod(shape) for shape in result.shapes),
        receptive_field=to_field(out_rfs[0], fields) if out_rfs else None,
        inputs=[_ref_name(graph, ref) for ref in node.inputs],
        working=result.working,
        training_macs=result.macs if node.training_only else 0,
        training_only=node.training_only,
        findings=result.findings,
    )


def _describe(rf: RF) -> str:
    if rf.kind != "spatial":
        return rf.kind
    return " by ".join(f"(r{a.size} s{a.stride} p{a.padding})" for a in rf.axes) or "none"


def _ref_name(graph: Graph, ref: Ref) -> str:
    node = graph.nodes[ref.node]
    return node.name if ref.output == 0 and (node.layer is None or node.layer.num_outputs() == 1) else f"{node.name}.{ref.output}"


def _tree_rows(graph: Graph, leaf: dict[int, Row], tensors: dict) -> list[Row]:
    """Leaf rows in order with each block's row (sums via prefix sums) before its contents."""
    n = len(graph.nodes)
    sums = {key: [0] * (n + 1) for key in ("params", "buffers", "macs", "activation_elements", "training_macs")}
    for i in range(n):
        row = leaf.get(i)
        for key, acc in sums.items():
            acc[i + 1] = acc[i] + (getattr(row, key) if row is not None else 0)
    starts: dict[int, list[int]] = {}
    for block in graph.blocks:
        starts.setdefault(block.first, []).append(block.index)
    rows: list[Row] = []
    for i in range(n):
        for b in starts.get(i, ()):
            block = graph.blocks[b]
            outs = [tensors[ref] for ref in block.outputs if ref in tensors]
            rows.append(Row(
                name=block.name,
                kind=block.kind,
                depth=block.depth,
                is_block=True,
                parent=graph.blocks[block.parent].name if block.parent is not None else None,
                output_shapes=[shape for shape, _ in outs],
                params=sums["params"][block.end] - sums["params"][block.first],
                buffers=sums["buffers"][block.end] - sums["buffers"][block.first],
                macs=sums["macs"][block.end] - sums["macs"][block.first],
                activation_elements=sums["activation_elements"][block.end] - sums["activation_elements"][block.first],
                receptive_field=to_field(outs[0][1]) if outs else None,
                inputs=[],
                training_macs=sums["training_macs"][block.end] - sums["training_macs"][block.first],
                training_only=all(graph.nodes[i].training_only for i in range(block.first, block.end)) and block.end > block.first,
            ))
        if i in leaf:
            rows.append(leaf[i])
    return rows


# --- receptive-field working (for `explain`; off the summary path) ----------------------

_AXIS_NAMES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}


def input_field(input_shape: tuple[int, ...]) -> Optional[ReceptiveField]:
    """The network input's receptive field: one pixel, stride 1, no padding, per axis."""
    return to_field(RF.for_input(input_shape))


def receptive_field_working(inputs: list[Optional[ReceptiveField]], out: Optional[ReceptiveField]) -> list[str]:
    """How a layer's receptive field follows from its inputs', as text: per spatial axis
    the google-research/receptive_field recurrence with the numbers put in,
    `r = r_prev + (k_eff-1)*S_prev`, `S = S_prev*s`, `P = P_prev + p*S_prev`.

    The layer's step (k_eff, s, p) is read back from the fields before and after it, which
    is exact unless the size was rounded up after a fractional stride (then it says so).
    """
    known = [field for field in inputs if field is not None]
    if out is None or not known:
        return []
    if len(known) > 1:
        return _merge_working(known, out)
    before = known[0]
    if out == before:
        return ["RF: unchanged"]
    if out.kind == "global" and before.kind != "global":
        return ["RF: global (every output depends on the whole input)"]
    if out.kind == "flat" and before.kind == "spatial":
        return ["RF: flattened (spatial positions become features; the field so far is kept)"]
    if out.kind != "spatial" or before.kind != "spatial" or len(out.axes) != len(before.axes):
        return [f"RF: {_field_text(out)}"]
    names = _AXIS_NAMES.get(len(out.axes), tuple(f"axis {i}" for i in range(len(out.axes))))
    texts: list[tuple[str, str]] = []
    for name, a, b in zip(names, before.axes, out.axes):
        if a != b:
            texts.append((name, _axis_step(a, b)))
    return _grouped(texts) or ["RF: unchanged"]


def _axis_step(a: AxisField, b: AxisField) -> str:
    from fractions import Fraction

    stride = Fraction(a.stride)
    k_minus_1 = (b.size - a.size) / stride
    s = Fraction(b.stride) / stride
    p = (Fraction(b.padding) - Fraction(a.padding)) / stride
    mark = "" if b.exact else " (approximate)"
    if stride.denominator != 1 or k_minus_1.denominator != 1:
        # The size was rounded up to whole input pixels: the kernel cannot be read back.
        return f"r = ceil(r_prev + (k_eff-1)*S_prev) = {b.size}; S = {_num(b.stride)}; P = {_num(b.padding)}{mark}"
    return (
        f"r = r_prev + (k_eff-1)*S_prev = {a.size} + ({int(k_minus_1) + 1}-1)*{_num(a.stride)} = {b.size}; "
        f"S = S_prev*s = {_num(a.stride)}*{_num(s)} = {_num(b.stride)}; "
        f"P = P_prev + p*S_prev = {_num(a.padding)} + {_num(p)}*{_num(a.stride)} = {_num(b.padding)}{mark}"
    )


def _merge_working(inputs: list[ReceptiveField], out: ReceptiveField) -> list[str]:
    lines: list[str] = []
    if out.kind == "global":
        lines.append("RF: global (a merged path already depends on the whole input)")
    elif out.kind == "flat":
        lines.append("RF: flattened (a merged path has its spatial positions as features)")
    elif all(field.kind == "spatial" and len(field.axes) == len(out.axes) for field in inputs):
        names = _AXIS_NAMES.get(len(out.axes), tuple(f"axis {i}" for i in range(len(out.axes))))
        texts = [
            (name, f"r = max({', '.join(str(field.axes[i].size) for field in inputs)}) = {axis.size} (the largest of the merged paths)")
            for i, (name, axis) in enumerate(zip(names, out.axes))
        ]
        lines += _grouped(texts)
    else:
        lines.append(f"RF: {_field_text(out)}")
    if out.unaligned and not any(field.unaligned for field in inputs):
        lines.append("RF: the merged paths are not aligned (different stride or centre)")
    return lines


def _grouped(texts: list[tuple[str, str]]) -> list[str]:
    """One line per distinct step: 'RF H, W: ...' when the axes agree."""
    lines: dict[str, list[str]] = {}
    for name, text in texts:
        lines.setdefault(text, []).append(name)
    return [f"RF {', '.join(names)}: {text}" for text, names in lines.items()]


def _field_text(field: ReceptiveField) -> str:
    if field.kind == "global":
        return "global"
    axes = " by ".join(f"(r {a.size}, S {_num(a.stride)}, P {_num(a.padding)})" for a in field.axes) or "none"
    return f"{field.kind} {axes}"


def _num(value: object) -> str:
    from fractions import Fraction

    if isinstance(value, Fraction) and value.denominator == 1:
        return str(value.numerator)
    return str(value)
