"""Where each key and value of a TOML document is written: tomllib keeps no positions."""

from __future__ import annotations

import sys
from types import ModuleType

from cnnshape.source import offset_position


def tomllib_module() -> ModuleType:
    """The standard library's TOML reader (tomli, its original, on Python 3.10)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    return tomllib


class TomlPositions:
    """Where each key and value of a TOML document is written (tomllib keeps no positions),
    so that a configuration error points at its line like a spec error does. The text is
    valid TOML (tomllib read it first), which keeps the scan simple: it finds where keys and
    values start and where strings, arrays and inline tables end, and nothing else."""

    def __init__(self, text: str):
        self.text = text
        self.at = 0
        self.keys: dict[tuple, int] = {}  # key path -> offset of its key, or of its [header]
        self.values: dict[tuple, int] = {}  # key path -> offset of its value, or of its [header]
        self.implied: dict[tuple, int] = {}  # tables named only as part of a dotted key or header
        self._document()

    def locate(self, loc: tuple, at_key: bool) -> tuple[int, int]:
        """Line and column of a key path's key or value; a path that is not written out
        falls back to its nearest written parent (in the end, the table's header)."""
        for size in range(len(loc), 0, -1):
            path = loc[:size]
            value_first = size == len(loc) and not at_key
            for where in ((self.values, self.keys) if value_first else (self.keys, self.values)) + (self.implied,):
                if path in where:
                    return offset_position(self.text, where[path])
        return 1, 1

    def _peek(self) -> str:
        return self.text[self.at] if self.at < len(self.text) else ""

    def _skip(self, newlines: bool = False) -> bool:
        """Past spaces, tabs and comments (and line ends, where TOML allows them); False at the end."""
        while self.at < len(self.text):
            char = self.text[self.at]
            if char in " \t" or (newlines and char in "\r\n"):
                self.at += 1
            elif char == "#":
                end = self.text.find("\n", self.at)
                self.at = len(self.text) if end < 0 else end
            else:
                break
        return self.at < len(self.text)

    def _document(self) -> None:
        table: tuple[str | int, ...] = ()
        arrays: dict[tuple, int] = {}  # array of tables -> index of its last table
        while self._skip(newlines=True):
            start = self.at
            if self._peek() == "[":
                many = self.text.startswith("[[", start)
                self.at += 2 if many else 1
                path: tuple[str | int, ...] = ()
                for name, _ in self._key():
                    if path in arrays:  # [[a]] then [a.b] or [[a.b]]: b is in a's last table
                        path += (arrays[path],)
                    path += (name,)
                self._skip()
                self.at += 2 if many else 1
                for size in range(1, len(path)):
                    self.implied.setdefault(path[:size], start)
                if many:
                    arrays[path] = arrays.get(path, -1) + 1
                    self.keys.setdefault(path, start)
                    path += (arrays[path],)
                table = path
                self.keys.setdefault(table, start)
                self.values.setdefault(table, start)
            else:
                self._pair(table)
            if self.at == start:  # cannot happen in valid TOML; never loop forever
                self.at += 1

    def _key(self) -> list[tuple[str, int]]:
        """A dotted key: each part, with the offset where it is written."""
        parts = []
        while True:
            self._skip()
            start = self.at
            if self._peek() in ('"', "'"):
                end = self._string_end(start)
                name = tomllib_module().loads("k = " + self.text[start:end])["k"]
            else:
                end = start
                while end < len(self.text) and (self.text[end].isalnum() or self.text[end] in "-_"):
                    end += 1
                name = self.text[start:end]
            parts.append((name, start))
            self.at = end
            self._skip()
            if self._peek() != "." or end == start:
                return parts
            self.at += 1

    def _pair(self, table: tuple) -> None:
        path = table
        *parents, (name, start) = self._key()
        for parent, parent_start in parents:
            path += (parent,)
            self.implied.setdefault(path, parent_start)
        path += (name,)
        self.keys.setdefault(path, start)
        self._skip()
        self.at += 1  # the =
        self._skip()
        self._value(path)

    def _value(self, path: tuple) -> None:
        self.values.setdefault(path, self.at)
        first = self._peek()
        if first in ('"', "'"):
            self.at = self._string_end(self.at)
        elif first in ("[", "{"):
            close = "]" if first == "[" else "}"
            self.at += 1
            index = 0
            while self._skip(newlines=True) and self._peek() != close:
                before = self.at
                if first == "[":
                    self._value(path + (index,))
                    index += 1
                else:
                    self._pair(path)
                self._skip(newlines=True)
                if self._peek() == ",":
                    self.at += 1
                if self.at == before:  # cannot happen in valid TOML; never loop forever
                    self.at += 1
            self.at += 1
        else:  # a number, boolean or date: up to what ends it
            while self.at < len(self.text) and self.text[self.at] not in ",]}#\n":
                self.at += 1

    def _string_end(self, start: int) -> int:
        """The offset just past the string (any of TOML's four kinds) that starts at `start`."""
        text, quote = self.text, self.text[start]
        escapes = quote == '"'
        if text.startswith(quote * 3, start):
            at = start + 3
            while at < len(text) and not text.startswith(quote * 3, at):
                at += 2 if escapes and text[at] == "\\" else 1
            at += 3
            for _ in range(2):  # a string may end with one or two quotes of its own
                if at < len(text) and text[at] == quote:
                    at += 1
            return at
        at = start + 1
        while at < len(text) and text[at] != quote:
            at += 2 if escapes and text[at] == "\\" else 1
        return at + 1


MAX_NESTING = 100  # arrays and inline tables inside each other; tomllib recurses per level


def too_deep(text: str, limit: int = MAX_NESTING) -> int | None:
    """The offset of the first `[` or `{` nested deeper than `limit` (outside strings and
    comments), or None. Checked before tomllib reads the text: it recurses once per level,
    so a few thousand levels would end in RecursionError instead of a located error."""
    depth, at, size = 0, 0, len(text)
    while at < size:
        char = text[at]
        if char in "\"'":
            triple = text.startswith(char * 3, at)
            end = text.find(char * 3 if triple else char, at + (3 if triple else 1))
            while end > 0 and char == '"' and text[end - 1] == "\\" and not triple:
                end = text.find(char, end + 1)
            at = size if end < 0 else end + (3 if triple else 1)
            continue
        if char == "#":
            end = text.find("\n", at)
            at = size if end < 0 else end
            continue
        if char in "[{":
            depth += 1
            if depth > limit:
                return at
        elif char in "]}":
            depth = max(depth - 1, 0)
        at += 1
    return None
