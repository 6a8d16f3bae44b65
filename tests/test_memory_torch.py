"""Training memory against PyTorch on the CPU (optional: skipped without torch).

The zoo spec is exported (cnnshape.bridge.export) and built in training mode; one forward
pass runs under torch.autograd.graph.saved_tensors_hooks, which sees every tensor autograd
keeps for backward. Those are counted once per storage, leaving out the parameters' and
buffers' own storages (cnnshape counts those apart). One optimizer step then gives the
optimizer state's bytes. Both must equal cnnshape.memory's figures exactly.
"""

from __future__ import annotations

from math import prod
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from peer_counts import exported  # noqa: E402

from cnnshape.memory import training  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# Small inputs keep the forward pass quick; the rules do not depend on the size.
CASES = {
    "specs/resnet18.yaml": (2, 3, 64, 64),
    "specs/mobilenet_v2.yaml": (2, 3, 64, 64),
    "specs/vgg11_bn.yaml": (2, 3, 32, 32),
    "specs/seed-lenet.yaml": (4, 1, 32, 32),
}


# --precision -> the dtype torch.autocast runs convolutions and matmuls in (CPU autocast
# supports both 16-bit types)
AUTOCAST = {"bf16-mixed": torch.bfloat16, "fp16-mixed": torch.float16}


def _saved_bytes(net: torch.nn.Module, x: torch.Tensor, autocast: str = "fp32") -> int:
    own = {p.untyped_storage().data_ptr() for p in net.parameters()}
    own |= {b.untyped_storage().data_ptr() for b in net.buffers()}
    storages: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in own:
            storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    dtype = AUTOCAST.get(autocast)
    with (
        torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor),
        torch.autocast("cpu", dtype=dtype, enabled=dtype is not None),
    ):
        out = net(x)
    del out
    return sum(storages.values())


@pytest.mark.parametrize("spec", sorted(CASES))
def test_saved_for_backward_matches_pytorch(spec: str) -> None:
    analysed, module = exported(str(ROOT / spec), CASES[spec])
    torch.manual_seed(0)
    net = module.build().train()
    x = torch.randn(CASES[spec])
    # The one documented residual (docs/memory.md): cnnshape counts dropout's bool mask
    # (1 byte per element, as CUDA keeps it); on the CPU, dropout multiplies by a float32
    # noise tensor and keeps that (4 bytes): 3 bytes more per element of every dropout.
    dropout_elements = sum(prod(row.output_shape) for row in analysed.report.rows if row.kind == "Dropout")
    assert _saved_bytes(net, x) - training(analysed.report).saved_bytes == 3 * dropout_elements


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam", "adamw"])
def test_optimizer_state_matches_pytorch(optimizer: str) -> None:
    spec = "specs/resnet18.yaml"
    analysed, module = exported(str(ROOT / spec), CASES[spec])
    net = module.build().train()
    make = {
        "sgd": lambda params: torch.optim.SGD(params, lr=0.1),
        "momentum": lambda params: torch.optim.SGD(params, lr=0.1, momentum=0.9),
        "adam": lambda params: torch.optim.Adam(params),
        "adamw": lambda params: torch.optim.AdamW(params),
    }[optimizer]
    opt = make(net.parameters())
    net(torch.randn(CASES[spec])).sum().backward()
    opt.step()
    state = sum(
        value.nbytes for per_param in opt.state.values() for value in per_param.values() if torch.is_tensor(value)
    )
    grads = sum(p.grad.nbytes for p in net.parameters())
    memory = training(analysed.report, optimizer)
    assert memory.optimizer_bytes == state
    assert memory.gradient_bytes == grads
    assert memory.param_bytes == sum(p.nbytes for p in net.parameters())


# --- attention (issue 14): MultiheadAttention and TransformerEncoderLayer ------------------

# (spec text, input) of small attention networks; one Linear before the attention layer
# makes its input a tensor of the network's own, one after keeps its output.
MHA = """
name: mha
input: [2, 5, 16]
layers:
  - Linear: {{out_features: 16}}
  - MultiheadAttention: {{num_heads: 2, {args}}}
  - Linear: {{out_features: 4}}
"""
CROSS = """
name: cross
input: [2, 5, 16]
layers:
  - Linear: {{out_features: 16, name: q}}
  - Linear: {{out_features: 12, from: input, name: k}}
  - Linear: {{out_features: 6, from: input, name: v}}
  - MultiheadAttention: {{num_heads: 4, kdim: 12, vdim: 6, from: [q, k, v], {args}}}
  - Linear: {{out_features: 4}}
"""
ENCODER = """
name: encoder
input: [2, 5, 16]
layers:
  - Linear: {{out_features: 16}}
  - TransformerEncoderLayer: {{d_model: 16, nhead: 2, dim_feedforward: 24, {args}}}
  - Linear: {{out_features: 4}}
"""
ATTENTION_CASES = {
    "mha": (MHA, "batch_first: true"),
    "mha-seq-first-no-bias": (MHA, "bias: false"),
    "mha-bias-kv": (MHA, "batch_first: true, add_bias_kv: true"),
    "mha-zero-attn": (MHA, "add_zero_attn: true"),
    "mha-bias-kv-zero-attn": (MHA, "batch_first: true, add_bias_kv: true, add_zero_attn: true"),
    "cross": (CROSS, "batch_first: true"),
    "cross-bias-kv": (CROSS, "batch_first: true, add_bias_kv: true, add_zero_attn: true"),
    "encoder-relu": (ENCODER, "dropout: 0.0, batch_first: true"),
    "encoder-gelu": (ENCODER, "dropout: 0.0, activation: gelu"),
    "encoder-pre-norm": (ENCODER, "dropout: 0.0, batch_first: true, norm_first: true"),
    "encoder-pre-norm-gelu-no-bias": (ENCODER, "dropout: 0.0, norm_first: true, activation: gelu, bias: false"),
}
# torchvision's ViT-B/16 at a small size (2 blocks of width 32, 4 heads, 17 tokens)
VIT = (
    ("image_size", 64),
    ("num_layers", 2),
    ("num_heads", 4),
    ("hidden_dim", 32),
    ("mlp_dim", 48),
    ("num_classes", 10),
)


