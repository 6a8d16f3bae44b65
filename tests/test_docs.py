"""The user documentation stays true: every whole spec in docs/spec.md analyses, its
```console examples show what the program prints, and the generated parts of every page
(tools/gen_docs.py: layer kinds, error codes, lint rules, the PyTorch mapping) are what
the code gives now. The tests only check; `python tools/gen_docs.py --write` rewrites them.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import textwrap
import typing
from pathlib import Path

import pytest

from cnnshape.errors import SpecError
from cnnshape.expr import FUNCTIONS
from cnnshape.layers import REGISTRY
from cnnshape.pipeline import analyze_text
from tools import gen_docs

DOCS = Path(__file__).resolve().parent.parent / "docs"
SPEC_MD = DOCS / "spec.md"
JSON_MD = DOCS / "json.md"

ROOT = DOCS.parent
# Indented blocks too (an example inside a list item), read without their indent.
YAML_BLOCK = re.compile(r"^( *)```yaml[^\n]*\n(.*?)^\1```", re.MULTILINE | re.DOTALL)
CONSOLE_BLOCK = re.compile(r"^```console\n(.*?)^```", re.MULTILINE | re.DOTALL)
WHOLE_SPEC = re.compile(r"^layers:", re.MULTILINE)
SPEC_NAME = re.compile(r"^name:\s*(\S+)", re.MULTILINE)


def spec_examples() -> list[tuple[int, str]]:
    """(line, text) of every ```yaml block of docs/spec.md that is a whole spec."""
    text = SPEC_MD.read_text(encoding="utf-8")
    blocks = [
        (text.count("\n", 0, match.start()) + 2, textwrap.dedent(match.group(2))) for match in YAML_BLOCK.finditer(text)
    ]
    return [(line, block) for line, block in blocks if WHOLE_SPEC.search(block)]


def console_examples() -> list[tuple[int, str]]:
    """(line, text) of every ```console block of docs/spec.md."""
    text = SPEC_MD.read_text(encoding="utf-8")
    return [(text.count("\n", 0, match.start()) + 2, match.group(1)) for match in CONSOLE_BLOCK.finditer(text)]


# ```console blocks the test cannot run, by their first line, with the reason.
CONSOLE_SKIPS = {
    "spec.yaml:4:5: error: conv2d_1 (Conv2d): declares in_channels=4 but its input (1, 3, 32, 32) has 3 channels [shape]": "output only: no command, and the page does not show spec.yaml",
    "$ cnnshape summary broken.yaml": "broken.yaml is not on the page (a broken ```yaml spec would fail test_spec_example_analyses)",
}
CONSOLE_WIDTH = "100"  # COLUMNS for the commands: every table on the page fits in it


def _console_files(command: list[str], where: Path) -> list[str]:
    """Put the spec files a command names into `where`: bundled specs (specs/...) by their
    path, the page's own examples as `<name>.yaml`. Returns the names it could not find."""
    pages = {SPEC_NAME.search(spec).group(1): spec for _, spec in spec_examples()}
    missing = []
    for arg in command:
        if not arg.endswith((".yaml", ".yml")):
            continue
        target = where / arg
        target.parent.mkdir(parents=True, exist_ok=True)
        if (ROOT / arg).is_file():
            target.write_bytes((ROOT / arg).read_bytes())
        elif Path(arg).stem in pages:
            target.write_text(pages[Path(arg).stem], encoding="utf-8")
        else:
            missing.append(arg)
    return missing


def _shows(expected: list[str], actual: list[str]) -> bool:
    """Whether the block's lines are the output, where a line `...` stands for any lines."""
    segments: list[list[str]] = [[]]
    for line in expected:
        if line == "...":
            segments.append([])
        else:
            segments[-1].append(line)
    if len(segments) == 1:
        return expected == actual
    first, *middle, last = segments
    start, end = len(first), len(actual) - len(last)
    if end < start or actual[:start] != first or actual[end:] != last:
        return False
    for segment in middle:
        found = next((i for i in range(start, end - len(segment) + 1) if actual[i : i + len(segment)] == segment), None)
        if found is None:
            return False
        start = found + len(segment)
    return True


# --- the generated parts ---------------------------------------------------------------


