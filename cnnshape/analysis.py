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
from cnnshape.layers.base import MAX_ELEMENTS, RF, Op, Result, Shape, axis_names, fmt_shape, group_axes
from cnnshape.report import DTYPE_BYTES, AxisField, Output, ReceptiveField, Report, Row, Totals
from cnnshape.source import Source

# MAX_ELEMENTS (layers/base.py) also bounds a layer's parameters, and its buffers, together.
MAX_RF_NUMBER = 2**63  # receptive-field size, stride, padding (numerator and denominator)
MAX_LAYER_MACS = 2**60  # one layer's MACs: totals of up to 250,000 layers stay readable as numbers


def to_field(rf: Optional[RF], cache: Optional[dict] = None) -> Optional[ReceptiveField]:
    """The report's copy of a receptive field; `cache` shares it between the many layers
    that pass one field through unchanged (keyed by identity while the RFs are alive)."""
    if rf is None:
        return None
    if cache is not None:
        known = cache.get(id(rf))
        if known is not None:
            return known
    axes = rf.axes
    if axes and axes.count(axes[0]) == len(axes):  # equal fields (H and W, usually) share one copy
        first = axes[0]
        copies = (AxisField(first.size, first.stride, first.padding, first.exact),) * len(axes)
    else:
        copies = tuple(AxisField(axis.size, axis.stride, axis.padding, axis.exact) for axis in axes)
    field = ReceptiveField(rf.kind, copies, rf.unaligned, rf.global_context)
    if cache is not None:
        cache[id(rf)] = field
    return field


def analyze(graph: Graph, source: Source, dtype: str = "float32") -> Report:
    """Propagate shapes through the graph; raises SpecError with every shape problem."""
    tensors: dict[Ref, tuple[Shape, RF]] = {
        Ref(index): (shape, RF.for_input(shape))
        for index, (_, shape) in enumerate(graph.inputs or [("input", graph.input_shape)])
    }
    issues: list[Issue] = []
    warnings: list[Issue] = []
    leaf: dict[int, Row] = {}
    fields: dict[int, ReceptiveField] = {}
    unbatched: list[tuple[Node, Shape]] = []
    known: dict[tuple[int, tuple[Shape, ...]], tuple[Result, Optional[list[Op]], int]] = {}
    originals = {node.shares for node in graph.nodes if node.shares is not None}
    for node in graph.nodes[graph.first_layer :]:
        if node.layer is None:
            continue  # its own problem is already reported
        row = _visit(node, graph, tensors, issues, warnings, fields, unbatched, known, originals)
        if row is not None:
            leaf[node.index] = row
    if unbatched:
        warnings.append(_unbatched_warning(unbatched, graph.input_shape))
    found = graph.problems + source.problems(issues)
    if any(problem.severity == "error" for problem in found):
        raise SpecError(found + source.problems(warnings))
    dtype_bytes = DTYPE_BYTES[dtype]
    rows = _tree_rows(graph, leaf, tensors)
    outputs = [
        Output(name, tensors[ref][0], to_field(tensors[ref][1]), _ref_name(graph, ref))
        for name, ref in zip(_output_names(graph), graph.outputs, strict=True)
        if ref in tensors  # a training-only output that does not fit the input is left out (warned)
    ]
    layer_rows = leaf.values()
    params = sum(row.params for row in layer_rows)
    frozen = sum(row.params for row in layer_rows if not row.trainable)
    buffers = sum(row.buffers for row in layer_rows)
    macs = sum(row.macs for row in layer_rows)
    training_macs = sum(row.training_macs for row in layer_rows)
    totals = Totals(
        params=params,
        trainable_params=params - frozen,
        non_trainable_params=frozen,
        buffers=buffers,
        macs=macs,
        flops=2 * macs,
        param_bytes=params * dtype_bytes,
        buffer_bytes=buffers * dtype_bytes,
        input_bytes=sum(prod(shape) for shape, _ in (tensors[Ref(i)] for i in range(graph.first_layer))) * dtype_bytes,
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
        inputs={name: shape for name, shape in graph.inputs} or {"input": graph.input_shape},
    )


