"""Problems found in a user's spec, and the exceptions that carry them.

A `Problem` is what the user sees: a located message with a stable code. User errors are
always Problems (exit 1, no traceback); anything else escaping the core is a bug and keeps
its traceback.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

Severity = Literal["error", "warning"]
Loc = tuple  # a path into the YAML document: ("layers", 3, "Conv2d", "stride")

# Stable problem codes. The keys never change meaning; docs/spec.md lists them.
CODES: dict[str, str] = {
    "yaml-syntax": "the file is not valid YAML",
    "yaml-unsupported": "a YAML feature cnnshape refuses (tags, duplicate keys, self-referencing aliases)",
    "file-unreadable": "the file cannot be read (missing, a directory, not UTF-8)",
    "schema": "a top-level value or block definition has the wrong type for the spec format",
    "bad-layer": "a layer entry is not a kind name or a one-key mapping `Kind: {arguments}`",
    "unknown-kind": "the layer kind is neither a built-in layer nor a block of this file",
    "unknown-argument": "the file format, layer or block has no key or argument of that name",
    "missing-argument": "a required key or argument is not given",
    "bad-value": "an argument's value has the wrong type or is out of range",
    "bad-expression": "a `$name` or `$(expr)` substitution cannot be evaluated",
    "unknown-reference": "`from` or `outputs` names no earlier layer in scope",
    "forward-reference": "`from` names a layer defined further down (graphs run top to bottom, without cycles)",
    "duplicate-name": "two layers in one scope share a name",
    "cycle": "a block uses itself, directly or through other blocks",
    "limit": "the spec expands past a documented size limit",
    "shape": "the incoming shape does not fit the layer",
    "input-mismatch": "a block argument tied to the block's input (its default reads `$input_channels`, ...) is given a value that disagrees with the real input",
    "skipped-merge": "a skipped merge (`Add`, `Concat`, ... with `if: false` or `repeat: 0`) would stand for several tensors; say which with `else:`",
    "unaligned-rf": "paths merged with different receptive-field stride or centre",
    "unbatched-input": "layers read their input without a batch dimension: usually an input shape written without its batch",
    "unused-block": "a block is defined but never used, so its layers are not checked",
    "layer-warning": "legal arguments that are likely a mistake (e.g. Softmax relying on an implicit dim)",
    "default-scale": "an Ultralytics model YAML read without a scale: its first scale is used, as Ultralytics does",
}


class Problem(NamedTuple):
    """One located problem in a spec file: immutable, and ordered by file, line, column,
    severity, code and message (what `sorted` gives). A NamedTuple rather than a frozen
    ordered dataclass, which Python 3.11 builds from ten methods compiled at import, on
    every run's start-up path (0.9 ms)."""

    file: str
    line: int
    col: int
    severity: Severity
    code: str
    message: str

    @property
    def column(self) -> int:
        """The column (1-based, in characters), as JSON names it."""
        return self.col

    @property
    def hint(self) -> str:
        """The fix the message suggests: its text after the first "; " ("did you mean
        'MaxPool2d'?", "add a Flatten before it?"), without a trailing "(in block)"
        context; "" when the message suggests none."""
        _, sep, rest = self.message.partition("; ")
        if not sep:
            return ""
        return re.sub(r"(?: \(in [^()]*\))+$", "", rest)

    def format(self) -> str:
        """The line a person reads (`file:line:col: severity: message [code]`); a file name or
        message that carries control characters shows them as escapes (`\\x1b`)."""
        from cnnshape.escape import visible  # a leaf module: no import of the rest

        return visible(f"{self.file}:{self.line}:{self.col}: {self.severity}: {self.message} [{self.code}]")


class SpecError(Exception):
    """The spec has user-facing problems; carries all of them."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = sorted(set(problems))
        super().__init__("\n".join(p.format() for p in self.problems))


@dataclass
class ShapeError(Exception):
    """Raised by a layer whose input does not fit; the engine adds the location."""

    message: str
    code: str = "shape"
    hint: str = ""  # the usual fix, said after the inputs the engine names

    def __str__(self) -> str:
        return self.message + (f"; {self.hint}" if self.hint else "")


@dataclass
class Issue:
    """A problem before it has a file position: a loc path into the YAML document."""

    loc: Loc
    code: str
    message: str
    severity: Severity = "error"
    at_key: bool = False  # point at the mapping key rather than its value
    extra: dict = field(default_factory=dict)


def close_matches(word: object, known: Iterable[str], n: int = 1) -> list[str]:
    """The known names a slip of the keyboard away from `word`: the same name in another
    case if there is one; else the closest by difflib's ratio (ignoring case), several only
    when they are equally close (BatchNorm1d/2d/3d, in the order given). Empty for a word that is no string."""
    import difflib

    if not isinstance(word, str):
        return []
    names = list(dict.fromkeys(known))
    folded: dict[str, str] = {}
    for name in names:
        folded.setdefault(name.casefold(), name)
    if word.casefold() in folded and folded[word.casefold()] != word:
        return [folded[word.casefold()]]
    close = difflib.get_close_matches(word.casefold(), list(folded), n=n, cutoff=0.6)
    if not close:
        return []
    top = difflib.SequenceMatcher(None, word.casefold(), close[0]).ratio()
    tied = {c for c in close if difflib.SequenceMatcher(None, word.casefold(), c).ratio() == top}
    return [name for key, name in folded.items() if key in tied]  # in the order they are known


def did_you_mean(word: object, known: Iterable[str], n: int = 1, spell: Callable[[str], str] = str) -> str:
    """ "; did you mean 'A'?" (or "'A', 'B' or 'C'" with n > 1) for a near miss of a known
    name, else "". `spell` writes a name as the user would type it (`--out-channels`)."""
    quoted = [repr(spell(name)) for name in close_matches(word, known, n)]
    if not quoted:
        return ""
    listed = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
    return f"; did you mean {listed}?"
