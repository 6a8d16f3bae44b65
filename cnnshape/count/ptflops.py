"""ptflops' get_model_complexity_info(model, input_res, as_strings=False)[0], both backends.

pytorch backend: forward hooks on the module types in MODULES_MAPPING, plus, while the
model runs, patched torch.nn.functional calls (FUNCTIONAL_MAPPING) and tensor ops. A module
that itself calls a patched function is counted twice: nn.ReLU (F.relu), nn.GELU (F.gelu),
nn.ELU, nn.PReLU and every pooling module (F.max_pool2d, F.adaptive_avg_pool2d, ...) and
nn.Upsample (F.interpolate). nn.ReLU6 calls F.hardtanh and nn.LeakyReLU F.leaky_relu, which
are not patched: once. nn.SiLU and nn.Softmax only through F.silu and F.softmax: once.

aten backend: a TorchDispatchMode that counts aten.convolution, mm, matmul, addmm and bmm:
weight multiply-accumulates plus one addition per output element for a bias (convolutions,
and linear layers, which reach aten.addmm), and the attention matmuls.
"""

from __future__ import annotations

from cnnshape.count.base import (
    Convention,
    Op,
    Rule,
    in_numel,
    out_numel,
    rnn_gate_arithmetic,
    rnn_layer_weights,
    rnn_positions,
    unless_stored,
    weight_macs,
    with_bias,
)


def twice(rule: Rule) -> Rule:
    """The rule counted by the module's hook and again by the patched F.* function it calls."""

    def counted_twice(op: Op) -> int:
        return 2 * rule(op)

    return counted_twice


def norm(op: Op) -> int:
    """bn_flops_counter_hook: one per input element, doubled when the module has `affine`
    (BatchNorm, InstanceNorm, GroupNorm; LayerNorm's attribute is `elementwise_affine`)."""
    return in_numel(op) * (2 if op.affine else 1)


def layer_norm(op: Op) -> int:
    """bn_flops_counter_hook on nn.LayerNorm: it has no `affine` attribute, so once."""
    return in_numel(op)


def multihead_attention(op: Op) -> int:
    """multihead_attention_counter_hook: q scaling, the three projections (with kdim and
    vdim squared as written), in_proj bias, per head QK^T, softmax and AV, the output
    projection with its bias; times the batch."""
    L, S, E = op.attr("tokens"), op.attr("source"), op.attr("embed")
    kdim, vdim, heads = op.attr("kdim"), op.attr("vdim"), op.attr("heads")
    flops = L * E + L * E * E + S * kdim * kdim + S * vdim * vdim
    if op.bias:
        flops += (L + S + S) * E
    flops += heads * (L * S * (E // heads) + L * S + L * S * (vdim // heads))
    flops += L * vdim * (vdim + 1)
    return op.attr("batch") * flops


def recurrent(op: Op) -> int:
    """rnn_flops_counter_hook: per layer, weight_ih's and weight_hh's elements (as stored:
    an LSTM's projection narrows weight_hh; weight_hr is not counted), the gate arithmetic
    and, with biases, both bias vectors; times input.shape[0] x input.shape[1], doubled
    when bidirectional."""
    gate_rows = op.attr("gates") * op.attr("hidden")
    per_position = sum(
        ih + hh + rnn_gate_arithmetic(op) + (2 * gate_rows if op.bias else 0) for ih, hh in rnn_layer_weights(op)
    )
    return per_position * rnn_positions(op) * op.attr("directions")


PYTORCH = Convention(
    name="ptflops",
    title="ptflops get_model_complexity_info(model, res, backend='pytorch')[0]",
    version="ptflops 0.7.5",
    source="https://github.com/sovrasov/flops-counter.pytorch/blob/v0.7.5/ptflops/pytorch_ops.py#L271",
    rules={
        "conv": with_bias,
        "conv_transpose": with_bias,  # over the input positions, plus the bias over the output
        "linear": with_bias,
        "matmul": weight_macs,  # torch.matmul: prod(a.shape) x b.shape[-1] (aten: bmm/mm)
        "attention_in_proj": multihead_attention,  # the module hook's whole formula, once
        "batch_norm": norm,
        "instance_norm": norm,
        "group_norm": norm,
        "layer_norm": layer_norm,
        # TransformerEncoderLayer's activation is the F.relu/F.gelu it stored when built:
        # neither a module hook nor the patched function sees it
        "relu": unless_stored(twice(out_numel)),
        "prelu": twice(out_numel),
        "elu": twice(out_numel),
        "gelu": unless_stored(twice(out_numel)),
        "relu6": out_numel,
        "leaky_relu": out_numel,
        "silu": out_numel,
        "softmax": in_numel,
        "max_pool": twice(in_numel),
        "avg_pool": twice(in_numel),
        "adaptive_avg_pool": twice(in_numel),
        "adaptive_max_pool": twice(in_numel),
        "upsample": twice(out_numel),  # F.interpolate's hook: input x scale^dims (= output for whole scales)
        "recurrent": recurrent,
    },
)


def attention_in_proj(op: Op) -> int:
    """aten.addmm of the packed q/k/v projection: weights plus one bias add per output."""
    projections = op.macs
    return projections + (
        op.attr("batch") * (op.attr("tokens") + 2 * op.attr("source")) * op.attr("embed") if op.bias else 0
    )


def recurrent_aten(op: Op) -> int:
    """What PyTorch's CPU build dispatches for a recurrent layer: RNN, GRU and a projected
    LSTM run as per-step aten.addmm/mm calls (every weight once per step and sample, plus
    one addition per gate output for each bias); an LSTM without a projection runs as one
    oneDNN call (aten.mkldnn_rnn_layer), which the aten backend does not count."""
    if op.attr("gates") == 4 and not op.attr("proj"):
        return 0
    weights = sum(size for name, size in op.params if name.startswith("weight"))
    bias_adds = 2 * op.attr("gates") * op.attr("hidden") * op.attr("layers") * op.attr("directions")
    return op.macs + (op.macs // weights * bias_adds if op.bias else 0)


ATEN = Convention(
    name="ptflops-aten",
    title="ptflops get_model_complexity_info(model, res, backend='aten')[0]",
    version="ptflops 0.7.5",
    source="https://github.com/sovrasov/flops-counter.pytorch/blob/v0.7.5/ptflops/aten_ops.py#L109",
    rules={
        "conv": with_bias,
        "conv_transpose": with_bias,
        "linear": with_bias,
        "matmul": weight_macs,  # torch.matmul: prod(a.shape) x b.shape[-1] (aten: bmm/mm)
        "attention_in_proj": attention_in_proj,
        "attention_matmul": weight_macs,  # the bmm pair of scaled_dot_product_attention's math path
        "attention_out_proj": with_bias,
        "recurrent": recurrent_aten,
    },
)
