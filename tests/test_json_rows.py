"""summary --format json writes each row's line by hand (cnnshape.render.json._row_encoder)
instead of asking json.JSONEncoder: every line must be the standard library's encoding of
the row's dict, for real specs and for rows with hostile strings and odd values."""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path
from typing import Any, Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnnshape.pipeline import analyze_file, analyze_text
from cnnshape.render.json import _row_encoder, render, row_to_dict
from cnnshape.report import DTYPE_BYTES, AxisField, ReceptiveField, Row

SPECS = Path(__file__).resolve().parent.parent / "specs"


def stdlib_line(row: Row, dtype_bytes: int) -> str:
    """The row as the standard library writes it: the expected value, independent of the
    hand-written encoder."""
    return json.dumps(row_to_dict(row, dtype_bytes), separators=(", ", ": "))


def section(text: str, key: str) -> list[str]:
    """The lines of one row list (`layers` or `blocks`) of the document, without their
    indentation and trailing commas."""
    lines = text.split("\n")
    start = lines.index(f'  "{key}": [')
    end = next(at for at in range(start, len(lines)) if lines[at].startswith("  ]"))
    return [line.removeprefix("    ").removesuffix(",") for line in lines[start + 1 : end]]


# Upsampling makes receptive-field strides and paddings fractions: "num/den" strings.
UPSAMPLED = """
name: up
input: [1, 3, 8, 8]
layers:
  - Upsample: {scale_factor: 2}
  - Conv2d: {out_channels: 4, kernel_size: 3, padding: 1}
  - ConvTranspose2d: {out_channels: 4, kernel_size: 3, stride: 3}
"""


# resnet18: blocks, rows sharing shapes and fields; vit_b_16 and googlenet: flat and
# global fields, merges; unet: a long mixed network.
@pytest.mark.parametrize("spec", ["resnet18", "unet", "vit_b_16", "googlenet", "upsampled"])
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_every_row_line_is_the_stdlib_encoding(spec: str, dtype: str) -> None:
    if spec == "upsampled":
        report = analyze_text(UPSAMPLED, "up.yaml", dtype=dtype)
    else:
        report = analyze_file(str(SPECS / f"{spec}.yaml"), dtype=dtype)
    text = render(report)
    dtype_bytes = DTYPE_BYTES[dtype]
    layers = [row for row in report.rows if not row.is_block]
    blocks = [row for row in report.rows if row.is_block]
    assert section(text, "layers") == [stdlib_line(row, dtype_bytes) for row in layers]
    if blocks:
        assert section(text, "blocks") == [stdlib_line(row, dtype_bytes) for row in blocks]
    if spec == "upsampled":  # the fractions really are there: 1/2 after a x2 upsampling
        assert '"stride": "1/2", "padding": "1/2"' in section(text, "layers")[1]


# Spec text is untrusted: every kind of character, lone surrogates included (a YAML
# "\ud800" escape gives one), and the characters JSON must escape.
TEXT = st.text(st.characters(blacklist_categories=()), max_size=12) | st.sampled_from(
    ['"', "\\", "\x00", "\x1f", "\x7f", "\u2028", "\ud800", "é", "😀", '", "x": "', "}, {"]
)
# Values of the declared types, and odd ones a row could hold by mistake: each must come out
# as the encoder writes it (a bool stays true, a float 2.0, NaN NaN, a number in a name a
# number). An example makes at most one value odd, so every type check is tried alone.
INT = st.integers(min_value=-(10**30), max_value=10**30)
# A fraction is a stride's or padding's declared type (after upsampling): written "num/den".
FRACTION = st.fractions(max_denominator=12)
PLAIN = {"int": INT, "axis": INT, "fraction": INT | FRACTION, "flag": st.booleans(), "text": TEXT}
ODD = {
    "int": st.booleans() | st.floats(),
    "axis": st.booleans() | st.floats(allow_nan=False, allow_infinity=False) | FRACTION,
    "fraction": st.booleans() | st.floats(allow_nan=False, allow_infinity=False),
    "flag": st.integers(0, 1),
    "text": st.integers() | st.booleans(),
}
ROW_VALUES = {
    "name": "text",
    "kind": "text",
    "depth": "int",
    "is_block": "flag",
    "params": "int",
    "buffers": "int",
    "macs": "int",
    "activation_elements": "int",
    "training_macs": "int",
    "training_only": "flag",
    "trainable": "flag",
}
AXIS_VALUES = {"size": "axis", "stride": "fraction", "padding": "fraction", "exact": "flag"}
FIELD_VALUES = {"kind": "text", "unaligned": "flag", "global_context": "flag"}


