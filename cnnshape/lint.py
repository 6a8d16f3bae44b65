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
    """Bad configuration or options: a usage error (exit 2)."""


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


def _codes(values: Any, where: str) -> set[str]:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ConfigError(f"{where}: expected a list of rule codes")
    unknown = [v for v in values if v not in RULES]
    if unknown:
        raise ConfigError(f"{where}: unknown rule(s) {', '.join(unknown)}; known: {', '.join(RULES)}")
    return set(values)


def config_from_table(table: dict[str, Any], origin: str) -> Config:
    """`[tool.cnnshape]` (keys with - or _) into a Config; raises ConfigError."""
    from cnnshape.quantity import parse_quantity

    config = Config(origin=origin)
    for raw_key, value in table.items():
        key = raw_key.replace("-", "_")
        where = f"{origin}: {raw_key}"
        if key == "select":
            config.select = _codes(value, where)
        elif key == "ignore":
            config.ignore = _codes(value, where)
        elif key == "severity":
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: expected a table of rule = \"error\" | \"warning\"")
            _codes(list(value), where)
            bad = [v for v in value.values() if v not in ("error", "warning")]
            if bad:
                raise ConfigError(f"{where}: severities are \"error\" or \"warning\", got {bad[0]!r}")
            config.severity = dict(value)
        elif key in BUDGETS:
            try:
                config.budgets[key] = parse_quantity(value)
                config.budget_origins[key] = origin
            except ValueError as exc:
                raise ConfigError(f"{where}: {exc}") from None
        elif key == "dominant_share":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
                raise ConfigError(f"{where}: expected a fraction between 0 and 1")
            config.dominant_share = float(value)
        elif key == "strict":
            if not isinstance(value, bool):
                raise ConfigError(f"{where}: expected true or false")
            config.strict = value
        else:
            known = ["select", "ignore", "severity", "strict", "dominant-share"] + [k.replace("_", "-") for k in BUDGETS]
            raise ConfigError(f"{where}: unknown key; known keys: {', '.join(known)}")
    return config


def find_pyproject(start: Path) -> Optional[Path]:
    for folder in [start, *start.parents]:
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def load_config(start: Optional[Path] = None) -> Config:
    """The `[tool.cnnshape]` table of the nearest pyproject.toml that has one (walking up
    from `start`, so a sub-project's pyproject without the table does not hide the root's),
    or the defaults."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    folder = (start or Path.cwd()).resolve()
    for candidate in (f / "pyproject.toml" for f in [folder, *folder.parents]):
        if not candidate.is_file():
            continue
        try:
            data = tomllib.loads(candidate.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{candidate}: cannot read: {exc}") from None
        table = data.get("tool", {}).get("cnnshape")
        if table is None:
            continue
        if not isinstance(table, dict):
            raise ConfigError(f"{candidate}: [tool.cnnshape] must be a table")
        return config_from_table(table, f"{candidate} [tool.cnnshape]")
    return Config()


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
