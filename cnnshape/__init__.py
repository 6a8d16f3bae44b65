"""cnnshape: analyze CNN architectures written as YAML specs, without a framework.

The library face (docs/api.md)::

    import cnnshape

    report = cnnshape.analyze("specs/resnet50.yaml")
    report.totals.params          # 25557032
    print(report)                 # the summary table, as plain text
    report.to_dict()              # what `cnnshape summary --format json` prints

`analyze`, `compare`, `sweep` and `lint` return typed results whose `to_dict()` and
`to_json()` are the command line's JSON; a spec with problems raises `SpecError`, which
carries every `Problem`. Importing cnnshape loads nothing else: the API module is loaded
on first use, and it never imports Typer or rich (only displaying a table does).
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0.dev0"

__all__ = [
    "Comparison",
    "LintResult",
    "Problem",
    "Report",
    "SpecError",
    "Sweep",
    "__version__",
    "analyze",
    "compare",
    "lint",
    "sweep",
]

if TYPE_CHECKING:
    from cnnshape.api import Comparison, LintResult, Report, Sweep, analyze, compare, lint, sweep
    from cnnshape.errors import Problem, SpecError

_API = frozenset(__all__) - {"__version__"}


def __getattr__(name: str) -> Any:
    if name in _API:
        from cnnshape import api

        return getattr(api, name)
    raise AttributeError(f"module 'cnnshape' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _API)


class _Package(ModuleType):
    """`cnnshape.compare`, `.sweep` and `.lint` are the API functions even after the
    submodules of the same names are imported (the import system would otherwise bind the
    module over the name). Import those modules with `from cnnshape.lint import ...`."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _API and isinstance(value, ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
