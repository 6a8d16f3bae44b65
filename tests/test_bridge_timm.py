"""`cnnshape import timm:NAME` over timm models across families (issue 11 section 2): each
model that imports must give torch's own parameters, buffers, MACs (conv + linear +
attention, counted by hooks on the torch modules at test time), output shape and every
torch module call's output shape (tests/torch_import_check.py); each
that does not yet import must fail with its known, located reason (NOT_YET), so a model
that starts importing, or fails differently, shows up here. Models are built with
`timm.create_model(name, pretrained=False)` on the meta device (no weights, nothing
downloaded), at the input size of the model's pretrained_cfg."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

from conftest import cli  # noqa: E402
from torch_import_check import check_against_torch  # noqa: E402

from cnnshape.bridge.fx_import import import_model  # noqa: E402
from cnnshape.pipeline import analyze_text  # noqa: E402

IMPORTS = [
    "resnet50d",
    "seresnext26d_32x4d",
    "res2net50_26w_4s",
    "gernet_s",
    "selecsls42b",
    "xception41",
    "efficientnet_b0",
    "tinynet_a",
    "mixnet_s",
    "mnasnet_100",
    "fbnetc_100",
    "mobilenetv3_large_100",
    "lcnet_050",
    "regnetx_002",
    "regnety_002",
    "dla34",
    "cspdarknet53",
    "cspresnet50",
    "hrnet_w18_small",
    "convnext_atto",
    "repvgg_a2",
    "ese_vovnet19b_dw",
    "poolformer_s12",
    "inception_v3",
    "ecaresnet26t",
    "ghostnet_100",
    "rexnet_100",
    "dpn68",
    "resnest14d",
    "deit_tiny_patch16_224",
    "levit_128s",
]
NOT_YET = {
    "mobilevit_xxs": "torch.fx cannot trace",  # control flow on traced sizes
}


def _model(name: str) -> torch.nn.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.device("meta"):
            return timm.create_model(name, pretrained=False).eval()


def _shape(model: torch.nn.Module) -> tuple[int, ...]:
    return (1, *model.pretrained_cfg["input_size"])


@pytest.mark.parametrize("name", IMPORTS + sorted(NOT_YET))
def test_timm_model_imports_with_torchs_numbers(name: str) -> None:
    from cnnshape.bridge.fx_map import TargetError

    model = _model(name)
    shape = _shape(model)
    try:
        result = import_model(model, shape, name)
    except TargetError as exc:
        assert name in NOT_YET and NOT_YET[name] in str(exc), str(exc)
        return
    if name in NOT_YET:
        assert not result.ok
        reasons = [item.format() for item in result.unmapped] + result.problems
        assert any(NOT_YET[name] in reason for reason in reasons), reasons
        return
    check_against_torch(model, shape, result, name)


def test_the_timm_target_builds_without_weights_and_names_the_spec(tmp_path: Path) -> None:

    out = tmp_path / "lcnet.yaml"
    result = cli("import", "timm:lcnet_050", "--input", "1,3,64,64", "-o", str(out))
    assert result.exit_code == 0, result.output
    report = analyze_text(out.read_text(), str(out))
    model = _model("lcnet_050")
    assert report.name == "lcnet_050"
    assert report.totals.params == sum(p.numel() for p in model.parameters())
    wrong = cli("import", "timm:lcnet_05", "--input", "1,3,64,64")
    assert wrong.exit_code == 1 and "timm has no model 'lcnet_05'" in wrong.output and "Traceback" not in wrong.output


@pytest.mark.parametrize(
    "name", ["resnet50d", "convnext_atto", "mixnet_s", "ghostnet_100", "deit_tiny_patch16_224", "levit_128s"]
)
def test_import_export_verify_round_trip(name: str, tmp_path: Path) -> None:
    """The imported spec exported as PyTorch code builds a model that verify finds equal,
    layer by layer, to cnnshape's analysis."""
    from cnnshape.bridge.analysed import analyse_file
    from cnnshape.bridge.export import export_analysed
    from cnnshape.bridge.verify import verify_analysed

    model = _model(name)
    result = import_model(model, _shape(model), name)
    assert result.ok, [item.format() for item in result.unmapped] + result.problems
    spec = tmp_path / f"{name}.yaml"
    spec.write_text(result.text)
    analysed = analyse_file(spec)
    export_analysed(analysed)  # an unexportable spec raises
    verified = verify_analysed(analysed, "meta")
    assert verified.ok, verified
    assert analysed.report.totals.params == sum(p.numel() for p in model.parameters())
