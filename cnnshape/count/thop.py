"""thop's profile(model, inputs)[0]: forward hooks on the module types in its
register_hooks table, summed over the modules it knows (an unknown module is opened and its
children counted; a module without known children counts 0: cnnshape's Add, Mul, Concat,
GELU, SiLU, Sigmoid, Hardswish, GroupNorm, MultiheadAttention ...)."""

from __future__ import annotations

from fractions import Fraction
from math import floor, prod

from cnnshape.count.base import Convention, Op, in_numel, out_numel, rnn_positions


def conv(op: Op) -> int:
    """calculate_conv2d_flops: output elements x (x.shape[1] // groups) x kernel area,
    for transposed convolutions too (so over the output, not the input); no bias."""
    return out_numel(op) * (op.inputs[0][1] // op.groups) * prod(op.weight[2:])


def norm(op: Op) -> int:
    """count_normalization: 2 per input element, doubled with an affine weight."""
    return 2 * in_numel(op) * (2 if op.affine else 1)


def prelu(op: Op) -> int:
    """count_prelu: one per element in eval mode."""
    return in_numel(op)


def softmax(op: Op) -> int:
    """calculate_softmax: per softmax row, exp + add + div = 3 x features - 1."""
    rows = in_numel(op) // op.window
    return rows * (3 * op.window - 1)


def avg_pool(op: Op) -> int:
    """calculate_avgpool: one per output element."""
    return out_numel(op)


def adaptive_avg_pool(op: Op) -> int:
    """calculate_adaptive_avg: (prod(input size / output size) + 1) x output elements,
    truncated to an integer (the ratio is a float in thop; exact here)."""
    n = len(op.output) - 2
    kernel = prod((Fraction(i, o) for i, o in zip(op.inputs[0][-n:], op.output[-n:], strict=True)), start=Fraction(1))
    return floor((kernel + 1) * out_numel(op))


def linear(op: Op) -> int:
    """calculate_linear: in_features x output elements; no bias."""
    return op.macs


UPSAMPLE_FACTOR = {"nearest": 1, "linear": 5, "bilinear": 11, "bicubic": 224 + 35}


def upsample(op: Op) -> int:
    """calculate_upsample: output elements x a per-mode factor; trilinear and
    nearest-exact are logged as 'not implemented' and count 0."""
    return UPSAMPLE_FACTOR.get(op.mode, 0) * out_numel(op)


def rnn_cell(op: Op, inputs: int, proj: int = 0) -> int:
    """_count_rnn_cell, _count_gru_cell, _count_lstm_cell for one layer and direction: a gate
    is (inputs + H) x H + H, plus 2H with biases; an RNN is one gate, a GRU three and 4H
    (r's hadamard, 3H for h'), an LSTM four and 4H (3H for c', H for h'). `proj` is
    ultralytics-thop's LSTM projection (the recurrent product reads P, not H, and h' adds
    H x P); thop 0.1.1 does not see it (0)."""
    hidden, gates = op.attr("hidden"), op.attr("gates")
    gate = (inputs + (proj or hidden)) * hidden + hidden + (2 * hidden if op.bias else 0)
    return gate if gates == 1 else gates * gate + 4 * hidden + hidden * proj


def stacked_cells(op: Op, proj: int = 0) -> int:
    """count_rnn, count_gru, count_lstm per time step and sample: the first layer's cells on
    the module's input_size, the others' on the previous layer's width (hidden_size, or
    `proj`, x directions), per direction."""
    directions = op.attr("directions")
    width = (proj or op.attr("hidden")) * directions
    return directions * (rnn_cell(op, op.attr("features"), proj) + (op.attr("layers") - 1) * rnn_cell(op, width, proj))


def recurrent(op: Op) -> int:
    """count_rnn, count_gru, count_lstm (thop 0.1.1): the stacked cells from the module's
    sizes (an LSTM's proj_size is not seen) times steps x batch, input.shape[0] x shape[1]
    in either layout."""
    return stacked_cells(op) * rnn_positions(op)


CONVENTION = Convention(
    name="thop",
    title="thop profile(model, inputs=(x,))[0]",
    version="thop 0.1.1.post2209072238",
    source="https://github.com/Lyken17/pytorch-OpCounter/blob/master/thop/profile.py#L21",
    rules={
        "conv": conv,
        "conv_transpose": conv,
        "linear": linear,
        "batch_norm": norm,
        "layer_norm": norm,
        "instance_norm": norm,
        "prelu": prelu,
        "softmax": softmax,
        "avg_pool": avg_pool,
        "adaptive_avg_pool": adaptive_avg_pool,
        "upsample": upsample,
        "recurrent": recurrent,
    },
)
