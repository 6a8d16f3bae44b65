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

_STR = "tag:yaml.org,2002:str"
_CORE_TAGS = {
    "tag:yaml.org,2002:" + name for name in ("str", "int", "float", "bool", "null", "seq", "map", "timestamp")
}


@dataclass
class Source:
    """A loaded spec document with the position of every value and mapping key."""

    path: str
    data: Any
    value_pos: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    key_pos: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    pending: list[Problem] = field(default_factory=list)  # found while loading, reported with later ones
    text: str = ""  # the document, for tools that read comments (lint's suppressions)

    def locate(self, loc: Loc, at_key: bool = False) -> tuple[int, int]:
        """Position of the value at `loc` (or its key), else of its nearest located parent."""
        loc = tuple(loc)
        if at_key and loc in self.key_pos:
            return self.key_pos[loc]
        while loc:
            if loc in self.value_pos:
                return self.value_pos[loc]
            loc = loc[:-1]
        return self.value_pos.get((), (1, 1))

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


class _TooManyNodes(Exception):
    def __init__(self, mark: Any):
        self.mark = mark


def _count_nodes(loader: Any) -> None:
    """Walk the document's parse events (libyaml's, before any node is built) and stop at
    the first value past MAX_NODES: libyaml's composer cannot be interrupted, and a 16 MB
    file of `1,1,1,...` composes to 8 million nodes and gigabytes before any check."""
    import yaml

    opening = (yaml.ScalarEvent, yaml.SequenceStartEvent, yaml.MappingStartEvent, yaml.AliasEvent)
    count = 0
    while loader.check_event():
        event = loader.get_event()
        if isinstance(event, opening):
            count += 1
            if count > MAX_NODES:
                raise _TooManyNodes(event.start_mark)