def _attention_net(tmp_path: Path, case: str, text: str, args: str) -> tuple[Any, torch.nn.Module, torch.Tensor]:
    spec = tmp_path / f"{case}.yaml"
    spec.write_text(text.format(args=args), encoding="utf-8")
    analysed, module = exported(str(spec))
    torch.manual_seed(0)
    return analysed, module.build().train(), torch.randn(2, 5, 16)


@pytest.mark.parametrize("case", sorted(ATTENTION_CASES))
def test_attention_saved_for_backward_matches_pytorch(tmp_path: Path, case: str) -> None:
    """Without attention dropout PyTorch runs the fused attention kernel on the CPU, as it
    does on CUDA: cnnshape's rules give its saved bytes exactly."""
    analysed, net, x = _attention_net(tmp_path, case, *ATTENTION_CASES[case])
    assert _saved_bytes(net, x) == training(analysed.report).saved_bytes


def test_vit_saved_for_backward_matches_pytorch() -> None:
    analysed, module = exported(str(ROOT / "specs/vit_b_16.yaml"), (2, 3, 64, 64), VIT)
    torch.manual_seed(0)
    assert _saved_bytes(module.build().train(), torch.randn(2, 3, 64, 64)) == training(analysed.report).saved_bytes


def _math_path_extra(batch: int, tokens: int, embed: int, heads: int) -> int:
    """Bytes PyTorch's math attention path (the CPU's with attention dropout) keeps beyond the
    fused kernel's q, k, v (one packed 3*B*L*E storage), output and log-sum-exp (B*H*L float32),
    for self-attention in float32. The math path keeps q and k each scaled by a fourth root of
    the head size (B*L*E each), the packed storage (through v), the softmax, the float dropout
    mask and the dropped weights (B*H*L*L each), and a contiguous copy of the output (B*L*E)."""
    fused = 3 * batch * tokens * embed + batch * tokens * embed + batch * heads * tokens
    math = (
        2 * batch * tokens * embed
        + 3 * batch * tokens * embed
        + 3 * batch * heads * tokens * tokens
        + batch * tokens * embed
    )
    return 4 * (math - fused)


def test_attention_dropout_difference_is_the_cpu_math_path(tmp_path: Path) -> None:
    """With dropout, PyTorch on the CPU leaves the fused kernel for its math path, and each
    dropout keeps a float32 noise tensor rather than CUDA's bool mask (3 bytes more per
    element): the exact difference, worked out by hand for this encoder layer."""
    analysed, net, x = _attention_net(tmp_path, "encoder-dropout", ENCODER, "dropout: 0.1, batch_first: true")
    # dropout1 and dropout2 on 2x5x16, the feed-forward's dropout on 2x5x24
    masks = 2 * (2 * 5 * 16) + 2 * 5 * 24
    assert _saved_bytes(net, x) - training(analysed.report).saved_bytes == _math_path_extra(2, 5, 16, 2) + 3 * masks


def test_vit_attention_dropout_difference_is_the_cpu_math_path() -> None:
    overrides = (*VIT, ("attention_dropout", 0.1))
    analysed, module = exported(str(ROOT / "specs/vit_b_16.yaml"), (2, 3, 64, 64), overrides)
    torch.manual_seed(0)
    difference = _saved_bytes(module.build().train(), torch.randn(2, 3, 64, 64)) - training(analysed.report).saved_bytes
    # two encoder blocks of 17 tokens (16 patches and the class token), width 32, 4 heads
    assert difference == 2 * _math_path_extra(2, 17, 32, 4)


# --- mixed precision (issue 14): torch.autocast on the CPU ---------------------------------


# 16-bit convolutions are slow on the CPU: smaller inputs still
MIXED_CASES = {spec: shape[:2] + (32, 32) for spec, shape in CASES.items()}


