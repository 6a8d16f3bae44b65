"""Spec format 2 expressions: log, sqrt, len, sum, range and list comprehensions (RegNet's
width rule), bounded; `--set NAME=null`."""

from __future__ import annotations

import math

import pytest

from cnnshape.expr import ExprError, evaluate
from cnnshape.overrides import parse_overrides
from cnnshape.pipeline import analyze_text

REGNET_Y_400MF = {"depth": 16, "w_0": 48, "w_a": 27.89, "w_m": 2.09}
RULE = "[int(round(w_0 * w_m ** round(log((i * w_a + w_0) / w_0) / log(w_m)) / 8) * 8) for i in range(depth)]"


def test_regnet_rule_gives_the_papers_stage_widths() -> None:
    # Radosavovic et al. 2020, RegNetY-400MF: widths 48, 104, 208, 440; depths 1, 3, 6, 6.
    widths = evaluate(RULE, REGNET_Y_400MF)
    stages = evaluate("[ws[i] for i in range(len(ws)) if i == 0 or ws[i] != ws[i - 1]]", {"ws": widths})
    depths = evaluate("[len([v for v in ws if v == w]) for w in stages]", {"ws": widths, "stages": stages})
    assert stages == [48, 104, 208, 440]
    assert depths == [1, 3, 6, 6]
    assert evaluate("sum(ds)", {"ds": depths}) == 16


def test_regnet_rule_matches_torchvision() -> None:
    pytest.importorskip("torch")
    regnet = pytest.importorskip("torchvision.models.regnet")
    params = regnet.BlockParams.from_init_params(depth=16, w_0=48, w_a=27.89, w_m=2.09, group_width=8, se_ratio=0.25)
    widths = evaluate(RULE, REGNET_Y_400MF)
    stage_widths = [w for i, w in enumerate(widths) if i == 0 or w != widths[i - 1]]
    assert stage_widths == list(params.widths)


@pytest.mark.parametrize(
    "text, value",
    [
        ("log(8, 2)", 3.0),
        ("log(1)", 0.0),
        ("sqrt(16)", 4.0),
        ("len([1, 2, 3])", 3),
        ("len('abc')", 3),
        ("sum([1, 2.5])", 3.5),
        ("range(3)", [0, 1, 2]),
        ("range(1, 7, 2)", [1, 3, 5]),
        ("[x * x for x in range(4) if x != 2]", [0, 1, 9]),
        ("max([3, 9, 4])", 9),
    ],
)
def test_functions(text: str, value: object) -> None:
    assert evaluate(text, {}) == value


@pytest.mark.parametrize(
    "text, says",
    [
        ("log(0)", "positive"),
        ("log(4, 1)", "base"),
        ("sqrt(-1)", "non-negative"),
        ("len(3)", "len takes"),
        ("sum(3)", "expected a list"),
        ("range(1.5)", "integer"),
        ("range(0, 5, 0)", "step"),
        ("range(100000)", "10,000"),
        ("[i for i in range(3) for j in range(3)]", "one `for`"),
        ("[[j for j in range(9000)] for i in range(9000)]", "steps"),
        ("[i for i in 5]", "over a list"),
    ],
)
def test_bounded_and_checked(text: str, says: str) -> None:
    with pytest.raises(ExprError, match=says):
        evaluate(text, {})


def test_comprehension_variable_does_not_leak() -> None:
    assert evaluate("[[x for x in [1, 2]], x]", {"x": 7}) == [[1, 2], 7]
    assert math.isclose(evaluate("log(e)", {"e": math.e}), 1.0)


def test_set_null_switches_an_optional_arg_off() -> None:
    text = """
name: t
input: [1, 8, 4, 4]
args: {se_ratio: 0.25}
layers:
  - Conv2d: {out_channels: 8, kernel_size: 1}
  - Conv2d: {out_channels: "$(int(8 * se_ratio) if se_ratio else 8)", kernel_size: 1, if: "$(se_ratio != None)"}
"""
    assert parse_overrides(["se_ratio=null"]) == {"se_ratio": None}
    on = analyze_text(text, "t.yaml")
    off = analyze_text(text, "t.yaml", overrides={"se_ratio": None})
    # on: 8*8+8 = 72 and 8*2+2 = 18; off: only the first conv.
    assert (on.totals.params, off.totals.params) == (72 + 18, 72)
