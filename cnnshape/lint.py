"""`cnnshape lint`: every spec file checked, every problem found, nothing stops early.

A file's problems are its spec errors (everything `summary` rejects) plus the findings of
the rules below, filtered by configuration and suppression comments. Rules only read
what the layers and the analysis computed (layer findings, the graph, the report); they
never look at layer types.
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

from cnnshape.errors import Issue, Problem, SpecError
from cnnshape.source import offset_position

# --- rules ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """A lint rule: a stable code, its default severity and what it means."""

    code: str
    severity: str
    summary: str
    check: Optional[Callable[["Context"], Iterable[Issue]]] = None  # None: found by the layers/analysis


RULES: dict[str, Rule] = {}


def _rule(code: str, summary: str, severity: str = "warning", check: Optional[Callable] = None) -> None:
    RULES[code] = Rule(code, severity, summary, check)


@dataclass
class Context:
    """What a rule may read about one analysed file."""

    source: Any
    spec: Any
    graph: Any
    report: Any
    config: "Config"

    def __post_init__(self) -> None:
        self.nodes = {node.name: node for node in self.graph.nodes[1:] if node.layer is not None}
        self.consumers: dict[Any, list[Any]] = {}
        for node in self.graph.nodes[1:]:
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
            yield Issue(written if written in ctx.source.key_pos else node.loc, "bias-before-norm", (
                f"{name} ({node.kind}) has a bias ({bias:,} parameters) that {user.name} ({user.kind}) "
                "cancels by subtracting each channel's mean; set bias: false"
            ), at_key=True)


def _unused_output(ctx: Context) -> Iterable[Issue]:
    used = {ref for ref in ctx.consumers} | set(ctx.graph.outputs)
    for name, node in ctx.nodes.items():
        outputs = node.layer.num_outputs()
        if not any((node.index, i) in used for i in range(outputs)):
            yield Issue(node.loc, "unused-output", (
                f"nothing uses the output of {name} ({node.kind}): it is neither read by a later layer "
                "nor listed in `outputs`"
            ), at_key=True)


def _dominant_layer(ctx: Context) -> Iterable[Issue]:
    total = ctx.report.totals.params
    share = ctx.config.dominant_share
    with_params = [row for row in ctx.report.rows if not row.is_block and row.params]
    if total == 0 or len(with_params) < 3:
        return
    for row in with_params:
        if row.params > share * total:
            node = ctx.nodes[row.name]
            yield Issue(node.loc, "dominant-layer", (
                f"{row.name} ({row.kind}) holds {row.params:,} of {total:,} parameters "
                f"({100 * row.params / total:.0f}%, more than {100 * share:.0f}%): most of the model's size "
                "and overfitting risk sits in one layer; check that its input or width is meant to be this large"
            ), at_key=True)


_rule("dropped-input", "a convolution or pooling window does not tile its input: the last rows/columns are never read")
_rule("even-kernel-padding", "an even kernel with symmetric padding shifts the output centre by half a position")
_rule("collapsed-input", "a window slides over a map that is already 1 wide, or a pool enlarges its input: the map shrank too early")
_rule("bias-before-norm", "a convolution or linear layer's bias is cancelled by the batch/instance norm right after it", check=_bias_before_norm)
_rule("unused-output", "a layer whose output nothing reads and that is not a network output", check=_unused_output)
_rule("dominant-layer", "one layer holds most of the network's parameters", check=_dominant_layer)
_rule("unaligned-rf", "paths merged with different receptive-field stride or centre")
_rule("unbatched-input", "layers read their input without a batch dimension: usually an input shape written without its batch")
_rule("unused-block", "a block is defined but never used, so its layers are not checked")
_rule("layer-warning", "legal arguments that are likely a mistake (e.g. Softmax relying on an implicit dim)")
_rule("budget", "the network exceeds a budget: parameters, MACs, FLOPs or memory", severity="error")
_rule("expect", "an expectation in the spec's `expect:` section does not hold", severity="error")


# --- configuration ----------------------------------------------------------------------

BUDGETS = {
    "max_params": ("params", "parameters"),
    "max_macs": ("macs", "MACs"),
    "max_flops": ("flops", "FLOPs"),
    "max_param_bytes": ("param_bytes", "bytes of parameters"),
    "max_activation_bytes": ("activation_bytes", "bytes of activations"),
}


class ConfigError(Exception):
    """Bad configuration or options: a usage error (exit 2). A `located` message already
    starts with its place (`pyproject.toml:5:1: error: ...`), like a spec problem."""

    def __init__(self, message: str, located: bool = False):
        super().__init__(message)
        self.located = located


class _BadEntry(Exception):
    """One bad entry of a configuration table: the message, and where it is as a key path
    in the table (a list item's index last); `at_key` points at the key, not its value."""

    def __init__(self, loc: tuple, message: str, at_key: bool = False):
        super().__init__(message)
        self.loc, self.message, self.at_key = loc, message, at_key


@dataclass
class Config:
    select: Optional[set[str]] = None  # None: every rule
    ignore: set[str] = field(default_factory=set)
    severity: dict[str, str] = field(default_factory=dict)
    budgets: dict[str, int] = field(default_factory=dict)
    budget_origins: dict[str, str] = field(default_factory=dict)  # where each budget was set
    dominant_share: float = 0.5
    strict: bool = False
    origin: str = ""  # where the configuration came from, for messages

    def enabled(self, code: str) -> bool:
        return (self.select is None or code in self.select) and code not in self.ignore

    def severity_of(self, code: str, default: str) -> str:
        return self.severity.get(code, default)


CONFIG_KEYS = ["select", "ignore", "severity", "strict", "dominant-share"] + [k.replace("_", "-") for k in BUDGETS]


def _near(word: Any, known: list[str]) -> str:
    """"; did you mean 'x'?" for a near miss of a known name, else ""."""
    import difflib

    from cnnshape.layers import did_you_mean

    return did_you_mean(difflib.get_close_matches(word, known, n=1)) if isinstance(word, str) else ""


def _unknown(word: str, known: list[str], what: str) -> str:
    return _near(word, known) or f"; known {what}: {', '.join(known)}"


def _codes(values: Any, key: str) -> set[str]:
    if not isinstance(values, list):
        raise _BadEntry((key,), f"{key}: expected a list of rule codes")
    for index, code in enumerate(values):
        if not isinstance(code, str):
            raise _BadEntry((key, index), f"{key}: expected a list of rule codes, got {code!r}")
        if code not in RULES:
            raise _BadEntry((key, index), f"{key}: unknown rule {code!r}{_unknown(code, list(RULES), 'rules')}")
    return set(values)


def _read_table(table: dict[str, Any], origin: str) -> Config:
    from cnnshape.quantity import parse_quantity

    config = Config(origin=origin)
    for raw_key, value in table.items():
        key = raw_key.replace("-", "_")
        if key == "select":
            config.select = _codes(value, raw_key)
        elif key == "ignore":
            config.ignore = _codes(value, raw_key)
        elif key == "severity":
            if not isinstance(value, dict):
                raise _BadEntry((raw_key,), f"{raw_key}: expected a table of rule = \"error\" | \"warning\"")
            for code, level in value.items():
                if code not in RULES:
                    hint = _unknown(code, list(RULES), "rules")
                    raise _BadEntry((raw_key, code), f"{raw_key}: unknown rule {code!r}{hint}", at_key=True)
                if level not in ("error", "warning"):
                    raise _BadEntry((raw_key, code), (
                        f"{raw_key}: severities are \"error\" or \"warning\", got {level!r}{_near(level, ['error', 'warning'])}"
                    ))
            config.severity = dict(value)
        elif key in BUDGETS:
            try:
                config.budgets[key] = parse_quantity(value)
                config.budget_origins[key] = origin
            except ValueError as exc:
                raise _BadEntry((raw_key,), f"{raw_key}: {exc}") from None
        elif key == "dominant_share":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
                raise _BadEntry((raw_key,), f"{raw_key}: expected a fraction between 0 and 1, got {value!r}")
            config.dominant_share = float(value)
        elif key == "strict":
            if not isinstance(value, bool):
                raise _BadEntry((raw_key,), f"{raw_key}: expected true or false, got {value!r}")
            config.strict = value
        else:
            # Suggest the spelling the user writes: both max-params and max_params work.
            known = CONFIG_KEYS if "_" not in raw_key else [k.replace("-", "_") for k in CONFIG_KEYS]
            raise _BadEntry((raw_key,), f"{raw_key}: unknown key{_unknown(raw_key, known, 'keys')}", at_key=True)
    return config


def config_from_table(
    table: dict[str, Any], origin: str, place: Optional[Callable[[tuple, bool], str]] = None,
) -> Config:
    """`[tool.cnnshape]` (keys with - or _) into a Config; raises ConfigError. `place` turns
    a bad entry's key path (and whether the key or its value is meant) into the
    `file:line:col` its message starts with; without it (the command line has no lines)
    the message starts with `origin`."""
    try:
        return _read_table(table, origin)
    except _BadEntry as bad:
        if place is None:
            raise ConfigError(f"{origin}: {bad.message}") from None
        raise ConfigError(f"{place(bad.loc, bad.at_key)}: error: {bad.message}", located=True) from None


def find_pyproject(start: Path) -> Optional[Path]:
    for folder in [start, *start.parents]:
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def _tomllib() -> Any:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    return tomllib


def _shown(path: Path) -> str:
    """A path as the user would write it: relative to the current directory, like the spec
    paths lint reports."""
    try:
        return os.path.relpath(path, Path.cwd().resolve())
    except ValueError:  # on another drive (Windows)
        return str(path)


def load_config(start: Optional[Path] = None) -> Config:
    """The `[tool.cnnshape]` table of the nearest pyproject.toml that has one (walking up
    from `start`, so a sub-project's pyproject without the table does not hide the root's),
    or the defaults. Every error in it says `file:line:col: error: ...`."""
    tomllib = _tomllib()
    folder = (start or Path.cwd()).resolve()
    for candidate in (f / "pyproject.toml" for f in [folder, *folder.parents]):
        if not candidate.is_file():
            continue
        shown = _shown(candidate)
        try:
            raw = candidate.read_bytes()
            text = raw.decode("utf-8")
        except OSError as exc:
            raise ConfigError(f"{shown}: error: cannot read: {exc.strerror or exc}", located=True) from None
        except UnicodeDecodeError as exc:
            before = raw[:exc.start].decode("utf-8")  # the valid text up to the bad byte
            line, col = offset_position(before, len(before))
            raise ConfigError(f"{shown}:{line}:{col}: error: cannot read: not UTF-8 ({exc.reason})", located=True) from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            line, col, message = _decode_error(text, str(exc))
            raise ConfigError(f"{shown}:{line}:{col}: error: cannot read: {message}", located=True) from None
        tool = data.get("tool")
        table = tool.get("cnnshape") if isinstance(tool, dict) else None
        if table is None:
            continue

        def place(loc: tuple, at_key: bool, text: str = text, shown: str = shown) -> str:
            line, col = _TomlPositions(text).locate(("tool", "cnnshape") + loc, at_key)
            return f"{shown}:{line}:{col}"

        if not isinstance(table, dict):
            raise ConfigError(f"{place((), False)}: error: [tool.cnnshape] must be a table", located=True)
        return config_from_table(table, f"{shown} [tool.cnnshape]", place)
    return Config()


def _decode_error(text: str, message: str) -> tuple[int, int, str]:
    """Line, column and message of a TOML syntax error (tomllib puts the place in its
    message: "... (at line 5, column 6)" or "... (at end of document)")."""
    found = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
    if found:
        return int(found[1]), int(found[2]), message[: found.start()]
    found = re.search(r"\s*\(at end of document\)$", message)
    if found:
        return (*offset_position(text, len(text)), message[: found.start()] + " at the end of the file")
    return 1, 1, message


class _TomlPositions:
    """Where each key and value of a TOML document is written (tomllib keeps no positions),
    so that a configuration error points at its line like a spec error does. The text is
    valid TOML (tomllib read it first), which keeps the scan simple: it finds where keys and
    values start and where strings, arrays and inline tables end, and nothing else."""

    def __init__(self, text: str):
        self.text = text
        self.at = 0
        self.keys: dict[tuple, int] = {}  # key path -> offset of its key, or of its [header]
        self.values: dict[tuple, int] = {}  # key path -> offset of its value, or of its [header]
        self.implied: dict[tuple, int] = {}  # tables named only as part of a dotted key or header
        self._document()

    def locate(self, loc: tuple, at_key: bool) -> tuple[int, int]:
        """Line and column of a key path's key or value; a path that is not written out
        falls back to its nearest written parent (in the end, the table's header)."""
        for size in range(len(loc), 0, -1):
            path = loc[:size]
            value_first = size == len(loc) and not at_key
            for where in ((self.values, self.keys) if value_first else (self.keys, self.values)) + (self.implied,):
                if path in where:
                    return offset_position(self.text, where[path])
        return 1, 1

    def _peek(self) -> str:
        return self.text[self.at] if self.at < len(self.text) else ""

    def _skip(self, newlines: bool = False) -> bool:
        """Past spaces, tabs and comments (and line ends, where TOML allows them); False at the end."""
        while self.at < len(self.text):
            char = self.text[self.at]
            if char in " \t" or (newlines and char in "\r\n"):
                self.at += 1
            elif char == "#":
                end = self.text.find("\n", self.at)
                self.at = len(self.text) if end < 0 else end
            else:
                break
        return self.at < len(self.text)

    def _document(self) -> None:
        table: tuple = ()
        arrays: dict[tuple, int] = {}  # array of tables -> index of its last table
        while self._skip(newlines=True):
            start = self.at
            if self._peek() == "[":
                many = self.text.startswith("[[", start)
                self.at += 2 if many else 1
                path = ()
                for name, _ in self._key():
                    if path in arrays:  # [[a]] then [a.b] or [[a.b]]: b is in a's last table
                        path += (arrays[path],)
                    path += (name,)
                self._skip()
                self.at += 2 if many else 1
                for size in range(1, len(path)):
                    self.implied.setdefault(path[:size], start)
                if many:
                    arrays[path] = arrays.get(path, -1) + 1
                    self.keys.setdefault(path, start)
                    path += (arrays[path],)
                table = path
                self.keys.setdefault(table, start)
                self.values.setdefault(table, start)
            else:
                self._pair(table)
            if self.at == start:  # cannot happen in valid TOML; never loop forever
                self.at += 1

    def _key(self) -> list[tuple[str, int]]:
        """A dotted key: each part, with the offset where it is written."""
        parts = []
        while True:
            self._skip()
            start = self.at
            if self._peek() in ('"', "'"):
                end = self._string_end(start)
                name = _tomllib().loads("k = " + self.text[start:end])["k"]
            else:
                end = start
                while end < len(self.text) and (self.text[end].isalnum() or self.text[end] in "-_"):
                    end += 1
                name = self.text[start:end]
            parts.append((name, start))
            self.at = end
            self._skip()
            if self._peek() != "." or end == start:
                return parts
            self.at += 1

    def _pair(self, table: tuple) -> None:
        path = table
        *parents, (name, start) = self._key()
        for parent, parent_start in parents:
            path += (parent,)
            self.implied.setdefault(path, parent_start)
        path += (name,)
        self.keys.setdefault(path, start)
        self._skip()
        self.at += 1  # the =
        self._skip()
        self._value(path)

    def _value(self, path: tuple) -> None:
        self.values.setdefault(path, self.at)
        first = self._peek()
        if first in ('"', "'"):
            self.at = self._string_end(self.at)
        elif first in ("[", "{"):
            close = "]" if first == "[" else "}"
            self.at += 1
            index = 0
            while self._skip(newlines=True) and self._peek() != close:
                before = self.at
                if first == "[":
                    self._value(path + (index,))
                    index += 1
                else:
                    self._pair(path)
                self._skip(newlines=True)
                if self._peek() == ",":
                    self.at += 1
                if self.at == before:  # cannot happen in valid TOML; never loop forever
                    self.at += 1
            self.at += 1
        else:  # a number, boolean or date: up to what ends it
            while self.at < len(self.text) and self.text[self.at] not in ",]}#\n":
                self.at += 1

    def _string_end(self, start: int) -> int:
        """The offset just past the string (any of TOML's four kinds) that starts at `start`."""
        text, quote = self.text, self.text[start]
        escapes = quote == '"'
        if text.startswith(quote * 3, start):
            at = start + 3
            while at < len(text) and not text.startswith(quote * 3, at):
                at += 2 if escapes and text[at] == "\\" else 1
            at += 3
            for _ in range(2):  # a string may end with one or two quotes of its own
                if at < len(text) and text[at] == quote:
                    at += 1
            return at
        at = start + 1
        while at < len(text) and text[at] != quote:
            at += 2 if escapes and text[at] == "\\" else 1
        return at + 1


# --- files ------------------------------------------------------------------------------

SPEC_SUFFIXES = (".yaml", ".yml")


def collect(paths: list[str]) -> list[Path]:
    """Files, directories (recursively, *.yaml and *.yml, not following symlinked folders,
    skipping hidden names like .pre-commit-config.yaml) and globs, in a stable order without
    duplicates; raises ConfigError for a path that names nothing."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if glob.has_magic(raw):
            matches = _glob(raw)
            if not matches:
                raise ConfigError(f"{raw}: the pattern matches no file")
            found += matches
        elif path.is_dir():
            before = len(found)
            for folder, dirs, files in os.walk(path, followlinks=False):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found += [Path(folder) / f for f in sorted(files) if f.endswith(SPEC_SUFFIXES) and not f.startswith(".")]
            if len(found) == before:
                # A renamed or emptied folder must not keep CI green by checking nothing.
                raise ConfigError(f"{raw}: the directory holds no *.yaml or *.yml spec")
        elif path.exists() or path.is_symlink():
            found.append(path)
        else:
            raise ConfigError(f"{raw}: no such file or directory")
    unique: dict[str, Path] = {}
    for path in found:
        unique.setdefault(os.path.normpath(str(path)), path)
    return list(unique.values())


def _glob(pattern: str) -> list[Path]:
    """The files a pattern matches, sorted. `**` never enters a symlinked folder (glob.glob's
    does, so a symlink loop would never end); hidden names match only a pattern that says `.`."""
    parts = Path(pattern).parts
    fixed = 0
    while fixed < len(parts) and not glob.has_magic(parts[fixed]):
        fixed += 1
    root = Path(*parts[:fixed]) if fixed else Path()
    rest = list(parts[fixed:])
    if rest[-1] == "**":  # every file below, as glob.glob's `dir/**` gives
        rest.append("*")
    hidden = any(part.startswith(".") for part in rest)
    matches = []
    for match in root.glob("/".join(rest)):
        if match.is_dir() or (not hidden and any(p.startswith(".") for p in match.relative_to(root).parts)):
            continue
        matches.append(match)
    return sorted(matches, key=str)


# --- one file ---------------------------------------------------------------------------

# The codes end at the first word that is not a code, so a justification may follow
# (`disable=bias-before-norm  torchvision keeps it`); `disabled`/`disable-files` are not
# `disable` (a typo must not switch every rule off).
_SUPPRESS = re.compile(
    r"#\s*cnnshape:\s*disable(?P<file>-file)?(?![\w-])"
    r"(?:\s*=\s*(?P<codes>[A-Za-z0-9_-]+(?:\s*,\s*[A-Za-z0-9_-]+)*))?"
)


def _suppressions(text: str) -> tuple[dict[int, Optional[set[str]]], Optional[set[str]]]:
    """Per-line (`# cnnshape: disable=code`) and whole-file (`disable-file=code`) suppressions;
    no codes means every rule."""
    lines: dict[int, Optional[set[str]]] = {}
    whole: Optional[set[str]] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        if "cnnshape:" not in line:
            continue
        match = _SUPPRESS.search(line)
        if not match:
            continue
        codes = {c.strip() for c in match.group("codes").split(",") if c.strip()} if match.group("codes") else None
        if match.group("file"):
            whole = None if codes is None or whole is None else whole | codes
        else:
            lines[number] = codes
    return lines, whole


def _suppressed(problem: Problem, lines: dict, whole: Optional[set[str]]) -> bool:
    if whole is None or problem.code in whole:
        return True
    if problem.line in lines:
        codes = lines[problem.line]
        return codes is None or problem.code in codes
    return False


@dataclass
class FileResult:
    path: str
    problems: list[Problem]
    suppressed: int = 0


def lint_file(path: Path, config: Config) -> FileResult:
    """Every problem of one spec: errors that stop analysis, or rule findings and checks."""
    from cnnshape.pipeline import analyze_stages
    from cnnshape.source import load_file

    name = str(path)
    source = None
    try:
        source = load_file(path)
        spec, graph, report = analyze_stages(source)
    except SpecError as exc:
        # The errors, and the rule warnings found before analysis stopped (unused-block,
        # unaligned-rf, ...): those obey the configuration and suppressions as always.
        return _configured(name, list(exc.problems), source.text if source else "", config)
    ctx = Context(source, spec, graph, report, config)
    issues = list(_layer_findings(ctx))
    for rule in RULES.values():
        if rule.check is not None and config.enabled(rule.code):
            issues += list(rule.check(ctx))
    issues += list(_budgets(ctx)) + list(_expectations(ctx))
    problems = [p for p in report.warnings if p.code in RULES] + source.problems(issues)
    return _configured(name, problems, source.text, config)


def _configured(name: str, problems: list[Problem], text: str, config: Config) -> FileResult:
    """Rule findings filtered by select/ignore, given their configured severity, merged one
    per place and filtered by suppression comments; spec errors always stay as they are."""
    errors = [p for p in problems if p.code not in RULES]
    findings = [
        replace(p, severity=config.severity_of(p.code, RULES[p.code].severity))
        for p in problems if p.code in RULES and config.enabled(p.code)
    ]
    lines, whole = _suppressions(text)
    merged = _one_per_place(findings)  # count suppressed findings as they would be reported
    kept = [p for p in merged if not _suppressed(p, lines, whole)]
    return FileResult(name, sorted(errors + kept), len(merged) - len(kept))


def _one_per_place(problems: list[Problem]) -> list[Problem]:
    """A block used many times repeats its layers' findings at one line: say it once, with
    how many more uses (or axes) share it."""
    grouped: dict[tuple, list[Problem]] = {}
    for problem in sorted(set(problems)):
        grouped.setdefault((problem.line, problem.col, problem.code), []).append(problem)
    merged = []
    for same in grouped.values():
        first = same[0]
        if len(same) > 1:
            first = replace(first, message=f"{first.message} (and {len(same) - 1} more at this line: other axes or other uses of the block)")
        merged.append(first)
    return merged


def _layer_findings(ctx: Context) -> Iterable[Issue]:
    for row in ctx.report.rows:
        if row.findings and row.name in ctx.nodes:
            loc = ctx.nodes[row.name].loc
            for code, message in row.findings:
                yield Issue(loc, code, f"{row.name} ({row.kind}): {message}", at_key=True)


def _budgets(ctx: Context) -> Iterable[Issue]:
    from cnnshape.render.units import count, size

    expect = ctx.spec.expect
    totals = ctx.report.totals
    for key, (field_name, what) in BUDGETS.items():
        limits = []
        if expect is not None and getattr(expect, key) is not None:
            limits.append((getattr(expect, key), ("expect", key), "the spec's expect"))
        if key in ctx.config.budgets:
            limits.append((ctx.config.budgets[key], (), ctx.config.budget_origins.get(key, "the command line")))
        value = getattr(totals, field_name)
        human = size if "bytes" in key else count
        for limit, loc, origin in limits:
            if value > limit:
                yield Issue(loc, "budget", (
                    f"{value:,} {what} ({human(value)}) exceed {key.replace('_', '-')} {limit:,} ({human(limit)}) "
                    f"from {origin}, by {value - limit:,}"
                ), at_key=True)


def _expectations(ctx: Context) -> Iterable[Issue]:
    expect = ctx.spec.expect
    if expect is None:
        return
    report = ctx.report
    if expect.output_shape is not None and report.outputs:
        actual = list(report.outputs[0].shape)
        if actual != expect.output_shape:
            yield Issue(("expect", "output_shape"), "expect",
                        f"output {report.outputs[0].name} has shape {actual}, expected {expect.output_shape}", at_key=True)
    rows = {row.name: row for row in report.rows}
    for name, wanted in expect.shapes.items():
        row = rows.get(name)
        if row is None:
            import difflib

            close = difflib.get_close_matches(name, list(rows), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else " (use the qualified names that `summary` shows)"
            yield Issue(("expect", "shapes", name), "expect", f"no layer or block use named {name!r}{hint}", at_key=True)
        elif list(row.output_shape) != wanted:
            yield Issue(("expect", "shapes", name), "expect",
                        f"{name} has shape {list(row.output_shape)}, expected {wanted}", at_key=True)
    if expect.min_receptive_field is not None:
        rf = report.receptive_field
        if rf is not None and rf.kind != "global":
            smallest = min((axis.size for axis in rf.axes), default=1)
            if smallest < expect.min_receptive_field:
                yield Issue(("expect", "min_receptive_field"), "expect", (
                    f"the receptive field at the output is {smallest} on its smallest axis, "
                    f"expected at least {expect.min_receptive_field}"
                ), at_key=True)


# --- many files -------------------------------------------------------------------------


@dataclass
class LintResult:
    files: list[FileResult]

    @property
    def problems(self) -> list[Problem]:
        return [p for f in self.files for p in f.problems]

    def count(self, severity: str) -> int:
        return sum(1 for p in self.problems if p.severity == severity)

    def failed(self, strict: bool) -> bool:
        return self.count("error") > 0 or (strict and self.count("warning") > 0)


def lint_paths(paths: list[str], config: Config) -> LintResult:
    return LintResult([lint_file(path, config) for path in collect(paths)])
