"""YAML loading that keeps positions: the only place a loc path becomes file:line:col.

Only safe YAML is accepted (no tags beyond the core schema, no duplicate keys), and the
document is bounded in size, nesting and alias expansion, because specs come from pull
requests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnnshape.errors import Issue, Loc, Problem, SpecError

MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_NODES = 2_000_000  # values in a document, after alias expansion
MAX_ALIASED = 100_000  # values reached again through aliases: stops "billion laughs" early
MAX_DEPTH = 64
# A document that may hold more values than this records positions only when a problem needs
# them (see Source): ten times the largest bundled spec (inception_v3, 1,911).
RECORDED_UP_TO = 20_000

_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_MERGE = "tag:yaml.org,2002:merge"
_VALUE = "tag:yaml.org,2002:value"
_CORE_TAGS = {
    "tag:yaml.org,2002:" + name for name in ("str", "int", "float", "bool", "null", "seq", "map", "timestamp")
}
_SEQ = "tag:yaml.org,2002:seq"


@dataclass
class Source:
    """A loaded spec document with the position of every value and mapping key.

    A large document (one that may hold more than RECORDED_UP_TO values) is loaded without
    positions: only a problem needs them, so the first `locate` walks the text again,
    recording them. Recording them while loading costs more memory than the data (two dict
    entries of a loc tuple per value, 217 MiB for 250,000 written-out layers) and a quarter
    of the time (18 of 76 ms for a 10,000-layer chain); a small document (typed rather than
    generated, where problems are common) records them at once, for under 3 ms."""

    path: str
    data: Any
    pending: list[Problem] = field(default_factory=list)  # found while loading, reported with later ones
    text: str = ""  # the document, for tools that read comments (lint's suppressions)
    _value_pos: dict[Loc, tuple[int, int]] = field(default_factory=dict, init=False, repr=False)
    _key_pos: dict[Loc, tuple[int, int]] = field(default_factory=dict, init=False, repr=False)
    _unrecorded: bool = field(default=False, init=False, repr=False)

    @property
    def value_pos(self) -> dict[Loc, tuple[int, int]]:
        self._record()
        return self._value_pos

    @value_pos.setter
    def value_pos(self, positions: dict[Loc, tuple[int, int]]) -> None:
        self._value_pos = positions

    @property
    def key_pos(self) -> dict[Loc, tuple[int, int]]:
        self._record()
        return self._key_pos

    @key_pos.setter
    def key_pos(self, positions: dict[Loc, tuple[int, int]]) -> None:
        self._key_pos = positions

    def _record(self) -> None:
        if self._unrecorded:
            self._unrecorded = False
            again = _load(self.text, self.path, record=True)  # the same walk, recording this time
            self._value_pos, self._key_pos = again._value_pos, again._key_pos

    def locate(self, loc: Loc, at_key: bool = False) -> tuple[int, int]:
        """Position of the value at `loc` (or its key), else of its nearest located parent."""
        self._record()
        loc = tuple(loc)
        if at_key and loc in self._key_pos:
            return self._key_pos[loc]
        value_pos = self._value_pos
        while loc:
            if loc in value_pos:
                return value_pos[loc]
            loc = loc[:-1]
        return value_pos.get((), (1, 1))

    def problem(self, issue: Issue) -> Problem:
        line, col = self.locate(issue.loc, issue.at_key)
        return Problem(self.path, line, col, issue.severity, issue.code, issue.message)

    def problems(self, issues: list[Issue]) -> list[Problem]:
        return [self.problem(issue) for issue in issues]


def _problem(path: str, line: int, col: int, code: str, message: str) -> SpecError:
    return SpecError([Problem(path, line, col, "error", code, message)])


def read_bytes(path: str | Path, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file of at most `limit` bytes, else SpecError (file-unreadable
    or limit) at 1:1. The one way cnnshape reads a file it is given: a FIFO, a device
    (`/dev/zero`, a symlink to it), a folder or a socket is refused without reading (opened
    non-blocking, so a FIFO cannot hang), the size is checked before reading, and the read
    itself stops at the limit (a file that grows while read cannot blow memory)."""
    import os
    import stat

    name = str(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise _problem(name, 1, 1, "file-unreadable", "no such file") from None
    except IsADirectoryError:
        raise _problem(name, 1, 1, "file-unreadable", "is a directory, not a spec file") from None
    except OSError as exc:
        raise _problem(name, 1, 1, "file-unreadable", f"cannot read: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise _problem(name, 1, 1, "file-unreadable", "is a directory, not a spec file")
        if not stat.S_ISREG(info.st_mode):
            what = "a FIFO (named pipe)" if stat.S_ISFIFO(info.st_mode) else "a device or socket"
            raise _problem(name, 1, 1, "file-unreadable", f"is {what}, not a regular file; only regular files are read")
        if info.st_size > limit:
            raise _problem(name, 1, 1, "limit", f"file is {info.st_size:,} bytes; the limit is {limit:,} bytes")
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise _problem(name, 1, 1, "limit", f"file is more than {limit:,} bytes; the limit is {limit:,} bytes")
        return b"".join(chunks)
    except OSError as exc:
        raise _problem(name, 1, 1, "file-unreadable", f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def load_file(path: str | Path) -> Source:
    """Read and parse a spec file; raises SpecError with located problems."""
    name = str(path)
    raw = read_bytes(path)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        col = len(before[before.rfind(b"\n") + 1 :].decode("utf-8-sig")) + 1  # characters, not bytes
        raise _problem(
            name,
            line,
            col,
            "file-unreadable",
            f"byte 0x{raw[exc.start]:02x} is not UTF-8; save the file as UTF-8",
        ) from None
    return load_text(text, name)


_LOADER: Any = None
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"


def _yaml12_int(loader: Any, node: Any) -> int:
    """An integer as YAML 1.2's core schema writes it: decimal (a leading 0 is still
    decimal), 0o octal or 0x hex; Python refuses past 4,300 digits (a located error)."""
    text = node.value
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-")
    if digits.startswith("0o"):
        return sign * int(digits[2:], 8)
    if digits.startswith("0x"):
        return sign * int(digits[2:], 16)
    return sign * int(digits, 10)


def _yaml12_float(loader: Any, node: Any) -> float:
    text = node.value.lower()
    if text.lstrip("+-") == ".inf":
        return float("-inf") if text.startswith("-") else float("inf")
    if text == ".nan":
        return float("nan")
    return float(text)


def loader_class() -> Any:
    """PyYAML's safe loader (libyaml when available) reading numbers by YAML 1.2's core
    schema: `1e-5` and `1.5e2` are numbers (YAML 1.1 wants `1.0e-5`, a trap for everyone
    who copies PyTorch defaults), while YAML 1.1's sexagesimal `1:30` (read as 90), `0b`,
    `1_000` and octal `010` are not: `1:30` is the string it looks like, `010` is ten."""
    global _LOADER
    if _LOADER is None:
        import re

        import yaml

        base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        resolved: dict[tuple, str] = {}

        def resolve(self: Any, kind: Any, value: Any, implicit: Any) -> str:
            # A plain scalar's tag depends only on its text, and a spec repeats the same
            # short texts (kinds, argument names, small numbers) thousands of times: the
            # regex matching runs once per distinct text (bounded, against hostile files).
            key = (kind, value, implicit)
            tag = resolved.get(key)
            if tag is None:
                tag = base.resolve(self, kind, value, implicit)
                if len(resolved) < 4096 and (value is None or len(value) <= 64):
                    resolved[key] = tag
            return tag

        _LOADER = type("SpecLoader", (base,), {"resolve": resolve})
        _LOADER.yaml_implicit_resolvers = {
            first: [(tag, regexp) for tag, regexp in entries if tag not in (_INT, _FLOAT)]
            for first, entries in base.yaml_implicit_resolvers.items()
        }
        _LOADER.add_implicit_resolver(
            _INT,
            re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"),
            list("-+0123456789"),
        )
        _LOADER.add_implicit_resolver(
            _FLOAT,
            re.compile(
                r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
            ),
            list("-+.0123456789"),
        )
        _LOADER.add_constructor(_INT, _yaml12_int)
        _LOADER.add_constructor(_FLOAT, _yaml12_float)
    return _LOADER


_UNKNOWN = object()  # a text not in _Builder.plain


def _shown(tag: str) -> str:
    """A tag as a spec writes it: `!!map` for YAML's core `tag:yaml.org,2002:map`."""
    return tag.replace("tag:yaml.org,2002:", "!!")


class _TooManyNodes(Exception):
    def __init__(self, mark: Any):
        self.mark = mark


def _node_bound(text: str) -> int:
    """More than the number of nodes the text can compose to (aliases counted once): every
    node after the root is opened by one of `-`, `[`, `{`, `,`, `:` or `?` (a `:` opens a
    mapping, its key and its value). Cheap (str.count): whether a text is small enough to
    record its positions while it is loaded."""
    count = text.count
    return 1 + count("-") + count("[") + 2 * count("{") + 2 * count(",") + 3 * count(":") + 2 * count("?")


def load_scalar(text: str) -> Any:
    """A command-line value read like a YAML value in a spec (`10`, `0.5`, `1e-3`, `true`,
    `[1, 2]`), under the same limits as a spec (an alias bomb in `--set` is refused:
    ValueError); text that is not YAML stays the text."""
    try:
        source = load_text(text, "<value>")
    except SpecError as exc:
        refusals = [p for p in exc.problems if p.code in ("limit", "yaml-unsupported")]
        if refusals:
            raise ValueError(f"{text[:80]!r}: {refusals[0].message}") from None
        return text
    if source.pending:
        raise ValueError(f"{text[:80]!r}: {source.pending[0].message}")
    return source.data


def load_text(text: str, path: str = "<string>") -> Source:
    """Parse YAML text into plain Python data plus positions."""
    if _node_bound(text) <= RECORDED_UP_TO:
        source = _load(text, path, record=True)
    else:
        try:
            source = _load(text, path, record=False)
            source._unrecorded = True
        except _Unrecorded:
            source = _load(text, path, record=True)  # a problem while loading: its positions are needed now
    from cnnshape.dialects import recognise  # another format's file (Ultralytics) becomes its native spec

    return recognise(source)


class _Unrecorded(Exception):
    """Loading without positions met a problem, which needs them."""


def _load(text: str, path: str, record: bool) -> Source:
    """The document's data, and its positions if `record`; raises SpecError (or
    _Unrecorded when not recording and a problem other than the YAML's syntax is found)."""
    import yaml

    loader_cls = loader_class()
    loader = None
    source = Source(path, None, text=text)
    try:
        loader = loader_cls(text)  # the pure-Python reader checks characters here
        builder = _Builder(loader, source, record)
        try:
            source.data = builder.document()
        except SpecError:
            if not record:
                raise _Unrecorded from None
            raise
        if builder.empty:
            raise _problem(path, 1, 1, "schema", "the file is empty; a spec needs `input` and `layers`")
        if builder.issues and not record:
            raise _Unrecorded
        source.pending = source.problems(builder.issues)
    except _TooManyNodes as exc:
        message = f"the document has more than {MAX_NODES:,} values; the limit is {MAX_NODES:,}"
        raise _problem(path, exc.mark.line + 1, exc.mark.column + 1, "limit", message) from None
    except yaml.MarkedYAMLError as exc:
        line, col, message = _syntax_error(text, exc)
        raise _problem(path, line, col, "yaml-syntax", message) from None
    except yaml.reader.ReaderError as exc:
        line, col = offset_position(text, exc.position, not issubclass(loader_cls, yaml.reader.Reader))
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        message = f"character U+{code:04X} is not allowed in YAML ({exc.reason})"
        raise _problem(path, line, col, "yaml-syntax", message) from None
    except yaml.YAMLError as exc:
        raise _problem(path, 1, 1, "yaml-syntax", str(exc).replace("\n", " ")) from None
    finally:
        if loader is not None:
            loader.dispose()
    return source


def _syntax_error(text: str, exc: Any) -> tuple[int, int, str]:
    """Position and message of a YAML syntax error.

    An unclosed quote or bracket is only noticed at the end of the file; the place to fix
    is where it opened (the error's context mark), so point there instead.
    """
    mark, context = exc.problem_mark, exc.context_mark
    lines = text.splitlines()
    at_end = mark is not None and not "\n".join(lines[mark.line :])[mark.column :].strip()
    if mark is None or (at_end and context is not None):
        mark = context
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    message = exc.problem or str(exc).replace("\n", " ")
    if exc.context and mark is context:
        message = f"{message} ({exc.context})"
    if 0 < line <= len(lines) and "\t" in lines[line - 1][:col]:
        message += "; indent with spaces, not tabs"
    elif 0 < line <= len(lines) and "$(" in lines[line - 1] and "{" in lines[line - 1]:
        message += '; inside {...}, quote an expression that contains , [ ] { or }: "$(widths[0])"'
    elif 0 < line <= len(lines) and ("expected" in message or "not allowed here" in message):
        message += _indent_hint(lines, line)

    return line, col, message


def _indent_hint(lines: list[str], line: int) -> str:
    """Plain words for a line indented to no level YAML expects: the column the list item
    or key it lines up with starts at (YAML reads nesting from indentation alone)."""
    text = lines[line - 1]
    here = len(text) - len(text.lstrip(" "))
    item = text.lstrip(" ").startswith("- ")
    for number in range(line - 1, 0, -1):
        above = lines[number - 1]
        stripped = above.lstrip(" ")
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(above) - len(stripped)
        if stripped.startswith("- ") == item and indent != here and indent <= here + 2:
            what = "list item" if item else "key"
            fix = (
                f"indent it by {indent} space{'s' if indent != 1 else ''}"
                if indent
                else "start it at the beginning of the line"
            )
            return (
                f"; this line starts at column {here + 1}, but the {what} it seems to continue (line {number}) "
                f"starts at column {indent + 1}: {fix} (YAML reads nesting from indentation only)"
            )
    return ""


def offset_position(text: str, offset: int, in_bytes: bool = False) -> tuple[int, int]:
    """1-based line and column (in characters) of an offset into the text or its UTF-8."""
    before = text.encode("utf-8")[:offset].decode("utf-8", "ignore") if in_bytes else text[:offset]
    return before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1


class _Builder:
    """Builds Python data from the parser's events, recording positions.

    The document is never composed into one node tree: a written-out 250,000-layer file's
    tree took 422 MiB beside the data built from it. Only a value with an anchor is kept as
    nodes (an alias repeats it), and nodes go through the same checks as events. Problems
    come in the order a parse of the whole document before building would give them: a
    syntax error (or the value limit) anywhere comes before a problem found while building.
    """

    def __init__(self, loader: Any, source: Source, record: bool = True):
        import yaml

        self.loader = loader
        self.source = source
        self.record = record
        self.value_pos = source._value_pos
        self.key_pos = source._key_pos
        self.issues: list[Issue] = []
        self.count = 0  # values built, aliases expanded
        self.opened = 0  # values the parser's events open, an alias counted once
        self.empty = False
        self.anchors: dict[str, Any] = {}  # anchor -> its node
        self.root_mark: Any = None
        self.active: set[int] = set()
        self.seen: set[int] = set()
        # Only an alias (`*name`, merge keys included) puts one node in two places; a text
        # without `*` has none, and skips the bookkeeping.
        self.aliasing = "*" in (source.text or "")
        self.aliased = 0  # values built again because an alias repeats them
        self.in_alias = 0
        self.alias_loc: Loc = ()
        # Non-string scalars by (tag, text): ints, floats, booleans and nulls are immutable,
        # and a spec repeats the same few (`3`, `1`, `true`) thousands of times; PyYAML's
        # int constructor was a quarter of the time spent loading a 10,000-layer chain.
        self.scalars: dict[tuple[str, str], Any] = {}
        self.plain: dict[str, Any] = {}  # values of plain, untagged scalars by text (see `value`)
        self.scalar_node: Any = yaml.ScalarNode
        self.nodes = (yaml.ScalarNode, yaml.SequenceNode, yaml.MappingNode)
        self.scalar_event: Any = yaml.ScalarEvent
        self.sequence_event = yaml.SequenceStartEvent
        self.alias_event = yaml.AliasEvent
        self.ends = (yaml.SequenceEndEvent, yaml.MappingEndEvent)
        self.composer_error = yaml.composer.ComposerError
        self.python_composer = isinstance(loader, yaml.composer.Composer)  # no libyaml
        self.untagged = {
            event: loader.resolve(node, None, True)
            for event, node in (
                (yaml.SequenceStartEvent, yaml.SequenceNode),
                (yaml.MappingStartEvent, yaml.MappingNode),
            )
        }

    # --- the document, from events ------------------------------------------------------

    def document(self) -> Any:
        """The one document's data (`empty` when there is none)."""
        import yaml

        get = self.loader.get_event
        get()  # the stream's start
        if self.loader.check_event(yaml.StreamEndEvent):
            self.empty = True
            return None
        get()  # the document's start
        event = get()
        self.root_mark = event.start_mark
        try:
            data = self.value(event, (), 0)
        except SpecError:
            self._rest()
            raise
        get()  # the document's end
        self._single()
        return data

    def _rest(self) -> None:
        """Read the events after a problem found while building: a syntax error, the value
        limit, an undefined alias or a second document further on is reported instead."""
        import yaml

        get = self.loader.get_event
        opening = (yaml.ScalarEvent, yaml.SequenceStartEvent, yaml.MappingStartEvent)
        while True:
            event = get()
            cls = event.__class__
            if cls is yaml.DocumentEndEvent:
                self._single()
                return
            if cls is self.alias_event:
                self._open(event)
                if event.anchor not in self.anchors:
                    raise self._undefined(event)
            elif cls in opening:
                self._open(event)
                self._anchor(event, event)

    def _single(self) -> None:
        import yaml

        if not self.loader.check_event(yaml.StreamEndEvent):
            event = self.loader.get_event()
            raise self.composer_error(
                "expected a single document in the stream",
                self.root_mark,
                "but found another document",
                event.start_mark,
            )

    def _open(self, event: Any) -> None:
        self.opened += 1
        if self.opened > MAX_NODES:
            raise _TooManyNodes(event.start_mark)

    def _anchor(self, event: Any, node: Any) -> None:
        anchor = event.anchor
        if anchor is not None:
            if anchor in self.anchors:
                raise self.composer_error(
                    f"found duplicate anchor{self._named(anchor)}; first occurrence",
                    self.anchors[anchor].start_mark,
                    "second occurrence",
                    event.start_mark,
                )
            self.anchors[anchor] = node

    def _named(self, anchor: str) -> str:
        """The anchor in a composer's message, as PyYAML's own composer words it (libyaml's
        leaves the name out)."""
        return f" {anchor!r}" if self.python_composer else ""

    def _undefined(self, event: Any) -> Exception:
        return self.composer_error(None, None, f"found undefined alias{self._named(event.anchor)}", event.start_mark)

    def _tag(self, event: Any, kind: Any) -> str:
        tag = event.tag
        if tag is None or tag == "!":
            tag = self.loader.resolve(kind, event.value if kind is self.scalar_node else None, event.implicit)
        return tag

    def value(self, event: Any, loc: Loc, depth: int) -> Any:
        """The value that `event` opens, built as its events come."""
        cls = event.__class__
        if cls is self.scalar_event and event.tag is None and event.anchor is None and event.implicit[0]:
            # A plain scalar built before (`16`, `ReLU`), when no limit is reached: taken
            # without the checks and calls below, which were most of the time spent loading
            # a 10,000-layer chain (60,000 events, most of them such scalars). An untagged,
            # unanchored plain scalar's value depends on its text alone, and `plain` holds
            # only texts that passed every check.
            value = self.plain.get(event.value, _UNKNOWN)
            if value is not _UNKNOWN and self.opened < MAX_NODES and self.count < MAX_NODES and depth <= MAX_DEPTH:
                self.opened += 1
                self.count += 1
                if self.record:
                    mark = event.start_mark
                    self.value_pos[loc] = (mark.line + 1, mark.column + 1)
                return value
        if cls is self.alias_event or event.anchor is not None:
            return self.build(self.compose(event, depth), loc, depth)
        self.opened += 1  # _open's and _limits' checks written out: this runs for every collection
        if self.opened > MAX_NODES:
            raise _TooManyNodes(event.start_mark)
        if cls is self.scalar_event:
            tag = self._tag(event, self.scalar_node)
        elif event.tag is None:  # an untagged collection's tag depends on its kind alone
            tag = self.untagged[cls]
        else:
            tag = self._tag(event, self.nodes[1 if cls is self.sequence_event else 2])
        self.count += 1
        mark = event.start_mark
        if self.count > MAX_NODES or depth > MAX_DEPTH or tag not in _CORE_TAGS:
            self._limits(tag, mark, depth)
        if self.record:
            self.value_pos[loc] = (mark.line + 1, mark.column + 1)
        if cls is self.scalar_event:
            text = event.value
            value = self._scalar(tag, text, mark)
            if event.tag is None and event.implicit[0]:
                self._remember(text, value)
            return value
        if event.tag is not None and tag != (_SEQ if cls is self.sequence_event else _MAP):
            raise self._misfit(tag, "a list" if cls is self.sequence_event else "a mapping", mark)
        if cls is self.sequence_event:
            return self._sequence(loc, depth + 1)
        return self._mapping(loc, depth, mark)

    def _remember(self, text: str, value: Any) -> None:
        """Keep the value of a plain, untagged scalar that passed every check, by its text."""
        if len(self.plain) < 4096 and len(text) <= 64:  # bounded, against hostile files
            self.plain[text] = value

    def _sequence(self, loc: Loc, depth: int) -> list[Any]:
        """A sequence's items (at `depth`), read up to its end."""
        get, end = self.loader.get_event, self.ends[0]
        items: list[Any] = []
        event = get()
        while event.__class__ is not end:
            items.append(self.value(event, loc + (len(items),), depth))
            event = get()
        return items

    def _mapping(self, loc: Loc, depth: int, mark: Any) -> dict[Any, Any]:
        get = self.loader.get_event
        end, scalar_event, known = self.ends[1], self.scalar_event, self.plain.get
        record, key_pos, value_pos = self.record, self.key_pos, self.value_pos
        inner = depth + 1  # of the keys and values
        mapping: dict[Any, Any] = {}
        marks: dict[Any, tuple[int, int]] = {}
        merges: list[tuple[Any, Any]] = []  # `<<` pairs, as nodes: merged after, placed first
        event = get()
        while event.__class__ is not end:
            start = event.start_mark
            plain = event.__class__ is scalar_event and event.anchor is None and event.tag is None and event.implicit[0]
            if plain and known(event.value).__class__ is str and self.opened < MAX_NODES:
                # A plain string key (cached values of type str are the str tag's).
                self.opened += 1
                self.count += 1
                key = event.value
            elif event.__class__ is scalar_event and event.anchor is None:
                tag = self._tag(event, self.scalar_node)
                if tag == _MERGE:
                    self._open(event)
                    key_node = self.scalar_node(tag, event.value, event.start_mark, event.end_mark)
                    merges.append((key_node, self.compose(get(), inner)))
                    event = get()
                    continue
                if tag in (_STR, _VALUE):  # a plain string (`=` too, as PyYAML reads a key)
                    self._open(event)
                    self.count += 1
                    key = event.value
                    if plain and tag == _STR:
                        self._remember(key, key)
                else:
                    key = self.value(event, loc + ("<key>",), inner)
                    value_pos.pop(loc + ("<key>",), None)
            else:
                key_node = self.compose(event, inner)
                start = key_node.start_mark  # an alias's is its anchor's, as for any node
                key = self._key(key_node, loc, inner)
            if not isinstance(key, (str, int, bool, float)) and key is not None:
                raise self._fatal(start, "yaml-unsupported", "mapping keys must be plain scalars")
            key_loc = loc + (key,)
            key_mark = (start.line + 1, start.column + 1)
            if key in mapping:
                self._duplicate(key, key_loc, marks[key], key_mark)
                self.compose(get(), inner)  # read, never built (as the first value wins)
            else:
                marks[key] = key_mark
                if record:
                    key_pos[key_loc] = key_mark
                mapping[key] = self.value(get(), key_loc, inner)
            event = get()
        if merges:
            mapping = self._merged(merges, mapping, loc, depth, mark)
        return mapping

    def compose(self, event: Any, depth: int) -> Any:
        """The node of an alias (its anchor's) or of a value read as nodes (an anchored one,
        a merge key's value, a duplicate key's value)."""
        import yaml

        cls = event.__class__
        self._open(event)
        if cls is self.alias_event:
            node = self.anchors.get(event.anchor)
            if node is None:
                raise self._undefined(event)
            return node
        if depth > MAX_DEPTH:
            raise self._fatal(event.start_mark, "limit", f"nesting deeper than {MAX_DEPTH} levels")
        if cls is self.scalar_event:
            node = self.scalar_node(self._tag(event, self.scalar_node), event.value, event.start_mark, event.end_mark)
            self._anchor(event, node)
            return node
        get = self.loader.get_event
        if cls is self.sequence_event:
            node = yaml.SequenceNode(self._tag(event, yaml.SequenceNode), [], event.start_mark, None)
            self._anchor(event, node)
            item = get()
            while item.__class__ is not self.ends[0]:
                node.value.append(self.compose(item, depth + 1))
                item = get()
        else:
            node = yaml.MappingNode(self._tag(event, yaml.MappingNode), [], event.start_mark, None)
            self._anchor(event, node)
            item = get()
            while item.__class__ is not self.ends[1]:
                key = self.compose(item, depth + 1)
                node.value.append((key, self.compose(get(), depth + 1)))
                item = get()
        node.end_mark = item.end_mark
        return node

    def _merged(self, merges: list[tuple[Any, Any]], written: dict[Any, Any], loc: Loc, depth: int, start: Any) -> Any:
        """A mapping's `<<: *base` pairs go first; a written key overrides a merged one."""
        import yaml

        node = yaml.MappingNode(_MAP, merges, start, start)
        self._flatten(node)
        merged: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = self._key(key_node, loc, depth + 1)
            if not isinstance(key, (str, int, bool, float)) and key is not None:
                raise self._fatal(key_node.start_mark, "yaml-unsupported", "mapping keys must be plain scalars")
            key_loc = loc + (key,)
            merged.pop(key, None)  # of two merged pairs the later wins (PyYAML's order)
            if key in written:
                # Built and checked, but the written value and its positions stand.
                record, self.record = self.record, False
                try:
                    self.build(value_node, key_loc, depth + 1)
                finally:
                    self.record = record
                continue
            if self.record:
                self.key_pos[key_loc] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            merged[key] = self.build(value_node, key_loc, depth + 1)
        return {**merged, **written}

    def _flatten(self, node: Any) -> None:
        import yaml

        try:
            self.loader.flatten_mapping(node)  # `<<: *base` pairs go first; written keys override them
        except yaml.constructor.ConstructorError as exc:
            mark = exc.problem_mark or node.start_mark
            message = "a merge key `<<` takes a mapping or a list of mappings (`<<: *base`)"
            problem = Problem(self.source.path, mark.line + 1, mark.column + 1, "error", "yaml-unsupported", message)
            raise SpecError([*self.source.problems(self.issues), problem]) from None

    def _duplicate(self, key: Any, key_loc: Loc, first: tuple[int, int], key_mark: tuple[int, int]) -> None:
        dup_loc = key_loc + ("<duplicate>",)
        if self.record:
            self.key_pos[dup_loc] = key_mark
        message = f"duplicate key {key!r} (first at line {first[0]}); remove one"
        self.issues.append(Issue(dup_loc, "yaml-unsupported", message, at_key=True))

    # --- nodes: what an alias repeats ----------------------------------------------------

    def build(self, node: Any, loc: Loc, depth: int) -> Any:
        self.count += 1
        repeated = False
        if self.aliasing:
            node_id = id(node)
            repeated = node_id in self.seen
            self.seen.add(node_id)
        if repeated and not self.in_alias:
            self.alias_loc = loc  # where the outermost repetition is used, for the message
        self.in_alias += repeated
        try:
            self._check(node, depth)
            mark = node.start_mark
            if self.record:
                self.value_pos[loc] = (mark.line + 1, mark.column + 1)
            if node.__class__ is self.scalar_node:
                return self._scalar(node.tag, node.value, mark)
            return self._collection(node, loc, depth)
        finally:
            self.in_alias -= repeated

    def _check(self, node: Any, depth: int) -> None:
        """The limits and refusals every node goes through."""
        if self.in_alias:
            self.aliased += 1
            if self.aliased > MAX_ALIASED:
                # An alias's node carries its anchor's position; the key that holds the
                # alias is the place to point at.
                where = self.alias_loc
                while where and where not in self.key_pos:
                    where = where[:-1]
                line, col = self.source.locate(where, at_key=True)
                message = f"YAML aliases repeat more than {MAX_ALIASED:,} values here (an alias bomb?)"
                raise SpecError(
                    self.source.problems(self.issues)
                    + [Problem(self.source.path, line, col, "error", "limit", message)]
                )
        self._limits(node.tag, node.start_mark, depth)
        if id(node) in self.active:
            raise self._fatal(node.start_mark, "yaml-unsupported", "a YAML alias refers to itself")

    def _limits(self, tag: str, mark: Any, depth: int) -> None:
        """The limits and refusals every value goes through."""
        if self.count > MAX_NODES:
            raise self._fatal(mark, "limit", f"the document expands to more than {MAX_NODES:,} values (alias bomb?)")
        if depth > MAX_DEPTH:
            raise self._fatal(mark, "limit", f"nesting deeper than {MAX_DEPTH} levels")
        if tag not in _CORE_TAGS:
            raise self._fatal(mark, "yaml-unsupported", f"YAML tag {_shown(tag)!r} is not allowed in a spec; remove it")

    def _misfit(self, tag: str, what: str, mark: Any) -> SpecError:
        """A core tag on a value of another kind (`!!map 5`, `!!int [1, 2]`): PyYAML's
        constructors refuse it, and so does a spec."""
        return self._fatal(mark, "yaml-unsupported", f"YAML tag {_shown(tag)!r} does not fit {what}; remove it")

    def _scalar(self, tag: str, text: str, mark: Any) -> Any:
        import yaml

        if tag == _STR:
            return text
        if tag in (_SEQ, _MAP):
            raise self._misfit(tag, "a plain value", mark)
        key = (tag, text)
        if key in self.scalars:
            return self.scalars[key]
        try:
            # The tag's constructor directly: construct_object's bookkeeping is for
            # recursive collections, which scalars never are.
            value = self.loader.yaml_constructors[tag](self.loader, self.scalar_node(tag, text, mark, mark))
        except (yaml.YAMLError, ValueError) as exc:
            raise self._fatal(mark, "yaml-syntax", f"bad scalar: {exc}") from None
        if len(self.scalars) < 4096 and len(text) <= 64:  # bounded, against hostile files
            self.scalars[key] = value
        return value

    def _key(self, node: Any, loc: Loc, depth: int) -> Any:
        """A mapping key: almost always a plain string, built without recording a position."""
        if node.__class__ is self.scalar_node and node.tag == _STR and not (self.aliasing and id(node) in self.seen):
            self.count += 1
            if self.aliasing:
                self.seen.add(id(node))
            return node.value
        key = self.build(node, loc + ("<key>",), depth)
        self.value_pos.pop(loc + ("<key>",), None)
        return key

    def _collection(self, node: Any, loc: Loc, depth: int) -> Any:
        import yaml

        sequence = isinstance(node, yaml.SequenceNode)
        if node.tag != (_SEQ if sequence else _MAP):
            raise self._misfit(node.tag, "a list" if sequence else "a mapping", node.start_mark)
        self.active.add(id(node))
        try:
            if sequence:
                return [self.build(item, loc + (i,), depth + 1) for i, item in enumerate(node.value)]
            written = {id(key_node) for key_node, _ in node.value}
            self._flatten(node)
            merged: set[Any] = set()
            marks: dict[Any, tuple[int, int]] = {}
            mapping: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self._key(key_node, loc, depth + 1)
                if not isinstance(key, (str, int, bool, float)) and key is not None:
                    raise self._fatal(key_node.start_mark, "yaml-unsupported", "mapping keys must be plain scalars")
                key_loc = loc + (key,)
                key_mark = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                if key in merged:
                    # A written key overrides a merged one; of two merged pairs the later wins
                    # (PyYAML's order), as yaml.safe_load would build it.
                    merged.discard(key)
                    del mapping[key]
                if id(key_node) not in written:
                    merged.add(key)
                if key in mapping:
                    self._duplicate(key, key_loc, marks[key], key_mark)
                    continue
                marks[key] = key_mark
                if self.record:
                    self.key_pos[key_loc] = key_mark
                mapping[key] = self.build(value_node, key_loc, depth + 1)
            return mapping
        finally:
            self.active.discard(id(node))

    def _fatal(self, mark: Any, code: str, message: str) -> SpecError:
        line, col = mark.line + 1, mark.column + 1
        return SpecError(
            self.source.problems(self.issues) + [Problem(self.source.path, line, col, "error", code, message)]
        )
