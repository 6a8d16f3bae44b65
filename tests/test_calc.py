"""`cnnshape calc`: one layer, no spec file.

Expected numbers are the seed's hand calculations (3x3 kernel, 128 -> 64 channels:
3*3*128*64 = 73,728 weights; 40x50 with padding 1 stays 40x50) or PyTorch's formulas
worked by hand; where torch is installed, PyTorch itself is asked too.
"""

from __future__ import annotations

import json
from functools import partial

import pytest
from conftest import cli

from cnnshape.calc import CalcError, parse_arguments

SEED = [
    "conv2d",
    "--input",
    "1,128,40,50",
    "--out-channels",
    "64",
    "--kernel-size",
    "3",
    "--padding",
    "1",
    "--bias",
    "false",
]


run = partial(cli, "calc")


def calc_json(*args: str) -> dict:
    result = run(*args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    (layer,) = json.loads(result.stdout)["layers"]
    return layer


def test_seed_example_text() -> None:
    result = run(*SEED)
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "[1, 64, 40, 50]" in out
    assert "73,728" in out
    assert "3*3*128*64 = 73,728" in out
    # (40 - 3 + 2) / 1 + 1 = 40 and (50 - 3 + 2) / 1 + 1 = 50, in PyTorch's general form.
    assert "floor((40 + 2*1 - (3-1) - 1) / 1) + 1 = 40" in out
    assert "floor((50 + 2*1 - (3-1) - 1) / 1) + 1 = 50" in out


def test_seed_example_numbers() -> None:
    layer = calc_json(*SEED)
    assert layer["output_shapes"] == [[1, 64, 40, 50]]
    assert layer["params"] == 3 * 3 * 128 * 64
    assert layer["macs"] == 3 * 3 * 128 * (64 * 40 * 50)  # per output x outputs


@pytest.mark.parametrize("kind", ["conv2d", "Conv2d", "CONV2D"])
def test_kind_is_case_insensitive(kind: str) -> None:
    assert calc_json(kind, *SEED[1:])["kind"] == "Conv2d"


def test_bias_defaults_to_true() -> None:
    layer = calc_json("conv2d", "--input", "1,128,40,50", "--out-channels", "64", "--kernel-size", "3")
    assert layer["params"] == 73_728 + 64
    assert layer["output_shapes"] == [[1, 64, 38, 48]]  # no padding: 40 - 3 + 1, 50 - 3 + 1


def test_values_are_read_like_yaml() -> None:
    # A 1x7 kernel with padding (0, 3) keeps 17x17 (Inception's factorised conv).
    layer = calc_json(
        "Conv2d",
        "--input",
        "1,768,17,17",
        "--out-channels",
        "192",
        "--kernel-size",
        "[1,7]",
        "--padding=[0,3]",
        "--bias",
        "false",
    )
    assert layer["output_shapes"] == [[1, 192, 17, 17]]
    assert layer["params"] == 1 * 7 * 768 * 192
    same = calc_json("conv2d", "--input", "1,3,31,31", "--out-channels", "8", "--kernel-size", "5", "--padding", "same")
    assert same["output_shapes"] == [[1, 8, 31, 31]]


def test_every_spatial_axis_gets_its_rf_line() -> None:
    # A 1x3 kernel with padding 'same' on 8x8 (the reviewer's call). From r 1, S 1, P 0:
    # H: k 1, s 1, left padding 0 -> r = 1 + (1-1)*1 = 1, S = 1*1 = 1, P = 0 + 0*1 = 0;
    # W: k 3, s 1, left padding (3-1)//2 = 1 -> r = 1 + (3-1)*1 = 3, S = 1*1 = 1, P = 0 + 1*1 = 1.
    layer = calc_json(
        "conv2d", "--input", "1,3,8,8", "--out-channels", "4", "--kernel-size", "[1,3]", "--padding", "same"
    )
    assert layer["rf_working"] == [
        "RF H: r = r_prev + (k_eff-1)*S_prev = 1 + (1-1)*1 = 1; S = S_prev*s = 1*1 = 1; P = P_prev + p*S_prev = 0 + 0*1 = 0",
        "RF W: r = r_prev + (k_eff-1)*S_prev = 1 + (3-1)*1 = 3; S = S_prev*s = 1*1 = 1; P = P_prev + p*S_prev = 0 + 1*1 = 1",
    ]
    text = run(
        "conv2d", "--input", "1,3,8,8", "--out-channels", "4", "--kernel-size", "[1,3]", "--padding", "same"
    ).stdout
    assert "RF H: r = r_prev + (k_eff-1)*S_prev = 1 + (1-1)*1 = 1" in text


def test_seed_pool_and_linear() -> None:
    pool = calc_json("maxpool2d", "--input", "1,5,28,28", "--kernel-size", "2")
    assert pool["output_shapes"] == [[1, 5, 14, 14]] and pool["params"] == 0
    fc = calc_json("linear", "--input", "1,400", "--out-features", "120")
    assert fc["params"] == 400 * 120 + 120 and fc["macs"] == 400 * 120


def test_negative_values_and_merges() -> None:
    softmax = calc_json("softmax", "--input", "1,10", "--dim", "-1")
    assert softmax["output_shapes"] == [[1, 10]]
    concat = calc_json("concat", "--input", "1,64,28,28")
    assert concat["output_shapes"] == [[1, 64, 28, 28]]
    add = calc_json("add", "--input", "1,64,28,28")  # two inputs: the input twice
    assert add["input_shapes"] == [[1, 64, 28, 28], [1, 64, 28, 28]]


@pytest.mark.parametrize(
    "args,message,code",
    [
        # a mistake in the command line itself: usage, exit 2
        (["conv2", "--input", "1,3,8,8"], "did you mean 'Conv2d'", 2),
        (
            ["conv2d", "--input", "1,3,8,8", "--out-chanels", "4", "--kernel-size", "3"],
            "did you mean '--out-channels'",
            2,
        ),
        (["conv2d", "--input", "1,3,8,8", "--kernel-size", "3"], "needs --out-channels", 2),
        (["conv2d", "--input", "1,3,8,8", "--out-channels", "4", "--kernel-size"], "needs a value", 2),
        # a value the layer refuses, or a shape it cannot take: a problem with the layer, exit 1
        (["conv2d", "--input", "1,3,8,8", "--out-channels", "4", "--kernel-size", "abc"], "kernel_size", 1),
        (
            ["conv2d", "--input", "1,3,8,8", "--out-channels", "4", "--kernel-size", "9"],
            "larger than the padded input",
            1,
        ),
    ],
)
def test_bad_calls_exit_with_a_message(args: list[str], message: str, code: int) -> None:
    result = run(*args)
    assert result.exit_code == code
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_input_is_a_usage_error() -> None:
    assert run("conv2d", "--out-channels", "4", "--kernel-size", "3").exit_code == 2


def test_parse_arguments() -> None:
    assert parse_arguments(["--out-channels", "64", "--bias=false", "--kernel-size", "[1, 7]", "--eps", "1e-5"]) == {
        "out_channels": 64,
        "bias": False,
        "kernel_size": [1, 7],
        "eps": 1e-5,
    }
    with pytest.raises(CalcError):
        parse_arguments(["64"])
    with pytest.raises(CalcError):
        parse_arguments(["--bias", "false", "--bias", "true"])


# PyTorch itself, where it is installed: shape and parameter count of the same layer.
TORCH_CASES = [
    ("Conv2d", (1, 128, 40, 50), {"out_channels": 64, "kernel_size": 3, "padding": 1, "bias": False}),
    ("Conv2d", (2, 32, 15, 17), {"out_channels": 32, "kernel_size": 3, "stride": 2, "groups": 32}),
    ("Conv2d", (1, 16, 20, 20), {"out_channels": 8, "kernel_size": 3, "dilation": 2, "padding": "same"}),
    ("Conv1d", (1, 4, 50), {"out_channels": 6, "kernel_size": 5, "stride": 3}),
    ("ConvTranspose2d", (1, 64, 7, 7), {"out_channels": 32, "kernel_size": 4, "stride": 2, "padding": 1}),
    ("MaxPool2d", (1, 3, 15, 15), {"kernel_size": 3, "stride": 2, "ceil_mode": True}),
    ("AvgPool2d", (1, 3, 16, 16), {"kernel_size": 3, "stride": 2, "padding": 1}),
    ("AdaptiveAvgPool2d", (1, 8, 13, 9), {"output_size": [5, 3]}),
    ("Linear", (4, 7, 30), {"out_features": 11}),
    ("BatchNorm2d", (1, 12, 4, 4), {}),
    ("LayerNorm", (1, 10, 20), {"normalized_shape": 20}),
    ("GroupNorm", (1, 12, 4, 4), {"num_groups": 3}),
    ("Upsample", (1, 3, 7, 9), {"scale_factor": 2.5, "mode": "nearest"}),
    ("PixelShuffle", (1, 16, 5, 5), {"upscale_factor": 2}),
    ("Flatten", (2, 3, 4, 5), {}),
]
TORCH_INFERRED = {
    "Conv2d": "in_channels",
    "Conv1d": "in_channels",
    "ConvTranspose2d": "in_channels",
    "Linear": "in_features",
    "BatchNorm2d": "num_features",
    "GroupNorm": "num_channels",
}


@pytest.mark.parametrize("kind,shape,arguments", TORCH_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(TORCH_CASES)])
def test_matches_pytorch(kind: str, shape: tuple[int, ...], arguments: dict) -> None:
    torch = pytest.importorskip("torch")
    options = []
    for key, value in arguments.items():
        text = json.dumps(value) if not isinstance(value, str) else value
        options += [f"--{key.replace('_', '-')}", text.lower() if isinstance(value, bool) else text]
    layer = calc_json(kind.lower(), "--input", ",".join(map(str, shape)), *options)
    torch_arguments = dict(arguments)
    if kind in TORCH_INFERRED:
        torch_arguments[TORCH_INFERRED[kind]] = shape[1] if kind != "Linear" else shape[-1]
    if kind in ("BatchNorm2d",):
        torch_arguments = {"num_features": shape[1]}
    module = getattr(torch.nn, kind)(**torch_arguments)
    with torch.no_grad():
        out = module(torch.zeros(shape))
    assert layer["output_shapes"] == [list(out.shape)]
    assert layer["params"] == sum(p.numel() for p in module.parameters())
    assert layer["buffers"] == sum(b.numel() for b in module.buffers())


