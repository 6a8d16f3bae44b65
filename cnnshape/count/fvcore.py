"""fvcore's FlopCountAnalysis(model, inputs).total(): the default jit handles applied to
the traced graph (one "flop" per multiply-accumulate). Operators without a handle
(elementwise add and mul, activations, max pooling, softmax, scaled_dot_product_attention)
are skipped with a warning and count 0."""

from __future__ import annotations

from cnnshape.count.base import Convention, in_numel, out_numel, weight_macs
from cnnshape.layers.base import Op


def batch_norm(op: Op) -> int:
    """batchnorm_flop_jit in eval mode: one per element, two with an affine weight."""
    return in_numel(op) * (2 if op.affine else 1)


def layer_or_group_norm(op: Op) -> int:
    """norm_flop_counter(2): five per element with an affine weight, else four."""
    return in_numel(op) * (5 if op.affine else 4)


def instance_norm(op: Op) -> int:
    """norm_flop_counter(1): the same, reading the affine weight from argument 1."""
    return in_numel(op) * (5 if op.affine else 4)


def upsample(op: Op) -> int:
    """aten::upsample_nearest2d costs one per output element, upsample_bilinear2d four;
    other modes and ranks (1-D, 3-D, bicubic, nearest-exact) have no handle."""
    if len(op.output) != 4:
        return 0
    return {"nearest": 1, "bilinear": 4}.get(op.mode, 0) * out_numel(op)


def grid_sample(op: Op) -> int:
    """aten::grid_sampler: elementwise_flop_counter(0, 4), four per output element (its
    handle assumes bilinear, whatever the mode)."""
    return 4 * out_numel(op)


def adaptive_avg_pool(op: Op) -> int:
    """aten::adaptive_avg_pool2d: one per input element (only the 2-D op has a handle)."""
    return in_numel(op) if len(op.inputs[0]) == 4 else 0


CONVENTION = Convention(
    name="fvcore",
    title="fvcore FlopCountAnalysis(model, x).total()",
    version="fvcore 0.1.5.post20221221",
    source="https://github.com/facebookresearch/fvcore/blob/main/fvcore/nn/flop_count.py#L26",
    unit="flops (one per multiply-accumulate)",
    rules={
        "conv": weight_macs,  # conv_flop_jit: batch x prod(weight) x output positions
        "conv_transpose": weight_macs,  # ... x input positions when transposed
        "linear": weight_macs,  # linear_flop_jit: no bias
        "matmul": weight_macs,  # matmul_flop_jit: output elements x the contracted dim
        "attention_in_proj": weight_macs,  # traced as aten::linear
        "attention_out_proj": weight_macs,
        "batch_norm": batch_norm,
        "layer_norm": layer_or_group_norm,
        "group_norm": layer_or_group_norm,
        "instance_norm": instance_norm,
        "upsample": upsample,
        "adaptive_avg_pool": adaptive_avg_pool,
        "grid_sample": grid_sample,
    },
)
