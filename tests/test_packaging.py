"""Packaging facts a user relies on: the licence, one version, bounded 0.x dependencies.

The wheel itself is built and checked (`python -m build`, `twine check`, its contents) by
.ci/run; these tests read the files those tools read.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import cnnshape

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_license_file_is_the_mit_text_pyproject_names() -> None:
    project = PYPROJECT["project"]
    assert project["license"] == "MIT"  # an SPDX expression, not the deprecated table
    assert project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License")
    # The permission and warranty sentences of https://opensource.org/license/mit
    assert "Permission is hereby granted, free of charge, to any person obtaining a copy" in text
    assert 'THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND' in text


def test_the_version_is_written_once() -> None:
    project = PYPROJECT["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "cnnshape.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+((a|b|rc)\d+|\.dev\d+)?", cnnshape.__version__)  # PEP 440
    written = [
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "cnnshape").rglob("*.py")
        if re.search(r"^__version__\s*=", path.read_text(encoding="utf-8"), re.M)
    ]
    assert written == ["cnnshape/__init__.py"]


def test_zero_x_dependencies_have_an_upper_bound() -> None:
    for requirement in PYPROJECT["project"]["dependencies"]:
        name = re.match(r"[A-Za-z0-9_.-]+", requirement).group(0)  # type: ignore[union-attr]
        lower = re.search(r">=\s*(\d+)", requirement)
        if lower and lower.group(1) == "0":
            assert re.search(r"<\s*\d", requirement), f"{name} is 0.x and needs an upper bound: {requirement}"


def test_typed_marker_and_urls_ship() -> None:
    assert (ROOT / "cnnshape" / "py.typed").is_file()
    assert "py.typed" in PYPROJECT["tool"]["setuptools"]["package-data"]["cnnshape"]
    assert {"Homepage", "Changelog", "Issues"} <= set(PYPROJECT["project"]["urls"])


def test_changelog_has_the_release_and_an_unreleased_section() -> None:
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## \[(.+?)\](.*)$", text, re.M)
    assert headings[0] == ("Unreleased", "")
    assert ("0.1.0", " - 2026-11-29") in headings
    assert "[0.1.0]: " in text and "[Unreleased]: " in text


def test_docs_install_from_the_repository_not_pypi() -> None:
    """cnnshape is not on PyPI: no snippet may tell a user to `pip install cnnshape`."""
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = path.read_text(encoding="utf-8")
        bare = re.findall(r"pip install ['\"]?cnnshape\b(?![\w-])", text)
        assert not bare, f"{path.name}: {bare}"


def test_the_released_section_is_never_edited() -> None:
    """What 0.1.0 released (the CHANGELOG's [Unreleased] at tag v0.1.0, commit ab5298d)
    stays as it was: today's work goes under [Unreleased], above it. A line added at the
    end of a list that now sits under 0.1.0 is the usual slip."""
    import hashlib

    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    section = text.split("## [0.1.0] - 2026-11-29\n\n", 1)[1].split("\n[Unreleased]:")[0].rstrip()
    digest = hashlib.sha256(section.encode("utf-8")).hexdigest()
    assert (digest, len(section.splitlines())) == (
        "eaab57b0358cdc42043348b178aed244fd8589d1683f383220fb78eeb44461ba",
        119,
    ), (
        "CHANGELOG.md's 0.1.0 section changed: move new lines under ## [Unreleased] "
        "(`git show v0.1.0:CHANGELOG.md` has the released text)"
    )
