"""Every spec in tests/specs/invalid/ fails with exactly the problems its header lists.

Header lines (the file's leading comments):

    # expect: LINE:COL CODE     one per expected problem (repeat a line for two at one place)
    # says: TEXT                some message contains TEXT (case-insensitive)
    # xfail: REASON             a known bug, reported; the test is a strict xfail

The expected positions were worked out by reading each file: the offending key or value,
the kind of a layer whose shape does not fit, the mapping that lacks a required key.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from cnnshape.errors import CODES, SpecError
from cnnshape.pipeline import analyze_file

INVALID = Path(__file__).parent / "specs" / "invalid"
EXPECT = re.compile(rb"^# expect: (\d+):(\d+) ([a-z-]+)\s*$")
SAYS = re.compile(rb"^# says: (.+?)\s*$")
XFAIL = re.compile(rb"^# xfail: (.+?)\s*$")


def read_header(path: Path) -> tuple[list[tuple[int, int, str]], list[str], str | None]:
    expected: list[tuple[int, int, str]] = []
    says: list[str] = []
    xfail = None
    for line in path.read_bytes().splitlines():
        if not line.startswith(b"#"):
            break
        if match := EXPECT.match(line):
            expected.append((int(match[1]), int(match[2]), match[3].decode()))
        elif match := SAYS.match(line):
            says.append(match[1].decode())
        elif match := XFAIL.match(line):
            xfail = match[1].decode()
    return expected, says, xfail


def problems_of(path: Path, **options) -> list:
    with pytest.raises(SpecError) as info:
        analyze_file(path, **options)
    return info.value.problems


def check(path: Path, problems: list, expected: list[tuple[int, int, str]], says: list[str] = ()) -> None:
    found = Counter((p.line, p.col, p.code) for p in problems)
    shown = "\n".join(p.format() for p in problems)
    assert found == Counter(expected), f"{path.name}: expected {sorted(expected)}, got\n{shown}"
    for problem in problems:
        assert problem.message.strip(), f"empty message: {problem}"
        assert problem.code in CODES, f"code {problem.code!r} is not in errors.CODES"
        assert problem.severity in ("error", "warning")
        assert problem.file == str(path)
        assert "\n" not in problem.message, f"a problem is one line: {problem.message!r}"
    assert any(p.severity == "error" for p in problems), "an invalid spec has at least one error"
    for text in says:
        assert any(text.lower() in p.message.lower() for p in problems), f"no message says {text!r}:\n{shown}"


def _cases() -> list:
    cases = []
    for path in sorted(INVALID.glob("*.yaml")):
        expected, says, xfail = read_header(path)
        marks = [pytest.mark.xfail(reason=xfail, strict=True, raises=AssertionError)] if xfail else []
        cases.append(pytest.param(path, expected, says, id=path.stem, marks=marks))
    return cases


CASES = _cases()


def test_the_corpus_is_well_formed() -> None:
    assert len(CASES) >= 40
    for case in CASES:
        path, expected, _ = case.values
        assert expected, f"{path.name} has no `# expect:` header"
        for _, _, code in expected:
            assert code in CODES, f"{path.name}: unknown code {code!r} in its header"


@pytest.mark.parametrize(("path", "expected", "says"), CASES)
def test_invalid_spec(path: Path, expected: list, says: list) -> None:
    check(path, problems_of(path), expected, says)


# -- files that cannot carry a header: written here --------------------------------------

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
SPEC = "name: t\ninput: [1, 3, 8, 8]\nlayers: [ReLU]\n"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(PNG, [(1, 1, "file-unreadable")], id="png-image"),
        pytest.param("\ufeff".encode("utf-16-le") + SPEC.encode("utf-16-le"), [(1, 1, "file-unreadable")], id="utf-16"),
        pytest.param(b"", [(1, 1, "schema")], id="zero-bytes"),
        pytest.param(b"\n\n   \n", [(1, 1, "schema")], id="blank-lines"),
        # "caf\xc3" then a newline: a UTF-8 sequence cut short at line 1, column 10.
        pytest.param(b"name: caf\xc3\ninput: [1]\nlayers: [ReLU]\n", [(1, 10, "file-unreadable")], id="truncated-utf8"),
        # The bad byte on line 3, after two good lines with multi-byte characters in them.
        pytest.param(
            "name: ün\ndescription: é\n".encode() + b"input: [1, \xff]\nlayers: [ReLU]\n",
            [(3, 12, "file-unreadable")],
            id="bad-byte-after-utf8",
        ),
        # After "é" (two bytes) the bad byte is the 8th character of its line, the 9th byte.
        pytest.param(
            "input: [1]\nname: é".encode() + b"\xff\nlayers: [ReLU]\n",
            [(2, 8, "file-unreadable")],
            id="bad-byte-after-multibyte-on-its-line",
        ),
        # A control character after a multi-byte one: the column counts characters, not bytes.
        pytest.param(
            "name: t\ndescription: ééé \x07\ninput: [1]\nlayers: [ReLU]\n".encode(),
            [(2, 18, "yaml-syntax")],
            id="control-after-multibyte",
        ),
    ],
)
def test_unreadable_bytes(tmp_path: Path, data: bytes, expected: list) -> None:
    path = tmp_path / "spec.yaml"
    path.write_bytes(data)
    check(path, problems_of(path), expected)


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + SPEC.encode())
    report = analyze_file(path)
    assert report.outputs[0].shape == (1, 3, 8, 8)


def test_a_directory_is_not_a_spec(tmp_path: Path) -> None:
    check(tmp_path, problems_of(tmp_path), [(1, 1, "file-unreadable")])


def test_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    check(path, problems_of(path), [(1, 1, "file-unreadable")])


def test_override_of_an_undeclared_arg_points_at_args(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(
        "name: t\ninput: [1, 3, 8, 8]\nargs:\n  num_classes: 10\nlayers:\n  - Flatten\n  - Linear: {out_features: $num_classes}\n"
    )
    problems = problems_of(path, overrides={"num_clases": 5})
    # No place in the file is wrong; the nearest is the `args:` key (line 3) the name is missing from.
    check(path, problems, [(3, 1, "unknown-argument")], ["did you mean 'num_classes'"])


def test_a_method_call_is_named_in_its_message(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(
        "name: t\ninput: [1, 3, 8, 8]\nargs: {width: 8}\nlayers:\n"
        "  - Conv2d: {out_channels: $(width.bit_length()), kernel_size: 3}\n"
    )
    check(path, problems_of(path), [(5, 28, "bad-expression")], ["bit_length"])
