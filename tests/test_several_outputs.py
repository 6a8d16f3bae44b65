"""A network with several outputs (`outputs: [p3, p4, p5]`): every command shows every
output's shape and receptive field, not only the first.

Expected values by hand. Each Conv2d(k=3, s=2, p=1) halves an even size:
floor((n + 2 - 3) / 2) + 1 = n / 2. Receptive fields (google-research recurrences,
r = r_prev + (k - 1) * S_prev, S = S_prev * s): c2 3 s2, p3 3 + 2*2 = 7 s4,
p4 3x3: 7 + 2*4 = 15 s8, p5: 15 + 2*8 = 31 s16. With p4 5x5 (padding 2) instead:
p4 7 + 4*4 = 23, p5 23 + 2*8 = 39.
"""

from __future__ import annotations

import csv
import io
import json

import pytest
from conftest import cli

FPN = """\
name: fpn-small
input: [1, 3, 64, 64]
layers:
  - Conv2d: {out_channels: 16, kernel_size: 3, stride: 2, padding: 1, name: c2}
  - Conv2d: {out_channels: 32, kernel_size: 3, stride: 2, padding: 1, name: p3}
  - Conv2d: {out_channels: %s, kernel_size: %s, stride: 2, padding: %s, name: p4}
  - Conv2d: {out_channels: 128, kernel_size: 3, stride: 2, padding: 1, name: p5}
outputs: [p3, p4, p5]
"""


@pytest.fixture
def specs(tmp_path):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(FPN % (64, 3, 1), encoding="utf-8")
    b.write_text(FPN % (96, 5, 2), encoding="utf-8")
    return str(a), str(b)


def _run(*args: str) -> str:
    result = cli(*args, width=200)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_compare_shows_every_output(specs):
    totals = json.loads(_run("compare", *specs, "--format", "json"))["totals"]
    assert totals["output"]["a"] == [1, 32, 16, 16] and not totals["output"]["changed"]
    assert totals["output.p4"]["a"] == [1, 64, 8, 8] and totals["output.p4"]["b"] == [1, 96, 8, 8]
    assert totals["output.p5"]["b"] == [1, 128, 4, 4]
    assert totals["receptive_field.p4"]["a"]["axes"][0]["size"] == 15
    assert totals["receptive_field.p4"]["b"]["axes"][0]["size"] == 23
    assert totals["receptive_field.p4"]["delta"] == 8
    assert totals["receptive_field.p5"]["b"]["axes"][0]["size"] == 39
    table = _run("compare", *specs)
    rows = {line.split()[1]: line for line in table.splitlines() if line.strip().startswith(("Output ", "RF "))}
    assert set(rows) == {"p3", "p4", "p5"}
    assert "RF p5" in table and "31 s16 p15" in table and "39 s16 p19" in table
    assert "Output p4" in table and "[1, 96, 8, 8]" in table
    markdown = _run("compare", *specs, "--format", "markdown")
    assert "| Output p5 |" in markdown and "| RF p4 |" in markdown


def test_sweep_shows_every_output(specs):
    a, _ = specs
    data = json.loads(_run("sweep", a, "--input", "1,3,{64,128}", "--format", "json"))
    big = data["points"][1]
    assert [out["name"] for out in big["outputs"]] == ["p3", "p4", "p5"]
    assert [out["shape"] for out in big["outputs"]] == [[1, 32, 32, 32], [1, 64, 16, 16], [1, 128, 8, 8]]
    assert [out["receptive_field"]["axes"][0]["size"] for out in big["outputs"]] == [7, 15, 31]
    table = _run("sweep", a, "--input", "1,3,{64,128}")
    for text in ("Output p3", "RF p4", "Output p5", "[1, 128, 8, 8]", "31 s16 p15", "[1, 64, 8, 8]"):
        assert text in table
    rows = list(csv.DictReader(io.StringIO(_run("sweep", a, "--input", "1,3,{64,128}", "--format", "csv"))))
    assert rows[1]["output_shape"] == "1x32x32x32" and rows[1]["output_shape.p5"] == "1x128x8x8"
    assert rows[0]["receptive_field.p4"] == "15 s8 p7"
    markdown = _run("sweep", a, "--input", "1,3,{64,128}", "--format", "markdown")
    assert "| Output p4 | RF p4 |" in markdown and "`[1, 64, 16, 16]`" in markdown


def test_summary_shows_every_output(specs):
    a, _ = specs
    table = _run("summary", a)
    assert "Output p4" in table and "15 s8 p7" in table
    data = json.loads(_run("summary", a, "--format", "json"))
    assert [out["shape"] for out in data["outputs"]] == [[1, 32, 16, 16], [1, 64, 8, 8], [1, 128, 4, 4]]
    rows = {row["name"]: row for row in csv.DictReader(io.StringIO(_run("summary", a, "--format", "csv")))}
    assert rows["p4"]["network_outputs"] == "p4" and rows["c2"]["network_outputs"] == ""
    markdown = _run("summary", a, "--format", "markdown")
    assert "Output p5" in markdown
