"""The lint rules: each a stable code, its default severity and what it means, with the
check that finds it when the layers and the analysis do not. Rules only read what the
layers and the analysis computed (layer findings, the graph, the report); they never look
at layer types."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

from cnnshape.errors import Issue, Severity, did_you_mean

if TYPE_CHECKING:
    from cnnshape.lint.config import Config


@dataclass(frozen=True)
class Rule:
    """A lint rule: a stable code, its default severity and what it means."""

    code: str
    severity: Severity
    summary: str
    check: Optional[Callable[[Context], Iterable[Issue]]] = None  # None: found by the layers/analysis


RULES: dict[str, Rule] = {}


def _rule(
    code: str,
    summary: str,
    severity: Severity = "warning",
    check: Optional[Callable[[Context], Iterable[Issue]]] = None,
) -> None:
    RULES[code] = Rule(code, severity, summary, check)


@dataclass
class Context:
    """What a rule may read about one analysed file."""

    source: Any
    spec: Any
    graph: Any
    report: Any
    config: Config

    def __post_init__(self) -> None:
        self.nodes = {node.name: node for node in self.graph.nodes[self.graph.first_layer :] if node.layer is not None}
        self.consumers: dict[Any, list[Any]] = {}
        for node in self.graph.nodes[self.graph.first_layer :]:
            for ref in node.inputs:
                self.consumers.setdefault(ref, []).append(node)


def _bias_before_norm(ctx: Context) -> Iterable[Issue]:
    rows = {row.name: row for row in ctx.report.rows if not row.is_block}
    for name, node in ctx.nodes.items():
        row = rows.get(name)
        if row is None:
            continue
        bias = node.layer.bias_size(row.output_shapes)
        users = ctx.consumers.get((node.index, 0), [])
        if bias and len(users) == 1 and users[0].layer is not None and users[0].layer.cancels_bias:
            user = users[0]
            # At `bias: true` when written; else at the layer, like every layer finding
            # (so a `# cnnshape: disable=...` on the layer's line reaches it).
            written = node.loc + ("bias",)
            yield Issue(
                written if written in ctx.source.key_pos else node.loc,
                "bias-before-norm",
                (
                    f"{name} ({node.kind}) has a bias ({bias:,} parameters) that {user.name} ({user.kind}) "
                    "cancels by subtracting each channel's mean; set bias: false"
                ),
                at_key=True,
            )


def _unused_output(ctx: Context) -> Iterable[Issue]:
    used = {ref for ref in ctx.consumers} | set(ctx.graph.outputs)
    for name, node in ctx.nodes.items():
        outputs = node.layer.num_outputs()
        if not any((node.index, i) in used for i in range(outputs)):
            yield Issue(
                node.loc,
                "unused-output",
                (
                    f"nothing uses the output of {name} ({node.kind}): it is neither read by a later layer "
                    "nor listed in `outputs`"
                ),
                at_key=True,
            )


def _dominant_layer(ctx: Context) -> Iterable[Issue]:
    total = ctx.report.totals.params
    share = ctx.config.dominant_share
    with_params = [row for row in ctx.report.rows if not row.is_block and row.params]
    if total == 0 or len(with_params) < 3:
        return
    for row in with_params:
        if row.params > share * total:
            node = ctx.nodes[row.name]
            yield Issue(
                node.loc,
                "dominant-layer",
                (
                    f"{row.name} ({row.kind}) holds {row.params:,} of {total:,} parameters "
                    f"({100 * row.params / total:.0f}%, more than {100 * share:.0f}%): most of the model's size "
                    "and overfitting risk sits in one layer; check that its input or width is meant to be this large"
                ),
                at_key=True,
            )


_rule("dropped-input", "a convolution or pooling window does not tile its input: the last rows/columns are never read")
_rule("even-kernel-padding", "an even kernel with symmetric padding shifts the output centre by half a position")
_rule(
    "collapsed-input",
    "a window slides over a map that is already 1 wide, or a pool enlarges its input: the map shrank too early",
)
_rule(
    "bias-before-norm",
    "a convolution or linear layer's bias is cancelled by the batch/instance norm right after it",
    check=_bias_before_norm,
)
_rule("unused-output", "a layer whose output nothing reads and that is not a network output", check=_unused_output)
_rule("dominant-layer", "one layer holds most of the network's parameters", check=_dominant_layer)
_rule("unaligned-rf", "paths merged with different receptive-field stride or centre")
_rule(
    "linear-on-map",
    "a Linear applied to an unflattened feature map mixes one spatial axis: usually a forgotten Flatten",
)
_rule(
    "unbatched-input",
    "layers read their input without a batch dimension: usually an input shape written without its batch",
)
_rule("unused-block", "a block is defined but never used, so its layers are not checked")
_rule("layer-warning", "legal arguments that are likely a mistake (e.g. Softmax relying on an implicit dim)")
_rule("budget", "the network exceeds a budget: parameters, MACs, FLOPs or memory", severity="error")
_rule("expect", "an expectation in the spec's `expect:` section does not hold", severity="error")


BUDGETS = {
    "max_params": ("params", "parameters"),
    "max_macs": ("macs", "MACs"),
    "max_flops": ("flops", "FLOPs"),
    "max_param_bytes": ("param_bytes", "bytes of parameters"),
    "max_activation_bytes": ("activation_bytes", "bytes of activations"),
}


def layer_findings(ctx: Context) -> Iterable[Issue]:
    for row in ctx.report.rows:
        if row.findings and row.name in ctx.nodes:
            loc = ctx.nodes[row.name].loc
            for code, message in row.findings:
                yield Issue(loc, code, f"{row.name} ({row.kind}): {message}", at_key=True)


def budgets(ctx: Context, own: bool) -> Iterable[Issue]:
    """Budgets exceeded: the spec's own (`expect:`, own=True) or the repository's
    ([tool.cnnshape] and the command line, own=False)."""
    from cnnshape.quantity import count, size

    expect = ctx.spec.expect
    totals = ctx.report.totals
    for key, (field_name, what) in BUDGETS.items():
        limits: list[tuple[int, tuple[str, ...], str]] = []
        if own and expect is not None and getattr(expect, key) is not None:
            limits.append((getattr(expect, key), ("expect", key), "the spec's expect"))
        if not own and key in ctx.config.budgets:
            limits.append((ctx.config.budgets[key], (), ctx.config.budget_origins.get(key, "the command line")))
        value = getattr(totals, field_name)
        human = size if "bytes" in key else count
        for limit, loc, origin in limits:
            if value > limit:
                yield Issue(
                    loc,
                    "budget",
                    (
                        f"{value:,} {what} ({human(value)}) exceed {key.replace('_', '-')} {limit:,} ({human(limit)}) "
                        f"from {origin}, by {value - limit:,}"
                    ),
                    at_key=True,
                )


def expectations(ctx: Context) -> Iterable[Issue]:
    expect = ctx.spec.expect
    if expect is None:
        return
    report = ctx.report
    if expect.output_shape is not None and report.outputs:
        actual = list(report.outputs[0].shape)
        if actual != expect.output_shape:
            yield Issue(
                ("expect", "output_shape"),
                "expect",
                f"output {report.outputs[0].name} has shape {actual}, expected {expect.output_shape}",
                at_key=True,
            )
    rows = {row.name: row for row in report.rows}
    for name, wanted in expect.shapes.items():
        row = rows.get(name)
        if row is None:
            hint = did_you_mean(name, rows) or " (use the qualified names that `summary` shows)"
            yield Issue(
                ("expect", "shapes", name), "expect", f"no layer or block use named {name!r}{hint}", at_key=True
            )
        elif list(row.output_shape) != wanted:
            yield Issue(
                ("expect", "shapes", name),
                "expect",
                f"{name} has shape {list(row.output_shape)}, expected {wanted}",
                at_key=True,
            )
    if expect.min_receptive_field is not None:
        rf = report.receptive_field
        if rf is not None and rf.kind != "global":
            smallest = min((axis.size for axis in rf.axes), default=1)
            if smallest < expect.min_receptive_field:
                yield Issue(
                    ("expect", "min_receptive_field"),
                    "expect",
                    (
                        f"the receptive field at the output is {smallest} on its smallest axis, "
                        f"expected at least {expect.min_receptive_field}"
                    ),
                    at_key=True,
                )
