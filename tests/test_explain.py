"""`cnnshape explain`: every layer's formulas with the numbers put in, in the seed's notation.

Expected working is written out by hand from the seed's worked example (1x32x32 input:
C1 5 filters 5x5 -> 5x28x28, S1 2x2 -> 5x14x14, C2 16 filters 5x5 -> 16x10x10, S2 2x2 ->
16x5x5, flatten 400) and the receptive-field recurrence r = r_prev + (k_eff-1)*S_prev,
S = S_prev*s, P = P_prev + p*S_prev from r=1, S=1, P=0. Published receptive fields
(/work/shared/reference/torchvision.md): AlexNet after its last MaxPool 195 (S 32, P 66),
VGG16 after pool5 212 (S 32, P 90).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import cli

from cnnshape.explain import receptive_field_working
from cnnshape.report import AxisField, ReceptiveField

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.yaml"))
LENET = "specs/seed-lenet.yaml"
pytestmark = pytest.mark.usefixtures("repo_root")


run = cli


def explain_json(*args: str) -> dict:
    result = run("explain", *args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def layer(data: dict, name: str) -> dict:
    return next(item for item in data["layers"] if item["name"] == name)


def test_seed_conv_working_by_hand() -> None:
    c2 = layer(explain_json(LENET), "conv2d_2")
    assert c2["input_shapes"] == [[1, 5, 14, 14]]
    assert c2["output_shapes"] == [[1, 16, 10, 10]]
    # (14 + 0 - 5) / 1 + 1 = 10, written in PyTorch's general form with dilation 1.
    assert "H: floor((I + 2P - (K-1) - 1) / S) + 1 = floor((14 + 2*0 - (5-1) - 1) / 1) + 1 = 10" in c2["working"]
    # 16 filters of 5x5 over 5 channels, plus 16 biases: 5*5*5*16 + 16 = 2,016.
    assert "params: K*K*C_in*C_out + C_out = 5*5*5*16 + 16 = 2,016" in c2["working"]
    # 5*5*5 = 125 MACs per output, 16*10*10 = 1,600 outputs: 200,000.
    assert any(line.startswith("MACs:") and line.endswith("= 200,000") for line in c2["working"])
    # After conv 5 (r 5) and pool 2 (r 6, S 2): 6 + (5-1)*2 = 14, S 2, P 0.
    assert c2["rf_working"] == [
        "RF H, W: r = r_prev + (k_eff-1)*S_prev = 6 + (5-1)*2 = 14; S = S_prev*s = 2*1 = 2; P = P_prev + p*S_prev = 0 + 0*2 = 0"
    ]


def test_seed_pool_and_flatten_working() -> None:
    data = explain_json(LENET)
    s1 = layer(data, "maxpool2d_1")
    assert "H: floor((I + 2P - (K-1) - 1) / S) + 1 = floor((28 + 2*0 - (2-1) - 1) / 2) + 1 = 14" in s1["working"]
    assert s1["params"] == 0  # pooling has no parameters (the seed)
    flatten = layer(data, "flatten_1")
    assert any(line.endswith("16*5*5 = 400") for line in flatten["working"])
    fc = layer(data, "linear_1")
    assert "params: C_in*C_out + C_out = 400*120 + 120 = 48,120" in fc["working"]
    assert fc["rf_working"] == ["RF: global (every output depends on the whole input)"]
    assert layer(data, "relu_1")["rf_working"] == ["RF: unchanged"]


@pytest.mark.parametrize(
    "spec,name,size,stride,padding",
    [
        ("alexnet.yaml", "features_pool", 195, 32, 66),
        ("vgg16.yaml", "pool5", 212, 32, 90),
    ],
)
def test_rf_step_reaches_published_fields(spec: str, name: str, size: int, stride: int, padding: int) -> None:
    step = layer(explain_json(str(ROOT / "specs" / spec), "--layer", name), name)
    (line,) = step["rf_working"]
    r_part, s_part, p_part = line.split("; ")
    assert r_part.endswith(f"= {size}") and s_part.endswith(f"= {stride}") and p_part.endswith(f"= {padding}")


def test_merge_takes_the_largest_field() -> None:
    a = ReceptiveField("spatial", (AxisField(67, 8, 33),) * 2)
    b = ReceptiveField("spatial", (AxisField(43, 8, 21),) * 2)
    lines = receptive_field_working([a, b], a)
    assert lines == ["RF H, W: r = max(67, 43) = 67 (the largest of the merged paths)"]


def test_rf_step_for_a_1d_kernel_lists_axes_apart() -> None:
    before = ReceptiveField("spatial", (AxisField(1, 1, 0), AxisField(1, 1, 0)))
    after = ReceptiveField("spatial", (AxisField(1, 1, 0), AxisField(7, 1, 3)))  # a 1x7 conv, padding (0, 3)
    # H: k 1, s 1, p 0 leaves r = 1 + (1-1)*1 = 1, S = 1*1 = 1, P = 0 + 0*1 = 0, but is still a step.
    assert receptive_field_working([before], after) == [
        "RF H: r = r_prev + (k_eff-1)*S_prev = 1 + (1-1)*1 = 1; S = S_prev*s = 1*1 = 1; P = P_prev + p*S_prev = 0 + 0*1 = 0",
        "RF W: r = r_prev + (k_eff-1)*S_prev = 1 + (7-1)*1 = 7; S = S_prev*s = 1*1 = 1; P = P_prev + p*S_prev = 0 + 3*1 = 3",
    ]


def test_rf_step_after_a_fractional_stride_puts_the_numbers_in() -> None:
    from fractions import Fraction

    half, three_halves = Fraction(1, 2), Fraction(3, 2)
    # Nearest Upsample x2 after S_prev 1/2: k 1, s 1/2, p 0. ceil(4 + (1-1)*1/2) = 4,
    # S = 1/2*1/2 = 1/4, P = 3/2 + 0*1/2 = 3/2. Only k_eff 1 keeps r at 4.
    before = ReceptiveField("spatial", (AxisField(4, half, three_halves, False),))
    after = ReceptiveField("spatial", (AxisField(4, Fraction(1, 4), three_halves, False),))
    assert receptive_field_working([before], after) == [
        "RF L: r = ceil(r_prev + (k_eff-1)*S_prev) = ceil(4 + (1-1)*1/2) = 4; S = S_prev*s = 1/2*1/2 = 1/4; "
        "P = P_prev + p*S_prev = 3/2 + 0*1/2 = 3/2 (approximate)"
    ]
    # A 3-wide conv, padding 1, after S_prev 3/2: 7 + (3-1)*3/2 = 10, S = 3/2*1 = 3/2,
    # P = 1 + 1*3/2 = 5/2. k_eff 2 would give ceil(8.5) = 9 and k_eff 4 ceil(11.5) = 12: only 3 fits.
    before = ReceptiveField("spatial", (AxisField(7, three_halves, 1, False),))
    after = ReceptiveField("spatial", (AxisField(10, three_halves, Fraction(5, 2), False),))
    assert receptive_field_working([before], after) == [
        "RF L: r = ceil(r_prev + (k_eff-1)*S_prev) = ceil(7 + (3-1)*3/2) = 10; S = S_prev*s = 3/2*1 = 3/2; "
        "P = P_prev + p*S_prev = 1 + 1*3/2 = 5/2 (approximate)"
    ]


def test_rf_steps_through_convtranspose_and_upsample(tmp_path: Path) -> None:
    spec = tmp_path / "up.yaml"
    spec.write_text(
        "name: up\ninput: [1, 3, 8, 8]\nlayers:\n"
        "  - ConvTranspose2d: {out_channels: 4, kernel_size: 3, stride: 2, padding: 1, output_padding: 1}\n"
        "  - Upsample: {scale_factor: 2, mode: nearest}\n"
        "  - Conv2d: {out_channels: 4, kernel_size: [1, 3], padding: same}\n"
    )
    data = explain_json(str(spec))
    # ConvTranspose k 3, s 2, p 1: each output sees ceil(3/2) = 2 inputs, 1/2 apart, padding
    # (3-1-1)/2 = 1/2. From r 1, S 1, P 0: r = 1 + (2-1)*1 = 2, S = 1*1/2 = 1/2, P = 0 + 1/2*1 = 1/2.
    assert layer(data, "convtranspose2d_1")["rf_working"] == [
        "RF H, W: r = r_prev + (k_eff-1)*S_prev = 1 + (2-1)*1 = 2; S = S_prev*s = 1*1/2 = 1/2; "
        "P = P_prev + p*S_prev = 0 + 1/2*1 = 1/2 (approximate)"
    ]
    # Nearest x2, 16 -> 32: 1 tap, s 16/32 = 1/2. r = ceil(2 + (1-1)*1/2) = 2, S = 1/4, P = 1/2.
    assert layer(data, "upsample_1")["rf_working"] == [
        "RF H, W: r = ceil(r_prev + (k_eff-1)*S_prev) = ceil(2 + (1-1)*1/2) = 2; S = S_prev*s = 1/2*1/2 = 1/4; "
        "P = P_prev + p*S_prev = 1/2 + 0*1/2 = 1/2 (approximate)"
    ]
    # H: k 1, p 0: ceil(2 + (1-1)*1/4) = 2, P = 1/2 + 0*1/4 = 1/2. W: k 3, 'same' left padding 1:
    # ceil(2 + (3-1)*1/4) = ceil(5/2) = 3, P = 1/2 + 1*1/4 = 3/4. k_eff 2 to 5 all round to 3,
    # so W's kernel cannot be read back from the fields and stays a symbol.
    assert layer(data, "conv2d_1")["rf_working"] == [
        "RF H: r = ceil(r_prev + (k_eff-1)*S_prev) = ceil(2 + (1-1)*1/4) = 2; S = S_prev*s = 1/4*1 = 1/4; "
        "P = P_prev + p*S_prev = 1/2 + 0*1/4 = 1/2 (approximate)",
        "RF W: r = ceil(r_prev + (k_eff-1)*S_prev) = ceil(2 + (k_eff-1)*1/4) = 3; S = S_prev*s = 1/4*1 = 1/4; "
        "P = P_prev + p*S_prev = 1/2 + 1*1/4 = 3/4 (approximate)",
    ]


def test_layer_option_selects_a_block_use() -> None:
    data = explain_json(str(ROOT / "specs" / "resnet18.yaml"), "--layer", "layer2.basicblock_1")
    names = [item["name"] for item in data["layers"]]
    assert names and all(name.startswith("layer2.basicblock_1.") for name in names)
    # torchvision's first BasicBlock of layer2: two 3x3 convs, two BNs, two ReLUs, a 1x1
    # downsample conv with its BN, and the add: 9 layers.
    assert len(names) == 9


def test_unknown_layer_is_a_usage_error_with_a_hint() -> None:
    result = run("explain", LENET, "--layer", "conv2d_9")
    assert result.exit_code == 2
    assert "did you mean" in result.stderr and "conv2d_1" in result.stderr


def test_spec_problems_exit_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\ninput: [1, 3, 8, 8]\nlayers:\n  - Conv2D: {out_channels: 4, kernel_size: 3}\n")
    result = run("explain", str(bad))
    assert result.exit_code == 1
    assert "unknown layer kind 'Conv2D'" in result.stderr


def test_markdown_keeps_formulas_in_code_blocks() -> None:
    result = run("explain", LENET, "--format", "markdown")
    assert result.exit_code == 0, result.stderr
    assert "```text\nH: floor((I + 2P - (K-1) - 1) / S) + 1" in result.stdout
    assert result.stdout.count("```") % 2 == 0


@pytest.mark.parametrize("spec", SPECS, ids=[path.stem for path in SPECS])
def test_every_zoo_spec_explains(spec: Path) -> None:
    data = explain_json(str(spec))
    assert data["layers"]
    for item in data["layers"]:
        assert item["rf_working"], item["name"]
        if item["params"]:  # every layer with parameters shows how they were counted
            assert any("params" in line for line in item["working"]), item["name"]


def test_golden_text(golden) -> None:
    result = run("explain", LENET)
    assert result.exit_code == 0, result.stderr
    golden("explain-lenet", result.stdout)


def test_golden_markdown(golden) -> None:
    result = run("explain", LENET, "--layer", "conv2d_1", "--layer", "linear_1", "--format", "markdown")
    assert result.exit_code == 0, result.stderr
    golden("explain-lenet-md", result.stdout)
