"""Suppression comments in a spec: `# cnnshape: disable=code` on a line, and
`# cnnshape: disable-file=code` for the whole file (no codes: every rule)."""

from __future__ import annotations

import re
from typing import Optional

from cnnshape.errors import Problem

# The codes end at the first word that is not a code, so a justification may follow
# (`disable=bias-before-norm  torchvision keeps it`); `disabled`/`disable-files` are not
# `disable` (a typo must not switch every rule off).
_SUPPRESS = re.compile(
    r"#\s*cnnshape:\s*disable(?P<file>-file)?(?![\w-])"
    r"(?:\s*=\s*(?P<codes>[A-Za-z0-9_-]+(?:\s*,\s*[A-Za-z0-9_-]+)*))?"
)


def suppressions(text: str) -> tuple[dict[int, Optional[set[str]]], Optional[set[str]]]:
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


def suppressed(problem: Problem, lines: dict, whole: Optional[set[str]]) -> bool:
    if whole is None or problem.code in whole:
        return True
    if problem.line in lines:
        codes = lines[problem.line]
        return codes is None or problem.code in codes
    return False
