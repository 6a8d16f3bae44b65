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
    "specs/resnet50.yaml": None,
    "specs/vit_b_16.yaml": None,
    "specs/convnext_tiny.yaml": (1, 3, 64, 64),
    "specs/mobilenet_v3_large.yaml": (1, 3, 96, 96),
    "specs/densenet121.yaml": (1, 3, 64, 64),
    "specs/efficientnet_b0.yaml": (1, 3, 96, 96),
    "specs/alexnet.yaml": None,
    "specs/mobilenet_v2.yaml": (1, 3, 96, 96),
    "specs/unet.yaml": (1, 3, 64, 64),
}
ALL = os.environ.get("CNNSHAPE_PEERS_ALL") == "1"


def _cases() -> list[tuple[str, str, tuple[int, ...] | None]]:
    cases = []
    for name, (_, device, _) in TOOLS.items():
        if name == "deepspeed":
            continue  # its MACs and FLOPs together: test_deepspeed_flops_equal_the_profiler
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


# Operations no zoo spec has, for deepspeed's FLOPs: local response norm (its padded average
# pool), group and instance norm, PReLU/ELU/LeakyReLU, a transposed convolution with bias,
# Upsample by an int size (counted once), a size list and a scale, average and adaptive max
# pooling, softmax; then TransformerEncoderLayer (whose stored activation function the
# profiler does not see), LayerNorm, attention with bias_k/bias_v, GELU and SiLU.
DEEPSPEED_OPS = {
    "image-ops": """
name: image_ops
input: [2, 4, 12, 12]
layers:
  - Conv2d: {out_channels: 8, kernel_size: 3, padding: 1}
  - LocalResponseNorm: {size: 3}
  - GroupNorm: {num_groups: 2}
  - PReLU
  - InstanceNorm2d
  - ELU
  - LeakyReLU
  - ConvTranspose2d: {out_channels: 6, kernel_size: 2, stride: 2}
  - Upsample: {size: 30}
  - Upsample: {size: [32, 33], mode: bilinear}
  - Upsample: {scale_factor: 2}
  - AvgPool2d: {kernel_size: 2}
  - AdaptiveMaxPool2d: {output_size: 3}
  - Softmax: {dim: 1}
""",
    "sequence-ops": """
name: sequence_ops
input: [2, 5, 16]
layers:
  - Linear: {out_features: 16}
  - TransformerEncoderLayer: {d_model: 16, nhead: 2, dim_feedforward: 24, batch_first: true}
  - TransformerEncoderLayer: {d_model: 16, nhead: 2, dim_feedforward: 24, activation: gelu, norm_first: true}
  - LayerNorm: {normalized_shape: 16}
  - MultiheadAttention: {num_heads: 4, add_bias_kv: true, batch_first: true}
  - GELU
  - SiLU
  - Softmax: {dim: -1}
""",
}


@pytest.mark.parametrize("spec", [*CPU_SPECS, *DEEPSPEED_OPS])
def test_deepspeed_flops_equal_the_profiler(spec: str, tmp_path: Path) -> None:
    """deepspeed reports FLOPs of its own besides MACs: both equal cnnshape's."""
    pytest.importorskip("deepspeed")
    from peer_counts import deepspeed_profile

    if spec in DEEPSPEED_OPS:
        path, input_shape = tmp_path / f"{spec}.yaml", None
        path.write_text(DEEPSPEED_OPS[spec], encoding="utf-8")
    else:
        path, input_shape = ROOT / spec, CPU_SPECS[spec]
    analysed, _ = exported(str(path), input_shape)
    macs, flops = deepspeed_profile(*model(str(path), "cpu", input_shape))
    counted = count(analysed.report, CONVENTIONS["deepspeed"])
    assert (counted.macs, counted.flops) == (macs, flops)


def test_flops_rules_name_known_operations() -> None:
    from cnnshape.count import OP_NAMES

    for convention in CONVENTIONS.values():
        assert set(convention.flops_rules or {}) <= OP_NAMES, convention.name


@pytest.mark.parametrize("convention", ["fvcore", "thop", "torchinfo", "ptflops", "ptflops-aten"])
def test_sequence_layers_equal_the_tool(convention: str, tmp_path: Path) -> None:
    """TransformerEncoderLayer, attention with bias_k/bias_v and the sequence activations,
    which no zoo spec has. ptflops is given the input's shape without its batch and runs a
    batch of one ((1, *input_res)), so it measures the spec at batch 1."""
    module_name, device, run = TOOLS[convention]
    pytest.importorskip(module_name)
    path = tmp_path / "sequence-ops.yaml"
    path.write_text(DEEPSPEED_OPS["sequence-ops"], encoding="utf-8")
    input_shape = (1, 5, 16) if convention.startswith("ptflops") else None
    analysed, _ = exported(str(path), input_shape)
    assert count(analysed.report, CONVENTIONS[convention]).macs == run(*model(str(path), device, input_shape))


