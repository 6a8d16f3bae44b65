"""Hostile input, end to end: each case runs `cnnshape summary` in a child process under
a memory cap and a generous time cap (a hang or a blow-up fails, nothing is timed), and
must end with one located error of the expected code, exit 1 and no traceback."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

MEMORY_CAP = 1 << 30  # 1 GiB of address space for the child
TIME_CAP = 60  # seconds: a bound on hangs, far above any honest run


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def run(path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "120"}
    return subprocess.run(
        [sys.executable, "-m", "cnnshape", "summary", str(path)],
        capture_output=True, text=True, timeout=TIME_CAP, preexec_fn=_limit, env=env,
    )


def billion_laughs() -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)]
    return "\n".join(lines + ["name: bomb", "input: [1, 3, 8, 8]", "layers: *a9"]) + "\n"


def nested_blocks(depth: int) -> str:
    lines = ["name: nest", "input: [1, 3, 8, 8]", "blocks:"]
    for i in range(depth):
        inner = f"B{i + 1}" if i + 1 < depth else "ReLU"
        lines += [f"  B{i}:", "    layers:", f"      - {inner}"]
    return "\n".join(lines + ["layers:", "  - B0"]) + "\n"


CASES = {
    "alias-bomb": (billion_laughs(), "limit"),
    "deep-sequence": ("name: d\ninput: [1]\nlayers: " + "[" * 20000 + "]" * 20000 + "\n", "yaml-syntax"),
    "deep-mapping": ("name: d\ninput: [1]\nlayers:\n  - x: " + "{a: " * 5000 + "1" + "}" * 5000 + "\n", "yaml-syntax"),
    "huge-repeat-of-a-block": (
        "name: r\ninput: [1, 3, 8, 8]\nblocks:\n  B:\n    layers:\n      - ReLU: {repeat: 100}\n"
        "layers:\n  - B: {repeat: 200000}\n", "limit"),
    "nested-repeats": (
        "name: r\ninput: [1, 3, 8, 8]\nblocks:\n  B:\n    layers:\n      - ReLU: {repeat: 1000}\n"
        "  C:\n    layers:\n      - B: {repeat: 1000}\nlayers:\n  - C: {repeat: 1000}\n", "limit"),
    "repeat-past-the-limit": ("name: r\ninput: [1, 3, 8, 8]\nlayers:\n  - ReLU: {repeat: 10000000}\n", "bad-value"),
    "blocks-nested-too-deep": (nested_blocks(80), "limit"),
    "block-cycle": ("name: c\ninput: [1, 3, 8, 8]\nblocks:\n  A:\n    layers: [B]\n  B:\n    layers: [A]\nlayers: [A]\n", "cycle"),
    "huge-tensor": ("name: t\ninput: [1, 3, 100000000, 100000000]\nlayers:\n  - ReLU\n", "limit"),
    "huge-channels": ("name: t\ninput: [1, 3, 8, 8]\nlayers:\n  - Conv2d: {out_channels: 100000000000000, kernel_size: 3}\n", "limit"),
    "power-tower": ("name: p\ninput: [1, 3, 8, 8]\nargs: {w: '$(10 ** 10 ** 10)'}\nlayers:\n  - ReLU\n", "bad-expression"),
    "string-doubling": (
        "name: s\ninput: [1, 3, 8, 8]\nargs:\n  s0: abcdefghij\n"
        + "".join(f"  s{i + 1}: $s{i}$s{i}\n" for i in range(40)) + "layers:\n  - ReLU\n", "bad-expression"),
    "long-expression": ("name: e\ninput: [1, 3, 8, 8]\nargs: {w: '$(" + "1+" * 5000 + "1)'}\nlayers:\n  - ReLU\n", "bad-expression"),
    "python-object-tag": ("name: x\ninput: [1]\nlayers: !!python/object/apply:os.system ['true']\n", "yaml-unsupported"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_spec_gives_a_located_error(tmp_path, name):
    text, code = CASES[name]
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    result = run(path)
    assert result.returncode == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if line.startswith(str(path))]
    assert lines, result.stderr[-2000:]
    assert any(f"[{code}]" in line for line in lines), result.stderr[-2000:]


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path):
    path = tmp_path / "big.yaml"
    with path.open("w") as handle:
        handle.write("name: big\ninput: [1, 3, 8, 8]\nlayers:\n")
        line = "  - ReLU  # " + "x" * 100 + "\n"
        handle.write(line * (17 * 1024 * 1024 // len(line)))
    result = run(path)
    assert result.returncode == 1 and "[limit]" in result.stderr and "Traceback" not in result.stderr