def value(draw: st.DrawFn, odd: Optional[str], name: str, kind: str) -> Any:
    """A value of the declared kind, or an odd one when `name` is the one made odd."""
    return draw(ODD[kind] if odd == name else PLAIN[kind])


@st.composite
def fields(draw: st.DrawFn) -> Optional[ReceptiveField]:
    if draw(st.integers(0, 5)) == 0:
        return None
    odd = draw(st.none() | st.sampled_from([*FIELD_VALUES, *AXIS_VALUES]))
    axes = tuple(
        AxisField(**{name: value(draw, odd, name, kind) for name, kind in AXIS_VALUES.items()})
        for _ in range(draw(st.integers(0, 3)))
    )
    return ReceptiveField(axes=axes, **{name: value(draw, odd, name, kind) for name, kind in FIELD_VALUES.items()})


SHAPE = st.lists(st.integers(0, 10**6) | st.booleans(), max_size=5).map(tuple)


@st.composite
def rows(draw: st.DrawFn) -> list[Row]:
    """Rows drawing their field, working list and shapes from small pools of shared
    objects, as analysis shares them (the encoder writes each shared object once)."""
    shared_fields = draw(st.lists(fields(), min_size=1, max_size=3))
    workings = draw(st.lists(st.lists(TEXT, max_size=3), min_size=1, max_size=3))
    shapes = draw(st.lists(SHAPE, min_size=1, max_size=3))
    made = []
    for _ in range(draw(st.integers(1, 6))):
        odd = draw(st.none() | st.sampled_from([*ROW_VALUES, "parent", "shared_with", "inputs"]))
        text = ODD["text"] if odd in ("parent", "shared_with", "inputs") else TEXT
        made.append(
            Row(
                **{name: value(draw, odd, name, kind) for name, kind in ROW_VALUES.items()},
                parent=draw(st.none() | text) if odd != "inputs" else None,
                shared_with=draw(st.none() | text) if odd != "inputs" else None,
                inputs=draw(st.lists(text, max_size=3)) if odd not in ("parent", "shared_with") else [],
                output_shapes=draw(st.lists(st.sampled_from(shapes), max_size=3)),
                receptive_field=draw(st.sampled_from(shared_fields)),
                working=draw(st.sampled_from(workings)),
            )
        )
    return made


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(drawn=rows(), dtype_bytes=st.sampled_from(sorted(set(DTYPE_BYTES.values()))))
def test_hostile_rows_encode_as_the_stdlib_does(drawn: list[Row], dtype_bytes: int) -> None:
    encode_row = _row_encoder(dtype_bytes)
    for row in drawn:
        assert encode_row(row) == stdlib_line(row, dtype_bytes)


@settings(max_examples=300, deadline=None)
@given(field=fields())
def test_receptive_fields_encode_as_the_stdlib_does(field: Optional[ReceptiveField]) -> None:
    row = Row("a", "Conv2d", 0, False, None, [(1, 3, 8, 8)], 0, 0, 0, 1, field)
    assert _row_encoder(4)(row) == stdlib_line(row, 4)


def test_odd_values_are_written_by_the_encoder() -> None:
    # The cases the hand-written path must not write itself, spelled out: a bool where an
    # int belongs is `true` to the encoder, a float keeps its point, NaN is NaN.
    row = Row("a", "ReLU", True, False, None, [(1, 2)], 2.0, math.nan, 3, 1, None)
    line = _row_encoder(4)(row)
    assert '"depth": true' in line
    assert '"params": 2.0' in line
    assert '"buffers": NaN' in line
    field = ReceptiveField("spatial", (AxisField(3, Fraction(1, 2), Fraction(3, 1), True),))
    row = Row("b", "Upsample", 0, False, None, [(1,)], 0, 0, 0, 1, field)
    assert '"stride": "1/2", "padding": 3,' in _row_encoder(4)(row)
    # Lists the encoder writes as lists, and a string where a list belongs (written as one
    # string, not as its characters).
    row = Row("c", "Add", 0, False, None, ((1, 2),), 0, 0, 0, 1, None, inputs=("x", "y"))  # type: ignore[arg-type]
    assert '"inputs": ["x", "y"], "output_shape": [1, 2], "output_shapes": [[1, 2]],' in _row_encoder(4)(row)
    row = Row("d", "ReLU", 0, False, None, [], 0, 0, 0, 1, None, inputs="xy")  # type: ignore[arg-type]
    assert '"inputs": "xy", "output_shape": [], "output_shapes": [],' in _row_encoder(4)(row)
