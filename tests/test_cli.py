"""The command line as a user meets it: output, exit codes, error lines.

Numbers are worked out by hand (PyTorch's formulas) or taken from torchvision's published
metadata (/work/shared/reference/torchvision.md); never from cnnshape's own output.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from functools import partial
from pathlib import Path

import pytest
from conftest import cli

from cnnshape import __version__

ROOT = Path(__file__).resolve().parent.parent
LENET = str(ROOT / "specs" / "seed-lenet.yaml")
RESNET18 = str(ROOT / "specs" / "resnet18.yaml")
INVALID = Path(__file__).parent / "specs" / "invalid"
ANSI = re.compile(r"\x1b\[")

# seed-lenet by hand, 1x32x32 input (conv: out = (I - K) + 1; pool 2x2: out = I / 2):
#   conv 5x5, 1 -> 5     28x28    5*1*5*5 + 5     =    130 params   5*1*25 * 28*28 = 98,000 MACs
#   pool 2               14x14
#   conv 5x5, 5 -> 16    10x10    16*5*5*5 + 16   =  2,016 params  16*5*25 * 10*10 = 200,000 MACs
#   pool 2               5x5      flatten 16*5*5 = 400
#   linear 400 -> 120             400*120 + 120   = 48,120 params  48,000 MACs
#   linear 120 -> 84              120*84 + 84     = 10,164 params  10,080 MACs
#   linear 84 -> 10               84*10 + 10      =    850 params     840 MACs
LENET_PARAMS = 130 + 2016 + 48120 + 10164 + 850
LENET_MACS = 98_000 + 200_000 + 48_000 + 10_080 + 840
LENET_SHAPES = [
    [1, 5, 28, 28],
    [1, 5, 28, 28],
    [1, 5, 14, 14],
    [1, 16, 10, 10],
    [1, 16, 10, 10],
    [1, 16, 5, 5],
    [1, 400],
    [1, 120],
    [1, 120],
    [1, 84],
    [1, 84],
    [1, 10],
]
# Every layer output, float32: sum of the element counts above times 4 bytes.
LENET_ACTIVATION_BYTES = 4 * sum(n for n in (3920, 3920, 980, 1600, 1600, 400, 400, 120, 120, 84, 84, 10))

RESNET18_PARAMS = 11_689_512  # torchvision num_params
FC_1000 = 512 * 1000 + 1000
FC_10 = 512 * 10 + 10


run = partial(cli, width=200)


def summary_json(*args: str) -> dict:
    result = run("summary", *args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_lenet_table() -> None:
    result = run("summary", LENET)
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    rows = [
        line.split() for line in out.splitlines() if re.match(r"\s*(conv2d|relu|maxpool2d|flatten|linear)_\d", line)
    ]
    assert [r[0] for r in rows] == [
        "conv2d_1",
        "relu_1",
        "maxpool2d_1",
        "conv2d_2",
        "relu_2",
        "maxpool2d_2",
        "flatten_1",
        "linear_1",
        "relu_3",
        "linear_2",
        "relu_4",
        "linear_3",
    ]
    for line, shape in zip(
        (line for line in out.splitlines() if re.match(r"\s*\w+_\d+\s", line)), LENET_SHAPES, strict=True
    ):
        assert str(shape) in line
    params_line = next(line for line in out.splitlines() if "Parameters" in line)
    assert LENET_PARAMS == 61_280
    assert "61,280" in params_line
    macs_line = next(line for line in out.splitlines() if re.search(r"\bMACs\b\s+\d", line))
    assert f"{LENET_MACS:,}" in macs_line  # 356,920
    flops_line = next(line for line in out.splitlines() if "FLOPs" in line)
    assert f"{2 * LENET_MACS:,}" in flops_line
    assert not ANSI.search(out)
    assert result.stderr == ""


def test_lenet_json() -> None:
    data = summary_json(LENET)
    for key in ("name", "input", "outputs", "totals", "receptive_field", "layers"):
        assert key in data, key
    assert data["name"] == "seed-lenet"
    assert data["input"] == [1, 1, 32, 32]
    totals = data["totals"]
    assert totals["params"] == LENET_PARAMS
    assert totals["trainable_params"] == LENET_PARAMS
    assert totals["non_trainable_params"] == 0
    assert totals["buffers"] == 0
    assert totals["macs"] == LENET_MACS
    assert totals["flops"] == 2 * LENET_MACS
    assert totals["param_bytes"] == 4 * LENET_PARAMS
    assert totals["activation_bytes"] == LENET_ACTIVATION_BYTES
    layers = data["layers"]
    for layer in layers:
        for key in ("name", "kind", "output_shape", "params", "macs", "flops", "receptive_field"):
            assert key in layer, (layer.get("name"), key)
        assert layer["flops"] == 2 * layer["macs"]
    assert [layer["output_shape"] for layer in layers] == LENET_SHAPES
    assert [layer["params"] for layer in layers if layer["params"]] == [130, 2016, 48120, 10164, 850]
    assert [layer["kind"] for layer in layers][:3] == ["Conv2d", "ReLU", "MaxPool2d"]
    assert data["outputs"] == [{"name": "linear_3", "shape": [1, 10], "receptive_field": data["receptive_field"]}]
    assert data["receptive_field"]["kind"] == "global"
    # Receptive field after the second pool, per axis: 5x5 conv r 5; pool 2 r 5+1 = 6, S 2;
    # 5x5 conv r 6 + 4*2 = 14; pool 2 r 14 + 1*2 = 16, S 4; no padding anywhere.
    pool2 = layers[5]
    assert pool2["receptive_field"]["kind"] == "spatial"
    assert [(a["size"], a["stride"], a["padding"]) for a in pool2["receptive_field"]["axes"]] == [(16, 4, 0)] * 2


def test_set_num_classes_changes_the_classifier() -> None:
    data = summary_json(RESNET18, "--set", "num_classes=10")
    fc = data["layers"][-1]
    assert fc["kind"] == "Linear"
    assert fc["output_shape"] == [1, 10]
    assert fc["params"] == FC_10
    assert fc["macs"] == 512 * 10
    assert data["totals"]["params"] == RESNET18_PARAMS - FC_1000 + FC_10  # 11,181,642
    assert data["args"] == {"num_classes": 10}


def test_input_override() -> None:
    data = summary_json(RESNET18, "--input", "1,3,299,299")
    assert data["input"] == [1, 3, 299, 299]
    shapes = {layer["name"]: layer["output_shape"] for layer in data["layers"]}
    # conv 7/2 p3: floor((299 + 6 - 7) / 2) + 1 = 150; maxpool 3/2 p1: floor((150 + 2 - 3) / 2) + 1 = 75;
    # each stride-2 3x3 p1 stage: floor((I + 2 - 3) / 2) + 1: 75 -> 38 -> 19 -> 10.
    assert shapes["conv1"] == [1, 64, 150, 150]
    assert shapes["maxpool"] == [1, 64, 75, 75]
    assert shapes["layer2.basicblock_1.conv2d_1"] == [1, 128, 38, 38]
    assert shapes["layer3.basicblock_1.conv2d_1"] == [1, 256, 19, 19]
    assert shapes["layer4.basicblock_2.relu_2"] == [1, 512, 10, 10]
    assert shapes["avgpool"] == [1, 512, 1, 1]
    assert data["outputs"][0]["shape"] == [1, 1000]
    assert data["totals"]["params"] == RESNET18_PARAMS  # the input size does not change weights
    first = data["layers"][0]
    assert first["macs"] == 7 * 7 * 3 * 64 * 150 * 150


def test_depth_one_folds_blocks() -> None:
    full = summary_json(RESNET18)
    folded = summary_json(RESNET18, "--depth", "1")
    rows = folded["layers"]
    # stem (conv, bn, relu, maxpool), four stages of two BasicBlocks, avgpool, flatten, linear
    assert [row["kind"] for row in rows] == (
        ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d"] + ["Stage"] * 4 + ["AdaptiveAvgPool2d", "Flatten", "Linear"]
    )
    # layer1: two BasicBlock(64), each two 3x3 64->64 convs without bias and two BatchNorm2d(64).
    assert rows[4]["params"] == 2 * (2 * (3 * 3 * 64 * 64) + 2 * (2 * 64))
    # layer2: BasicBlock(128, stride 2, downsample): 3x3 64->128, 3x3 128->128, 1x1 64->128,
    # three BN(128); then BasicBlock(128): two 3x3 128->128, two BN(128).
    assert rows[5]["params"] == (
        3 * 3 * 64 * 128 + 3 * 3 * 128 * 128 + 64 * 128 + 3 * (2 * 128) + 2 * (3 * 3 * 128 * 128) + 2 * (2 * 128)
    )
    assert rows[5]["output_shape"] == [1, 128, 28, 28]
    for key in ("params", "macs", "flops"):
        assert sum(row[key] for row in rows) == folded["totals"][key] == full["totals"][key]
    assert len(full["layers"]) > len(rows)


def test_depth_one_table_shows_folded_blocks() -> None:
    result = run("summary", RESNET18, "--depth", "1")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert sum(" Stage " in line for line in lines) == 4
    assert not any("BasicBlock" in line or "conv2d_1" in line for line in lines)  # the blocks' contents are folded away


def test_piped_output_has_no_ansi_escapes() -> None:
    for args in (("summary", LENET), ("summary", RESNET18, "--depth", "1")):
        result = subprocess.run(
            [sys.executable, "-m", "cnnshape", *args],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={**os.environ, "TERM": "xterm-256color"},
        )
        assert result.returncode == 0, result.stderr
        assert not ANSI.search(result.stdout)
        assert "seed-lenet" in result.stdout or "resnet18" in result.stdout


def _sgr_colors(text: str) -> set[int]:
    """Colour parameters (30-49, 90-107, 38;5;n ...) in the SGR escapes of `text`."""
    colors = set()
    for params in re.findall(r"\x1b\[([0-9;]*)m", text):
        for param in filter(None, params.split(";")):
            if 30 <= int(param) <= 49 or 90 <= int(param) <= 107:
                colors.add(int(param))
    return colors


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
@pytest.mark.parametrize("no_color", [False, True])
def test_no_color_on_a_terminal(no_color: bool) -> None:
    import pty

    env = {key: value for key, value in os.environ.items() if key not in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE")}
    env.update(TERM="xterm-256color", COLUMNS="200")
    if no_color:
        env["NO_COLOR"] = "1"
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cnnshape", "summary", LENET], stdout=follower, stderr=follower, cwd=ROOT, env=env
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert proc.wait(timeout=60) == 0
    out = b"".join(chunks).decode()
    assert "61,280" in out
    if no_color:
        assert not _sgr_colors(out), "NO_COLOR output contains colour escapes"
    else:
        assert _sgr_colors(out), "a terminal gets colour (else the NO_COLOR case proves nothing)"


def test_misspelled_kind_is_one_located_line(tmp_path: Path) -> None:
    spec = tmp_path / "broken.yaml"
    spec.write_text(
        "name: broken\n"
        "input: [1, 3, 32, 32]\n"
        "layers:\n"
        "  - Conv2d: {out_channels: 8, kernel_size: 3}\n"
        "  - MaxPool2D: {kernel_size: 2}\n"
        "  - ReLU\n"
    )
    result = run("summary", str(spec))
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"{spec}:5:5: error: ")
    assert lines[0].endswith("[unknown-kind]")
    assert "MaxPool2d" in lines[0]


def test_several_problems_are_all_listed() -> None:
    spec = INVALID / "several-problems.yaml"
    result = run("summary", str(spec))
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 6
    assert all(re.match(rf"{re.escape(str(spec))}:\d+:\d+: error: .+ \[[a-z-]+\]$", line) for line in lines[:5])
    assert lines[-1] == "found 5 errors"


@pytest.mark.parametrize("path", sorted(INVALID.glob("*.yaml")), ids=lambda p: p.stem)
def test_invalid_specs_exit_1_without_traceback(path: Path) -> None:
    result = run("summary", str(path))
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert result.stdout == ""
    for line in result.stderr.splitlines():
        assert line.startswith(f"{path}:") or re.fullmatch(r"found \d+ errors", line), line


def test_binary_file_exits_1(tmp_path: Path) -> None:
    spec = tmp_path / "image.yaml"
    spec.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    result = run("summary", str(spec))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"{spec}:1:1: error: ")
    assert result.stderr.rstrip().endswith("[file-unreadable]")


def test_unknown_set_key_exits_1_with_a_hint() -> None:
    result = run("summary", RESNET18, "--set", "num_clases=10")
    assert result.exit_code == 1
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    # resnet18.yaml declares `args:` on line 12.
    assert line.startswith(f"{RESNET18}:12:1: error: ")
    assert "num_clases" in line and "did you mean 'num_classes'" in line
    assert line.endswith("[unknown-argument]")


@pytest.mark.parametrize("value", ["1,3,abc", "1,3,-5,5", "", "1.5,3,224,224", "a,b"])
def test_malformed_input_exits_2(value: str) -> None:
    result = run("summary", RESNET18, "--input", value)
    assert result.exit_code == 2, result.output
    assert "Invalid value" in result.output
    assert "Traceback" not in result.output


def test_malformed_input_names_the_option() -> None:
    result = run("summary", RESNET18, "--input", "1,3,abc")
    assert result.exit_code == 2
    assert "--input" in result.output


@pytest.mark.parametrize("value", ["1,3,x", "1,,3,224,224"])
def test_input_with_empty_parts_exits_2(value: str) -> None:
    result = run("summary", RESNET18, "--input", value)
    assert result.exit_code == 2, result.output


@pytest.mark.parametrize(
    "args",
    [
        ["summary", LENET, "--set", "num_classes"],  # no '='
        ["summary", LENET, "--depth", "0"],
        ["summary", LENET, "--format", "xml"],
        ["summary", LENET, "--no-such-option"],
        ["summary"],
        ["no-such-command"],
    ],
    ids=["set-without-equals", "depth-0", "bad-format", "unknown-option", "missing-spec", "unknown-command"],
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output


def test_version() -> None:
    result = run("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"cnnshape {__version__}"
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", __version__)


def test_python_dash_m_help() -> None:
    result = subprocess.run([sys.executable, "-m", "cnnshape", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "summary" in result.stdout
    assert "Usage" in result.stdout
    assert not ANSI.search(result.stdout)


@pytest.mark.parametrize(
    "where, reason",
    [
        ("missing-folder/schema.json", "does not exist"),
        (".", "it is a directory"),
    ],
)
def test_an_output_path_that_cannot_be_written_is_a_usage_error(tmp_path: Path, where: str, reason: str) -> None:
    target = tmp_path / where
    result = run("schema", "-o", str(target), width=400)
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)  # a usage error, not a crash
    message = " ".join(line.strip("│ ") for line in result.stderr.splitlines())  # rich's error box
    assert f"cannot write {str(target)!r}" in message and reason in message and "'--output' / '-o'" in message
    assert not target.is_file()


def test_an_input_without_its_batch_is_warned_once() -> None:
    # [3, 224, 224] into VGG-11: PyTorch's Conv2d takes it as one unbatched image, so the
    # shapes work out, but the classifier's inferred in_features is then 512*7*7/512 = 49.
    result = run("summary", str(ROOT / "specs" / "vgg11.yaml"), "--input", "3,224,224", "--format", "json")
    assert result.exit_code == 0
    (line,) = result.stderr.splitlines()
    assert "conv1.conv2d_1 (Conv2d) reads its 3-D input (3, 224, 224) as one sample without a batch" in line
    # 8 convolutions, 5 max-pools and the adaptive average pool read 3-D tensors: the first and 13 more.
    assert "and so do 13 later layer(s)" in line and "[1, 3, 224, 224]" in line
    assert line.endswith("[unbatched-input]")


def test_errors_come_before_warnings() -> None:
    # --input 1,3,224 drops a dimension: conv1 reads (1, 3, 224) unbatched (a warning), then
    # bn1 gets a 3-D tensor where BatchNorm2d needs 4-D (an error), printed first.
    result = run("summary", RESNET18, "--input", "1,3,224")
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert [line.rsplit("[", 1)[-1] for line in lines] == ["shape]", "unbatched-input]"]
    assert "bn1 (BatchNorm2d)" in lines[0] and "conv1 (Conv2d)" in lines[1]


def test_unaligned_merge_names_each_path_per_axis(tmp_path: Path) -> None:
    spec = tmp_path / "rf.yaml"
    spec.write_text(
        "name: rf\ninput: [1, 3, 32, 32]\nlayers:\n"
        "  - Conv2d: {out_channels: 8, kernel_size: 4, stride: 2, padding: 1, name: a}\n"
        "  - Conv2d: {out_channels: 8, kernel_size: [3, 4], stride: 2, padding: 1, from: input, name: b}\n"
        "  - Add: {from: [a, b]}\n"
    )
    result = run("summary", str(spec), "--format", "json")
    assert result.exit_code == 0
    # r = 1 + (k-1)*1, S = 2, P = 1 on both paths. H: a's 4x window is centred on
    # (4-1)/2 - 1 = 0.5, b's 3x window on (3-1)/2 - 1 = 0: half a pixel apart. W: both 4 wide.
    (line,) = result.stderr.splitlines()
    assert line.endswith(
        "add_1 (Add) merges paths whose receptive fields are not aligned: "
        "H: a r4 s2 p1 vs b r3 s2 p1; W: a r4 s2 p1 vs b r4 s2 p1 [unaligned-rf]"
    )


def test_a_set_value_read_through_a_block_is_named_as_from_the_command_line(tmp_path: Path) -> None:
    spec = tmp_path / "setc.yaml"
    spec.write_text(
        "name: setc\ninput: [1, 3, 8, 8]\nargs: {c: 8}\nblocks:\n  Down:\n    args: {w: $c}\n"
        "    layers:\n      - Conv2d: {out_channels: $w, kernel_size: 3}\nlayers:\n  - Down\n"
    )
    result = run("summary", str(spec), "--set", "c=0")
    assert result.exit_code == 1
    (line,) = result.stderr.splitlines()
    # The file says `c: 8` at line 3: the error stays at the layer that reads the value
    # (line 8, `$w` at column 32) and says the value came from the command line.
    assert line.startswith(f"{spec}:8:32: error: Conv2d: 'out_channels': ")
    assert "got 0 (from --set c=0) (in down_1)" in line


def test_an_unbatched_layer_deeper_in_points_at_the_layers_before_it(tmp_path: Path) -> None:
    # The input [1, 784] has its batch; the Linear keeps it 2-D, [1, 256], and the Conv1d
    # then reads (C=1, L=256) unbatched: prepending a batch to the input would not help.
    spec = tmp_path / "ub.yaml"
    spec.write_text(
        "name: ub\ninput: [1, 784]\nlayers:\n  - Linear: {out_features: 256}\n"
        "  - Conv1d: {out_channels: 4, kernel_size: 3}\n"
    )
    result = run("summary", str(spec), "--format", "json")
    assert result.exit_code == 0
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"{spec}:5:5: warning: conv1d_1 (Conv1d) reads its 2-D input (1, 256) as one sample")
    assert "check the layers before it" in line and "[1, 1, 784]" not in line