def _node_bound(text: str) -> int:
    """More than the number of nodes the text can compose to (aliases counted once): every
    node after the root is opened by one of `-`, `[`, `{`, `,`, `:` or `?` (a `:` opens a
    mapping, its key and its value). Cheap (str.count), so only a text that might pass
    MAX_NODES pays for counting its parse events first."""
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
    import yaml

    loader_cls = loader_class()
    loader = None
    try:
        try:
            if _node_bound(text) > MAX_NODES:
                loader = loader_cls(text)
                _count_nodes(loader)
                loader.dispose()
            loader = loader_cls(text)  # the pure-Python reader checks characters here
            root = loader.get_single_node()
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
        source = Source(path, None, text=text)
        if root is None:
            raise _problem(path, 1, 1, "schema", "the file is empty; a spec needs `input` and `layers`")
        builder = _Builder(loader, source)
        source.data = builder.build(root, (), 0)
        source.pending = source.problems(builder.issues)
    finally:
        if loader is not None:
            loader.dispose()
    from cnnshape.dialects import recognise  # another format's file (Ultralytics) becomes its native spec

    return recognise(source)


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
    """Walks a composed YAML node tree into Python data, recording positions."""

    def __init__(self, loader: Any, source: Source):
        self.loader = loader
        self.source = source
        self.issues: list[Issue] = []
        self.count = 0
        self.active: set[int] = set()
        self.seen: set[int] = set()
        # Only an alias (`*name`, merge keys included) puts one node in two places; a text
        # without `*` has none, and skips the bookkeeping (about 150 MiB of ids for a
        # written-out 250,000-layer file).
        self.aliasing = "*" in (source.text or "")
        self.aliased = 0  # values built again because an alias repeats them
        self.in_alias = 0
        self.alias_loc: Loc = ()
        # Non-string scalars by (tag, text): ints, floats, booleans and nulls are immutable,
        # and a spec repeats the same few (`3`, `1`, `true`) thousands of times; PyYAML's
        # int constructor was a quarter of the time spent loading a 10,000-layer chain.
        self.scalars: dict[tuple[str, str], Any] = {}
        import yaml

        self.scalar_node = yaml.ScalarNode

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
            self.source.value_pos[loc] = (mark.line + 1, mark.column + 1)
            if node.__class__ is self.scalar_node:
                return self._scalar(node)
            return self._collection(node, loc, depth)
        finally:
            self.in_alias -= repeated

    def _check(self, node: Any, depth: int) -> None:
        """The limits and refusals every value goes through."""
        if self.in_alias:
            self.aliased += 1
            if self.aliased > MAX_ALIASED:
                # An alias's node carries its anchor's position; the key that holds the
                # alias is the place to point at.
                where = self.alias_loc
                while where and where not in self.source.key_pos:
                    where = where[:-1]
                line, col = self.source.locate(where, at_key=True)
                message = f"YAML aliases repeat more than {MAX_ALIASED:,} values here (an alias bomb?)"
                raise SpecError(
                    self.source.problems(self.issues)
                    + [Problem(self.source.path, line, col, "error", "limit", message)]
                )
        if self.count > MAX_NODES:
            raise self._fatal(node, "limit", f"the document expands to more than {MAX_NODES:,} values (alias bomb?)")
        if depth > MAX_DEPTH:
            raise self._fatal(node, "limit", f"nesting deeper than {MAX_DEPTH} levels")
        if node.tag not in _CORE_TAGS:
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            raise self._fatal(node, "yaml-unsupported", f"YAML tag {tag!r} is not allowed in a spec; remove it")
        if id(node) in self.active:
            raise self._fatal(node, "yaml-unsupported", "a YAML alias refers to itself")

    def _scalar(self, node: Any) -> Any:
        import yaml

        if node.tag == _STR:
            return node.value
        key = (node.tag, node.value)
        if key in self.scalars:
            return self.scalars[key]
        try:
            # The tag's constructor directly: construct_object's bookkeeping is for
            # recursive collections, which scalars never are.
            value = self.loader.yaml_constructors[node.tag](self.loader, node)
        except (yaml.YAMLError, ValueError) as exc:
            raise self._fatal(node, "yaml-syntax", f"bad scalar: {exc}") from None
        if len(self.scalars) < 4096 and len(node.value) <= 64:  # bounded, against hostile files
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
        self.source.value_pos.pop(loc + ("<key>",), None)
        return key

    def _collection(self, node: Any, loc: Loc, depth: int) -> Any:
        import yaml

        self.active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return [self.build(item, loc + (i,), depth + 1) for i, item in enumerate(node.value)]
            written = {id(key_node) for key_node, _ in node.value}
            try:
                self.loader.flatten_mapping(node)  # `<<: *base` pairs go first; written keys override them
            except yaml.constructor.ConstructorError as exc:
                mark = exc.problem_mark or node.start_mark
                message = "a merge key `<<` takes a mapping or a list of mappings (`<<: *base`)"
                problem = Problem(
                    self.source.path, mark.line + 1, mark.column + 1, "error", "yaml-unsupported", message
                )
                raise SpecError([*self.source.problems(self.issues), problem]) from None
            merged: set[Any] = set()
            mapping: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self._key(key_node, loc, depth + 1)
                if not isinstance(key, (str, int, bool, float)) and key is not None:
                    raise self._fatal(key_node, "yaml-unsupported", "mapping keys must be plain scalars")
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
                    first = self.source.key_pos[key_loc]
                    dup_loc = key_loc + ("<duplicate>",)
                    self.source.key_pos[dup_loc] = key_mark
                    self.issues.append(
                        Issue(
                            dup_loc,
                            "yaml-unsupported",
                            f"duplicate key {key!r} (first at line {first[0]}); remove one",
                            at_key=True,
                        )
                    )
                    continue
                self.source.key_pos[key_loc] = key_mark
                mapping[key] = self.build(value_node, key_loc, depth + 1)
            return mapping
        finally:
            self.active.discard(id(node))

    def _fatal(self, node: Any, code: str, message: str) -> SpecError:
        line, col = node.start_mark.line + 1, node.start_mark.column + 1
        return SpecError(
            self.source.problems(self.issues) + [Problem(self.source.path, line, col, "error", code, message)]
        )