# Recurrent layers (no zoo spec has them): stacked, bidirectional, without biases, an LSTM
# with a projection; sequence-first and unbatched inputs.
RECURRENT = {
    "batch-first": """
name: recurrent_batch_first
input: [1, 7, 10]
layers:
  - LSTM: {hidden_size: 6, num_layers: 2, bidirectional: true, batch_first: true}
  - GRU: {hidden_size: 5, num_layers: 2, bias: false, batch_first: true, from: lstm_1.0}
  - RNN: {hidden_size: 4, bidirectional: true, batch_first: true, from: gru_1.0}
  - LSTM: {hidden_size: 6, proj_size: 3, num_layers: 2, batch_first: true, from: rnn_1.0}
outputs: [lstm_2.0]
""",
    "sequence-first": """
name: recurrent_sequence_first
input: [7, 2, 10]
layers:
  - GRU: {hidden_size: 6, bidirectional: true}
  - LSTM: {hidden_size: 5, proj_size: 2, bidirectional: true, from: gru_1.0}
  - RNN: {hidden_size: 3, num_layers: 3, bias: false, from: lstm_1.0}
outputs: [rnn_1.0]
""",
    "unbatched": """
name: recurrent_unbatched
input: [7, 10]
layers:
  - LSTM: {hidden_size: 6, num_layers: 2}
  - GRU: {hidden_size: 4, from: lstm_1.0}
outputs: [gru_1.0]
""",
}
# ptflops builds its input as (1, *input_res) from a shape without the batch, and its pytorch
# backend divides module counts by the input's first dimension: it measures a batch-first
# batch of one, so only that spec is its case. ptflops-aten runs on the CPU here: there
# aten::lstm/gru/rnn_tanh are single operations it does not count (on the meta device,
# which the other cases use, PyTorch decomposes them into the addmm calls it counts).
RECURRENT_TOOLS = {
    "fvcore": ("fvcore", "cpu", list(RECURRENT)),
    "torchinfo": ("torchinfo", "meta", list(RECURRENT)),
    "thop": ("thop", "meta", list(RECURRENT)),
    "ptflops": ("ptflops", "cpu", ["batch-first"]),
    "ptflops-aten": ("ptflops", "cpu", ["batch-first"]),
}


@pytest.mark.parametrize(
    ("convention", "spec"), [(tool, spec) for tool, (_, _, specs) in RECURRENT_TOOLS.items() for spec in specs]
)
def test_recurrent_layers_equal_the_tool(convention: str, spec: str, tmp_path: Path) -> None:
    module_name, device, _ = RECURRENT_TOOLS[convention]
    pytest.importorskip(module_name)
    path = tmp_path / f"{spec}.yaml"
    path.write_text(RECURRENT[spec], encoding="utf-8")
    analysed, _ = exported(str(path))
    tool = TOOLS[convention][2](*model(str(path), device))
    assert count(analysed.report, CONVENTIONS[convention]).macs == tool


@pytest.mark.parametrize("spec", list(RECURRENT))
def test_recurrent_layers_equal_deepspeed(spec: str, tmp_path: Path) -> None:
    """deepspeed's RNN hook adds FLOPs of its own and no MACs."""
    pytest.importorskip("deepspeed")
    from peer_counts import deepspeed_profile

    path = tmp_path / f"{spec}.yaml"
    path.write_text(RECURRENT[spec], encoding="utf-8")
    analysed, _ = exported(str(path))
    counted = count(analysed.report, CONVENTIONS["deepspeed"])
    assert (counted.macs, counted.flops) == deepspeed_profile(*model(str(path), "cpu"))


@pytest.mark.skipif(
    not os.environ.get("CNNSHAPE_ULTRALYTICS_THOP_DIR"),
    reason="CNNSHAPE_ULTRALYTICS_THOP_DIR (a folder holding ultralytics-thop) is not set",
)
def test_recurrent_layers_equal_ultralytics_thop(tmp_path: Path) -> None:
    """ultralytics-thop's RNN hooks (they see an LSTM's projection, thop 0.1.1's do not),
    measured in a process of its own (tests/ultralytics_thop_zoo.py)."""
    import json
    import subprocess
    import sys

    specs = []
    for name, text in RECURRENT.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(text, encoding="utf-8")
        specs.append(str(path))
    env = {
        **os.environ,
        "PYTHONWARNINGS": "ignore",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    script = Path(__file__).with_name("ultralytics_thop_zoo.py")
    result = subprocess.run(
        [sys.executable, str(script), os.environ["CNNSHAPE_ULTRALYTICS_THOP_DIR"], *specs],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    theirs = json.loads(result.stdout.strip().splitlines()[-1])
    ours = {spec: count(exported(spec)[0].report, CONVENTIONS["ultralytics"]).macs for spec in specs}
    assert ours == theirs
