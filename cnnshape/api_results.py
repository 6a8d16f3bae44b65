"""The results of `cnnshape.compare`, `sweep` and `lint` as the library returns them:
the core results with `to_dict()` / `to_json()` (the commands' JSON) and a display.
Loaded on first use, so that `cnnshape.analyze` alone never imports compare, sweep or lint.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from cnnshape.api import _Displayed
from cnnshape.compare import Comparison as _CoreComparison
from cnnshape.lint import LintResult as _CoreLintResult
from cnnshape.sweep import Sweep as _CoreSweep

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["Comparison", "LintResult", "Sweep"]


# Comparison and Sweep add no field: they inherit the core dataclasses' methods and fields
# (see api.Report); LintResult adds `strict`, so it is a dataclass of its own.
class Comparison(_Displayed, _CoreComparison):
    """Two analyses side by side (what `cnnshape compare` shows): `a` and `b` (each with
    its `report`), `metrics` (the totals with differences) and `rows` (layer pairs with a
    `status` of same, changed, added or removed)."""

    def to_dict(self) -> dict[str, Any]:
        """`cnnshape compare --format json`, as Python data."""
        from cnnshape.render import compare

        return compare.to_dict(self)

    def to_json(self) -> str:
        """`cnnshape compare --format json`, the same text (without the final newline)."""
        from cnnshape.render import compare

        return compare.render_json(self)

    def to_markdown(self, changed_only: bool = False) -> str:
        from cnnshape.render import compare

        return compare.markdown(self, changed_only)

    def _draw(self, console: Console) -> None:
        from cnnshape.render import compare

        compare.render(self, console)

    def __repr__(self) -> str:
        return f"<Comparison {self.a.report.name!r} vs {self.b.report.name!r}: {self.counts}>"


class Sweep(_Displayed, _CoreSweep):
    """One spec at many settings (what `cnnshape sweep` shows): `axes`, `fixed` and
    `points`, each with its `setting`, `report` (or `problems`)."""

    def to_dict(self) -> dict[str, Any]:
        """`cnnshape sweep --format json`, as Python data."""
        from cnnshape.render import sweep

        return sweep.to_dict(self)

    def to_json(self) -> str:
        """`cnnshape sweep --format json`, the same text (without the final newline)."""
        from cnnshape.render import sweep

        return sweep.render_json(self)

    def to_markdown(self) -> str:
        from cnnshape.render import sweep

        return sweep.markdown(self)

    def to_csv(self) -> str:
        from cnnshape.render import sweep

        return sweep.csv(self)

    def _draw(self, console: Console) -> None:
        from cnnshape.render import sweep

        sweep.render(self, console)

    def __repr__(self) -> str:
        return f"<Sweep {self.name!r}: {len(self.points)} points, {len(self.failed)} failed>"


@dataclasses.dataclass(repr=False)
class LintResult(_CoreLintResult):
    """Every file `lint` checked (`files`) and its `problems`; `failed(strict)` is the exit
    status the command would give."""

    strict: bool = False

    @property
    def ok(self) -> bool:
        """No errors (and with `strict`, no warnings): `cnnshape lint` would exit 0."""
        return not self.failed(self.strict)

    def to_dict(self) -> dict[str, Any]:
        """`cnnshape lint --format json`, as Python data."""
        import json

        return json.loads(self.to_json())

    def to_json(self) -> str:
        """`cnnshape lint --format json`, the same text (without the final newline)."""
        from cnnshape.render import lint

        return lint.as_json(self)

    def __str__(self) -> str:
        """`cnnshape lint --format text`: one `file:line:col: severity code message` line each."""
        from cnnshape.render import lint

        return lint.text(self)

    def __repr__(self) -> str:
        return f"<LintResult: {len(self.files)} file(s), {self.count('error')} error(s), {self.count('warning')} warning(s)>"
