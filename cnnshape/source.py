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
    "tag:yaml.org,2002:" + name
    for name in ("str", "int", "float", "bool", "null", "seq", "map", "timestamp")
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


def load_file(path: str | Path) -> Source:
    """Read and parse a spec file; raises SpecError with located problems."""
    name = str(path)
    try:
        raw = Path(path).read_bytes()
    except IsADirectoryError:
        raise _problem(name, 1, 1, "file-unreadable", "is a directory, not a spec file") from None
    except FileNotFoundError:
        raise _problem(name, 1, 1, "file-unreadable", "no such file") from None
    except OSError as exc:
        raise _problem(name, 1, 1, "file-unreadable", f"cannot read: {exc.strerror}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise _problem(
            name, 1, 1, "limit",
            f"file is {len(raw):,} bytes; the limit is {MAX_FILE_BYTES:,} bytes",
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        col = len(before[before.rfind(b"\n") + 1 :].decode("utf-8-sig")) + 1  # characters, not bytes
        raise _problem(
            name, line, col, "file-unreadable",
            f"byte 0x{raw[exc.start]:02x} is not UTF-8; save the file as UTF-8",
        ) from None
    return load_text(text, name)


_LOADER: Any = None


def loader_class() -> Any:
    """PyYAML's safe loader (libyaml when available) that also reads `1e-5` and `1.5e2` as
    numbers: YAML 1.1 wants a dot and a signed exponent (`1.0e-5`, `1.5e+2`), a trap for
    everyone who copies PyTorch defaults."""
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
        _LOADER.add_implicit_resolver(
            "tag:yaml.org,2002:float",
            re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
            list("-+.0123456789"),
        )
    return _LOADER


def load_scalar(text: str) -> Any:
    """A command-line value read like a YAML value in a spec (`10`, `0.5`, `1e-3`, `true`, `[1, 2]`)."""
    import yaml

    loader = loader_class()(text)
    try:
        return loader.get_single_data()
    except yaml.YAMLError:
        return text
    finally:
        loader.dispose()


def load_text(text: str, path: str = "<string>") -> Source:
    """Parse YAML text into plain Python data plus positions."""
    import yaml

    loader_cls = loader_class()
    loader = None
    try:
        try:
            loader = loader_cls(text)  # the pure-Python reader checks characters here
            root = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            line, col, message = _syntax_error(text, exc)
            raise _problem(path, line, col, "yaml-syntax", message) from None
        except yaml.reader.ReaderError as exc:
            line, col = offset_position(text, exc.position, loader_cls is not yaml.SafeLoader)
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
    at_end = mark is not None and not "\n".join(lines[mark.line:])[mark.column:].strip()
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
            fix = f"indent it by {indent} space{'s' if indent != 1 else ''}" if indent else "start it at the beginning of the line"
            return (f"; this line starts at column {here + 1}, but the {what} it seems to continue (line {number}) "
                    f"starts at column {indent + 1}: {fix} (YAML reads nesting from indentation only)")
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
                raise SpecError(self.source.problems(self.issues) + [Problem(self.source.path, line, col, "error", "limit", message)])
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
        if node.__class__ is self.scalar_node and node.tag == _STR and id(node) not in self.seen:
            self.count += 1
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
            self.loader.flatten_mapping(node)  # `<<: *base` pairs go first; written keys override them
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
                    self.issues.append(Issue(
                        dup_loc, "yaml-unsupported",
                        f"duplicate key {key!r} (first at line {first[0]}); remove one",
                        at_key=True,
                    ))
                    continue
                self.source.key_pos[key_loc] = key_mark
                mapping[key] = self.build(value_node, key_loc, depth + 1)
            return mapping
        finally:
            self.active.discard(id(node))

    def _fatal(self, node: Any, code: str, message: str) -> SpecError:
        line, col = node.start_mark.line + 1, node.start_mark.column + 1
        return SpecError(self.source.problems(self.issues) + [Problem(self.source.path, line, col, "error", code, message)])