def test_golden_text(golden) -> None:
    result = run(*SEED)
    assert result.exit_code == 0, result.stderr
    golden("calc-conv2d-seed", result.stdout)


# Inputs to try for each kind's own docstring example; one of them must fit.
CANDIDATE_INPUTS = [
    (1, 64, 32, 32),
    (1, 64, 32),
    (1, 64, 8, 16, 16),
    (1, 256, 14, 14),
    (2, 197, 768),
    (1, 10, 512),
    (1, 9216),
    (1, 2, 4, 2),  # GridSample gets it twice: a (1, 2, 4, 2) map read at a (1, 2, 4) grid of (x, y)
    (1, 64, 49, 64),  # MaxViT: 64 windows of 7x7 positions
    (1, 4, 196, 196),  # LeViT: attention scores of 4 heads over 14x14 positions
]


def _example_arguments(kind: str, example: str) -> dict:
    import yaml

    line = next((line for line in example.splitlines() if line.lstrip("- ").startswith(kind)), f"- {kind}")
    entry = yaml.safe_load(line)[0]
    if isinstance(entry, str):
        return {}
    reserved = {"name", "from", "repeat", "if", "training_only"}
    return {key: value for key, value in (entry[kind] or {}).items() if key not in reserved}


def test_every_kind_can_be_calculated() -> None:
    """Each kind's own example runs, and the default counting convention's table (the
    operations a kind describes, cnnshape.count) gives the MACs the kind computed itself."""
    from cnnshape.calc import calc
    from cnnshape.catalog import kinds
    from cnnshape.count import CONVENTIONS, DEFAULT, count

    failed, miscounted = [], []
    for info in kinds():
        arguments = _example_arguments(info.kind, info.example)
        for shape in CANDIDATE_INPUTS:
            try:
                report = calc(info.kind.lower(), arguments, shape)
            except CalcError:
                continue
            assert report.rows[0].kind == info.kind
            if count(report, CONVENTIONS[DEFAULT]).macs != report.totals.macs:
                miscounted.append(info.kind)
            break
        else:
            failed.append(info.kind)
    assert not failed, f"no candidate input fits these kinds' examples: {failed}"
    assert not miscounted, f"the default convention disagrees with these kinds' own MACs: {miscounted}"
