"""Spec text made inert for each output it reaches: the one escaping module every renderer uses.

A spec (its name, its file's path, its args and `--set` values) comes from a pull request,
so its text must not act on the terminal, the Markdown page, the spreadsheet or the
diagram that shows it. Every function here first makes control characters visible, then
escapes what the target format would read:

- `visible`: C0 and C1 controls, DEL, bidirectional overrides and isolates, line and
  paragraph separators and lone surrogates become `\\x1b`, `\\u202e`, ... (a newline `\\n`).
- `terminal`: `visible`, for rich `Text` (which reads no markup); `markup` also escapes rich
  markup, for the few places that take a markup string.
- `markdown` (text) and `markdown_code` (a code span): literal under CommonMark and GFM.
- `csv_cell`: OWASP's rule against formulas in spreadsheets.
- `mermaid` and `dot`: a quoted label in each diagram language.
- `html`: text and attribute values of the HTML report (and its inline SVG).

JSON needs none of this: it is data, and the encoder escapes it exactly.
"""

from __future__ import annotations

import re
from typing import Any

# Characters that move the cursor, change colours, set titles or links (ESC, BEL, CSI, OSC
# are C0/C1), reorder what follows (bidi controls: "Trojan Source"), or break a line.
_INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _show(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(value: object) -> str:
    """The text with every control character written out as an escape (`\\x1b`, `\\u202e`)."""
    text = str(value)
    return _INVISIBLE.sub(_show, text) if _INVISIBLE.search(text) else text


def has_control(text: str) -> bool:
    """True when `visible` would change the text (for tests and checks)."""
    return _INVISIBLE.search(text) is not None


# --- terminal (rich) ----------------------------------------------------------------------


def terminal(value: object) -> str:
    """Text for a rich `Text` object: controls visible (a Text reads no markup)."""
    return visible(value)


def markup(value: object) -> str:
    """Text for a rich markup string (a table title, a cell given as str): controls visible
    and `[...]` escaped, so `[link=...]` or `[bold]` in a name stays literal."""
    from rich.markup import escape

    return escape(visible(value))


# --- Markdown (CommonMark / GitHub) -------------------------------------------------------

# CommonMark lets a backslash escape any ASCII punctuation, and an escaped character is
# always literal. Escaped here: what opens emphasis, strikethrough, code spans, HTML tags
# and entities, headings, table cells and GitHub's math; the `]` that would close a link
# or image text (`](`, `][`, `]:`; a lone `[1, 3]` stays as written); the `:` of
# `scheme://` and the `.` of `www.` (GFM autolinks). Digits, commas and other dots stay
# as written, so numbers read the same in the Markdown text.
_PUNCTUATION = re.compile(r"([\\`*_<>#!|&~$]|\](?=[(\[:]))")
_AUTOLINK = re.compile(r"(?i)(?<=www)\.|:(?=//)")
# GitHub turns `@name` into a mention after rendering, whatever the escaping; a WORD JOINER
# (U+2060, invisible, no break) between `@` and the name keeps it plain text.
_MENTION = re.compile(r"@(?=[A-Za-z0-9])")
WORD_JOINER = "\u2060"


def markdown(value: object) -> str:
    """Plain text safe anywhere in a Markdown line or table cell."""
    text = _PUNCTUATION.sub(r"\\\1", visible(value))
    text = _AUTOLINK.sub(lambda match: "\\" + match.group(), text)
    return _MENTION.sub("@" + WORD_JOINER, text)


def markdown_code(value: object, in_table: bool = True) -> str:
    """`value` as a code span (literal, never a mention, link or tag). In a GFM table cell a
    `|` must be escaped even inside code; the table parser removes the backslash."""
    body = visible(value)
    if not body:
        return ""
    if in_table:
        body = body.replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    fence = "`" * (longest + 1)
    if body.startswith("`") or body.endswith("`") or (body.startswith(" ") and body.endswith(" ") and body.strip()):
        body = f" {body} "  # CommonMark strips one space on each side
    return f"{fence}{body}{fence}"


# --- CSV ----------------------------------------------------------------------------------

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$")


def csv_cell(value: Any) -> Any:
    """A cell a spreadsheet shows as text, never runs: numbers pass unchanged (a negative
    number is a number, not a formula); text has its controls made visible, and text that
    starts with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'` (OWASP)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    text = str(value)
    if _NUMBER.match(text):
        return text
    guarded = "'" + text if text.startswith(_FORMULA_START) else text
    return visible(guarded)


# --- diagrams -----------------------------------------------------------------------------

_MERMAID_ENTITIES = {"#": "#35;", '"': "#quot;", "<": "#lt;", ">": "#gt;", "&": "#amp;", "`": "#96;"}


def mermaid(value: object) -> str:
    """Text safe inside a quoted Mermaid label: entity codes for the characters it reads."""
    return "".join(_MERMAID_ENTITIES.get(char, char) for char in visible(value))


def dot(*lines: object) -> str:
    """A Graphviz DOT double-quoted string of one or more lines; backslashes are doubled,
    so a `\\l` or `\\N` in a name stays text, and only the breaks made here are `\\n`."""
    text = "\\n".join(visible(line).replace("\\", "\\\\").replace('"', '\\"') for line in lines)
    return f'"{text}"'


def code_fence(lines: list[str]) -> str:
    """A fenced Markdown code block of `lines` (controls visible), its fence longer than any
    run of backticks inside, so nothing in it can close the block early."""
    body = [visible(line) for line in lines]
    longest = max((len(run) for line in body for run in re.findall(r"`{3,}", line)), default=2)
    fence = "`" * (longest + 1)
    return "\n".join([fence + "text", *body, fence])


# --- HTML (the report) --------------------------------------------------------------------


def html(value: object) -> str:
    """Text inert in HTML and inline SVG, as element text or a quoted attribute value:
    controls visible, then `& < > " '` as character references."""
    import html as html_module

    return html_module.escape(visible(value), quote=True)


# --- GitHub Actions workflow commands -----------------------------------------------------

# The runner reads a line as a command when it starts (after spaces) with `::`; in a
# command, data escapes `%`, CR and LF, and a property value also `:` and `,` (the
# runner's ActionCommand escape mappings).
_WORKFLOW_DATA = {"%": "%25", "\r": "%0D", "\n": "%0A"}
_WORKFLOW_PROPERTY = {**_WORKFLOW_DATA, ":": "%3A", ",": "%2C"}


def _workflow_escape(value: object, table: dict[str, str]) -> str:
    text = _INVISIBLE.sub(lambda m: m.group() if m.group() in "\r\n" else _show(m), str(value))
    return "".join(table.get(char, char) for char in text)


def workflow(message: object, command: str | None = None, **properties: object) -> str:
    """One line of a GitHub Actions log, the only way text reaches it under `--format
    github`: with `command`, a workflow command (`::error file=a.yaml,line=3::message`)
    whose message is escaped as command data and each property value as a property, so
    nothing in them can end the line or start another command; without, a plain line that
    cannot be read as a command (line breaks escaped, a leading `::` broken). Other
    control characters are made visible, as everywhere (`visible`)."""
    if command is None:
        text = _workflow_escape(message, _WORKFLOW_DATA)
        return "\\" + text if text.lstrip().startswith("::") else text
    props = ",".join(f"{name}={_workflow_escape(value, _WORKFLOW_PROPERTY)}" for name, value in properties.items())
    return f"::{command}{' ' + props if props else ''}::{_workflow_escape(message, _WORKFLOW_DATA)}"


# --- SARIF --------------------------------------------------------------------------------


def file_uri(path: str) -> str:
    """A relative file path as a SARIF `artifactLocation.uri` (RFC 3986 URI reference):
    separators made `/`, and every character outside the unreserved set and `/`
    percent-encoded as UTF-8 (`#`, `%`, `?`, spaces, line breaks, non-ASCII), so a file
    name cannot add a fragment or query or break the JSON consumer's parse."""
    from urllib.parse import quote

    return quote(path.replace("\\", "/"), safe="/", errors="surrogateescape")
