"""Checks that Markdown output is valid GitHub-flavoured Markdown tables.

markdown-it-py (installed with rich) parses the text with its GFM table rule; every block
of `|` lines must come out as one table whose rows all have the header's cell count.
"""

from __future__ import annotations

import re

from markdown_it import MarkdownIt

DELIMITER = re.compile(r"^\|(\s*:?-+:?\s*\|)+$")


def table_blocks(text: str) -> list[list[str]]:
    """Runs of consecutive lines that start with `|`, outside code fences."""
    blocks: list[list[str]] = []
    current: list[str] = []
    fenced = False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        if not fenced and line.startswith("|"):
            current.append(line)
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    return blocks


def cells(line: str) -> list[str]:
    """The cells of a table line, split on pipes that are not escaped."""
    inner = line.strip()[1:-1]
    return re.split(r"(?<!\\)\|", inner)


def check_gfm_tables(text: str, expected_tables: int | None = None) -> list[list[list[str]]]:
    """Assert every table block is a valid GFM table; returns the tables' rows of cells."""
    blocks = table_blocks(text)
    assert blocks, "no table found"
    if expected_tables is not None:
        assert len(blocks) == expected_tables, f"{len(blocks)} tables, expected {expected_tables}"
    tables = []
    for block in blocks:
        header = cells(block[0])
        assert len(block) >= 2 and DELIMITER.match(block[1]), f"no delimiter row under {block[0]!r}"
        assert len(cells(block[1])) == len(header), f"delimiter row has the wrong cell count: {block[1]!r}"
        for line in block:
            assert line.endswith("|"), f"table line does not end with |: {line!r}"
            assert len(cells(line)) == len(header), f"{len(cells(line))} cells, header has {len(header)}: {line!r}"
        tables.append([cells(line) for line in block[2:]])
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    parsed = [i for i, token in enumerate(tokens) if token.type == "table_open"]
    assert len(parsed) == len(blocks), f"markdown-it found {len(parsed)} tables in {len(blocks)} table blocks"
    for start in parsed:
        widths = []
        row: int | None = None
        for token in tokens[start:]:
            if token.type == "tr_open":
                row = 0
            elif token.type in ("th_open", "td_open"):
                row = (row or 0) + 1
            elif token.type == "tr_close":
                widths.append(row)
            elif token.type == "table_close":
                break
        assert len(set(widths)) == 1, f"rows with different cell counts: {widths}"
    return tables
