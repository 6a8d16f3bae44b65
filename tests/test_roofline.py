"""Roofline (cnnshape.roofline) by hand, with a device declared in pyproject.toml."""

from __future__ import annotations

import json
import os
from fractions import Fraction
from pathlib import Path

import pytest
from conftest import cli

from cnnshape.pipeline import analyze_text
from cnnshape.roofline import DEVICES, Device, DeviceError, devices_from_table, roofline

SPEC = """
name: tiny
input: [1, 3, 8, 8]
layers:
  - Conv2d: {out_channels: 4, kernel_size: 3, padding: 1, bias: false}
  - ReLU
  - Flatten
"""
TOY = Device("toy", 10**9, 4 * 10**9, 10**9, "a made-up device: 1 GFLOP/s, 1 GB/s")


def test_bound_by_hand() -> None:
    r = roofline(analyze_text(SPEC), TOY)
    conv, relu, flatten = r.layers
    # conv: 256 outputs x 27 MACs = 6,912 MACs = 13,824 FLOPs; bytes: input 192 + weights 108
    # + output 256 elements, x 4 = 2,224. Compute 13,824 ns > memory 2,224 ns.
    assert (conv.flops, conv.bytes, conv.bound_by) == (13_824, 2_224, "compute")
    assert conv.seconds == Fraction(13_824, 10**9)
    assert conv.intensity == Fraction(13_824, 2_224)
    # ReLU: no FLOPs in the default convention, reads 256 and writes 256 elements: 2,048 ns.
    assert (relu.flops, relu.bytes, relu.bound_by, relu.seconds) == (0, 2_048, "memory", Fraction(2_048, 10**9))
    # Flatten is a view: it moves nothing.
    assert (flatten.bytes, flatten.seconds, flatten.intensity) == (0, 0, None)
    assert r.seconds == Fraction(13_824 + 2_048, 10**9)
    assert r.ridge == 1


def test_half_precision_uses_the_half_peak() -> None:
    r = roofline(analyze_text(SPEC, dtype="float16"), TOY)
    assert r.peak_flops == 4 * 10**9
    # conv at 2 bytes: compute 13,824 / 4e9 = 3,456 ns, memory 1,112 ns
    assert r.layers[0].seconds == Fraction(13_824, 4 * 10**9)


def test_built_in_devices_state_their_source() -> None:
    assert DEVICES["a100-sxm4-80gb"].bandwidth == 2_039 * 10**9  # the A100 80GB data sheet's HBM2e figure
    for device in DEVICES.values():
        assert (
            device.flops <= device.half_flops and "datasheet" in device.source.lower() or "whitepaper" in device.source
        )


def test_bad_device_entries() -> None:
    with pytest.raises(DeviceError, match="needs flops"):
        devices_from_table({"x": {"bandwidth": 1}}, "pyproject.toml")
    with pytest.raises(DeviceError, match="positive number"):
        devices_from_table({"x": {"flops": "fast", "bandwidth": 1}}, "pyproject.toml")


def test_device_from_pyproject_on_the_command_line(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.cnnshape.devices.toy]\nflops = 1e9\nbandwidth = 1e9\nsource = "made up"\n', encoding="utf-8"
    )
    (tmp_path / "tiny.yaml").write_text(SPEC, encoding="utf-8")
    before = os.getcwd()
    os.chdir(tmp_path)
    try:
        result = cli("summary", "tiny.yaml", "--device", "toy", "-f", "json")
        table = cli("summary", "tiny.yaml", "--device", "toy", width=100)
        lint = cli("lint", "tiny.yaml")
    finally:
        os.chdir(before)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)["roofline"]
    assert Fraction(data["lower_bound_seconds"]) == Fraction(13_824 + 2_048, 10**9)
    assert data["layers"]["conv2d_1"]["bound_by"] == "compute"
    assert "at least 15.9 µs (a lower bound" in table.output
    assert lint.exit_code == 0, lint.output  # lint accepts the devices table


def test_unknown_device_is_a_usage_error() -> None:
    result = cli("summary", "specs/seed-lenet.yaml", "--device", "a100")
    assert result.exit_code == 2
    assert "a100-sxm4-80gb" in result.output


