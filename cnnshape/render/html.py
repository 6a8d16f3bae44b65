"""`report`: one self-contained HTML file (inline CSS, JS and SVG; nothing fetched) from a
NetworkView or a ComparisonView. Formats only: numbers, layout and series come from
cnnshape/reportview.py and cnnshape/layout.py; this module turns them into markup and
pixels. Every text that comes from a spec goes through `text()`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from importlib import resources

from cnnshape import escape
from cnnshape.compare import Comparison
from cnnshape.layout import Layout, PlacedNode
from cnnshape.render import units
from cnnshape.render.graph import node_numbers
from cnnshape.report import DTYPE_BYTES, Row
from cnnshape.reportview import ComparisonView, NetworkView, Point


def text(value: object) -> str:
    """Spec text (names, kinds, paths, args) made inert in HTML and SVG, attribute values
    included, by the one escaping module."""
    return escape.html(value)


def _asset(name: str) -> str:
    return resources.files("cnnshape.render").joinpath("assets").joinpath(name).read_text(encoding="utf-8")


def _page(title: str, subtitle: str, sections: list[tuple[str, str, str]]) -> str:
    """The document: a header, a link bar and the sections (id, heading, body)."""
    from cnnshape import __version__

    nav = "".join(f'<a href="#{anchor}">{heading}</a>' for anchor, heading, _ in sections)
    body = "".join(
        f'<section id="{anchor}"><h2>{heading}</h2>{content}</section>' for anchor, heading, content in sections
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title><style>{_asset('report.css')}</style></head>\n"
        f'<body><header><h1>{title}</h1><p class="sub">{subtitle}</p></header>'
        f"<nav>{nav}</nav><main>{body}</main>"
        f"<footer>Written by cnnshape {text(__version__)}. Parameters as PyTorch counts them (batch-norm running "
        "statistics are buffers); MACs as torchvision counts them (convolution and linear/matmul weights); "
        "FLOPs = 2 x MACs; activations: every layer's output, none freed.</footer>"
        f"<script>{_asset('report.js')}</script></body></html>\n"
    )


def _exact(value: int) -> str:
    return f"{value:,}"


def _card(label: str, value: str, exact: str = "") -> str:
    return (
        f'<div class="card"><div class="label">{label}</div><div class="value">{value}</div>'
        + (f'<div class="exact">{exact}</div>' if exact else "")
        + "</div>"
    )


def _subtitle(view: NetworkView) -> str:
    report = view.report
    args = ", ".join(f"{key}={value}" for key, value in report.args.items())
    return text(
        f"{report.file} · input {units.shape(report.input_shape)} · {report.dtype}"
        + (f" · args {args}" if args else "")
    )


# --- one network ------------------------------------------------------------------------


def _totals(view: NetworkView) -> str:
    t = view.report.totals
    cards = [
        _card("Parameters", units.count(t.params), _exact(t.params)),
        _card("MACs", units.count(t.macs), _exact(t.macs)),
        _card("FLOPs (2 x MACs)", units.count(t.flops), _exact(t.flops)),
        _card("Activations", units.size(t.activation_bytes), f"{_exact(t.activation_bytes)} B"),
        _card("Param memory", units.size(t.param_bytes), f"{_exact(t.param_bytes)} B"),
        _card("Buffers", units.count(t.buffers), _exact(t.buffers)),
        _card("Layers", _exact(t.layers)),
    ]
    cards += [
        _card(
            f"Output {text(output.name)}",
            text(units.shape(output.shape)),
            "receptive field " + text(units.receptive_field(output.receptive_field)),
        )
        for output in view.report.outputs
    ]
    return f'<div class="cards">{"".join(cards)}</div>'


def _layer_table(view: NetworkView) -> str:
    bytes_each = DTYPE_BYTES[view.report.dtype]
    lines = []
    for row in view.rows:
        fold = '<button class="fold" aria-expanded="true">▾</button>' if row.is_block else ""
        cells = [
            f'<td data-v="{text(row.name)}" style="padding-left:{10 + 16 * row.depth}px">{fold}{text(row.name.rsplit(".", 1)[-1])}</td>',
            f"<td>{text(row.kind)}</td>",
            f"<td>{text(' '.join(units.shape(shape) for shape in row.output_shapes))}</td>",
            _number_cell(row.params, units.count),
            _number_cell(row.macs, units.count),
            _number_cell(row.activation_elements * bytes_each, units.size),
            f"<td>{text(units.receptive_field(row.receptive_field))}</td>",
            f"<td>{text(', '.join(row.inputs))}</td>",
        ]
        lines.append(
            f'<tr class="{"block" if row.is_block else "layer"}" data-name="{text(row.name)}" '
            f'data-parent="{text(row.parent or "")}" data-depth="{row.depth}" title="{text(row.name)}">{"".join(cells)}</tr>'
        )
    head = "".join(
        f'<th class="{"num" if numeric else ""}">{label}</th>'
        for label, numeric in (
            ("Layer", False),
            ("Kind", False),
            ("Output shape", False),
            ("Params", True),
            ("MACs", True),
            ("Activations", True),
            ("RF", False),
            ("Inputs", False),
        )
    )
    controls = (
        '<div class="controls"><button data-fold="99">Expand all</button><button data-fold="0">Fold all</button>'
        '<button data-fold="1">Fold below the top level</button>'
        '<span class="note">Click a column to sort; ▾ folds a block (its numbers are the sums of its layers).</span></div>'
    )
    return (
        f'{controls}<div class="table-box"><table class="layers" data-fold-from="1"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(lines)}</tbody></table></div>"
    )


def _number_cell(value: int, short: Callable[[int], str]) -> str:
    return f'<td class="num" data-v="{value}" title="{_exact(value)}">{short(value) if value else "-"}</td>'


# --- the diagram ------------------------------------------------------------------------

LANE = 236  # px between lane centres
NODE_W, NODE_H = 208, 52
PITCH = 88  # px between row tops: the gap below a node holds its shape label and the bends
MARGIN = 18
BAND_PAD = 9


def _middle_ellipsis(value: str, width: int) -> str:
    if len(value) <= width:
        return value
    keep = width - 1
    return value[: (keep + 1) // 2] + "…" + value[len(value) - keep // 2 :]


def _diagram_svg(layout: Layout) -> str:
    inset = MARGIN + BAND_PAD * (max((band.level + band.inner for band in layout.bands), default=-1) + 1)

    def centre(placed: PlacedNode) -> float:
        return inset + placed.lane * LANE + NODE_W / 2

    def top(placed: PlacedNode) -> float:
        return MARGIN + 14 + placed.row * PITCH

    parts: list[str] = []
    for band in layout.bands:
        pad = BAND_PAD * (band.inner + 1)
        x = inset + band.first_lane * LANE - pad
        y = MARGIN + 14 + band.first_row * PITCH - pad - 12
        width = (band.last_lane - band.first_lane) * LANE + NODE_W + 2 * pad
        height = (band.last_row - band.first_row) * PITCH + NODE_H + 2 * pad + 12
        label = f"{band.cluster.name.rsplit('.', 1)[-1]}: {band.cluster.kind}"
        parts.append(
            f'<rect class="band" x="{x}" y="{y}" width="{width}" height="{height}" rx="8"><title>{text(band.cluster.name)}: {text(band.cluster.kind)}</title></rect>'
            f'<text class="band-label" x="{x + width - 6}" y="{y + 11}" text-anchor="end">{text(_middle_ellipsis(label, 40))}</text>'
        )
    labels: dict[str, list[str]] = {}
    for edge in layout.edges:
        x1, x2 = centre(edge.source), centre(edge.target)
        y1, y2 = top(edge.source) + NODE_H, top(edge.target)
        if x1 == x2 or y2 <= y1:
            path = f"M{x1} {y1} L{x2} {y2 - 2}"
        else:
            bend = y2 - 16
            path = f"M{x1} {y1} L{x1} {bend} C{x1} {bend + 10} {x2} {bend + 4} {x2} {y2 - 2}"
        parts.append(f'<path class="edge" d="{path}" marker-end="url(#arrow)"/>')
        shape = units.shape(edge.shape)
        shapes = labels.setdefault(edge.source.node.id, [])
        if shape not in shapes:
            shapes.append(shape)
    placed_by_id = {placed.node.id: placed for placed in layout.nodes}
    for node_id, shapes in labels.items():
        placed = placed_by_id[node_id]
        parts.append(
            f'<text class="shape" x="{centre(placed) + 6}" y="{top(placed) + NODE_H + 13}">{text(" / ".join(shapes))}</text>'
        )
    for placed in layout.nodes:
        parts.append(_node_svg(placed, inset + placed.lane * LANE, top(placed)))
    width = inset + layout.lanes * LANE + MARGIN
    height = MARGIN + 14 + layout.rows * PITCH
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{text(layout.name)}">'
        '<defs><marker id="arrow" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="7" markerHeight="7" orient="auto">'
        '<path d="M0 0 L8 4 L0 8 z" fill="#8a97aa"/></marker></defs>' + "".join(parts) + "</svg>"
    )


def _node_svg(placed: PlacedNode, x: float, y: float) -> str:
    node = placed.node
    role = {"block": "node block", "input": "node io", "output": "node io"}.get(node.role, "node")
    radius = NODE_H / 2 if node.role in ("input", "output") else 6
    if node.role in ("input", "output"):
        lines = [("name", "input" if node.role == "input" else f"output {node.name}"), ("kind", "")]
    else:
        kind = node.kind + (" (folded block)" if node.role == "block" else "")
        lines = [
            ("name", node.name.rsplit(".", 1)[-1]),
            ("kind", kind),
            ("nums", node_numbers(node) or "no parameters, no MACs"),
        ]
    first = y + (31 if node.role in ("input", "output") else 15)  # a pill's one line sits in its middle
    texts = "".join(
        f'<text class="{style}" x="{x + 14}" y="{first + 15 * i}">{text(_middle_ellipsis(value, 30))}</text>'
        for i, (style, value) in enumerate(lines)
        if value
    )
    tip = f"{node.name} ({node.kind})" + (
        f": params {node.params:,}, MACs {node.macs:,}" if node.role in ("layer", "block") else ""
    )
    return (
        f'<g class="{role}"><title>{text(tip)}</title><rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="{radius}"/>'
        f"{texts}</g>"
    )


def _diagrams(view: NetworkView, prefix: str) -> str:
    buttons, boxes = [], []
    for index, diagram in enumerate(view.diagrams):
        shown = index == view.shown_diagram
        anchor = f"{prefix}-diagram-{index}"
        label = "every layer" if diagram.depth is None else f"depth {diagram.depth}"
        buttons.append(
            f'<button data-show="{anchor}" aria-pressed="{"true" if shown else "false"}">{label} '
            f"({len(diagram.layout.nodes):,} nodes)</button>"
        )
        boxes.append(
            f'<div class="diagram-box" id="{anchor}"{"" if shown else " hidden"}>{_diagram_svg(diagram.layout)}</div>'
        )
    note = (
        '<span class="note">Blocks deeper than the depth fold into one node (numbers summed); '
        "edges carry the tensor's shape.</span>"
    )
    return f'<div class="diagram"><div class="controls">{"".join(buttons)}{note}</div>{"".join(boxes)}</div>'


# --- charts -----------------------------------------------------------------------------

CHART_W, CHART_H = 600, 170
PLOT_LEFT, PLOT_BOTTOM = 62, 22


def _bars(
    points: Sequence[Point],
    value: Callable[[Point], int],
    short: Callable[[int], str],
    exact: Callable[[int], str],
    sections: Iterable[tuple[str, int, int]] = (),
) -> str:
    top = max((value(point) for point in points), default=0) or 1
    plot_w, plot_h = CHART_W - PLOT_LEFT - 8, CHART_H - PLOT_BOTTOM - 8
    step = plot_w / max(len(points), 1)
    parts = _axes(plot_w, plot_h, short(top))
    for name, first, last in sections:
        x = PLOT_LEFT + first * step
        parts.append(
            f'<line class="section" x1="{x:.1f}" y1="8" x2="{x:.1f}" y2="{8 + plot_h}"><title>{text(name)}</title></line>'
        )
        span = (last - first + 1) * step
        if span >= 7 * min(len(name), 12):  # room for the name under the axis
            parts.append(
                f'<text class="tick" x="{x + span / 2:.1f}" y="{8 + plot_h + 11}" text-anchor="middle">{text(_middle_ellipsis(name, 12))}</text>'
            )
    for point in points:
        amount = value(point)
        if not amount:
            continue
        height = max(plot_h * amount / top, 1.0)
        parts.append(
            f'<rect class="bar" x="{PLOT_LEFT + point.index * step:.2f}" y="{8 + plot_h - height:.2f}" '
            f'width="{max(step - 0.6, 0.8):.2f}" height="{height:.2f}"><title>{text(point.name)} ({text(point.kind)}): {exact(amount)}</title></rect>'
        )
    return _svg(parts)


def _axes(plot_w: float, plot_h: float, top_label: str, bottom_label: str = "0") -> list[str]:
    return [
        f'<line class="axis" x1="{PLOT_LEFT}" y1="{8 + plot_h}" x2="{PLOT_LEFT + plot_w}" y2="{8 + plot_h}"/>',
        f'<line class="axis" x1="{PLOT_LEFT}" y1="8" x2="{PLOT_LEFT}" y2="{8 + plot_h}"/>',
        f'<text class="tick" x="{PLOT_LEFT - 4}" y="16" text-anchor="end">{text(top_label)}</text>',
        f'<text class="tick" x="{PLOT_LEFT - 4}" y="{8 + plot_h}" text-anchor="end">{text(bottom_label)}</text>',
        f'<text class="tick" x="{PLOT_LEFT - 4}" y="{CHART_H - 2}" text-anchor="end">layers →</text>',
    ]


def _svg(parts: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {CHART_W} {CHART_H}" width="100%" '
        f'preserveAspectRatio="xMidYMid meet">{"".join(parts)}</svg>'
    )


def _rf_lines(views: Sequence[NetworkView]) -> str:
    """The receptive field along each network (x: position along its layers, 0 to 1)."""
    top = (
        max([view.input_field or 0 for view in views] + [point.rf_size or 0 for view in views for point in view.points])
        or 1
    )
    plot_w, plot_h = CHART_W - PLOT_LEFT - 8, CHART_H - PLOT_BOTTOM - 8
    parts = _axes(plot_w, plot_h, f"{top} px", "1")
    for view, style in zip(views, ("line", "line b"), strict=False):  # one or two networks
        if view.input_field:
            y = 8 + plot_h - plot_h * view.input_field / top
            parts.append(
                f'<line class="limit" x1="{PLOT_LEFT}" y1="{y:.1f}" x2="{PLOT_LEFT + plot_w}" y2="{y:.1f}">'
                f"<title>input size {view.input_field}: past it a field is global</title></line>"
            )
        coords, dots = [], []
        count = max(len(view.points) - 1, 1)
        for point in view.points:
            size = view.input_field if point.rf_global else point.rf_size
            if size is None:
                continue
            x = PLOT_LEFT + plot_w * point.index / count
            y = 8 + plot_h - plot_h * size / top
            coords.append(f"{x:.1f},{y:.1f}")
            if point.rf_global:
                dots.append(
                    f'<circle class="dot global" cx="{x:.1f}" cy="{y:.1f}" r="2.2"><title>{text(point.name)}: global</title></circle>'
                )
            else:
                dots.append(
                    f'<circle class="{style}" cx="{x:.1f}" cy="{y:.1f}" r="1.6" fill-opacity="0"><title>{text(point.name)}: {size} px</title></circle>'
                )
        parts.append(f'<polyline class="{style}" points="{" ".join(coords)}"/>' + "".join(dots))
    return _svg(parts)


def _chart(title: str, body: str, note: str = "") -> str:
    return f'<div class="chart"><h3>{title}</h3>{body}' + (f'<div class="note">{note}</div>' if note else "") + "</div>"


def _charts(view: NetworkView) -> str:
    sections = [
        (section.name, section.first, section.last) for section in view.sections if section.last >= section.first
    ]
    return (
        '<div class="charts">'
        + "".join(
            [
                _chart("Parameters per layer", _bars(view.points, lambda p: p.params, units.count, _exact, sections)),
                _chart("MACs per layer", _bars(view.points, lambda p: p.macs, units.count, _exact, sections)),
                _chart(
                    "Activation memory per layer",
                    _bars(view.points, lambda p: p.activation_bytes, units.size, lambda v: f"{v:,} B", sections),
                    f"Each layer's output at {text(view.report.dtype)}.",
                ),
                _chart(
                    "Receptive field along the network",
                    _rf_lines([view]),
                    "Largest axis of the field, in input pixels; green: the layer sees the whole input.",
                ),
            ]
        )
        + "</div>"
    )


def network_page(view: NetworkView) -> str:
    report = view.report
    return _page(
        text(report.name),
        _subtitle(view),
        [
            ("totals", "Totals", _totals(view)),
            ("diagram", "Diagram", _diagrams(view, "n")),
            ("charts", "Charts", _charts(view)),
            ("layers", "Layers", _layer_table(view)),
        ],
    )


# --- two networks -----------------------------------------------------------------------


def _compare_totals(comparison: Comparison) -> str:
    from cnnshape.render.compare import delta_text, percent_text, value_text

    lines = []
    for metric in comparison.metrics:
        lines.append(
            f'<tr><td>{text(metric.label)}</td><td class="num">{text(value_text(metric, metric.a))}</td>'
            f'<td class="num">{text(value_text(metric, metric.b))}</td>'
            f'<td class="num{" changed" if metric.changed else ""}">{text(delta_text(metric))}</td>'
            f'<td class="num">{text(percent_text(metric))}</td></tr>'
        )
    return (
        '<div class="table-box"><table><thead><tr><th>Total</th><th class="num">A</th><th class="num">B</th>'
        f'<th class="num">B - A</th><th class="num">%</th></tr></thead><tbody>{"".join(lines)}</tbody></table></div>'
    )


def _pair_bars(view: ComparisonView, which: str, short: Callable[[int], str]) -> str:
    """Horizontal bars, A above B, for every layer pair where the figure differs."""
    pairs = [pair for pair in view.differing if getattr(pair, which)[0] != getattr(pair, which)[1]]
    if not pairs:
        return '<p class="note">The same in every layer.</p>'
    top = max(max(getattr(pair, which)) for pair in pairs) or 1
    label_w, row_h, width = 170, 24, CHART_W
    plot_w = width - label_w - 70
    parts = []
    for i, pair in enumerate(pairs):
        y = 4 + i * row_h
        parts.append(
            f'<text class="tick" x="{label_w - 6}" y="{y + 14}" text-anchor="end">{text(_middle_ellipsis(pair.name, 26))}'
            f"<title>{text(pair.name)} ({text(pair.status)})</title></text>"
        )
        # one or two networks
        for j, (value, style) in enumerate(zip(getattr(pair, which), ("bar", "bar b"), strict=False)):
            bar = plot_w * value / top
            parts.append(
                f'<rect class="{style}" x="{label_w}" y="{y + 2 + j * 10}" width="{max(bar, 0.5):.1f}" height="9">'
                f"<title>{'AB'[j]}: {value:,}</title></rect>"
            )
            parts.append(
                f'<text class="tick" x="{label_w + bar + 4:.1f}" y="{y + 10 + j * 10}">{text(short(value) if value else "0")}</text>'
            )
    height = 8 + len(pairs) * row_h
    return f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%">{"".join(parts)}</svg>'


def _aligned_table(view: ComparisonView) -> str:
    from cnnshape.render.compare import pair_cells

    lines = []
    for pair in view.pairs:
        cells = "".join(
            f'<td class="{"changed" if changed else ""}{" num" if i in (3, 4) else ""}">{text(value)}</td>'
            for i, (value, changed) in enumerate(pair_cells(pair))
        )
        row: Row = pair.row
        lines.append(
            f'<tr class="{pair.status}" data-name="{text(row.name)}" data-parent="" data-depth="0">'
            f"<td>{text({'same': '', 'changed': '~', 'added': '+', 'removed': '-'}[pair.status])}</td>{cells}</tr>"
        )
    head = "".join(
        f'<th class="{"num" if numeric else ""}">{label}</th>'
        for label, numeric in (
            ("", False),
            ("Layer", False),
            ("Kind", False),
            ("Output shape", False),
            ("Params", True),
            ("MACs", True),
            ("RF", False),
        )
    )
    return (
        f'<div class="table-box"><table class="layers"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(lines)}</tbody></table></div>"
    )


def comparison_page(view: ComparisonView) -> str:
    from cnnshape.render.compare import side_label

    comparison = view.comparison
    label_a, label_b = side_label(comparison.a), side_label(comparison.b)
    legend = (
        f'<div class="legend"><span class="sw" style="background:var(--accent)"></span>A {text(label_a)}'
        f'<span class="sw" style="background:var(--accent2)"></span>B {text(label_b)}</div>'
    )
    counts = comparison.counts
    summary = (
        f'<p class="note">{counts["changed"]} changed, {counts["added"]} added, {counts["removed"]} removed, '
        f"{counts['same']} the same.</p>"
    )
    charts = (
        '<div class="charts">'
        + "".join(
            [
                _chart(
                    "Parameters where they differ, by top-level layer and block",
                    legend + _pair_bars(view, "params", units.count),
                ),
                _chart(
                    "MACs where they differ, by top-level layer and block",
                    legend + _pair_bars(view, "macs", units.count),
                ),
                _chart(
                    "Receptive field along each network",
                    legend + _rf_lines([view.a, view.b]),
                    "x: position along each network's layers; largest axis of the field in input pixels.",
                ),
            ]
        )
        + "</div>"
    )
    diagrams = (
        '<div class="side-by-side">'
        f"<div><h3>A: {text(view.a.report.name)}</h3>{_diagrams(view.a, 'a')}</div>"
        f"<div><h3>B: {text(view.b.report.name)}</h3>{_diagrams(view.b, 'b')}</div></div>"
    )
    title = f"{text(view.a.report.name)} vs {text(view.b.report.name)}"
    return _page(
        title,
        f"A: {text(label_a)}<br>B: {text(label_b)}",
        [
            ("totals", "Totals", _compare_totals(comparison)),
            ("charts", "Where they differ", summary + charts),
            ("diagram", "Diagrams", diagrams),
            ("layers", "Layers aligned", _aligned_table(view)),
        ],
    )