def _section(text: str, marker: str) -> re.Match:
    pattern = re.compile(rf"(<!-- BEGIN {marker} -->\n)(.*?)(<!-- END {marker} -->)", re.DOTALL)
    match = pattern.search(text)
    assert match, f"docs/spec.md has no <!-- BEGIN {marker} --> ... <!-- END {marker} --> section"
    return match


# --- tests ------------------------------------------------------------------------------


def test_spec_md_has_examples() -> None:
    assert len(spec_examples()) >= 5


@pytest.mark.parametrize("line,text", [pytest.param(*example, id=f"line{example[0]}") for example in spec_examples()])
def test_spec_example_analyses(line: int, text: str) -> None:
    try:
        report = analyze_text(text, "docs/spec.md")
    except SpecError as exc:  # point at the line in docs/spec.md, not in the example
        pytest.fail(
            "\n".join(
                f"{p.file}:{line + p.line - 1}:{p.col}: {p.severity}: {p.message} [{p.code}]" for p in exc.problems
            )
        )
    assert report.totals.layers > 0


def test_shows_matches_elided_output() -> None:
    """The comparison itself: `...` elides, anything else must be exact."""
    assert _shows(["a", "b"], ["a", "b"])
    assert not _shows(["a", "b"], ["a", "b", "c"])
    assert _shows(["a", "..."], ["a", "b", "c"])
    assert _shows(["a", "...", "c"], ["a", "b", "c"])
    assert _shows(["a", "...", "b", "...", "d"], ["a", "x", "b", "c", "d"])
    assert not _shows(["a", "...", "c"], ["a", "b", "d"])
    assert not _shows(["b", "..."], ["a", "b"])
    assert not _shows(["a", "...", "a"], ["a"])


def test_spec_md_has_console_examples() -> None:
    first_lines = [text.split("\n", 1)[0] for _, text in console_examples()]
    assert sum(line.startswith("$ cnnshape ") for line in first_lines) >= 3
    stale = sorted(set(CONSOLE_SKIPS) - set(first_lines))
    assert not stale, f"CONSOLE_SKIPS names blocks docs/spec.md no longer has: {stale}"


