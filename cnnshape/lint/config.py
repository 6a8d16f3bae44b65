"""`[tool.cnnshape]` in pyproject.toml and lint's command-line options, read into one
`Config`; every mistake reported at its `file:line:col`."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from cnnshape.errors import Severity, SpecError, did_you_mean
from cnnshape.lint.rules import BUDGETS, RULES
from cnnshape.lint.toml_positions import MAX_NESTING, TomlPositions, tomllib_module, too_deep
from cnnshape.source import offset_position, read_bytes


class ConfigError(Exception):
    """Bad configuration or options: a usage error (exit 2). A `located` message already
    starts with its place (`pyproject.toml:5:1: error: ...`), like a spec problem; `file`,
    `line`, `col` and `detail` keep the parts (for GitHub annotations)."""

    def __init__(self, message: str, located: bool = False):
        super().__init__(message)
        self.located = located
        self.file, self.line, self.col, self.detail = "", 0, 0, message
        self.errors: list[ConfigError] = [self]  # every error found, one line each

    @classmethod
    def every(cls, errors: list[ConfigError]) -> ConfigError:
        """All the errors of one table at once, one per line (the first carries them)."""
        if len(errors) == 1:
            return errors[0]
        combined = cls("\n".join(str(error) for error in errors), located=errors[0].located)
        combined.errors = list(errors)
        return combined

    @classmethod
    def at(cls, file: str, line: int, col: int, detail: str) -> ConfigError:
        """A located error: `file:line:col: error: detail` (line 0: the file as a whole)."""
        place = f"{file}:{line}:{col}" if line else file
        error = cls(f"{place}: error: {detail}", located=True)
        error.file, error.line, error.col, error.detail = file, line, col, detail
        return error


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
    severity: dict[str, Severity] = field(default_factory=dict)
    budgets: dict[str, int] = field(default_factory=dict)
    budget_origins: dict[str, str] = field(default_factory=dict)  # where each budget was set
    dominant_share: float = 0.8  # from the spread over the zoo and small real nets: docs/rules.md#dominant-layer
    strict: bool = False
    # Whether a spec's `# cnnshape: disable...` comments may switch off the budgets set here
    # and on the command line (a pull request could otherwise lift them from inside a file).
    allow_budget_suppression: bool = False
    origin: str = ""  # where the configuration came from, for messages

    def enabled(self, code: str) -> bool:
        return (self.select is None or code in self.select) and code not in self.ignore

    def severity_of(self, code: str, default: Severity) -> Severity:
        return self.severity.get(code, default)


CONFIG_KEYS = ["select", "ignore", "severity", "strict", "dominant-share", "allow-budget-suppression", "devices"] + [k.replace("_", "-") for k in BUDGETS]


def _key_text(key: str) -> str:
    """A key as written, or quoted with escapes when it holds a control character (a line
    break in a key must not start a new line of output)."""
    return key if key.isprintable() else repr(key)


def _value_text(value: Any) -> str:
    """A bad value for a message: its repr, cut short (a value may be large or deep)."""
    try:
        text = repr(value)
    except RecursionError:
        return "a deeply nested value"
    return text if len(text) <= 80 else text[:77] + "..."


def _unknown(word: str, known: list[str], what: str) -> str:
    return did_you_mean(word, known) or f"; known {what}: {', '.join(known)}"


def _codes(values: Any, key: str, bad: list[_BadEntry]) -> set[str]:
    if not isinstance(values, list):
        bad.append(_BadEntry((key,), f"{key}: expected a list of rule codes"))
        return set()
    for index, code in enumerate(values):
        if not isinstance(code, str):
            bad.append(_BadEntry((key, index), f"{key}: expected a list of rule codes, got {_value_text(code)}"))
        elif code not in RULES:
            bad.append(_BadEntry((key, index), f"{key}: unknown rule {code!r}{_unknown(code, list(RULES), 'rules')}"))
    return {code for code in values if isinstance(code, str)}


def _read_table(table: dict[str, Any], origin: str, bad: list[_BadEntry]) -> Config:
    """The table into a Config; every bad entry is added to `bad` (none stops the reading)."""
    config = Config(origin=origin)
    for raw_key, value in table.items():
        try:
            _read_entry(config, raw_key, value, origin, bad)
        except _BadEntry as entry:
            bad.append(entry)
    return config


def _read_entry(config: Config, raw_key: str, value: Any, origin: str, bad: list[_BadEntry]) -> None:
    """One key of the table into `config`: a bad value raises _BadEntry; the bad items of a
    list or table are each added to `bad`."""
    from cnnshape.quantity import parse_quantity

    key = raw_key.replace("-", "_")
    if key == "select":
        config.select = _codes(value, raw_key, bad)
    elif key == "ignore":
        config.ignore = _codes(value, raw_key, bad)
    elif key == "severity":
        if not isinstance(value, dict):
            raise _BadEntry((raw_key,), f"{raw_key}: expected a table of rule = \"error\" | \"warning\"")
        for code, level in value.items():
            if code not in RULES:
                hint = _unknown(code, list(RULES), "rules")
                bad.append(_BadEntry((raw_key, code), f"{raw_key}: unknown rule {code!r}{hint}", at_key=True))
            elif level not in ("error", "warning"):
                bad.append(_BadEntry((raw_key, code), (
                    f"{raw_key}: severities are \"error\" or \"warning\", got {_value_text(level)}{did_you_mean(level, ['error', 'warning'])}"
                )))
            else:
                config.severity[code] = level
    elif key in BUDGETS:
        try:
            config.budgets[key] = parse_quantity(value)
            config.budget_origins[key] = origin
        except ValueError as exc:
            raise _BadEntry((raw_key,), f"{raw_key}: {exc}") from None
    elif key == "dominant_share":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
            raise _BadEntry((raw_key,), f"{raw_key}: expected a fraction between 0 and 1, got {_value_text(value)}")
        config.dominant_share = float(value)
    elif key == "devices":
        pass  # device profiles for `summary --device`, read and checked by cnnshape.roofline
    elif key in ("strict", "allow_budget_suppression"):
        if not isinstance(value, bool):
            raise _BadEntry((raw_key,), f"{raw_key}: expected true or false, got {_value_text(value)}")
        setattr(config, key, value)
    else:
        # Suggest the spelling the user writes: both max-params and max_params work.
        known = CONFIG_KEYS if "_" not in raw_key else [k.replace("-", "_") for k in CONFIG_KEYS]
        raise _BadEntry((raw_key,), f"{_key_text(raw_key)}: unknown key{_unknown(raw_key, known, 'keys')}", at_key=True)


def config_from_table(
    table: dict[str, Any], origin: str, place: Optional[Callable[[tuple, bool], tuple[str, int, int]]] = None,
) -> Config:
    """`[tool.cnnshape]` (keys with - or _) into a Config; raises ConfigError. `place` turns
    a bad entry's key path (and whether the key or its value is meant) into the
    `file:line:col` its message starts with; without it (the command line has no lines)
    the message starts with `origin`."""
    bad: list[_BadEntry] = []
    config = _read_table(table, origin, bad)
    if bad:
        if place is None:
            raise ConfigError.every([ConfigError(f"{origin}: {entry.message}") for entry in bad])
        raise ConfigError.every([ConfigError.at(*place(entry.loc, entry.at_key), entry.message) for entry in bad])
    return config


def configure(options: dict[str, Any], origin: str, use_pyproject: bool = True, strict: bool = False) -> Config:
    """The configuration of one run: `[tool.cnnshape]` (unless `use_pyproject` is False),
    then the options given for this run over it (`origin` names them in messages: the
    command line, the lint() call). Raises ConfigError."""
    config = load_config() if use_pyproject else Config()
    given = config_from_table({key: value for key, value in options.items() if value is not None}, origin)
    config.budgets.update(given.budgets)
    config.budget_origins.update(given.budget_origins)
    config.select = given.select if given.select is not None else config.select
    config.ignore |= given.ignore
    config.strict = config.strict or strict
    return config


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
    tomllib = tomllib_module()
    folder = (start or Path.cwd()).resolve()
    for candidate in (f / "pyproject.toml" for f in [folder, *folder.parents]):
        if not candidate.is_file():
            continue
        shown = _shown(candidate)
        try:
            raw = read_bytes(candidate)  # the one bounded reader: regular files of limited size
            text = raw.decode("utf-8")
        except SpecError as exc:
            raise ConfigError.at(shown, 0, 0, f"cannot read: {exc.problems[0].message}") from None
        except UnicodeDecodeError as exc:
            before = raw[:exc.start].decode("utf-8")  # the valid text up to the bad byte
            line, col = offset_position(before, len(before))
            raise ConfigError.at(shown, line, col, f"cannot read: not UTF-8 ({exc.reason})") from None
        deep = too_deep(text)
        if deep is not None:
            line, col = offset_position(text, deep)
            raise ConfigError.at(shown, line, col, f"cannot read: arrays or tables nested more than {MAX_NESTING} deep")
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            line, col, message = _decode_error(text, str(exc))
            raise ConfigError.at(shown, line, col, f"cannot read: {message}") from None
        tool = data.get("tool")
        table = tool.get("cnnshape") if isinstance(tool, dict) else None
        if table is None:
            continue

        def place(loc: tuple, at_key: bool, text: str = text, shown: str = shown) -> tuple[str, int, int]:
            line, col = TomlPositions(text).locate(("tool", "cnnshape") + loc, at_key)
            return shown, line, col

        if not isinstance(table, dict):
            raise ConfigError.at(*place((), False), "[tool.cnnshape] must be a table")
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


