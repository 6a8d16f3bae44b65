"""`summary --count/--share/--top` on the command line, and docs/conventions.md's example.

The ResNet-50 figures are the six tools' own, measured on torchvision's ResNet-50 and
published in issue 14 (torch 2.14.1, eval mode, 1x3x224x224); the LeNet ones are worked
by hand below.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

from conftest import cli

ROOT = Path(__file__).resolve().parent.parent
RESNET50 = {
    "torchvision": 4_089_184_256,
    "ptflops-aten": 4_089_185_256,
    "torchinfo": 4_089_238_376,
    "fvcore": 4_111_512_576,
    "ptflops": 4_132_436_968,
    "thop": 4_133_742_592,
    # ultralytics-thop 2.2.3's profile(model, inputs=(x,))[0] on the same model, measured the
    # same way (its rules differ from thop 0.1.1's elsewhere: nearest upsampling, matmuls, ...)
    "ultralytics": 4_133_742_592,
    "deepspeed": 4_089_184_256,
}
# FLOPs as each tool reports them: 2 x MACs, but for deepspeed, whose get_model_profile on
# torchvision's resnet50 (deepspeed 0.19.8, 1x3x224x224) returns 8,211,108,352 FLOPs of its
# own (biases, batch norm, ReLU, pooling on top of 2 x MACs).
RESNET50_FLOPS = {name: 2 * macs for name, macs in RESNET50.items()} | {"deepspeed": 8_211_108_352}


def _run(*args: str) -> str:
    result = cli(*args, width=100)
    assert result.exit_code == 0, result.output
    return result.output


def test_count_all_json_has_every_tool_figure() -> None:
    data = json.loads(_run("summary", str(ROOT / "specs/resnet50.yaml"), "--count", "all", "-f", "json"))
    counting = data["counting"]
    assert {c["name"]: c["macs"] for c in counting["conventions"]} == RESNET50
    for convention in counting["conventions"]:
        assert convention["flops"] == RESNET50_FLOPS[convention["name"]]
        assert convention["difference_from_default"] == convention["macs"] - RESNET50["torchvision"]
        assert sum(convention["by_family"].values()) == convention["macs"]
        assert convention["source"].startswith("https://github.com/")


def test_count_all_table_lists_each_convention() -> None:
    out = _run("summary", str(ROOT / "specs/resnet50.yaml"), "--count", "all", "--depth", "1")
    for name, macs in RESNET50.items():
        assert re.search(rf"^ {re.escape(name)} +{macs:,} +{RESNET50_FLOPS[name]:,} ", out, re.MULTILINE), name


# LeNet by hand: conv2d_1 5 x 28x28 outputs x 1*5*5 = 98,000 MACs; conv2d_2 16 x 10x10 x 5*5*5
# = 200,000; linear_1 400 x 120 = 48,000; linear_2 120 x 84 = 10,080; linear_3 84 x 10 = 840.
LENET_MACS = 98_000 + 200_000 + 48_000 + 10_080 + 840
LENET_PARAMS = (25 * 5 + 5) + (125 * 16 + 16) + (400 * 120 + 120) + (120 * 84 + 84) + (84 * 10 + 10)


def test_top_and_shares_by_hand() -> None:
    data = json.loads(_run("summary", str(ROOT / "specs/seed-lenet.yaml"), "--top", "3", "--share", "-f", "json"))
    counting = data["counting"]
    assert counting["top"] == ["conv2d_2", "conv2d_1", "linear_1"]
    layer = counting["layers"]["conv2d_2"]
    assert Fraction(layer["macs_share"]) == Fraction(200_000, LENET_MACS)
    assert Fraction(layer["params_share"]) == Fraction(125 * 16 + 16, LENET_PARAMS)


def test_share_columns_and_top_table() -> None:
    out = _run("summary", str(ROOT / "specs/seed-lenet.yaml"), "--top", "2", "--share")
    assert "% params" in out and "% MACs" in out
    # conv2d_2: 200,000 / 356,920 = 56.03 %; 2,016 / 61,280 params = 3.29 %
    assert re.search(r"^ 1 +conv2d_2 +Conv2d +200,000 +56\.0% +2,016 +3\.3%", out, re.MULTILINE)


def test_other_convention_in_the_layer_column_and_csv() -> None:
    csv_text = _run("summary", str(ROOT / "specs/seed-lenet.yaml"), "--count", "ptflops-aten", "-f", "csv")
    header, first = csv_text.splitlines()[:2]
    assert header.endswith(",macs_ptflops-aten")
    # conv2d_1 with its bias: 98,000 + 5*28*28 = 101,920 (aten.convolution counts the bias)
    assert first.startswith("conv2d_1,") and first.endswith(",101920")
    table = _run("summary", str(ROOT / "specs/seed-lenet.yaml"), "--count", "ptflops-aten")
    assert "MACs (ptflops-aten)" in table


def test_unknown_convention_is_a_usage_error() -> None:
    result = cli("summary", str(ROOT / "specs/seed-lenet.yaml"), "--count", "fvcor")
    assert result.exit_code == 2
    assert "did you mean 'fvcore'?" in " ".join(result.output.replace("│", " ").split())


def test_markdown_has_the_convention_tables() -> None:
    out = _run("summary", str(ROOT / "specs/seed-lenet.yaml"), "--count", "all", "-f", "markdown")
    assert "| Convention | MACs | FLOPs | vs default | Follows |" in out
    assert f"| torchvision | {LENET_MACS:,} |" in out


def test_conventions_doc_example_is_real_output() -> None:
    text = (ROOT / "docs/conventions.md").read_text()
    block = re.search(r"^```console\n\$ cnnshape (.*?)\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    assert block
    env = dict(os.environ, COLUMNS="100", PYTHONPATH=str(ROOT))
    ran = subprocess.run(
        [sys.executable, "-m", "cnnshape", *block.group(1).split()],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    printed = "\n".join(line.rstrip() for line in ran.stdout.splitlines())
    assert printed.strip() == block.group(2).strip()


def test_readme_excerpt_is_real_output() -> None:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"\$ cnnshape summary specs/resnet50.yaml --count all\n  \.\.\.\n(.*?)\n  ```", readme, re.DOTALL)
    assert block
    env = dict(os.environ, COLUMNS="100", PYTHONPATH=str(ROOT))
    ran = subprocess.run(
        [sys.executable, "-m", "cnnshape", "summary", "specs/resnet50.yaml", "--count", "all"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    printed = [line.rstrip() for line in ran.stdout.splitlines()]
    for line in block.group(1).splitlines():
        assert line[2:].rstrip() in printed, line
