"""The JSON contract of `summary --format json` (documented in docs/json.md).

Every number is an exact integer; a fractional receptive-field stride or padding (after
upsampling) is a string "num/den". Fields are only ever added, never renamed or removed,
within one schema_version.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from fractions import Fraction
from json.encoder import encode_basestring_ascii
from typing import Any, Optional

from cnnshape.report import (
    FLOP_CONVENTION,
    MAC_CONVENTION,
    PARAM_CONVENTION,
    RF_CONVENTION,
    ReceptiveField,
    Report,
    Row,
    leaf_rows,
    rows_at_depth,
)

SCHEMA_VERSION = 1


def _number(value: int | Fraction) -> int | str:
    if type(value) is int:  # nearly always; isinstance against Fraction goes through the ABC machinery
        return value
    if isinstance(value, Fraction) and value.denominator != 1:
        return f"{value.numerator}/{value.denominator}"
    return int(value)


def receptive_field(rf: Optional[ReceptiveField]) -> Optional[dict[str, Any]]:
    if rf is None:
        return None
    return {
        "kind": rf.kind,
        "axes": [
            {"size": _number(a.size), "stride": _number(a.stride), "padding": _number(a.padding), "exact": a.exact}
            for a in rf.axes
        ],
        "unaligned": rf.unaligned,
        "global_context": rf.global_context,
    }


def _row(row: Row, dtype_bytes: int) -> dict[str, Any]:
    """One row as a dict: the document's definition of a row (_row_encoder writes the same
    text faster)."""
    return {
        "name": row.name,
        "kind": row.kind,
        "block": row.is_block,
        "depth": row.depth,
        "parent": row.parent,
        "inputs": row.inputs,
        "output_shape": list(row.output_shape),
        "output_shapes": [list(shape) for shape in row.output_shapes],
        "params": row.params,
        "buffers": row.buffers,
        "macs": row.macs,
        "flops": row.flops,
        "training_only": row.training_only,
        "training_macs": row.training_macs,
        "trainable": row.trainable,
        "shared_with": row.shared_with,
        "activation_bytes": row.activation_elements * dtype_bytes,
        "receptive_field": receptive_field(row.receptive_field),
        "working": row.working,
    }


def row_to_dict(row: Row, dtype_bytes: int) -> dict[str, Any]:
    """One row as in summary's `layers` (compare's JSON reuses it)."""
    return _row(row, dtype_bytes)


def _share(value: Fraction) -> str:
    """An exact share of a total as "num/den" (renderers round; JSON keeps it exact)."""
    return f"{value.numerator}/{value.denominator}"


def counting(report: Report) -> Optional[dict[str, Any]]:
    """summary --count/--share/--top: each convention's total and family breakdown, the
    per-layer figures of the convention shown, exact shares and the heaviest layers."""
    c = report.counting
    if c is None:
        return None
    return {
        "default": c.default.convention,
        "shown": c.shown,
        "conventions": [
            {
                "name": counted.convention,
                "tool": convention.title,
                "version": convention.version,
                "source": convention.source,
                "unit": convention.unit,
                "macs": counted.macs,
                "flops": counted.flops,
                "difference_from_default": counted.macs - c.default.macs,
                "by_family": counted.by_family,
            }
            for counted, convention in zip(c.counted, c.conventions, strict=True)
        ],
        "layers": {
            name: {"macs": c.layer_macs[name], "params_share": _share(shares[0]), "macs_share": _share(shares[1])}
            for name, shares in c.shares.items()
        },
        "top": c.top,
    }


def source_view(report: Report) -> Optional[dict[str, Any]]:
    """A file in another format (an Ultralytics model YAML): its own view of each row, the
    outputs it names, and its FLOPs in its own convention."""
    view = report.source_view
    if view is None:
        return None
    return {
        "format": view.title,
        "rows": view.records,
        "highlights": [{"label": label, "layer": layer} for label, layer in view.highlights],
        "flops": [{"label": label, "flops": flops} for label, flops in view.figures],
        "notes": view.notes,
    }


def _roofline(report: Report) -> Optional[dict[str, Any]]:
    from cnnshape.render import roofline

    return roofline.to_dict(report)


def _memory(report: Report) -> Optional[dict[str, Any]]:
    from cnnshape.render import memory

    return memory.to_dict(report)


def to_dict(report: Report, depth: Optional[int] = None, rows: bool = True) -> dict[str, Any]:
    """The JSON document as a dict; `rows=False` leaves out `layers` and `blocks` (for
    `chunks`, which encodes them one at a time)."""
    from cnnshape.report import DTYPE_BYTES

    dtype_bytes = DTYPE_BYTES[report.dtype]
    t = report.totals
    shown = rows_at_depth(report, depth)
    return {
        "schema_version": SCHEMA_VERSION,
        "name": report.name,
        "file": report.file,
        "input": list(report.input_shape),
        "inputs": {name: list(shape) for name, shape in report.inputs.items()},
        "args": report.args,
        "dtype": report.dtype,
        "depth": depth,
        "conventions": {
            "params": PARAM_CONVENTION,
            "macs": MAC_CONVENTION,
            "flops": FLOP_CONVENTION,
            "receptive_field": RF_CONVENTION,
        },
        "outputs": [
            {"name": o.name, "shape": list(o.shape), "receptive_field": receptive_field(o.receptive_field)}
            for o in report.outputs
        ],
        "totals": {
            "params": t.params,
            "trainable_params": t.trainable_params,
            "non_trainable_params": t.non_trainable_params,
            "buffers": t.buffers,
            "macs": t.macs,
            "flops": t.flops,
            "param_bytes": t.param_bytes,
            "buffer_bytes": t.buffer_bytes,
            "input_bytes": t.input_bytes,
            "activation_bytes": t.activation_bytes,
            "layers": t.layers,
            "training_only_macs": t.training_only_macs,
        },
        "receptive_field": receptive_field(report.receptive_field),
        **({"counting": counting(report)} if report.counting is not None else {}),
        **({"memory": _memory(report)} if report.memory is not None else {}),
        **({"roofline": _roofline(report)} if report.roofline is not None else {}),
        **({"source_view": source_view(report)} if report.source_view is not None else {}),
        **(
            {
                "layers": [_row(row, dtype_bytes) for row in leaf_rows(shown, depth)],
                "blocks": [_row(row, dtype_bytes) for row in report.rows if row.is_block],
            }
            if rows
            else {}
        ),
        "warnings": [
            {"file": w.file, "line": w.line, "column": w.col, "code": w.code, "message": w.message}
            for w in report.warnings
        ],
    }


def document(data: dict[str, Any], rows: dict[str, Iterable[Any]]) -> str:
    """Indented JSON of `data`, then each `rows` list with one compact line per item: readable,
    diffable, and linear in time and memory (the C encoder does the per-item work; the
    indenting encoder is pure Python and keeps every piece of a 250,000-layer document)."""
    return "".join(document_pieces(data, rows))


def document_pieces(data: dict[str, Any], rows: dict[str, Iterable[Any]]) -> Iterator[str]:
    """`document` in pieces, one per item of `rows`, each encoded when it is reached (the
    command line writes them as they come)."""
    encode = json.JSONEncoder(separators=(", ", ": ")).encode  # one encoder for every row
    head = ",\n".join(
        f"  {json.dumps(key)}: " + json.dumps(value, indent=2).replace("\n", "\n  ") for key, value in data.items()
    )
    yield "{\n" + head
    separator = ",\n" if head else ""
    for key, items in rows.items():
        yield f"{separator}  {json.dumps(key)}: ["
        separator = ",\n"
        empty = True
        for item in items:
            yield ("\n    " if empty else ",\n    ") + encode(item)
            empty = False
        yield "]" if empty else "\n  ]"
    yield "\n}"


def render(report: Report, depth: Optional[int] = None) -> str:
    """Indented JSON with one compact line per layer and per output (fast for 100k layers
    or a 200k-entry `outputs:`)."""
    return "".join(chunks(report, depth))


def chunks(report: Report, depth: Optional[int] = None) -> Iterator[str]:
    """`render`'s text in pieces, each layer's line made when it is reached: the command
    line writes them as they come, so a 250,000-layer document is never whole in memory
    (nor its 250,000 dicts)."""
    from cnnshape.report import DTYPE_BYTES

    data = to_dict(report, depth, rows=False)
    outputs = data.pop("outputs")
    body = document(data, {})
    # `outputs` keeps its place after `conventions`, one compact line each.
    head = document({}, {"outputs": outputs})[2:-2]
    marker = '  "totals": '
    at = body.index(marker)
    yield body[:at] + head + ",\n" + body[at:-2]
    encode_row = _row_encoder(DTYPE_BYTES[report.dtype])
    shown = rows_at_depth(report, depth)
    for key, rows in (("layers", leaf_rows(shown, depth)), ("blocks", [row for row in report.rows if row.is_block])):
        yield f",\n  {json.dumps(key)}: ["
        for index, row in enumerate(rows):
            yield ("\n    " if index == 0 else ",\n    ") + encode_row(row)
        yield "\n  ]" if rows else "]"
    yield "\n}"


def _row_encoder(dtype_bytes: int) -> Callable[[Row], str]:
    """One row's compact JSON, exactly as `encode(_row(row))` gives it, in less than half the time.

    Asking json.JSONEncoder for each row builds a dict and a fresh C encoder a row, and the
    encoder makes a string object per token: about 9 us a row, 90 ms of a 10,000-layer
    chain. Here the row's line is one f-string instead, each value written as the encoder
    writes it (_plain_row), and the parts that repeat are encoded once per object:
    equal layers on equal shapes share one working list (analysis computes them once), a
    layer that keeps its input's field shares its field, and a chain's rows share their
    shape tuples. The rows hold those objects, so their ids stay theirs while this runs.
    A row with a value of any other type is left to the encoder, so the text never differs.
    """
    encode = json.JSONEncoder(separators=(", ", ": ")).encode  # one encoder for every row
    fields: dict[int, str] = {}
    workings: dict[int, str] = {}
    shapes: dict[int, str] = {}

    def encode_row(row: Row) -> str:
        rf = row.receptive_field
        rf_text = fields.get(id(rf))
        if rf_text is None:
            rf_text = fields[id(rf)] = _plain_field(rf) or encode(receptive_field(rf))
        working_text = workings.get(id(row.working))
        if working_text is None:
            working_text = workings[id(row.working)] = encode(row.working)
        shape_texts = []
        for shape in row.output_shapes:
            shape_text = shapes.get(id(shape))
            if shape_text is None:
                shape_text = shapes[id(shape)] = encode(list(shape))
            shape_texts.append(shape_text)
        return _plain_row(row, dtype_bytes, shape_texts, rf_text, working_text) or encode(_row(row, dtype_bytes))

    return encode_row


# The escaping json.JSONEncoder applies to every str (ensure_ascii, its default: each
# non-ASCII and control character as \uXXXX). It raises TypeError for anything else.
_string = encode_basestring_ascii


def _plain_row(row: Row, dtype_bytes: int, shape_texts: list[str], rf_text: str, working_text: str) -> Optional[str]:
    """`row`'s compact JSON when its values have the types the report declares, else None
    (the caller asks the encoder). For those types the encoder's text is known: an int its
    repr, a bool true/false, None null, a str its escaping. A bool or float where an int
    belongs, or an int subclass, would be written differently, so the types are checked."""
    name, kind, parent, inputs, shared_with = row.name, row.kind, row.parent, row.inputs, row.shared_with
    depth, params, buffers, macs, flops = row.depth, row.params, row.buffers, row.macs, row.flops
    training_macs, activation_bytes = row.training_macs, row.activation_elements * dtype_bytes
    block, training_only, trainable = row.is_block, row.training_only, row.trainable
    if not (
        type(depth) is int
        and type(params) is int
        and type(buffers) is int
        and type(macs) is int
        and type(flops) is int
        and type(training_macs) is int
        and type(activation_bytes) is int
        and type(block) is bool
        and type(training_only) is bool
        and type(trainable) is bool
        and type(inputs) is list
        and type(row.output_shapes) is list
    ):
        return None
    try:  # the escaping function refuses anything but a str
        return (
            f'{{"name": {_string(name)}, "kind": {_string(kind)}, "block": {"true" if block else "false"}, '
            f'"depth": {depth}, "parent": {"null" if parent is None else _string(parent)}, '
            f'"inputs": [{", ".join(map(_string, inputs))}], '
            f'"output_shape": {shape_texts[0] if shape_texts else "[]"}, "output_shapes": [{", ".join(shape_texts)}], '
            f'"params": {params}, "buffers": {buffers}, "macs": {macs}, "flops": {flops}, '
            f'"training_only": {"true" if training_only else "false"}, "training_macs": {training_macs}, '
            f'"trainable": {"true" if trainable else "false"}, '
            f'"shared_with": {"null" if shared_with is None else _string(shared_with)}, '
            f'"activation_bytes": {activation_bytes}, "receptive_field": {rf_text}, "working": {working_text}}}'
        )
    except TypeError:
        return None


def _plain_field(rf: Optional[ReceptiveField]) -> Optional[str]:
    """`receptive_field(rf)`'s compact JSON when every number is an int (no fraction after
    upsampling) and every flag a bool, else None."""
    if rf is None:
        return "null"
    kind, axes, unaligned, global_context = rf.kind, rf.axes, rf.unaligned, rf.global_context
    if not (type(kind) is str and type(unaligned) is bool and type(global_context) is bool):
        return None
    axis_texts = []
    for axis in axes:
        size, stride, padding, exact = axis.size, axis.stride, axis.padding, axis.exact
        if not (type(size) is int and type(stride) is int and type(padding) is int and type(exact) is bool):
            return None
        axis_texts.append(
            f'{{"size": {size}, "stride": {stride}, "padding": {padding}, "exact": {"true" if exact else "false"}}}'
        )
    return (
        f'{{"kind": {_string(kind)}, "axes": [{", ".join(axis_texts)}], '
        f'"unaligned": {"true" if unaligned else "false"}, "global_context": {"true" if global_context else "false"}}}'
    )
