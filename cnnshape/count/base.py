"""What a counting convention is, and how one is applied to a Report.

A convention is a table from operation name (Op.name) to a rule: a small pure function of
the operation's facts giving what that tool adds for it. An operation the table leaves out
costs 0 in that tool (the tool ignores it); every name is still one of OP_NAMES, so a new
operation is a decision to make in each table, not a silent gap (tests check this).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from math import prod
from typing import Optional

from cnnshape.layers.base import OP_FAMILIES, Op
from cnnshape.report import Report, per_row

Rule = Callable[[Op], int]

# Every operation a layer kind can describe (Op.name); the tables are keyed on these.
OP_NAMES = frozenset(
    (
        "conv",
        "conv_transpose",
        "linear",
        "matmul",
        "attention_in_proj",
        "attention_matmul",
        "attention_out_proj",
        "batch_norm",
        "instance_norm",
        "layer_norm",
        "group_norm",
        "local_response_norm",
        "identity",
        "relu",
        "relu6",
        "leaky_relu",
        "prelu",
        "elu",
        "selu",
        "gelu",
        "silu",
        "mish",
        "sigmoid",
        "tanh",
        "hardswish",
        "hardsigmoid",
        "softmax",
        "log_softmax",
        "dropout",
        "stochastic_depth",
        "max_pool",
        "avg_pool",
        "adaptive_avg_pool",
        "adaptive_max_pool",
        "mean",
        "amax",
        "sum",
        "topk",
        "gather",
        "grid_sample",
        "add",
        "mul",
        "sub",
        "div",
        "maximum",
        "minimum",
        "abs",
        "neg",
        "pow",
        "sqrt",
        "concat",
        "flatten",
        "unflatten",
        "reshape",
        "permute",
        "chunk",
        "split",
        "channel_shuffle",
        "select",
        "upsample",
        "pixel_shuffle",
        "zero_pad",
        "pad",
        "class_token",
        "position_embedding",
        "layer_scale",
        "recurrent",
        "embedding",
        "max_unpool",
    )
)


@dataclass(frozen=True)
class Convention:
    """One tool's way of counting, as a table of per-operation rules."""

    name: str  # the --count value
    title: str  # what the figure is: "fvcore FlopCountAnalysis(model, x).total()"
    version: str  # the tool version the rules follow
    source: str  # where the rules are written in the tool's source
    rules: Mapping[str, Rule]
    factor: int = 1  # the tool's printed figure is factor x the counted multiply-accumulates (FLOPs: 2)
    unit: str = "MACs"  # what the tool calls its figure
    # The leaf layers of a report the tool does not see at all (Ultralytics' modules call
    # some operations as torch functions, which module hooks miss); None: it sees them all.
    unseen: Optional[Callable[[Report], Iterable[str]]] = None
    # A tool that reports FLOPs of its own besides MACs (deepspeed): their rules; without
    # them the convention's FLOPs are 2 x its figure.
    flops_rules: Optional[Mapping[str, Rule]] = None


@dataclass
class Counted:
    """A report counted by one convention: the total, per layer and per operation family."""

    convention: str
    macs: int  # multiply-accumulates (or the tool's own unit) in this convention
    by_family: dict[str, int]
    by_layer: dict[str, int] = field(default_factory=dict)  # leaf layer name -> count
    flops_by_layer: Optional[dict[str, int]] = None  # the tool's own FLOPs, when it has rules for them

    @property
    def flops(self) -> int:
        return 2 * self.macs if self.flops_by_layer is None else sum(self.flops_by_layer.values())

    def layer_flops(self) -> dict[str, int]:
        """FLOPs per leaf layer in this convention (2 x its count, or the tool's own)."""
        if self.flops_by_layer is not None:
            return dict(self.flops_by_layer)
        return {name: 2 * value for name, value in self.by_layer.items()}


# --- small helpers the tables share ----------------------------------------------------


def out_numel(op: Op) -> int:
    return prod(op.output)


def in_numel(op: Op) -> int:
    return prod(op.inputs[0])


def weight_macs(op: Op) -> int:
    return op.macs


def with_bias(op: Op) -> int:
    """Weight MACs plus one addition per output element when the layer has a bias."""
    return op.macs + (out_numel(op) if op.bias else 0)


def zero(op: Op) -> int:
    return 0


def unless_stored(rule: Rule) -> Rule:
    """For a tool that sees activations by patching torch.nn.functional: nothing for one a
    layer stored before the patch (TransformerEncoderLayer's activation: Op.mode "function")."""

    def seen(op: Op) -> int:
        return 0 if op.mode == "function" else rule(op)

    return seen


