"""torchinfo's summary(model, input_data=x).total_mult_adds: LayerInfo.calculate_macs on
every leaf module, read off its parameters: a module whose class name contains "Conv"
counts each `weight` and `bias` element once per output position (batch x spatial); any
other leaf counts each once per batch element only (output_size[0]), so a Linear applied
to every token of a sequence counts as if once. MultiheadAttention holds a submodule, so it
is not a leaf and counts 0. Modules without `weight`/`bias` parameters count 0."""

from __future__ import annotations

from math import prod

from cnnshape.count.base import OP_NAMES, Convention, Op, Rule, zero


def conv(op: Op) -> int:
    """weight and bias elements x N x output spatial positions (transposed ones too)."""
    positions = op.output[0] * prod(op.output[2:])
    return sum(size for name, size in op.params if name in ("weight", "bias")) * positions


def per_batch(op: Op) -> int:
    """output_size[0] x elements of `weight` and `bias`; other names holding 'weight' or
    'bias' (an RNN's weight_ih_l0) count once per output_size[:2]."""
    total = 0
    for name, size in op.params:
        if name in ("weight", "bias"):
            total += op.output[0] * size
        elif "weight" in name or "bias" in name:
            total += prod(op.output[:2]) * size
    return total


RULES: dict[str, Rule] = {name: per_batch for name in OP_NAMES}
RULES.update(
    {
        "conv": conv,
        "conv_transpose": conv,
        # nn.MultiheadAttention is not a leaf (it holds out_proj), and out_proj is never called
        "attention_in_proj": zero,
        "attention_matmul": zero,
        "attention_out_proj": zero,
    }
)

CONVENTION = Convention(
    name="torchinfo",
    title="torchinfo summary(model, input_data=x).total_mult_adds",
    version="torchinfo 1.8.0",
    source="https://github.com/TylerYep/torchinfo/blob/v1.8.0/torchinfo/layer_info.py#L225",
    unit="mult-adds",
    rules=RULES,
)
