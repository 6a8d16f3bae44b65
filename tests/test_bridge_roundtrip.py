"""Round trips through the PyTorch bridge (issue 11): a spec exported and imported back
gives the same numbers; a model imported, exported and verified passes.

- export -> import: every zoo spec (tests/zoo.py's table) and spec format 2's examples
  (tests/test_spec2_network.py: shared weights, two inputs, frozen layers) are exported,
  built on the meta device, traced back by `import`, and the imported spec must give the
  original's params, trainable and non-trainable params, buffers, MACs and every output
  shape. The import itself checks the imported spec against PyTorch's own count of the
  built model, so both sides are measured, not pasted.
- import -> export -> verify: torchvision models imported at test time, then exported and
  verified layer by layer against the built PyTorch module.
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from test_spec2_network import FROZEN, RECURSIVE, SIAMESE  # noqa: E402
from zoo import SPECS, TABLES  # noqa: E402

from cnnshape.bridge.export import Analysed, analyse_file, analyse_source, export_analysed  # noqa: E402
from cnnshape.bridge.fx_import import import_model  # noqa: E402
from cnnshape.bridge.verify import load_code, verify_analysed  # noqa: E402
from cnnshape.pipeline import analyze_text  # noqa: E402
from cnnshape.report import Report  # noqa: E402
from cnnshape.source import load_text  # noqa: E402


def _numbers(report: Report) -> dict[str, Any]:
    totals = report.totals
    return {
        "params": totals.params,
        "trainable": totals.trainable_params,
        "non-trainable": totals.non_trainable_params,
        "buffers": totals.buffers,
        "macs": totals.macs,
        "outputs": [tuple(output.shape) for output in report.outputs],
    }


def _export_then_import(analysed: Analysed, name: str) -> Report:
    model = load_code(export_analysed(analysed))
    with torch.device("meta"):
        built = model.build()
    shapes = [tuple(shape) for _, shape in analysed.graph.inputs]
    given: Any = shapes[0]
    if len(shapes) > 1:  # forward(self, x1, x2): each input by its argument's name
        given = dict(zip(inspect.signature(built.forward).parameters, shapes, strict=True))
    result = import_model(built, given, name)
    assert result.ok, [item.format() for item in result.unmapped] + result.problems
    return analyze_text(result.text, f"{name}.yaml")


@pytest.mark.parametrize("name", TABLES)
def test_a_zoo_spec_exported_and_imported_gives_the_same_numbers(name: str) -> None:
    analysed = analyse_file(SPECS / f"{name}.yaml")
    assert _numbers(_export_then_import(analysed, name)) == _numbers(analysed.report)


SPEC2 = {"siamese": SIAMESE, "recursive": RECURSIVE, "frozen": FROZEN}


@pytest.mark.parametrize("name", SPEC2)
def test_a_spec_format_2_example_exported_and_imported_gives_the_same_numbers(name: str) -> None:
    analysed = analyse_source(load_text(SPEC2[name], f"{name}.yaml"))
    back = _export_then_import(analysed, name)
    assert _numbers(back) == _numbers(analysed.report)
    assert back.inputs == analysed.report.inputs
    # torchinfo's published counts (siamese_net.out, recursive.out) survive the round trip.
    expected = {"siamese": 2_251_585, "recursive": 36_928}
    if name in expected:
        assert back.totals.params == expected[name]
    if name == "frozen":  # by hand in test_spec2_network: 216 + 16 + 10 frozen, 36 trainable
        assert (back.totals.non_trainable_params, back.totals.trainable_params) == (242, 36)


def _spec2_models() -> dict[str, tuple[Any, Any]]:
    from test_bridge_import_spec2 import FrozenBackbone, Outside, RecursiveNet, SiameseNets, TiedAutoencoder

    pair = (2, 3, 12, 12)
    return {
        "siamese": (SiameseNets, {"x1": (1, 1, 88, 88), "x2": (1, 1, 88, 88)}),
        "recursive": (RecursiveNet, (1, 64, 28, 28)),
        "tied": (TiedAutoencoder, {"a": pair, "b": pair}),
        "frozen": (FrozenBackbone, (1, 3, 32, 32)),
        "outside": (Outside, (1, 8, 6, 6)),
    }


@pytest.mark.parametrize("name", ["siamese", "recursive", "tied", "frozen", "outside"])
def test_a_shared_frozen_or_two_input_model_imported_exports_and_verifies(name: str) -> None:
    """tests/test_bridge_import_spec2.py's models (torchinfo's SiameseNets and RecursiveNet
    among them): imported, exported with `share:`, named inputs and `trainable: false`,
    and verified against the built module, its trainable total included."""
    cls, shape = _spec2_models()[name]
    model = cls()
    result = import_model(model, shape, name)
    assert result.ok, [item.format() for item in result.unmapped] + result.problems
    verified = verify_analysed(analyse_source(load_text(result.text, f"{name}.yaml")))
    assert verified.ok, (verified.mismatches[:5], [total for total in verified.totals if not total.ok])
    totals = {total.quantity: total.torch for total in verified.totals}
    assert totals["params"] == sum(p.numel() for p in model.parameters())
    # verify shows the trainable total when either side freezes something, else it is all.
    trainable = totals.get("trainable params", totals["params"])
    assert trainable == sum(p.numel() for p in model.parameters() if p.requires_grad)


torchvision = pytest.importorskip("torchvision")

# One per family: residual, inverted residual with SE, EfficientNet (StochasticDepth),
# RegNet (SE, groups), ShuffleNet (channel split and shuffle), ViT (class token, attention).
TORCHVISION = ["resnet18", "mobilenet_v3_large", "efficientnet_b0", "regnet_y_400mf", "shufflenet_v2_x1_0", "vit_b_16"]


@pytest.mark.parametrize("name", TORCHVISION)
def test_a_torchvision_model_imported_exports_and_verifies(name: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if name.startswith("regnet"):  # torchvision's RegNet initialisation cannot run on meta
            model = torchvision.models.get_model(name, weights=None).to("meta")
        else:
            with torch.device("meta"):
                model = torchvision.models.get_model(name, weights=None)
    result = import_model(model.eval(), (1, 3, 224, 224), name)
    assert result.ok, [item.format() for item in result.unmapped] + result.problems
    analysed = analyse_source(load_text(result.text, f"{name}.yaml"))
    verified = verify_analysed(analysed)
    assert verified.ok, (verified.mismatches[:5], [total for total in verified.totals if not total.ok])
    # verify built the exported module: its parameter total is torchvision's own.
    params = next(total for total in verified.totals if total.quantity == "params")
    assert params.torch == sum(p.numel() for p in model.parameters())
