"""Each counting convention equals its tool to the digit: every zoo spec is exported to
PyTorch (cnnshape.bridge.export), the peer runs on it here, and cnnshape's count in that
convention must be the tool's own figure. Optional: skipped without torch or the tool.

The meta-device tools (ptflops' aten backend, thop, torchinfo) run on every zoo spec; fvcore
(jit tracing) and ptflops' pytorch backend need real tensors, so they run on a set of specs
that together use every operation the zoo has, the costlier ones at a smaller input (the
rules do not depend on the size; ResNet-50 and ViT-B/16 keep theirs), to keep CI's two cores
quick. CNNSHAPE_PEERS_ALL=1 runs them on every spec at its own size.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip("torch")

from peer_counts import TOOLS, exported, model

from cnnshape.count import CONVENTIONS, count

ROOT = Path(__file__).resolve().parent.parent
ZOO = sorted(path.relative_to(ROOT).as_posix() for path in (ROOT / "specs").glob("*.yaml"))
# Between them these use every (operation, affine, bias, mode) the zoo has.
CPU_SPECS: dict[str, tuple[int, ...] | None] = {
    "specs/resnet50.yaml": None, "specs/vit_b_16.yaml": None, "specs/convnext_tiny.yaml": (1, 3, 64, 64),
    "specs/mobilenet_v3_large.yaml": (1, 3, 96, 96), "specs/densenet121.yaml": (1, 3, 64, 64),
    "specs/efficientnet_b0.yaml": (1, 3, 96, 96), "specs/alexnet.yaml": None, "specs/mobilenet_v2.yaml": (1, 3, 96, 96),
    "specs/unet.yaml": (1, 3, 64, 64),
}
ALL = os.environ.get("CNNSHAPE_PEERS_ALL") == "1"


def _cases() -> list[tuple[str, str, tuple[int, ...] | None]]:
    cases = []
    for name, (_, device, _) in TOOLS.items():
        if device == "meta" or ALL:
            cases += [(name, spec, None) for spec in ZOO]
        else:
            cases += [(name, spec, shape) for spec, shape in CPU_SPECS.items()]
    return cases


def test_the_cpu_set_is_part_of_the_zoo() -> None:
    assert set(CPU_SPECS) <= set(ZOO)


@pytest.mark.parametrize(("convention", "spec", "input_shape"), _cases())
def test_convention_equals_the_tool(convention: str, spec: str, input_shape: tuple[int, ...] | None) -> None:
    module_name, device, run = TOOLS[convention]
    pytest.importorskip(module_name)
    analysed, _ = exported(str(ROOT / spec), input_shape)
    net, x = model(str(ROOT / spec), device, input_shape)
    tool = run(net, x)
    ours = count(analysed.report, CONVENTIONS[convention]).macs
    assert ours == tool, f"{convention} on {spec}: cnnshape {ours:,}, the tool {tool:,} (difference {tool - ours:,})"