def _output_names(graph: Graph) -> list[str]:
    if len(graph.output_names) == len(graph.outputs):
        return graph.output_names
    return [graph.nodes[ref.node].name for ref in graph.outputs]


def _unbatched_warning(unbatched: list[tuple[Node, Shape]], input_shape: Shape) -> Issue:
    """One warning for a network whose layers read their input without a batch dimension:
    legal in PyTorch, but an input written without its batch gives other numbers (a
    Linear's inferred in_features, for one) than the network it was meant to describe."""
    node, shape = unbatched[0]
    more = f", and so do {len(unbatched) - 1} later layer(s)" if len(unbatched) > 1 else ""
    if any(ref.node == 0 for ref in node.inputs):  # it reads the network input itself
        fix = (
            f"If a batch was meant, the input lacks a dimension: [1, {', '.join(map(str, input_shape))}] "
            "if the batch is what is missing"
        )
    else:
        fix = "If a batch was meant, check the layers before it"
    return Issue(
        node.loc,
        "unbatched-input",
        (
            f"{node.name} ({node.kind}) reads its {len(shape)}-D input {fmt_shape(shape)} as one sample without a batch "
            f"dimension (PyTorch allows this){more}; a Flatten or Linear after it then sees other sizes than with a batch. {fix}"
        ),
        "warning",
        at_key=True,
    )