def test_roofline_doc_example_is_real_output() -> None:
    import re
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    text = (root / "docs/roofline.md").read_text()
    command, shown = re.search(r"^```console\n\$ cnnshape (.*?)\n(.*?)^```", text, re.MULTILINE | re.DOTALL).groups()
    env = dict(os.environ, COLUMNS="100", PYTHONPATH=str(root))
    ran = subprocess.run(
        [sys.executable, "-m", "cnnshape", *command.split()],
        capture_output=True,
        text=True,
        cwd=root,
        env=env,
        timeout=300,
    )
    printed = "\n".join(line.rstrip() for line in ran.stdout.splitlines())
    assert shown.strip().removeprefix("...\n") in printed


FAST = Device("fast", 10**9, 10**9, 10**12, "a made-up device: 1 GFLOP/s, 1 TB/s (almost everything compute-bound)")


def _counted(spec: str, names: list[str]):
    from dataclasses import replace

    from cnnshape.count import count_report

    report = analyze_text(spec)
    return replace(report, counting=count_report(report, names))


def test_bound_in_another_convention_by_hand() -> None:
    """--count ptflops: ReLU costs 2 x 256 (ptflops counts nn.ReLU by its module hook and
    again by the F.relu it calls), so on a fast-memory device its bound is compute, not bytes."""
    r = roofline(_counted(SPEC, ["ptflops"]), FAST)
    conv, relu, flatten = r.layers
    assert r.convention == "ptflops"
    assert (conv.flops, conv.seconds) == (13_824, Fraction(13_824, 10**9))  # no bias: as torchvision
    assert (relu.flops, relu.bound_by, relu.seconds) == (2 * 2 * 256, "compute", Fraction(1_024, 10**9))
    assert r.seconds == Fraction(13_824 + 1_024, 10**9)


def test_bound_per_convention_with_count_all_by_hand() -> None:
    r = roofline(_counted(SPEC, ["all"]), FAST)
    bounds = {bound.convention: bound for bound in r.conventions}
    assert r.convention == "torchvision" and list(bounds)[0] == "torchvision"
    # torchvision: the conv's 13,824 FLOPs; ReLU has none, so its 2,048 bytes at 1 TB/s
    assert bounds["torchvision"].seconds == Fraction(13_824, 10**9) + Fraction(2_048, 10**12) == r.seconds
    assert bounds["torchvision"].memory_bound == 1
    # ptflops: ReLU 1,024 FLOPs (above); thop, fvcore and torchinfo count nothing for ReLU
    assert bounds["ptflops"].seconds == Fraction(13_824 + 1_024, 10**9)
    assert (bounds["ptflops"].flops, bounds["ptflops"].memory_bound) == (13_824 + 1_024, 0)
    assert bounds["thop"].seconds == bounds["fvcore"].seconds == bounds["torchvision"].seconds


def test_roofline_json_per_convention_equals_the_peer(tmp_path: Path) -> None:
    """With every layer compute-bound (ptflops counts work in every LeNet layer but Flatten,
    a view that moves nothing), the bound is ptflops' own figure x 2 / peak FLOP/s."""
    pytest.importorskip("torch")
    pytest.importorskip("ptflops")
    from peer_counts import TOOLS, model

    (tmp_path / "pyproject.toml").write_text(
        '[tool.cnnshape.devices.fast]\nflops = 1e9\nbandwidth = 1e15\nsource = "made up"\n', encoding="utf-8"
    )
    spec = Path(__file__).resolve().parent.parent / "specs" / "seed-lenet.yaml"
    cwd = Path.cwd()
    os.chdir(tmp_path)
    try:
        result = cli("summary", str(spec), "--count", "all", "--device", "fast", "-f", "json")
    finally:
        os.chdir(cwd)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)["roofline"]
    bounds = {bound["name"]: bound for bound in data["conventions"]}
    *_, run = TOOLS["ptflops"]
    measured = run(*model(str(spec), "cpu"))
    assert bounds["ptflops"]["flops"] == 2 * measured
    assert Fraction(bounds["ptflops"]["lower_bound_seconds"]) == Fraction(2 * measured, 10**9)
    assert data["convention"] == "torchvision"
