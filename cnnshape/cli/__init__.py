"""The command line (`cnnshape ...`): the Typer `app` and `main`, the console entry point.
The only part of cnnshape that prints and exits.

`app` and `main` (in root.py) are loaded on first use, so the shared plumbing
(console.py, options.py) can be imported by command groups outside this package, such
as the bridge's, without building the app.
"""

from __future__ import annotations

from typing import Any

__all__ = ["app", "main"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from cnnshape.cli import root

        return getattr(root, name)
    raise AttributeError(f"module 'cnnshape.cli' has no attribute {name!r}")
