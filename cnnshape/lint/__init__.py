"""`cnnshape lint`: every spec file checked, every problem found, nothing stops early.

A file's problems are its spec errors (everything `summary` rejects) plus the findings of
the rules (rules.py), filtered by configuration (config.py) and suppression comments
(suppress.py), over the files that files.py collects.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from cnnshape.errors import Issue, Problem, SpecError
from cnnshape.lint.config import BUDGETS, Config, ConfigError, config_from_table, configure, load_config
from cnnshape.lint.files import collect, not_a_spec_file
from cnnshape.lint.rules import RULES, Context, Rule, budgets, expectations, layer_findings
from cnnshape.lint.suppress import suppressed, suppressions

__all__ = [
    "BUDGETS",
    "RULES",
    "Config",
    "ConfigError",
    "FileResult",
    "LintResult",
    "Rule",
    "collect",
    "config_from_table",
    "configure",
    "lint_file",
    "lint_paths",
    "load_config",
]


@dataclass
class FileResult:
    path: str
    problems: list[Problem]
    suppressed: int = 0


def lint_file(path: Path, config: Config, overrides: Optional[dict[str, Any]] = None) -> FileResult:
    """Every problem of one spec: errors that stop analysis, or rule findings and checks
    (`overrides`: settings such as an Ultralytics file's scale)."""
    from cnnshape.dialects import is_dialect
    from cnnshape.pipeline import analyze_stages
    from cnnshape.source import MAX_FILE_BYTES, load_file

    name = str(path)
    refused = not_a_spec_file(path, MAX_FILE_BYTES)
    if refused is not None:
        return FileResult(name, [refused])
    source = None
    try:
        source = load_file(path)
        # --scale is for the Ultralytics files among those linted, not the native specs
        spec, graph, report = analyze_stages(source, overrides if is_dialect(source) else None)
    except SpecError as exc:
        # The errors, and the rule warnings found before analysis stopped (unused-block,
        # unaligned-rf, ...): those obey the configuration and suppressions as always.
        return _configured(name, list(exc.problems), source.text if source else "", config)
    ctx = Context(source, spec, graph, report, config)
    issues: list[Issue] = list(layer_findings(ctx))
    for rule in RULES.values():
        if rule.check is not None and config.enabled(rule.code):
            issues += list(rule.check(ctx))
    issues += list(budgets(ctx, own=True)) + list(expectations(ctx))
    problems = [p for p in report.warnings if p.code in RULES] + source.problems(issues)
    # The repository's budgets hold whatever the spec's comments say, unless its
    # configuration lets files switch them off (allow-budget-suppression).
    enforced = source.problems(list(budgets(ctx, own=False)))
    if config.allow_budget_suppression:
        problems, enforced = problems + enforced, []
    return _configured(name, problems, source.text, config, enforced)


def _configured(
    name: str,
    problems: list[Problem],
    text: str,
    config: Config,
    enforced: Sequence[Problem] = (),
) -> FileResult:
    """Rule findings filtered by select/ignore, given their configured severity, merged one
    per place and filtered by suppression comments (except the `enforced` ones); spec
    errors always stay as they are."""
    errors = [p for p in problems if p.code not in RULES]

    def configured(found: Iterable[Problem]) -> list[Problem]:
        return [
            p._replace(severity=config.severity_of(p.code, RULES[p.code].severity))
            for p in found
            if p.code in RULES and config.enabled(p.code)
        ]

    lines, whole = suppressions(text)
    merged = _one_per_place(configured(problems))  # count suppressed findings as they would be reported
    kept = [p for p in merged if not suppressed(p, lines, whole)]
    return FileResult(name, sorted(errors + kept + configured(enforced)), len(merged) - len(kept))


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
            first = first._replace(
                message=f"{first.message} (and {len(same) - 1} more at this line: other axes or other uses of the block)",
            )
        merged.append(first)
    return merged


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


def lint_paths(paths: list[str], config: Config, overrides: Optional[dict[str, Any]] = None) -> LintResult:
    """Every spec the paths name, linted; a folder that cannot be read is a result of its
    own with its error."""
    unreadable: list[Problem] = []
    files = [lint_file(path, config, overrides) for path in collect(paths, unreadable)]
    return LintResult(files + [FileResult(p.file, [p]) for p in unreadable])
