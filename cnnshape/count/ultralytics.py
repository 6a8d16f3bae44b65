"""Ultralytics' GFLOPs: what `model.info()` prints and `ultralytics.utils.torch_utils.get_flops`
returns, `thop.profile(model, ...)[0] / 1e9 * 2` with the `thop` of the ultralytics-thop
package (a fork of thop, with other rules than thop 0.1.1's, the `thop` convention).

ultralytics-thop counts forward hooks on the module types in its register_hooks table and,
since 2.1, the matrix products a module runs as torch functions (torch.matmul, `@`,
F.linear, F.scaled_dot_product_attention, einsum) outside the modules it has a rule for.
It profiles stride-sized proxies of the image and extrapolates exactly to the image size,
so the figure is the count at the image size. What Ultralytics' modules run as torch
functions other than those products (DFL's and Classify's `x.softmax(1)`, ADown's and
AConv's F.avg_pool2d and F.max_pool2d) is not seen: `unseen` names those layers of the
module library (cnnshape/dialects/ultralytics/modules.yaml).
"""

from __future__ import annotations

from collections.abc import Iterator
from math import prod

from cnnshape.count.base import Convention, Op, in_numel, out_numel, weight_macs
from cnnshape.count.thop import stacked_cells
from cnnshape.report import Report


def conv(op: Op) -> int:
    """calculate_conv2d_flops: output elements x (input channels // groups) x kernel area; no bias."""
    return out_numel(op) * (op.inputs[0][1] // op.groups) * prod(op.weight[2:])


def conv_transpose(op: Op) -> int:
    """calculate_conv2d_flops(transpose=True): a transposed convolution scatters, so it walks
    the input: input elements x (output channels // groups) x kernel area."""
    return in_numel(op) * (op.output[1] // op.groups) * prod(op.weight[2:])


def linear(op: Op) -> int:
    """count_linear: in_features x output elements; no bias."""
    return op.macs


def norm(op: Op) -> int:
    """count_normalization (every _NormBase, LayerNorm, GroupNorm): 2 per input element,
    doubled with an affine weight."""
    return 2 * in_numel(op) * (2 if op.affine else 1)


def prelu(op: Op) -> int:
    """count_prelu: one per input element in eval mode."""
    return in_numel(op)


def softmax(op: Op) -> int:
    """count_softmax: per softmax row, exp + add + div = 3 x features - 1."""
    features = op.window
    rows = in_numel(op) // features if features else 0
    return rows * (2 * features + max(features - 1, 0))


def log_softmax(op: Op) -> int:
    """count_softmax on nn.LogSoftmax: the softmax, and one log per row."""
    return softmax(op) + (in_numel(op) // op.window if op.window else 0)


def avg_pool(op: Op) -> int:
    """count_avgpool: one addition per input element of each window, one division per
    output element (windows that padding clips are counted whole here: exact without padding)."""
    return out_numel(op) * (op.window + 1)


def adaptive_avg_pool(op: Op) -> int:
    """count_adap_avgpool: the windows nn.AdaptiveAvgPool slices (output j spans
    [j * I // O, ceil((j + 1) * I / O)) on each axis), plus one division per output element."""
    windows = 1
    for i, o in zip(op.inputs[0], op.output, strict=True):
        windows *= o if i == o else sum(-(-(j + 1) * i // o) - j * i // o for j in range(o))
    return windows + out_numel(op)


UPSAMPLE_FACTOR = {"nearest": 0, "nearest-exact": 0, "linear": 5, "bilinear": 11, "bicubic": 259, "trilinear": 31}


def upsample(op: Op) -> int:
    """count_upsample: output elements x a per-mode factor (nearest: 0)."""
    return UPSAMPLE_FACTOR.get(op.mode, 0) * out_numel(op)


def attention_matmul(op: Op) -> int:
    """count_multihead_attention's attention part: the two products (op.macs, 2 x L x S x E
    per batch element) and the softmax over each head's rows (3 x S - 1 each)."""
    rows = op.attr("batch") * op.attr("heads") * op.attr("tokens")
    attended = op.attr("attended")
    return op.macs + rows * (3 * attended - 1)


# Layers of Ultralytics' modules that run as torch functions, not modules (x.softmax(1),
# F.avg_pool2d, F.max_pool2d, F.softmax, Tensor.max): no hook sees them. Keyed by library block, then layer name.
FUNCTIONAL = {
    "DFL": {"softmax"},
    "Classify": {"softmax"},
    "ADown": {"pool", "max"},
    "AConv": {"pool"},
    "Attention": {"softmax"},
    "AAttn": {"softmax"},
    "Depth": {"up_0", "up_1"},
    "CBFuse": {f"up_{k}" for k in range(5)},
    "Proto26": {"up_0", "up_1", "up_2"},
    "ImagePoolingAttn": {"softmax"},
    "MaxSigmoidAttnBlock": {"max"},  # aw.max(dim=-1), a tensor method
    "MSDeformAttn": {"softmax"},
}


def recurrent(op: Op) -> int:
    """count_rnn, count_gru, count_lstm: thop's stacked cells with the LSTM projection seen,
    times the cell evaluations (_cell_evaluations): steps x batch, or the steps of an
    unbatched (L, H_in) input."""
    shape = op.inputs[0]
    evaluations = shape[0] if len(shape) == 2 else shape[0] * shape[1]
    return stacked_cells(op, op.attr("proj")) * evaluations


def unseen(report: Report) -> Iterator[str]:
    """The leaf layers of `report` that ultralytics-thop does not see (FUNCTIONAL)."""
    kinds = {row.name: row.kind for row in report.rows}
    for row in report.rows:
        if row.is_block or row.parent is None:
            continue
        if row.name.rsplit(".", 1)[-1] in FUNCTIONAL.get(kinds.get(row.parent, ""), ()):
            yield row.name


CONVENTION = Convention(
    name="ultralytics",
    title="Ultralytics model.info() GFLOPs: get_flops(model, imgsz), ultralytics-thop profile() x 2",
    version="ultralytics-thop 2.2.3",
    source="https://github.com/ultralytics/thop/blob/main/thop/profile.py",
    rules={
        "conv": conv,
        "conv_transpose": conv_transpose,
        "linear": linear,
        "matmul": weight_macs,  # _count_matmul: output elements x the contracted dim (functional, counted)
        "attention_in_proj": weight_macs,
        "attention_matmul": attention_matmul,
        "attention_out_proj": weight_macs,
        "batch_norm": norm,
        "layer_norm": norm,
        "instance_norm": norm,
        "group_norm": norm,
        "prelu": prelu,
        "softmax": softmax,
        "log_softmax": log_softmax,
        "avg_pool": avg_pool,
        "adaptive_avg_pool": adaptive_avg_pool,
        "upsample": upsample,
        "recurrent": recurrent,
    },
    factor=2,
    unit="MACs (model.info() prints 2 x this / 1e9 as GFLOPs)",
    unseen=unseen,
)
