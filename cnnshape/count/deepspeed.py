"""DeepSpeed's flops profiler, get_model_profile(model, args=[x]): it patches
torch.nn.functional calls (F.linear, F.conv2d, F.relu, F.batch_norm, F.max_pool2d,
F.interpolate, F.softmax, F.scaled_dot_product_attention, ...) and a few tensor methods
(torch.matmul, mm, bmm, addmm, Tensor.add and Tensor.mul, not the `+` and `*` operators),
and returns two figures: MACs, counted only for the matmul-like calls (so, for the
operations cnnshape describes, torchvision's weight MACs), and FLOPs, which add what it
counts for biases, norms, activations, pooling, softmax and resampling.

The convention's figure is the MACs; its FLOPs are the profiler's own (`flops_rules`),
not 2 x MACs. Functions it does not patch count 0: F.hardtanh (nn.ReLU6), torch.sigmoid,
F.hardswish, F.hardsigmoid, F.mish, F.selu, tanh, F.log_softmax, F.pad, F.pixel_shuffle,
torch.cat, dropout, and elementwise `+`/`*` (cnnshape's Add, Mul, PositionEmbedding,
LayerScale)."""

from __future__ import annotations

from math import prod

from cnnshape.count.base import (
    Convention,
    Op,
    in_numel,
    out_numel,
    rnn_gate_arithmetic,
    rnn_layer_weights,
    rnn_positions,
    unless_stored,
    weight_macs,
)


def twice_macs(op: Op) -> int:
    """_linear_flops_compute, _matmul_flops_compute, _attn_flops_compute: 2 x MACs (a
    linear layer's bias is not counted)."""
    return 2 * op.macs


def conv(op: Op) -> int:
    """_conv_flops_compute and _conv_trans_flops_compute: 2 x MACs, plus one per output
    element for a bias."""
    return 2 * op.macs + (out_numel(op) if op.bias else 0)


def batch_norm(op: Op) -> int:
    """_batch_norm_flops_compute in eval mode: one per input element, two with a weight."""
    return in_numel(op) * (2 if op.affine else 1)


def norm(op: Op) -> int:
    """_layer_norm_, _group_norm_, _instance_norm_flops_compute: 5 per input element with
    a weight, else 4 (its 'estimation')."""
    return in_numel(op) * (5 if op.affine else 4)


def local_response_norm(op: Op) -> int:
    """F.local_response_norm runs through patched calls: input.mul(input), the average pool
    over the channel-padded squares (N x (C + size - 1) x spatial elements), .mul(alpha)
    and .add(k): 3 x I + the padded tensor."""
    shape = op.inputs[0]
    return 3 * prod(shape) + shape[0] * (shape[1] + op.window - 1) * prod(shape[2:])


# _relu_, _prelu_, _elu_, _leaky_relu_, _silu_, _gelu_flops_compute: one per input element,
# unless the function was stored before the profiler patched it
activation = unless_stored(in_numel)


def recurrent(op: Op) -> int:
    """_rnn_forward_hook (FLOPs only: it adds no MACs): per layer, 2 x weight_ih's and
    weight_hh's elements less one gate row each, the gate arithmetic and, with biases,
    both bias vectors; times input.shape[0] x input.shape[1], doubled when bidirectional."""
    gate_rows = op.attr("gates") * op.attr("hidden")
    per_position = sum(
        2 * ih - gate_rows + 2 * hh - gate_rows + rnn_gate_arithmetic(op) + (2 * gate_rows if op.bias else 0)
        for ih, hh in rnn_layer_weights(op)
    )
    return per_position * rnn_positions(op) * op.attr("directions")


def upsample(op: Op) -> int:
    """_upsample_flops_compute: the `size` argument's product when given (an int counts
    once: not per element), else input elements x scale ** spatial dims (= the output's
    elements for whole scales)."""
    size_arg = op.attr("size_arg")
    return size_arg if size_arg else out_numel(op)


CONVENTION = Convention(
    name="deepspeed",
    title="deepspeed get_model_profile(model, args=[x], as_string=False)[1] (MACs; FLOPs [0])",
    version="deepspeed 0.19.8",
    source="https://github.com/deepspeedai/DeepSpeed/blob/v0.19.8/deepspeed/profiling/flops_profiler/profiler.py#L523",
    rules={
        "conv": weight_macs,
        "conv_transpose": weight_macs,  # over the input positions, as torchvision
        "linear": weight_macs,
        "attention_in_proj": weight_macs,  # F.multi_head_attention_forward's `linear` calls
        "attention_matmul": weight_macs,  # F.scaled_dot_product_attention: q @ k^T and @ v
        "attention_out_proj": weight_macs,
    },
    flops_rules={
        "conv": conv,
        "conv_transpose": conv,
        "linear": twice_macs,
        "attention_in_proj": twice_macs,
        "attention_matmul": twice_macs,
        "attention_out_proj": twice_macs,
        "batch_norm": batch_norm,
        "layer_norm": norm,
        "group_norm": norm,
        "instance_norm": norm,
        "local_response_norm": local_response_norm,
        "relu": activation,
        "prelu": activation,
        "elu": activation,
        "leaky_relu": activation,
        "silu": activation,
        "gelu": activation,
        "softmax": in_numel,  # _softmax_flops_compute
        # _pool_flops_compute: one per input element, for every pooling function
        "max_pool": in_numel,
        "avg_pool": in_numel,
        "adaptive_avg_pool": in_numel,
        "adaptive_max_pool": in_numel,
        "upsample": upsample,
        "recurrent": recurrent,
    },
)
