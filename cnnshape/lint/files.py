"""Which files `cnnshape lint` checks: files, folders and globs given on the command line."""

from __future__ import annotations

import glob
import os
import stat
from pathlib import Path
from typing import Optional

from cnnshape.errors import Problem
from cnnshape.lint.config import ConfigError

SPEC_SUFFIXES = (".yaml", ".yml")


def collect(paths: list[str], unreadable: Optional[list[Problem]] = None) -> list[Path]:
    """Files, directories (recursively, *.yaml and *.yml, not following symlinked folders,
    skipping hidden names like .pre-commit-config.yaml) and globs, in a stable order without
    duplicates; raises ConfigError for a path that names nothing. A folder that cannot be
    read is a problem added to `unreadable` (without that list, a ConfigError): never a
    folder silently skipped, whose specs CI would then not check."""
    found: list[Path] = []
    problems: list[Problem] = []

    def cannot_read(error: OSError) -> None:
        where = os.path.normpath(error.filename) if error.filename is not None else "."
        reason = (error.strerror or str(error)).lower()
        problems.append(Problem(str(where), 1, 1, "error", "file-unreadable", f"cannot read this folder: {reason}"))

    for raw in paths:
        path = Path(raw)
        if glob.has_magic(raw):
            matches = _glob(raw)
            if not matches:
                raise ConfigError(f"{raw}: the pattern matches no file")
            found += matches
        elif path.is_dir():
            before, errors_before = len(found), len(problems)
            for folder, dirs, files in os.walk(path, onerror=cannot_read, followlinks=False):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found += [
                    Path(folder) / f for f in sorted(files) if f.endswith(SPEC_SUFFIXES) and not f.startswith(".")
                ]
            if len(found) == before and len(problems) == errors_before:
                # A renamed or emptied folder must not keep CI green by checking nothing.
                raise ConfigError(f"{raw}: the directory holds no *.yaml or *.yml spec")
        elif path.exists() or path.is_symlink():
            found.append(path)
        else:
            raise ConfigError(f"{raw}: no such file or directory")
    if problems and unreadable is None:
        raise ConfigError(f"{problems[0].file}: {problems[0].message}")
    if unreadable is not None:
        unreadable += problems
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


def not_a_spec_file(path: Path, max_bytes: int) -> Optional[Problem]:
    """Why `path` cannot be read as a spec without reading it, or None: it is not a regular
    file (a FIFO would block the read forever; a device such as /dev/zero never ends), or
    it is larger than `max_bytes`. A symlink is judged by what it points at."""
    name = str(path)
    try:
        info = path.stat()
    except OSError:
        return None  # missing or unreadable: reading it says so, with the reason
    if stat.S_ISDIR(info.st_mode):
        return None  # reading says "is a directory"
    if not stat.S_ISREG(info.st_mode):
        kind = "a FIFO" if stat.S_ISFIFO(info.st_mode) else "a socket" if stat.S_ISSOCK(info.st_mode) else "a device"
        return Problem(
            name, 1, 1, "error", "file-unreadable", f"is {kind}, not a regular file; only regular files are read"
        )
    if info.st_size > max_bytes:
        return Problem(
            name, 1, 1, "error", "limit", f"file is {info.st_size:,} bytes; the limit is {max_bytes:,} bytes"
        )
    return None