@pytest.mark.parametrize(
    "line,text", [pytest.param(*example, id=f"line{example[0]}") for example in console_examples()]
)
def test_console_example_is_real_output(line: int, text: str, tmp_path: Path) -> None:
    """The block is what `$ cnnshape ...` prints (stdout, then stderr) at COLUMNS=100, trailing
    spaces aside; a line `...` stands for omitted lines, and a block with no output lines
    only has to run without errors."""
    command, *shown = [row.rstrip() for row in text.splitlines()]
    if command in CONSOLE_SKIPS:
        pytest.skip(CONSOLE_SKIPS[command])
    assert command.startswith("$ cnnshape "), (
        f"docs/spec.md:{line}: the block does not start with `$ cnnshape ...`; add it to CONSOLE_SKIPS with a reason"
    )
    args = shlex.split(command)[2:]
    missing = _console_files(args, tmp_path)
    assert not missing, (
        f"docs/spec.md:{line}: {missing} is neither in the repository nor a ```yaml example of the page "
        f"(`name: <stem>`); give it on the page or add the block to CONSOLE_SKIPS with a reason"
    )
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")
    }
    env.update(
        COLUMNS=CONSOLE_WIDTH,
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
        PYTHONWARNINGS="ignore",
        PYTHONIOENCODING="utf-8",
        GITHUB_ACTIONS="",
    )
    result = subprocess.run(
        [sys.executable, "-m", "cnnshape", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    actual = [row.rstrip() for row in (result.stdout + result.stderr).splitlines()]
    expected_status = 1 if any(": error: " in row for row in shown) else 0
    assert result.returncode == expected_status, (
        f"docs/spec.md:{line}: `{command[2:]}` exited {result.returncode}, expected {expected_status}:\n{result.stderr}"
    )
    if shown:
        assert _shows(shown, actual), (
            f"docs/spec.md:{line}: the block differs from what `{command[2:]}` prints at COLUMNS={CONSOLE_WIDTH}:\n"
            + "\n".join(actual)
        )


def test_every_kind_is_in_the_layer_table() -> None:
    section = _section(SPEC_MD.read_text(encoding="utf-8"), "LAYER TABLE").group(2)
    listed = re.findall(r"^\| `([A-Za-z0-9_]+)` \|", section, re.MULTILINE)
    missing = sorted(set(REGISTRY) - set(listed))
    unknown = sorted(set(listed) - set(REGISTRY))
    assert not missing, f"kinds missing from docs/spec.md; run `python tools/gen_docs.py --write`: {missing}"
    assert not unknown, f"docs/spec.md lists kinds that do not exist: {unknown}"


@pytest.mark.parametrize("page", gen_docs.PAGES)
def test_generated_parts_are_current(page: str) -> None:
    assert gen_docs.rendered(page) == (ROOT / page).read_text(encoding="utf-8"), (
        f"{page}'s generated parts are stale: run `python tools/gen_docs.py --write` and review the diff"
    )


def test_expression_functions_match_the_code() -> None:
    row = re.search(r"^\| functions \|(.*)$", SPEC_MD.read_text(encoding="utf-8"), re.MULTILINE)
    assert row, "docs/spec.md has no `| functions |` row in its expression table"
    documented = {name for name in re.findall(r"`([A-Za-z_]\w*)[`(]", row.group(1)) if not name.startswith("_")}
    assert documented == set(FUNCTIONS), (
        f"docs/spec.md's expression functions differ from expr.FUNCTIONS: "
        f"undocumented {sorted(set(FUNCTIONS) - documented)}, not in the code {sorted(documented - set(FUNCTIONS))}"
    )


def _keys(value: typing.Any, found: set[str]) -> set[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            found.add(key)
            _keys(item, found)
    elif isinstance(value, list):
        for item in value:
            _keys(item, found)
    return found


def test_every_json_field_is_documented() -> None:
    from cnnshape.render.json import to_dict

    fields: set[str] = set()
    for _, spec in spec_examples():  # between them: blocks, warnings, multi-output layers
        data = to_dict(analyze_text(spec, "example.yaml"), depth=1)
        data.pop("args")  # its keys are the spec's
        data.pop("inputs")  # its keys are the spec's input names
        _keys(data, fields)
    text = JSON_MD.read_text(encoding="utf-8")
    missing = sorted(key for key in fields if f"`{key}`" not in text)
    assert not missing, f"JSON fields not described in docs/json.md: {missing}"


def test_json_example_is_real_output() -> None:
    """docs/json.md's example is `summary specs/seed-lenet.yaml --format json`, layers trimmed."""
    import json

    from cnnshape.pipeline import analyze_file
    from cnnshape.render.json import to_dict

    block = re.search(r"^```json\n(.*?)^```", JSON_MD.read_text(encoding="utf-8"), re.MULTILINE | re.DOTALL)
    assert block, "docs/json.md has no ```json example"
    documented = json.loads(block.group(1))
    actual = json.loads(json.dumps(to_dict(analyze_file(DOCS.parent / "specs" / "seed-lenet.yaml"))))
    actual["file"] = "specs/seed-lenet.yaml"
    actual["layers"] = actual["layers"][: len(documented["layers"])]
    assert documented == actual, "docs/json.md's example differs from the real output; regenerate it"


# ```text blocks that show the error a page example gives once changed as the text says:
# (the example's name, the change, the first line of the shown error).
CHANGED_EXAMPLES = [
    ("optional-residual", (", else: project}", "}"), "optional-residual.yaml:7:50: error: sum (Add) is skipped"),
    ("block-input", ("{c1: 64, c2: 64}", "{c1: 32, c2: 64}"), "block-input.yaml:13:22: error: block Bottleneck"),
]


@pytest.mark.parametrize(("name", "change", "start"), CHANGED_EXAMPLES, ids=[c[0] for c in CHANGED_EXAMPLES])
def test_text_error_block_is_real_output(name: str, change: tuple[str, str], start: str) -> None:
    """The error line the page shows for a changed example is what cnnshape reports for it."""
    pages = {SPEC_NAME.search(spec).group(1): spec for _, spec in spec_examples()}
    old, new = change
    assert old in pages[name]
    text = SPEC_MD.read_text(encoding="utf-8")
    (shown,) = [line for line in text.splitlines() if line.startswith(start)]
    with pytest.raises(SpecError) as caught:
        analyze_text(pages[name].replace(old, new, 1), f"{name}.yaml")
    (problem,) = caught.value.problems
    assert f"{problem.file}:{problem.line}:{problem.col}: error: {problem.message} [{problem.code}]" == shown
