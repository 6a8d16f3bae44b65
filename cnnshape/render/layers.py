"""`layers`: the layer kinds from the registry, as a rich table, Markdown (docs/layers.md)
or JSON. Formats KindInfo values; computes nothing."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from cnnshape.catalog import FAMILY_TITLES, Argument, KindInfo

REGENERATE = "cnnshape layers --format markdown > docs/layers.md"


def _plain(text: str) -> str:
    return text.replace("`", "")


def argument_text(argument: Argument, markdown: bool = False) -> str:
    name = f"`{argument.name}`" if markdown else argument.name
    kind = argument.type if markdown else _plain(argument.type)
    if argument.required:
        return f"{name} ({kind}, required)"
    return f"{name} = {argument.default} ({kind})"


def _default_cell(argument: Argument) -> str:
    if argument.required:
        return "required"
    if argument.inferred:
        return "*inferred*"
    value, _, note = str(argument.default).partition(" (")
    return f"`{value}`" + (f" ({note}" if note else "")


def _by_family(kinds: list[KindInfo]) -> dict[str, list[KindInfo]]:
    families: dict[str, list[KindInfo]] = {}
    for info in kinds:
        families.setdefault(info.family, []).append(info)
    return families


# --- rich ---------------------------------------------------------------------------------


def render(kinds: list[KindInfo], console: Any) -> None:
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_lines=False)
    table.add_column("Kind", style="cyan", no_wrap=True)
    table.add_column("Family", no_wrap=True)
    table.add_column("In", justify="right", no_wrap=True)
    table.add_column("Arguments (default)")
    for info in kinds:
        arguments = ", ".join(f"{a.name}" if a.required else f"{a.name}={a.default}" for a in info.arguments)
        table.add_row(info.kind, info.family, info.inputs, arguments or "-")
    console.print(table)
    console.print(f"{len(kinds)} kinds. `cnnshape layers KIND` shows one in full; required arguments have no default.")


def render_one(info: KindInfo, console: Any) -> None:
    from rich.text import Text

    out = Text()
    out.append(info.kind, style="bold cyan")
    out.append(
        f"  ({FAMILY_TITLES.get(info.family, info.family)}; {info.inputs} input{'s' if info.inputs != '1' else ''})\n"
    )
    out.append(_plain(info.summary) + "\n")
    if info.description:
        out.append("\n" + _plain(info.description) + "\n")
    out.append("\nArguments\n", style="bold")
    for argument in info.arguments:
        out.append(f"  {argument_text(argument)}\n")
    if not info.arguments:
        out.append("  (none)\n")
    if info.example:
        out.append("\nExample\n", style="bold")
        for line in info.example.splitlines():
            out.append(f"  {line}\n")
    console.print(out, end="", soft_wrap=True)


# --- Markdown -----------------------------------------------------------------------------


def markdown(kinds: list[KindInfo]) -> str:
    """docs/layers.md: an index table per family, then every kind in full."""
    from cnnshape.render.markdown import table

    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    out = [
        "# Layer kinds",
        "",
        f"<!-- Generated from the layer registry; do not edit. Regenerate: {REGENERATE} -->",
        "",
        "Every layer kind a spec can use, with its PyTorch arguments and their defaults",
        "(`cnnshape layers` prints the same; `cnnshape layers KIND` one kind). Input-side",
        "sizes marked *inferred* are read from the input and checked when given. The spec",
        "format is described in [spec.md](spec.md).",
        "",
    ]
    families = _by_family(kinds)
    for family, members in families.items():
        out += [f"## {FAMILY_TITLES.get(family, family.capitalize())}", ""]
        rows = [[f"[`{info.kind}`](#{info.kind.lower()})", info.inputs, cell(info.summary)] for info in members]
        out += [table(["Kind", "Inputs", "What it does"], rows, "lcl"), ""]
        for info in members:
            out += [f"### {info.kind}", "", info.summary, ""]
            if info.description:
                out += [info.description.replace("\n", " "), ""]
            if info.arguments:
                rows = [[f"`{a.name}`", cell(a.type), _default_cell(a)] for a in info.arguments]
                out += [table(["Argument", "Type", "Default"], rows), ""]
            else:
                out += ["No arguments.", ""]
            if info.example:
                out += ["```yaml", info.example, "```", ""]
    out.append(f"{len(kinds)} kinds.")
    return "\n".join(out) + "\n"


def render_json(kinds: list[KindInfo]) -> str:
    return json.dumps({"schema_version": 1, "kinds": [asdict(info) for info in kinds]}, indent=2, ensure_ascii=False)
