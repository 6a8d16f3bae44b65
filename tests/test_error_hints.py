"""Errors that say how to fix them: merges name each input and suggest the usual fix, a
misindented YAML line gets the column expected; lint's JSON is versioned; a folded block
row lists what it reads; calc's transposed-conv working keeps depth and dilation apart."""

from __future__ import annotations

import csv
import io
import json

from conftest import cli

MERGES = """\
name: bad-merges
input: [1, 64, 56, 56]
layers:
  - Conv2d: {out_channels: 128, kernel_size: 3, stride: 2, padding: 1, name: main}
  - Add: {from: [main, input], name: add_down}
  - Conv2d: {out_channels: 64, kernel_size: 3, padding: 1, from: input, name: same_map}
  - Conv2d: {out_channels: 32, kernel_size: 1, from: input, name: thin}
  - Add: {from: [same_map, thin], name: add_thin}
  - MaxPool2d: {kernel_size: 2, from: input, name: down}
  - Concat: {from: [input, down], name: cat_maps}
  - Concat: {from: [input, thin], dim: 2, name: cat_dim}
"""


def _errors(tmp_path, text: str) -> str:
    spec = tmp_path / "spec.yaml"
    spec.write_text(text, encoding="utf-8")
    result = cli("summary", str(spec))
    assert result.exit_code == 1
    return result.stderr


def _line(errors: str, name: str) -> str:
    return next(line for line in errors.splitlines() if f" {name} (" in line)


def test_merge_errors_name_each_input_and_suggest_the_fix(tmp_path):
    errors = _errors(tmp_path, MERGES)
    # main: 3x3 stride 2 padding 1 on 56 -> floor((56 + 2 - 3) / 2) + 1 = 28, 128 channels.
    down = _line(errors, "add_down")
    assert "inputs: main (1, 128, 28, 28), input (1, 64, 56, 56)" in down
    # ResNet's downsample: 1x1 conv, stride 56 / 28 = 2, to 128 channels, on the 56x56 path.
    assert "a 1x1 Conv2d with stride: 2 (out_channels: 128) on the path with the larger map (1, 64, 56, 56)" in down
    thin = _line(errors, "add_thin")
    assert "inputs: same_map (1, 64, 56, 56), thin (1, 32, 56, 56)" in thin
    assert "project the path with 32 channels with a 1x1 Conv2d (out_channels: 64)" in thin
    maps = _line(errors, "cat_maps")
    # MaxPool2d(2) halves 56 -> 28: an Upsample by 56 / 28 = 2 on the smaller input.
    assert "inputs: input (1, 64, 56, 56), down (1, 64, 28, 28)" in maps
    assert "an Upsample (scale_factor: 2) on the smaller input (1, 64, 28, 28)" in maps
    dim = _line(errors, "cat_dim")
    # 64 vs 32 channels, everything else equal: concatenating along dim 1 works.
    assert "they differ only in dim 1: concatenate along it (dim: 1)" in dim


def test_yaml_indentation_error_says_the_column_expected(tmp_path):
    text = "name: t\ninput: [1, 3, 8, 8]\nlayers:\n  - Conv2d: {out_channels: 4, kernel_size: 3}\n   - ReLU\n"
    errors = _errors(tmp_path, text)
    # Line 5 starts at column 4; the list item above it (line 4) starts at column 3.
    assert ":5:" in errors
    assert "this line starts at column 4, but the list item it seems to continue (line 4) starts at column 3" in errors
    assert "indent it by 2 spaces" in errors


def test_yaml_key_indented_under_a_list_says_no_indentation(tmp_path):
    text = "name: t\ninput: [1, 3, 8, 8]\nlayers:\n  - ReLU\n outputs: [relu_1]\n"
    errors = _errors(tmp_path, text)
    assert "the key it seems to continue (line 3) starts at column 1: start it at the beginning of the line" in errors


def test_lint_json_has_a_schema_version(repo_root):
    result = cli("lint", "specs/seed-lenet.yaml", "--format", "json")
    data = json.loads(result.stdout)
    assert data["schema_version"] == 1 and data["files"] == 1


def test_folded_block_rows_list_what_they_read(repo_root):
    """At depth 1 a block row's inputs are the inputs of its layers that come from outside
    the block (read here from the full-depth rows, a separate path)."""
    full = json.loads(cli("summary", "specs/resnet18.yaml", "--format", "json").stdout)["layers"]
    folded = json.loads(cli("summary", "specs/resnet18.yaml", "--format", "json", "--depth", "1").stdout)["layers"]
    blocks = [row for row in folded if row["block"]]
    assert blocks
    for block in blocks:
        inside = [row for row in full if row["name"].startswith(block["name"] + ".")]
        names = {row["name"] for row in inside}
        outside: list[str] = []
        for row in inside:
            outside += [ref for ref in row["inputs"] if ref not in names and ref not in outside]
        assert block["inputs"] == outside and outside, block["name"]
    rows = {
        row["name"]: row
        for row in csv.DictReader(
            io.StringIO(cli("summary", "specs/resnet18.yaml", "--format", "csv", "--depth", "1").stdout)
        )
    }
    assert rows["layer1"]["inputs"] == "maxpool"


def test_calc_convtranspose3d_keeps_depth_and_dilation_apart():
    result = cli(
        "calc",
        "convtranspose3d",
        "--input",
        "1,4,8,8,8",
        "--out-channels",
        "2",
        "--kernel-size",
        "3",
        "--dilation",
        "2",
    )
    assert result.exit_code == 0
    depth_line = next(line for line in result.stdout.splitlines() if line.strip().startswith("D:"))
    # (8-1)*1 - 0 + 2*(3-1) + 0 + 1 = 12, with dilation written `dil`, not a second D.
    assert "dil*(K-1)" in depth_line and "D(K-1)" not in depth_line and depth_line.endswith("= 12")
