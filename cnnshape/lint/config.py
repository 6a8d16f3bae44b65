"""`[tool.cnnshape]` in pyproject.toml and lint's command-line options, read into one
`Config`: the table is checked by a strict pydantic model (unknown keys are errors, with
the nearest known key), and every mistake is reported at once, each at its
`file:line:col` (toml_positions.py finds it), in the order the file is written."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Optional, cast

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationError, create_model
from pydantic_core import PydanticCustomError

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


# --- the table as a strict pydantic model ---------------------------------------------------
# Each check raises its message (after "key: "); _issues turns pydantic's errors, every one
# of them, into (key path, at the key?, message) in the order the table is written.


def _bad(detail: str) -> PydanticCustomError:
    return PydanticCustomError("config", "{detail}", {"detail": detail})


def _rule_list(value: Any) -> Any:
    if not isinstance(value, list):
        raise _bad("expected a list of rule codes")
    return value


def _rule(code: Any) -> str:
    if not isinstance(code, str):
        raise _bad(f"expected a list of rule codes, got {_value_text(code)}")
    if code not in RULES:
        raise _bad(f"unknown rule {code!r}{_unknown(code, list(RULES), 'rules')}")
    return code


def _severity_table(value: Any) -> Any:
    if not isinstance(value, dict):
        raise _bad('expected a table of rule = "error" | "warning"')
    return value


def _level(level: Any) -> Severity:
    if level not in ("error", "warning"):
        hint = did_you_mean(level, ["error", "warning"]) if isinstance(level, str) else ""
        raise _bad(f'severities are "error" or "warning", got {_value_text(level)}{hint}')
    return cast(Severity, level)


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _bad(f"expected true or false, got {_value_text(value)}")
    return value


def _share(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise _bad(f"expected a fraction between 0 and 1, got {_value_text(value)}")
    return float(value)


def _budget(value: Any) -> int:
    from cnnshape.quantity import parse_quantity

    try:
        return parse_quantity(value)
    except ValueError as exc:
        raise _bad(str(exc)) from None


RuleCode = Annotated[Any, AfterValidator(_rule)]
Rules = Annotated[Optional[list[RuleCode]], BeforeValidator(_rule_list)]
Flag = Annotated[Any, AfterValidator(_flag)]
Budget = Annotated[Any, AfterValidator(_budget)]


class _Table(BaseModel):
    """`[tool.cnnshape]` (and lint's options): keys written with - or _ (`max-params`,
    `max_params`); unknown keys are errors. The budgets (one per rules.BUDGETS key) are
    added by `_table_model`."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=lambda name: name.replace("_", "-"), populate_by_name=True
    )

    select: Rules = None  # None: every rule
    ignore: Rules = None
    severity: Annotated[dict[RuleCode, Annotated[Any, AfterValidator(_level)]], BeforeValidator(_severity_table)] = {}
    strict: Flag = False
    dominant_share: Annotated[Any, AfterValidator(_share)] = Config.dominant_share
    allow_budget_suppression: Flag = False
    devices: Any = None  # device profiles for `summary --device`, read and checked by cnnshape.roofline


_MODEL: list[type[_Table]] = []


def _table_model() -> type[_Table]:
    """The table's model, with a field per budget, built on first use (lint's start-up only)."""
    if not _MODEL:
        budgets: dict[str, Any] = {key: (Optional[Budget], None) for key in BUDGETS}
        _MODEL.append(create_model("CnnshapeTable", __base__=_Table, **budgets))
    return _MODEL[0]


def _issues(error: ValidationError, table: dict[str, Any]) -> list[tuple[tuple, bool, str]]:
    """pydantic's errors as (key path as written, at the key?, message), in table order."""
    order = {key: index for index, key in enumerate(table)}
    found = []
    for item in error.errors(include_url=False):
        loc = tuple(item["loc"])
        raw = str(loc[0])
        if raw not in table:  # pydantic names a field by the spelling it was given, else its alias
            raw = next((key for key in (raw.replace("-", "_"), raw.replace("_", "-")) if key in table), raw)
        at_key = loc[-1] == "[key]"
        path = (raw, *loc[1:-1]) if at_key else (raw, *loc[1:])
        if item["type"] == "extra_forbidden":
            # Suggest the spelling the user writes: both max-params and max_params work.
            fields = list(_table_model().model_fields)
            known = fields if "_" in raw else [name.replace("_", "-") for name in fields]
            message, at_key = f"{_key_text(raw)}: unknown key{_unknown(raw, known, 'keys')}", True
        else:
            detail = item.get("ctx", {}).get("detail", item["msg"])
            message = f"{raw}: {detail}"
        found.append((order.get(raw, len(order)), path, at_key, message))
    found.sort(key=lambda entry: entry[0])  # stable: within a key, pydantic's order (list order)
    return [(path, at_key, message) for _, path, at_key, message in found]


def config_from_table(
    table: dict[str, Any],
    origin: str,
    place: Optional[Callable[[tuple, bool], tuple[str, int, int]]] = None,
) -> Config:
    """`[tool.cnnshape]` (keys with - or _) into a Config; raises ConfigError with every
    error at once. `place` turns a bad entry's key path (and whether the key or its value
    is meant) into the `file:line:col` its message starts with; without it (the command
    line has no lines) the message starts with `origin`."""
    try:
        checked = _table_model().model_validate(table)
    except ValidationError as exc:
        issues = _issues(exc, table)
        if place is None:
            raise ConfigError.every([ConfigError(f"{origin}: {message}") for _, _, message in issues]) from None
        raise ConfigError.every(
            [ConfigError.at(*place(path, at_key), message) for path, at_key, message in issues]
        ) from None
    budgets = {key: getattr(checked, key) for key in BUDGETS if getattr(checked, key) is not None}
    return Config(
        select=set(checked.select) if checked.select is not None else None,
        ignore=set(checked.ignore or ()),
        severity=dict(checked.severity),
        budgets=budgets,
        budget_origins=dict.fromkeys(budgets, origin),
        dominant_share=checked.dominant_share,
        strict=checked.strict,
        allow_budget_suppression=checked.allow_budget_suppression,
        origin=origin,
    )


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
            before = raw[: exc.start].decode("utf-8")  # the valid text up to the bad byte
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
