"""`cnnshape sweep`: brace lists expanded into a grid, one analysis per setting.

Numbers come from torchvision's published counts or are worked out by hand (the
seed-lenet figures at 1x36x36 are derived in tests/test_compare.py's comments).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from conftest import cli
from gfm import check_gfm_tables

from cnnshape.sweep import SweepError, expand_braces, plan, square

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.yaml"))
LENET = "specs/seed-lenet.yaml"
RESNET18 = "specs/resnet18.yaml"
pytestmark = pytest.mark.usefixtures("repo_root")

RESNET18_PARAMS = 11_689_512  # torchvision num_params
FC_DELTA_10 = (512 * 1000 + 1000) - (512 * 10 + 10)  # the classifier at 10 classes instead of 1000
LENET_PARAMS, LENET36_PARAMS = 61_280, 61_280 + (576 - 400) * 120
LENET_MACS, LENET36_MACS = 356_920, 128_000 + 288_000 + 69_120 + 10_080 + 840


run = cli


def sweep_json(*args: str) -> dict:
    result = run("sweep", *args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize(
    "text,expanded",
    [
        ("1,3,224,224", ["1,3,224,224"]),
        ("1,3,{224,256,320}", ["1,3,224", "1,3,256", "1,3,320"]),
        ("width_mult={0.5,1.0}", ["width_mult=0.5", "width_mult=1.0"]),
        ("1x3x{224,256}x{32,64}", ["1x3x224x32", "1x3x224x64", "1x3x256x32", "1x3x256x64"]),
        ("1,3,{224..320..32}", ["1,3,224", "1,3,256", "1,3,288", "1,3,320"]),
        ("n={3..1}", ["n=3", "n=2", "n=1"]),
        ("{a, b}", ["a", "b"]),
    ],
)
def test_expand_braces(text: str, expanded: list[str]) -> None:
    assert expand_braces(text) == expanded


@pytest.mark.parametrize("text", ["1,3,{224", "1,3,224}", "{224}", "{a,,b}", "{{1,2},3}", "{1..5..0}"])
def test_bad_braces_are_refused(text: str) -> None:
    with pytest.raises(SweepError):
        expand_braces(text)


def test_plan_groups_shell_expanded_values() -> None:
    axes = plan(["1,3,224", "1,3,{256,320}"], ["a=1", "b={x,y}", "a=2"])
    assert [(axis.name, axis.values) for axis in axes] == [
        ("input", ["1,3,224", "1,3,256", "1,3,320"]),
        ("a", ["1", "2"]),
        ("b", ["x", "y"]),
    ]


def test_short_shape_repeats_its_last_size() -> None:
    assert square((1, 3, 224), 4) == (1, 3, 224, 224)
    assert square((1, 3, 224, 224), 4) == (1, 3, 224, 224)
    assert square((1, 3, 16), 5) == (1, 3, 16, 16, 16)
    assert square((1, 3), 4) == (1, 3)  # too short to be N, C and a size: left for the spec to refuse


def test_input_sweep_by_hand() -> None:
    data = sweep_json(LENET, "--input", "1,1,{32,36}")
    points = data["points"]
    assert [p["input"] for p in points] == [[1, 1, 32, 32], [1, 1, 36, 36]]
    assert [p["params"] for p in points] == [LENET_PARAMS, LENET36_PARAMS]
    assert [p["macs"] for p in points] == [LENET_MACS, LENET36_MACS]
    assert [p["flops"] for p in points] == [2 * LENET_MACS, 2 * LENET36_MACS]
    assert data["axes"] == [{"name": "input", "values": ["1,1,32", "1,1,36"]}]


def test_shell_expanded_input_values() -> None:
    # What bash passes for `--input 1,1,{32,36}` when the braces are not quoted.
    data = sweep_json(LENET, "--input", "1,1,32", "1,1,36")
    assert [p["params"] for p in data["points"]] == [LENET_PARAMS, LENET36_PARAMS]


def test_set_sweep_and_grid() -> None:
    data = sweep_json(RESNET18, "--set", "num_classes={10,1000}", "--input", "1,3,{224,320}")
    assert len(data["points"]) == 4
    by_setting = {(p["setting"]["input"], p["setting"]["num_classes"]): p for p in data["points"]}
    assert by_setting[("1,3,224", "1000")]["params"] == RESNET18_PARAMS
    assert by_setting[("1,3,224", "10")]["params"] == RESNET18_PARAMS - FC_DELTA_10
    # Global average pooling: the parameter count does not depend on the input size.
    assert by_setting[("1,3,320", "1000")]["params"] == RESNET18_PARAMS
    assert round(by_setting[("1,3,224", "1000")]["macs"] / 1e9, 3) == 1.814  # torchvision _ops
    assert by_setting[("1,3,320", "1000")]["output_shape"] == [1, 1000]


def test_shell_expanded_set_values() -> None:
    data = sweep_json(RESNET18, "--set", "num_classes=10", "num_classes=1000")
    assert [p["params"] for p in data["points"]] == [RESNET18_PARAMS - FC_DELTA_10, RESNET18_PARAMS]


def test_fixed_settings_are_not_columns() -> None:
    data = sweep_json(RESNET18, "--set", "num_classes=10", "--input", "1,3,{224,320}")
    assert [axis["name"] for axis in data["axes"]] == ["input"]
    assert data["fixed"] == {"num_classes": "10"}


def test_a_failing_point_is_shown_and_exits_1() -> None:
    # 1x1x8x8: conv 5 -> 4x4, pool -> 2x2, and the second 5x5 conv no longer fits.
    result = run("sweep", LENET, "--input", "1,1,{8,32}")
    assert result.exit_code == 1
    assert "window 5 is larger than the padded input 2" in result.stderr
    assert "[shape]" in result.stderr
    lines = result.stdout.splitlines()
    assert any(line.split()[:2] == ["1,1,8", "error"] for line in lines if line.strip())  # the row says so
    assert any("1,1,32" in line and "61,280" in line for line in lines)  # the good point is still there


def test_csv_has_exact_numbers() -> None:
    result = run("sweep", LENET, "--input", "1,1,{32,36}", "--format", "csv")
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [int(row["params"]) for row in rows] == [LENET_PARAMS, LENET36_PARAMS]
    assert [row["input_shape"] for row in rows] == ["1x1x32x32", "1x1x36x36"]
    assert [row["output_shape"] for row in rows] == ["1x10", "1x10"]


def test_markdown_is_valid_gfm() -> None:
    result = run(
        "sweep", RESNET18, "--input", "1,3,{224,256}", "--set", "num_classes={10,1000}", "--format", "markdown"
    )
    assert result.exit_code == 0, result.stderr
    (rows,) = check_gfm_tables(result.stdout, expected_tables=1)
    assert len(rows) == 4


@pytest.mark.parametrize("args", [["--set", "num_classes"], ["not-a-shape"], ["--input", "1,3,{224"]])
def test_usage_errors_exit_2(args: list[str]) -> None:
    assert run("sweep", LENET, *args).exit_code == 2


@pytest.mark.parametrize("spec", SPECS, ids=[path.stem for path in SPECS])
def test_every_zoo_spec_sweeps(spec: Path) -> None:
    relative = str(spec.relative_to(ROOT))
    result = run("sweep", relative, "--format", "csv")
    assert result.exit_code == 0, result.stderr
    assert len(list(csv.DictReader(io.StringIO(result.stdout)))) == 1


def test_golden_table(golden) -> None:
    result = run("sweep", RESNET18, "--input", "1,3,{224,256,320}", "--set", "num_classes={10,1000}")
    assert result.exit_code == 0, result.stderr
    golden("sweep-resnet18", result.stdout)


def test_golden_markdown(golden) -> None:
    result = run("sweep", LENET, "--input", "1,1,{32,36,64}", "--format", "markdown")
    assert result.exit_code == 0, result.stderr
    golden("sweep-lenet-md", result.stdout)


def test_a_range_of_non_integers_says_ranges_take_integers() -> None:
    with pytest.raises(SweepError, match=r"a brace range takes integers.*\{0\.5,0\.75,1\.0\}"):
        expand_braces("width_mult={0.5..1.0..0.25}")
