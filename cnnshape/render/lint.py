"""Reporters for `cnnshape lint`: one registry, chosen by --format (`auto` picks github
under GitHub Actions). Each formats a LintResult and computes nothing."""

from __future__ import annotations

import json
from collections.abc import Callable

from cnnshape.lint import RULES, LintResult


def text(result: LintResult) -> str:
    from cnnshape.escape import visible

    lines = [visible(f"{p.file}:{p.line}:{p.col}: {p.severity} {p.code} {p.message}") for p in result.problems]
    return "\n".join(lines + [_summary(result)])


def _summary(result: LintResult) -> str:
    errors, warnings = result.count("error"), result.count("warning")
    suppressed = sum(f.suppressed for f in result.files)
    summary = f"{len(result.files)} file(s) checked: {errors} error(s), {warnings} warning(s)"
    return summary + (f", {suppressed} suppressed" if suppressed else "")


def github(result: LintResult) -> str:
    """GitHub Actions workflow commands: an annotation on the file and line of each problem."""
    from cnnshape.escape import workflow

    lines = [
        workflow(p.message, p.severity, file=p.file, line=p.line, col=p.col, title=p.code) for p in result.problems
    ]
    # A plain line too, so the log shows that lint ran even when all is clean (and the
    # counts when GitHub shows only the first annotations of a step).
    return "\n".join(lines + [workflow(_summary(result))])


def as_json(result: LintResult) -> str:
    return json.dumps(
        {
            "schema_version": 1,
            "files": len(result.files),
            "errors": result.count("error"),
            "warnings": result.count("warning"),
            "suppressed": sum(f.suppressed for f in result.files),
            "problems": [
                {
                    "file": p.file,
                    "line": p.line,
                    "column": p.col,
                    "severity": p.severity,
                    "code": p.code,
                    "message": p.message,
                }
                for p in result.problems
            ],
        },
        indent=2,
    )


def sarif(result: LintResult) -> str:
    """SARIF 2.1.0, for GitHub code scanning (`github/codeql-action/upload-sarif`)."""
    from cnnshape import __version__
    from cnnshape.errors import CODES
    from cnnshape.escape import file_uri

    descriptions = {**CODES, **{code: rule.summary for code, rule in RULES.items()}}
    used = sorted({p.code for p in result.problems})
    rules = [{"id": code, "name": code, "shortDescription": {"text": descriptions.get(code, code)}} for code in used]
    index = {code: i for i, code in enumerate(used)}
    results = [
        {
            "ruleId": p.code,
            "ruleIndex": index[p.code],
            "level": p.severity,
            "message": {"text": p.message},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": file_uri(p.file)},
                        "region": {"startLine": p.line, "startColumn": p.col},
                    },
                }
            ],
        }
        for p in result.problems
    ]
    log = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "cnnshape",
                        "version": __version__,
                        "informationUri": "https://github.com/cnnshape/cnnshape",
                        "rules": rules,
                    }
                },
                "results": results,
            }
        ],
    }
    return json.dumps(log, indent=2)


REPORTERS: dict[str, Callable[[LintResult], str]] = {"text": text, "github": github, "json": as_json, "sarif": sarif}