def _visit(
    node: Node,
    graph: Graph,
    tensors: dict,
    issues: list[Issue],
    warnings: list[Issue],
    fields: dict[int, ReceptiveField],
    unbatched: list[tuple[Node, Shape]],
    known: dict[tuple[int, tuple[Shape, ...]], tuple[Result, Optional[list[Op]], int]],
    originals: set[int],
) -> Optional[Row]:
    layer = node.layer
    assert layer is not None, "only the input node has no layer, and it is not visited"
    shapes: list[Shape] = []
    rfs: list[RF] = []
    names: list[str] = []
    for ref in node.inputs:
        tensor = tensors.get(ref)
        if tensor is None:
            return None  # an input failed upstream (its problem is reported)
        shapes.append(tensor[0])
        rfs.append(tensor[1])
        names.append(_ref_name(graph, ref))
    where = f" ({node.context})" if node.context else ""
    # A layer's numbers are a function of the layer and its input shapes: equal layers (graph.py
    # shares one instance between equal arguments) on equal shapes are computed once.
    key = (id(layer), tuple(shapes))
    seen = known.get(key)
    try:
        # Expansion may have inferred it already (a block that reads its input's shape).
        result = graph.results.pop(node.index, None) or (seen[0] if seen is not None else layer.infer(shapes))
        if node.index in originals:  # a layer that shares these weights checks against it; others are let go
            graph.results[node.index] = result
        # A result met before was checked when it was first made.
        elements = seen[2] if seen is not None and seen[0] is result else _checked_elements(result)
    except ShapeError as exc:
        inputs = ", ".join(fmt_shape(shape) for shape in shapes)
        shown = "" if fmt_shape(shapes[0]) in exc.message else f"; input {inputs}"
        if len(shapes) > 1:  # which layer each input comes from, with its shape
            shown = "; inputs: " + ", ".join(
                f"{name} {fmt_shape(shape)}" for name, shape in zip(names, shapes, strict=True)
            )
        message = exc.message.removeprefix(f"{node.kind}: ").removeprefix(f"{node.kind} ")
        if node.training_only:
            # Eval mode never runs it (Inception v3's AuxLogits at 224): the network is fine;
            # the layer and what it feeds are left out, and the user is told.
            warnings.append(
                Issue(
                    node.loc,
                    exc.code,
                    (
                        f"{node.name} ({node.kind}) runs only in training and does not fit this input: {message}{shown}; "
                        f"it and the training-only layers after it are left out (their parameters too){where}"
                    ),
                    "warning",
                    at_key=True,
                )
            )
            return None
        hint = f"; {exc.hint}" if exc.hint else ""
        issues.append(
            Issue(node.loc, exc.code, f"{node.name} ({node.kind}): {message}{shown}{where}{hint}", at_key=True)
        )
        return None
    out_rfs = layer.receptive_field(rfs, shapes, result.shapes)
    unaligned = False
    for rf in out_rfs:  # a plain loop, not any(): this runs for every layer
        # Alternating up- and down-sampling by coprime factors grows the fractions without
        # end (past Python's 4,300-digit limit on printing an integer). rfs[0] was checked
        # when it was made.
        if rf is not rfs[0] and _rf_too_big(rf):
            issues.append(
                Issue(
                    node.loc,
                    "limit",
                    (
                        f"{node.name} ({node.kind}): receptive-field numbers (size, stride or padding) grow past "
                        f"{MAX_RF_NUMBER:,} (2**63){where}"
                    ),
                    at_key=True,
                )
            )
            return None
        unaligned = unaligned or rf.unaligned
    assert len(out_rfs) == len(result.shapes), f"{node.kind}: one receptive field per output"
    for i, rf in enumerate(out_rfs):  # not zip(..., strict=True), which costs more per layer
        tensors[Ref(node.index, i)] = (result.shapes[i], rf)
    if unaligned and not any(rf.unaligned for rf in rfs):
        detail = _unaligned_detail(names, rfs)
        warnings.append(
            Issue(
                node.loc,
                "unaligned-rf",
                f"{node.name} ({node.kind}) merges paths whose receptive fields are not aligned: {detail}{where}",
                "warning",
                at_key=True,
            )
        )
    for message in result.warnings:
        warnings.append(
            Issue(node.loc, "layer-warning", f"{node.name} ({node.kind}): {message}{where}", "warning", at_key=True)
        )
    if result.unbatched:
        unbatched.append((node, shapes[0]))
    parent = graph.blocks[node.block].name if node.block is not None else None
    ops: list[Op] = []
    cached_ops = seen[1] if seen is not None and seen[0] is result else None
    if not node.training_only:  # eval mode never runs it: no operations
        if cached_ops is None:
            cached_ops = layer.ops(shapes, result.shapes)
        ops = cached_ops
    if seen is None or seen[0] is not result or seen[1] is not cached_ops:
        known[key] = (result, cached_ops, elements)
    params, buffers, shared_with = result.params, result.buffers, None
    if node.shares is not None:
        # One module called again: its weights count once, at the original; MACs per call.
        original = graph.nodes[node.shares]
        shared_with = original.name
        expected = graph.results.get(original.index)
        if expected is not None and expected.params != params:
            issues.append(
                Issue(
                    node.loc,
                    "shape",
                    (
                        f"{node.name} ({node.kind}) shares the weights of {original.name}, but its input {fmt_shape(shapes[0])} "
                        f"needs {params:,} parameters where {original.name} has {expected.params:,}; a shared layer must get "
                        f"inputs of the same width{where}"
                    ),
                    at_key=True,
                )
            )
            return None
        params = buffers = 0
    return Row(
        name=node.name,
        kind=node.kind,
        depth=node.depth,
        is_block=False,
        parent=parent,
        output_shapes=list(result.shapes),
        params=params,
        buffers=buffers,
        macs=0 if node.training_only else result.macs,
        activation_elements=elements,
        receptive_field=to_field(out_rfs[0], fields) if out_rfs else None,
        inputs=names,
        working=result.working,
        training_macs=result.macs if node.training_only else 0,
        training_only=node.training_only,
        findings=result.findings + layer.rf_findings(rfs, shapes),
        ops=list(ops),
        input_shapes=shapes,
        shared_with=shared_with,
        trainable=node.trainable,
    )


def _checked_elements(result: Result) -> int:
    """The elements of a layer's outputs; ShapeError when an output or count is past a limit."""
    elements = 0
    for shape in result.shapes:
        if shape and min(shape) <= 0:
            raise ShapeError(f"output shape {fmt_shape(shape)} has a dimension that shrank to zero")
        size = prod(shape)
        if size > MAX_ELEMENTS:
            raise ShapeError(f"output shape {fmt_shape(shape)} has more than {MAX_ELEMENTS:,} elements", code="limit")
        elements += size
    for what, count, limit in (
        ("parameters", result.params, MAX_ELEMENTS),
        ("buffers", result.buffers, MAX_ELEMENTS),
        ("MACs", result.macs, MAX_LAYER_MACS),
    ):
        if count > limit:
            raise ShapeError(
                f"{what} past the limit of {limit:,} (2**{limit.bit_length() - 1}) per layer", code="limit"
            )
    return elements


