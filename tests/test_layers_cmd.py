"""`cnnshape layers`: every kind from the registry with its family, arguments and defaults;
docs/layers.md is generated from it.

docs/layers.md stale? Regenerate it with:

    cnnshape layers --format markdown > docs/layers.md

Defaults are checked against PyTorch's documented signatures (torch.nn.Conv2d(...,
stride=1, padding=0, dilation=1, groups=1, bias=True, padding_mode='zeros')) and, where
torch is installed, against every torch.nn class of the same name.
"""

from __future__ import annotations

import inspect
import json
from functools import partial
from pathlib import Path

import pytest
from conftest import cli
from gfm import check_gfm_tables

from cnnshape.catalog import kinds
from cnnshape.layers import REGISTRY
from cnnshape.render.layers import REGENERATE, markdown

ROOT = Path(__file__).resolve().parent.parent
LAYERS_MD = ROOT / "docs" / "layers.md"

# Where cnnshape knowingly differs from torch.nn's signature (documented in the kinds).
TORCH_DIFFERENCES = {
    ("LayerNorm", "normalized_shape"),  # optional here: the last dim (torch requires it)
    ("TransformerEncoderLayer", "activation"),  # a name here ("relu"); torch takes the function too
    ("RNN", "nonlinearity"),  # nn.RNN reads it from **kwargs (default "tanh", RNN's docstring)
}


run = partial(cli, "layers")


def layers_json(*args: str) -> list[dict]:
    result = run(*args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["kinds"]


def test_every_registered_kind_is_listed() -> None:
    listed = [item["kind"] for item in layers_json()]
    assert sorted(listed) == sorted(REGISTRY)
    result = run()
    assert result.exit_code == 0
    table_kinds = {
        line.split()[0] for line in result.stdout.splitlines() if line.strip() and line.split()[0] in REGISTRY
    }
    assert table_kinds == set(REGISTRY)


def test_conv2d_has_pytorchs_defaults() -> None:
    (conv,) = layers_json("conv2d")
    arguments = {a["name"]: a for a in conv["arguments"]}
    assert conv["family"] == "conv"
    assert arguments["out_channels"]["required"] and arguments["kernel_size"]["required"]
    documented = {
        "stride": "1",
        "padding": "0",
        "dilation": "1",
        "groups": "1",
        "bias": "true",
        "padding_mode": "zeros",
    }
    assert {name: arguments[name]["default"] for name in documented} == documented
    assert arguments["in_channels"]["inferred"]


def test_one_kind_in_full() -> None:
    result = run("MaxPool2d")
    assert result.exit_code == 0
    assert "stride = null (= kernel_size)" in result.stdout
    assert "- MaxPool2d: {kernel_size: 3, stride: 2, padding: 1}" in result.stdout


def test_a_family_lists_its_kinds() -> None:
    assert [item["kind"] for item in layers_json("norm")] == [
        "BatchNorm1d",
        "BatchNorm2d",
        "BatchNorm3d",
        "InstanceNorm1d",
        "InstanceNorm2d",
        "InstanceNorm3d",
        "LayerNorm",
        "GroupNorm",
        "LocalResponseNorm",
        "FrozenBatchNorm2d",
    ]


def test_unknown_kind_is_a_usage_error_with_a_hint() -> None:
    result = run("batchnorm")
    assert result.exit_code == 2
    assert "did you mean" in result.stderr and "BatchNorm2d" in result.stderr


def test_defaults_match_torch_nn() -> None:
    torch = pytest.importorskip("torch")
    checked = 0
    for info in kinds():
        module = getattr(torch.nn, info.kind, None)
        if module is None:
            continue  # cnnshape's own kinds (Add, Concat, ...) and torchvision ops
        parameters = inspect.signature(module.__init__).parameters
        if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters.values()):
            # nn.RNN, nn.LSTM, nn.GRU take (*args, **kwargs) and pass them to nn.RNNBase.
            # (nn.Identity takes them and ignores them: it has no arguments to compare.)
            base = next(
                (cls for cls in module.__mro__[1:] if "args" not in inspect.signature(cls.__init__).parameters), None
            )
            if base is not None:
                parameters = inspect.signature(base.__init__).parameters
        for argument in info.arguments:
            if (info.kind, argument.name) in TORCH_DIFFERENCES:
                continue
            assert argument.name in parameters, f"{info.kind}.{argument.name} is not a torch.nn argument"
            default = parameters[argument.name].default
            if argument.required:
                assert default is inspect.Parameter.empty, (
                    f"{info.kind}.{argument.name} has a default in torch: {default!r}"
                )
            elif not argument.inferred:
                ours = REGISTRY[info.kind].model_fields[argument.name].default
                assert ours == default or list(ours or ()) == default, (
                    f"{info.kind}.{argument.name}: {ours!r} vs torch {default!r}"
                )
            checked += 1
    assert checked > 150


def test_layers_md_is_current() -> None:
    assert LAYERS_MD.read_text(encoding="utf-8") == markdown(kinds()), (
        f"docs/layers.md is stale; regenerate it: {REGENERATE}"
    )


def test_layers_md_is_valid_gfm() -> None:
    tables = check_gfm_tables(LAYERS_MD.read_text(encoding="utf-8"))
    # an index per family and an argument table per kind with arguments
    from cnnshape.layers import FAMILY_NAMES

    assert len(tables) == len(FAMILY_NAMES) + sum(1 for kind in REGISTRY if REGISTRY[kind].model_fields)


def test_golden_table(golden) -> None:
    result = run()
    assert result.exit_code == 0
    golden("layers-table", result.stdout)


def test_golden_one_kind(golden) -> None:
    result = run("conv2d")
    assert result.exit_code == 0
    golden("layers-conv2d", result.stdout)
