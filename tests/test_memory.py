"""cnnshape.memory by hand: inference liveness on small graphs, the largest batch that fits
(the training figures themselves are checked against PyTorch in test_memory_torch.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import cli

from cnnshape.memory import inference, parse_size
from cnnshape.pipeline import analyze_text

ROOT = Path(__file__).resolve().parent.parent

CHAIN = """
name: chain
input: [1, 1, 8, 8]
layers:
  - Conv2d: {out_channels: 4, kernel_size: 3, padding: 1}
  - ReLU: {inplace: INPLACE}
  - MaxPool2d: {kernel_size: 2}
"""

BRANCH = """
name: branch
input: [1, 1, 8, 8]
layers:
  - Conv2d: {out_channels: 4, kernel_size: 3, padding: 1, name: a, from: input}
  - Conv2d: {out_channels: 4, kernel_size: 1, name: b, from: input}
  - Add: {from: [a, b]}
"""


def test_chain_peak_by_hand() -> None:
    # input 64 elements; conv out 256 (64 + 256 alive, then the input is freed); ReLU out 256
    # (256 + 256 = 512 alive: the peak, 2,048 bytes); max pool out 64.
    memory = inference(analyze_text(CHAIN.replace("INPLACE", "false")))
    assert (memory.peak_bytes, memory.peak_layer) == (512 * 4, "relu_1")
    assert memory.sum_bytes == (256 + 256 + 64) * 4
    # In place, ReLU writes over the conv's output: the peak is the conv's 64 + 256.
    memory = inference(analyze_text(CHAIN.replace("INPLACE", "true")))
    assert (memory.peak_bytes, memory.peak_layer) == (320 * 4, "conv2d_1")


def test_branch_keeps_the_input_until_both_read_it() -> None:
    # a: 64 + 256; b: the input still alive, 64 + 256 + 256 = 576, then freed -> 512;
    # Add: 512 + 256 = 768 alive (3,072 bytes), then a and b are freed.
    memory = inference(analyze_text(BRANCH))
    assert (memory.peak_bytes, memory.peak_layer) == (768 * 4, "add_1")


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("24GiB", 24 * 1024**3),
        ("16GB", 16 * 10**9),
        ("512 MiB", 512 * 1024**2),
        ("1.5GiB", 3 * 1024**3 // 2),
        ("1000", 1000),
    ],
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


def test_parse_size_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="not a size"):
        parse_size("lots")


def test_sweep_batch_finds_the_largest_that_fits() -> None:
    # LeNet (61,280 params), Adam, fp32: weights + gradients + two moments = 16 B per param,
    # plus a 4-byte step per parameter tensor (10): 980,520 bytes. Kept for backward per
    # sample: float32 elements 1,024 (conv1 input) + 3,920 (relu1 out) + 980 (conv2 input)
    # + 1,600 (relu2 out) + 400 (linear1 input) + 120 + 84 (relu3/relu4 out) = 8,128, and
    # int64 max-pool indices 980 + 400: 8,128 * 4 + 1,380 * 8 = 43,552 bytes.
    # Budget 2,000,000: 980,520 + 43,552 * B fits for B <= 23, so 16 of {8, 16, 32}.
    result = cli(
        "sweep",
        str(ROOT / "specs/seed-lenet.yaml"),
        "--batch",
        "{8,16,32}",
        "--memory-budget",
        "2000000",
        "-f",
        "json",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["largest_batch"] == 16
    assert [row["peak_bytes"] for row in data["batches"]] == [980_520 + 43_552 * b for b in (8, 16, 32)]
    assert [row["fits"] for row in data["batches"]] == [True, True, False]


def test_summary_memory_json() -> None:
    result = cli("summary", str(ROOT / "specs/seed-lenet.yaml"), "--batch", "4", "-f", "json")
    assert result.exit_code == 0, result.output
    training = json.loads(result.output)["memory"]["training"]
    assert training["batch"] == 4
    assert training["peak_bytes"] == 980_520 + 43_552 * 4


def test_memory_doc_examples_are_real_output() -> None:
    import os
    import re
    import subprocess
    import sys

    text = (ROOT / "docs/memory.md").read_text()
    blocks = re.findall(r"^```console\n\$ cnnshape (.*?)\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    assert len(blocks) == 2
    env = dict(os.environ, COLUMNS="100", PYTHONPATH=str(ROOT))
    for command, shown in blocks:
        args = [arg.strip('"') for arg in command.split()]
        ran = subprocess.run(
            [sys.executable, "-m", "cnnshape", *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300
        )
        printed = "\n".join(line.rstrip() for line in ran.stdout.splitlines())
        shown = shown.strip().removeprefix("...\n")
        assert shown in printed, command