def _rf_too_big(rf: RF) -> bool:
    previous = None
    for axis in rf.axes:
        if axis is previous:
            continue  # H and W usually share one field
        previous = axis
        for number in (axis.size, axis.stride, axis.padding):
            if type(number) is int:  # nearly always (isinstance against Fraction is slow)
                if abs(number) > MAX_RF_NUMBER:
                    return True
            elif abs(number.numerator) > MAX_RF_NUMBER or number.denominator > MAX_RF_NUMBER:
                return True
    return False


def _unaligned_detail(paths: list[str], rfs: list[RF]) -> str:
    """Each merged path's field per axis, side by side: `H: main r4 s2 p1 vs down r5 s2 p2; W: ...`."""
    n = len(rfs[0].axes)
    if any(rf.kind != "spatial" or len(rf.axes) != n for rf in rfs) or not n:
        return " vs ".join(f"{path} {rf.kind} ({len(rf.axes)} axes)" for path, rf in zip(paths, rfs, strict=True))
    texts = [
        (
            axis,
            " vs ".join(
                f"{path} r{rf.axes[i].size} s{rf.axes[i].stride} p{rf.axes[i].padding}"
                for path, rf in zip(paths, rfs, strict=True)
            ),
        )
        for i, axis in enumerate(axis_names(n))
    ]
    return "; ".join(f"{axes}: {text}" for axes, text in group_axes(texts))


def _ref_name(graph: Graph, ref: Ref) -> str:
    node = graph.nodes[ref.node]
    return (
        node.name
        if ref.output == 0 and (node.layer is None or node.layer.num_outputs() == 1)
        else f"{node.name}.{ref.output}"
    )


def _tree_rows(graph: Graph, leaf: dict[int, Row], tensors: dict) -> list[Row]:
    """Leaf rows in order with each block's row (sums via prefix sums) before its contents."""
    if not graph.blocks:
        return list(leaf.values())  # in node order: visited in order
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
            rows.append(
                Row(
                    name=block.name,
                    kind=block.kind,
                    depth=block.depth,
                    is_block=True,
                    parent=graph.blocks[block.parent].name if block.parent is not None else None,
                    output_shapes=[shape for shape, _ in outs],
                    params=sums["params"][block.end] - sums["params"][block.first],
                    buffers=sums["buffers"][block.end] - sums["buffers"][block.first],
                    macs=sums["macs"][block.end] - sums["macs"][block.first],
                    activation_elements=sums["activation_elements"][block.end]
                    - sums["activation_elements"][block.first],
                    receptive_field=to_field(outs[0][1]) if outs else None,
                    inputs=_block_inputs(graph, block.first, block.end),
                    training_macs=sums["training_macs"][block.end] - sums["training_macs"][block.first],
                    training_only=all(graph.nodes[i].training_only for i in range(block.first, block.end))
                    and block.end > block.first,
                    trainable=all(graph.nodes[i].trainable for i in range(block.first, block.end)),
                )
            )
        if i in leaf:
            rows.append(leaf[i])
    return rows


def _block_inputs(graph: Graph, first: int, end: int) -> list[str]:
    """What a block use reads from outside itself, in order, each once: the inputs a folded
    block row shows."""
    found: list[str] = []
    for node in graph.nodes[first:end]:
        for ref in node.inputs:
            name = _ref_name(graph, ref)
            if not first <= ref.node < end and name not in found:
                found.append(name)
    return found


# --- for `explain` ----------------------------------------------------------------------


def input_field(input_shape: tuple[int, ...]) -> Optional[ReceptiveField]:
    """The network input's receptive field: one pixel, stride 1, no padding, per axis."""
    return to_field(RF.for_input(input_shape))
