"""Which files `cnnshape lint` checks: files, folders and globs given on the command line."""

from __future__ import annotations

import glob
import os
from pathlib import Path

from cnnshape.lint.config import ConfigError

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