# (float16 depthwise convolutions are the slowest on the CPU: MobileNetV2 in bfloat16 only)
@pytest.mark.parametrize(
    ("spec", "precision"),
    [
        (spec, precision)
        for spec in sorted(MIXED_CASES)
        for precision in sorted(AUTOCAST)
        if (spec, precision) != ("specs/mobilenet_v2.yaml", "fp16-mixed")
    ],
)
def test_mixed_precision_saved_matches_pytorch(spec: str, precision: str) -> None:
    """Under autocast, autograd keeps the 16-bit tensors (a convolution's input cast to 16
    bits, its 16-bit output for the next layer) and the 16-bit weight copies the convolutions
    and linear layers read: cnnshape's saved bytes plus its weight copies. The one residual
    is dropout's again: on the CPU its noise tensor has the input's 16-bit type (2 bytes per
    element) where CUDA keeps a bool mask (1 byte)."""
    analysed, module = exported(str(ROOT / spec), MIXED_CASES[spec])
    torch.manual_seed(0)
    net = module.build().train()
    memory = training(analysed.report, "adam", precision)
    dropout_elements = sum(prod(row.output_shape) for row in analysed.report.rows if row.kind == "Dropout")
    measured = _saved_bytes(net, torch.randn(MIXED_CASES[spec]), precision)
    assert measured - (memory.saved_bytes + memory.weight_copy_bytes) == (2 - 1) * dropout_elements


@pytest.mark.parametrize("precision", sorted(AUTOCAST))
def test_mixed_precision_state_matches_pytorch(precision: str) -> None:
    """Mixed precision keeps float32 parameters, gradients and optimizer state."""
    spec = "specs/seed-lenet.yaml"
    analysed, module = exported(str(ROOT / spec), CASES[spec])
    net = module.build().train()
    opt = torch.optim.AdamW(net.parameters())
    with torch.autocast("cpu", dtype=AUTOCAST[precision]):
        loss = net(torch.randn(CASES[spec])).float().sum()
    loss.backward()
    opt.step()
    memory = training(analysed.report, "adamw", precision)
    assert memory.param_bytes == sum(p.nbytes for p in net.parameters())
    assert memory.gradient_bytes == sum(p.grad.nbytes for p in net.parameters())
    assert memory.optimizer_bytes == sum(
        value.nbytes for per_param in opt.state.values() for value in per_param.values() if torch.is_tensor(value)
    )


@pytest.mark.parametrize("case", sorted(ATTENTION_CASES))
def test_attention_mixed_precision_matches_pytorch(tmp_path: Path, case: str) -> None:
    """Under autocast the attention kernel keeps 16-bit q, k, v and output (its log-sum-exp
    stays float32), the projections 16-bit copies of their inputs and weights, and the norms
    their input in the type it arrives in."""
    text, args = ATTENTION_CASES[case]
    analysed, net, x = _attention_net(tmp_path, case, text, args)
    memory = training(analysed.report, "adam", "bf16-mixed")
    # The Linear layers reading the network input: autograd keeps no copy of their weights
    # (mm saves its weight only when the input needs a gradient), while autocast's cache
    # still holds the 16-bit copy for the whole forward pass, which cnnshape counts.
    first_weights = 16 * (16 + 12 + 6) if text is CROSS else 16 * 16
    assert _saved_bytes(net, x, "bf16-mixed") == memory.saved_bytes + memory.weight_copy_bytes - 2 * first_weights


@pytest.mark.parametrize("precision", sorted(AUTOCAST))
def test_vit_mixed_precision_matches_pytorch(precision: str) -> None:
    """ViT's residual stream stays float32 under autocast (the float32 class token and
    position embedding promote it), so its norms keep float32 inputs while the linear layers
    keep 16-bit copies of what they read (of the class token only, after Select)."""
    analysed, module = exported(str(ROOT / "specs/vit_b_16.yaml"), (2, 3, 64, 64), VIT)
    torch.manual_seed(0)
    memory = training(analysed.report, "adam", precision)
    measured = _saved_bytes(module.build().train(), torch.randn(2, 3, 64, 64), precision)
    assert measured == memory.saved_bytes + memory.weight_copy_bytes


OPERANDS = """
name: operands_saved
input: [2, 8, 6]
layers:
  - Linear: {out_features: 6}
  - Div: {scalar: 1, reverse: true}     # 1 / x: reciprocal(x) * 1 keeps the reciprocal
  - Pow: {base: 2}                      # 2 ** x keeps its result
  - Sub: {scalar: 1, reverse: true}     # 1 - x (rsub) keeps nothing
  - Pow: {exponent: 2}                  # x ** 2 keeps x
  - Mul: {scalar: 3, reverse: true}     # 3 * x keeps nothing
"""


def test_reversed_operands_saved_for_backward_match_pytorch(tmp_path: Path) -> None:
    spec = tmp_path / "operands.yaml"
    spec.write_text(OPERANDS, encoding="utf-8")
    analysed, module = exported(str(spec))
    torch.manual_seed(0)
    net = module.build().train()
    assert _saved_bytes(net, torch.rand(2, 8, 6) + 1) == training(analysed.report).saved_bytes