# --- recurrent layers, as the peers' RNN hooks read them ---------------------------------


def rnn_positions(op: Op) -> int:
    """input.shape[0] x input.shape[1]: the time steps x samples ptflops', deepspeed's and
    thop's RNN hooks multiply by (their product whatever the layout)."""
    shape = op.inputs[0]
    return shape[0] * shape[1]


def rnn_layer_weights(op: Op) -> list[tuple[int, int]]:
    """(weight_ih_l{i}, weight_hh_l{i}) element counts of each layer's forward direction
    (the reverse one has the same shapes)."""
    params = dict(op.params)
    return [(params[f"weight_ih_l{i}"], params[f"weight_hh_l{i}"]) for i in range(op.attr("layers"))]


def rnn_gate_arithmetic(op: Op) -> int:
    """ptflops' rnn_flops (deepspeed's _rnn_flops is a copy) beyond the two matrix
    products, per layer: RNN H (adding both products); GRU 7H (r's hadamard, 3H adds, 3H
    for the last hadamards and add); LSTM 10H (4H adds, 3H for c, 3H for h)."""
    return op.attr("hidden") * {1: 1, 3: 7, 4: 10}[op.attr("gates")]


def count(report: Report, convention: Convention) -> Counted:
    """Apply one convention to every leaf layer's operations (training-only layers have none)."""
    by_family = dict.fromkeys(OP_FAMILIES, 0)
    by_layer: dict[str, int] = {}
    flops_rules = convention.flops_rules
    flops_by_layer: Optional[dict[str, int]] = None if flops_rules is None else {}
    total = 0
    unseen = frozenset(convention.unseen(report)) if convention.unseen is not None else frozenset()
    for row in report.rows:
        if row.is_block:
            continue
        layer_total = 0
        ops = row.ops if row.name not in unseen else []
        for op in ops:
            rule = convention.rules.get(op.name)
            cost = rule(op) if rule is not None else 0
            by_family[op.family] += cost
            layer_total += cost
        by_layer[row.name] = layer_total
        if flops_rules is not None and flops_by_layer is not None:
            flops_by_layer[row.name] = sum(flops_rules[op.name](op) for op in ops if op.name in flops_rules)
        total += layer_total
    return Counted(convention.name, total, by_family, by_layer, flops_by_layer)


# --- what `summary --count/--share/--top` shows ------------------------------------------


@dataclass
class Counting:
    """The conventions asked for, counted, with the per-layer figures a table shows.

    `layer_macs` holds every row's count (blocks: the sum of their layers) in the
    convention the layer table shows: the one asked for, or the default with `all`.
    `shares` are exact fractions of the totals (params, that convention's MACs).
    """

    default: Counted
    counted: list[Counted]
    conventions: list[Convention]
    shown: str  # the convention of `layer_macs`
    layer_macs: dict[str, int]
    shares: dict[str, tuple[Fraction, Fraction]] = field(default_factory=dict)
    top: list[str] = field(default_factory=list)  # the heaviest leaf layers, heaviest first
    share: bool = False  # show each layer's share of the totals
    row_macs: dict[str, dict[str, int]] = field(default_factory=dict)  # convention -> every row's count


def counting(
    report: Report,
    names: list[str],
    conventions: Mapping[str, Convention],
    default: str,
    top: int | None = None,
    share: bool = False,
) -> Counting:
    """Count `report` in each named convention (the default is always counted too)."""
    base = count(report, conventions[default])
    counted = [base if name == default else count(report, conventions[name]) for name in names]
    shown = counted[0] if len(counted) == 1 else base
    row_macs = {each.convention: per_row(report, each.by_layer) for each in counted}
    layer_macs = row_macs[shown.convention]
    total_params = report.totals.params
    shares = {
        row.name: (
            Fraction(row.params, total_params) if total_params else Fraction(0),
            Fraction(layer_macs[row.name], shown.macs) if shown.macs else Fraction(0),
        )
        for row in report.rows
    }
    heaviest: list[str] = []
    if top is not None:
        leaves = [row.name for row in report.rows if not row.is_block]
        heaviest = sorted(leaves, key=lambda name: -layer_macs[name])[:top]
    return Counting(
        base,
        counted,
        [conventions[name] for name in names],
        shown.convention,
        layer_macs,
        shares,
        heaviest,
        share,
        row_macs,
    )
