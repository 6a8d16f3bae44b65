"""Grammar features added for the zoo: per-copy `repeat_index`, list indexing in
expressions, and argument names that expressions could not use."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnnshape.errors import SpecError
from cnnshape.pipeline import analyze_text


def test_repeat_index_numbers_the_copies_of_a_layer_and_of_a_block():
    report = analyze_text(
        "name: t\ninput: [1, 3, 8, 8]\n"
        "blocks:\n  B:\n    args: {w: 4}\n    layers:\n      - Conv2d: {out_channels: $w, kernel_size: 1}\n"
        "layers:\n"
        "  - B: {w: $(4 + repeat_index), repeat: 3}\n"
        "  - Conv2d: {out_channels: $(2 + repeat_index), kernel_size: 1, repeat: 2}\n"
    )
    convs = [row for row in report.rows if row.kind == "Conv2d"]
    # widths 4, 5, 6 (block copies 0..2), then 2, 3 (layer copies 0..1)
    assert [row.output_shape[1] for row in convs] == [4, 5, 6, 2, 3]
    # 1x1 convs with bias: C_in*C_out + C_out, each reading the previous width
    assert [row.params for row in convs] == [3 * 4 + 4, 4 * 5 + 5, 5 * 6 + 6, 6 * 2 + 2, 2 * 3 + 3]


def test_list_arguments_can_be_indexed():
    report = analyze_text(
        "name: t\ninput: [1, 3, 8, 8]\nargs: {widths: [8, 16]}\n"
        'layers:\n  - Conv2d: {out_channels: "$(widths[1])", kernel_size: 1}\n'
    )
    assert report.outputs[0].shape == (1, 16, 8, 8)


@pytest.mark.parametrize("name, says", [("in", "Python keyword"), ("repeat_index", "set by `repeat`")])
def test_argument_names_expressions_cannot_use_are_refused(name, says):
    text = (
        "name: t\ninput: [1, 3, 8, 8]\n"
        f"blocks:\n  B:\n    args: {{{name}: 4}}\n    layers:\n      - ReLU\n"
        "layers:\n  - B\n"
    )
    with pytest.raises(SpecError) as info:
        analyze_text(text)
    (problem,) = info.value.problems
    # line 5 is `    args: {in: 4}`; the name starts at column 12
    assert (problem.line, problem.col, problem.code) == (5, 12, "bad-value")
    assert says in problem.message


def test_an_unquoted_bracket_in_a_flow_mapping_gets_a_quoting_hint():
    with pytest.raises(SpecError) as info:
        analyze_text(
            "name: t\ninput: [1, 3, 8, 8]\nargs: {widths: [8]}\n"
            "layers:\n  - Conv2d: {out_channels: $(widths[0]), kernel_size: 1}\n"
        )
    (problem,) = info.value.problems
    assert problem.code == "yaml-syntax" and "quote" in problem.message


def test_index_out_of_range_is_a_located_error():
    with pytest.raises(SpecError) as info:
        analyze_text(
            "name: t\ninput: [1, 3, 8, 8]\nargs: {widths: [8]}\n"
            'layers:\n  - Conv2d: {out_channels: "$(widths[2])", kernel_size: 1}\n'
        )
    (problem,) = info.value.problems
    # line 5: `  - Conv2d: {out_channels: "$(widths[2])", ...}`; the quoted value opens at column 28
    assert (problem.line, problem.col, problem.code) == (5, 28, "bad-expression")


def test_a_bad_override_is_named_where_it_is_used():
    from cnnshape.pipeline import analyze_file

    spec = Path(__file__).parent.parent / "specs" / "resnet18.yaml"
    with pytest.raises(SpecError) as info:
        analyze_file(spec, overrides={"num_classes": -5})
    (problem,) = info.value.problems
    assert problem.code == "bad-value"
    assert "(from --set num_classes=-5)" in problem.message
