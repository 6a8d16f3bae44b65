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

from cnnshape.count.base import Convention, Op, Rule, in_numel, out_numel, weight_macs, with_bias


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
        "relu": twice(out_numel),
        "prelu": twice(out_numel),
        "elu": twice(out_numel),
        "gelu": twice(out_numel),
        "relu6": out_numel,
        "leaky_relu": out_numel,
        "silu": out_numel,
        "softmax": in_numel,
        "max_pool": twice(in_numel),
        "avg_pool": twice(in_numel),
        "adaptive_avg_pool": twice(in_numel),
        "adaptive_max_pool": twice(in_numel),
        "upsample": twice(out_numel),  # F.interpolate's hook: input x scale^dims (= output for whole scales)
    },
)


def attention_in_proj(op: Op) -> int:
    """aten.addmm of the packed q/k/v projection: weights plus one bias add per output."""
    projections = op.macs
    return projections + (
        op.attr("batch") * (op.attr("tokens") + 2 * op.attr("source")) * op.attr("embed") if op.bias else 0
    )


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
    },
)
