"""`cnnshape lint` on untrusted input (issue 17): what CI prints cannot be steered by a
file's content or name, nothing is silently skipped, nothing blocks, and a spec cannot lift
the repository's budgets. Every lint run is a child under the hostile corpus's caps
(tests/test_hostile.capped: 1 GiB, 60 s of CPU, a wall-clock bound on hangs).

Expected values are written out by hand: GitHub's workflow-command escaping (the runner's
ActionCommand: data escapes %, CR, LF; properties also `:` and `,`), RFC 3986
percent-encoding, and resnet18's 11,689,512 parameters (torchvision's published count).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from test_hostile import capped

ROOT = Path(__file__).resolve().parent.parent
RESNET18 = ROOT / "specs" / "resnet18.yaml"
KNOWN_KEYS = (
    "select, ignore, severity, strict, dominant-share, allow-budget-suppression, devices, "
    "max-params, max-macs, max-flops, max-param-bytes, max-activation-bytes"
)


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def lint(
    *args: str, github: bool = False, python: tuple[str, ...] = ("-m", "cnnshape")
) -> tuple[int, list[str], list[str]]:
    """`cnnshape lint ARGS...` from the current folder, in a capped child (`python`: how the
    child starts cnnshape)."""
    env = {"GITHUB_ACTIONS": "true"} if github else {}
    result = capped([sys.executable, *python, "lint", *args], env=env)
    return result.returncode, result.stdout.splitlines(), result.stderr.splitlines()


# --- GitHub workflow commands ---------------------------------------------------------------


def test_a_config_key_cannot_inject_a_workflow_command(tmp_path: Path) -> None:
    shutil.copy(RESNET18, tmp_path / "net.yaml")
    (tmp_path / "pyproject.toml").write_text('[tool.cnnshape]\n"x\\n::error file=evil.py,line=1::pwned" = 1\n')
    code, out, err = lint(".", github=True)
    assert code == 2 and out == []
    # One annotation on pyproject.toml line 2; the key's line break is shown as \n (its
    # repr), so no line of the log starts with the injected command.
    assert err == [
        "::error file=pyproject.toml,line=2,col=1,title=config::'x\\n::error file=evil.py,line=1::pwned': "
        f"unknown key; known keys: {KNOWN_KEYS}"
    ]
    code, out, err = lint(".")  # the same in a terminal: one line, the key quoted
    assert err == [
        f"pyproject.toml:2:1: error: 'x\\n::error file=evil.py,line=1::pwned': unknown key; known keys: {KNOWN_KEYS}"
    ]


def test_file_names_are_escaped_as_workflow_command_properties(tmp_path: Path) -> None:
    (tmp_path / "a,b:c%d.yaml").write_text("name: [\n")  # a YAML syntax error
    evil = "x\n::error file=evil.py::y.yaml"
    (tmp_path / evil).write_text("name: [\n")
    code, out, err = lint(".", github=True)
    assert code == 1
    commands = [line for line in out if line.startswith("::")]
    assert len(commands) == 2 and len(out) == 3  # two annotations and the summary line
    files = sorted(re.match(r"::error file=([^,]*),", line).group(1) for line in commands)
    assert files == ["a%2Cb%3Ac%25d.yaml", "x%0A%3A%3Aerror file=evil.py%3A%3Ay.yaml"]
    assert out[-1] == "2 file(s) checked: 2 error(s), 0 warning(s)"


def test_a_plain_line_under_github_cannot_be_a_command() -> None:
    # The escaping function itself, on strings (no file is read or run: nothing to cap).
    from cnnshape.escape import workflow

    assert workflow("::error::x") == "\\::error::x"
    assert workflow("50% done\r\nnext") == "50%25 done%0D%0Anext"
    assert workflow("m\x1b[31m", "warning", file="a:b,c") == "::warning file=a%3Ab%2Cc::m\\x1b[31m"


# --- SARIF ------------------------------------------------------------------------------------


def test_sarif_uris_are_percent_encoded(tmp_path: Path) -> None:
    names = ["a #1%.yaml", "line\nbreak.yaml", "naïve?.yaml"]
    for name in names:
        (tmp_path / name).write_text("name: [\n")
    code, out, _ = lint(".", "--format", "sarif")
    assert code == 1
    uris = sorted(
        result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        for result in json.loads("\n".join(out))["runs"][0]["results"]
    )
    assert uris == ["a%20%231%25.yaml", "line%0Abreak.yaml", "na%C3%AFve%3F.yaml"]
    for uri in uris:
        # A relative reference with only a path (RFC 3986): no fragment or query, only
        # unreserved characters, `/` and %XX escapes, and it decodes back to the name.
        assert re.fullmatch(r"(?:[A-Za-z0-9\-._~/]|%[0-9A-F]{2})+", uri)
        parts = urlsplit(uri)
        assert (parts.scheme, parts.query, parts.fragment) == ("", "", "")
        assert unquote(uri) in names


# --- [tool.cnnshape] --------------------------------------------------------------------------


def test_deeply_nested_arrays_in_the_config_are_a_located_error(tmp_path: Path) -> None:
    shutil.copy(RESNET18, tmp_path / "net.yaml")
    (tmp_path / "pyproject.toml").write_text("[tool.cnnshape]\nselect = " + "[" * 5000 + "]" * 5000 + "\n")
    code, out, err = lint(".")
    # "select = " is 9 characters: the first [ is column 10, the 101st column 110.
    assert (code, err) == (2, ["pyproject.toml:2:110: error: cannot read: arrays or tables nested more than 100 deep"])


# --- what lint reads ----------------------------------------------------------------------


def test_an_unreadable_folder_is_reported_not_skipped(tmp_path: Path) -> None:
    (tmp_path / "ok").mkdir()
    (tmp_path / "secret").mkdir()
    shutil.copy(RESNET18, tmp_path / "ok" / "net.yaml")
    shutil.copy(RESNET18, tmp_path / "secret" / "net.yaml")
    python: tuple[str, ...] = ("-m", "cnnshape")
    if os.geteuid() == 0:
        # Permission bits do not stop root: the child's directory listing of `secret` fails
        # as it does for a user without read permission on the folder (EACCES from scandir).
        python = ("-c", AS_IF_UNREADABLE)
    else:
        (tmp_path / "secret").chmod(0)
    try:
        code, out, _ = lint(".", python=python)
    finally:
        (tmp_path / "secret").chmod(0o755)
    assert code == 1
    assert out == [
        "secret:1:1: error file-unreadable cannot read this folder: permission denied",
        "2 file(s) checked: 1 error(s), 0 warning(s), 1 suppressed",  # resnet18 suppresses one finding itself
    ]


AS_IF_UNREADABLE = """
import os, runpy
real_scandir = os.scandir
def scandir(path="."):
    if os.path.basename(os.fspath(path)) == "secret":
        raise PermissionError(13, "Permission denied", os.fspath(path))
    return real_scandir(path)
os.scandir = scandir
runpy.run_module("cnnshape", run_name="__main__")
"""


def test_a_fifo_in_a_linted_folder_is_reported_and_never_blocks(tmp_path: Path) -> None:
    shutil.copy(RESNET18, tmp_path / "net.yaml")
    os.mkfifo(tmp_path / "pipe.yaml")
    # A read of the FIFO would wait for a writer forever: the child's wall-clock bound
    # (HANG_CAP) would end it, and the test would fail.
    code, out, _ = lint(".")
    assert code == 1
    assert out == [
        "pipe.yaml:1:1: error file-unreadable is a FIFO, not a regular file; only regular files are read",
        "2 file(s) checked: 1 error(s), 0 warning(s), 1 suppressed",  # resnet18 suppresses one finding itself
    ]


# --- budgets --------------------------------------------------------------------------------

# resnet18: 11,689,512 parameters (torchvision); over 1,000,000 by 10,689,512.
OVER = "11,689,512 parameters (11.7 M) exceed max-params 1,000,000 (1.00 M) from {origin}, by 10,689,512"


def _disabled_spec(tmp_path: Path) -> str:
    """net.yaml: resnet18 with `# cnnshape: disable-file` above it; the place a budget of
    the whole network is reported at (the document's first key, one line lower now)."""
    text = RESNET18.read_text()
    (tmp_path / "net.yaml").write_text("# cnnshape: disable-file\n" + text)
    first_key = next(number for number, line in enumerate(text.splitlines(), 1) if line.startswith("name:"))
    return f"net.yaml:{first_key + 1}:1"


def test_disable_file_cannot_lift_the_repository_budget(tmp_path: Path) -> None:
    place = _disabled_spec(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[tool.cnnshape]\nmax-params = "1M"\n')
    code, out, _ = lint(".")
    assert code == 1
    assert out == [
        f"{place}: error budget " + OVER.format(origin="pyproject.toml [tool.cnnshape]"),
        "1 file(s) checked: 1 error(s), 0 warning(s), 1 suppressed",  # resnet18's own finding, not the budget
    ]
    code, out, _ = lint(".", "--no-config", "--max-params", "1M")  # the command line's budget holds too
    assert (code, out[0]) == (1, f"{place}: error budget " + OVER.format(origin="the command line"))


def test_the_repository_may_let_files_switch_its_budgets_off(tmp_path: Path) -> None:
    _disabled_spec(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[tool.cnnshape]\nmax-params = "1M"\nallow-budget-suppression = true\n')
    code, out, _ = lint(".")
    assert (code, out) == (0, ["1 file(s) checked: 0 error(s), 0 warning(s), 2 suppressed"])  # its own and the budget


def test_a_spec_may_still_switch_off_its_own_expect_budget(tmp_path: Path) -> None:
    text = RESNET18.read_text()
    (tmp_path / "net.yaml").write_text("# cnnshape: disable-file=budget\n" + text + "\nexpect:\n  max_params: 1M\n")
    code, out, _ = lint(".")
    assert (code, out) == (0, ["1 file(s) checked: 0 error(s), 0 warning(s), 2 suppressed"])  # its own and the budget


def test_every_config_error_is_reported_at_once(tmp_path: Path) -> None:
    shutil.copy(RESNET18, tmp_path / "net.yaml")
    (tmp_path / "pyproject.toml").write_text('[tool.cnnshape]\nmax-param = "25M"\nselect = ["dropped-inpt", 5]\n')
    code, out, err = lint(".")
    # `select = [` is 10 characters: the first item starts at column 11, and the 5 after
    # the 14-character "dropped-inpt" and ", " at column 27.
    assert (code, out) == (2, [])
    assert err == [
        "pyproject.toml:2:1: error: max-param: unknown key; did you mean 'max-params'?",
        "pyproject.toml:3:11: error: select: unknown rule 'dropped-inpt'; did you mean 'dropped-input'?",
        "pyproject.toml:3:27: error: select: expected a list of rule codes, got 5",
    ]
    code, out, err = lint(".", github=True)
    assert code == 2 and [line.split("::")[1] for line in err] == [
        "error file=pyproject.toml,line=2,col=1,title=config",
        "error file=pyproject.toml,line=3,col=11,title=config",
        "error file=pyproject.toml,line=3,col=27,title=config",
    ]


def test_config_errors_come_in_the_order_the_file_is_written(tmp_path: Path) -> None:
    """A known key's bad value, an unknown key and a bad key of a sub-table, each where it
    is written and in that order; both spellings of a key (max_param, strict) are kept."""
    shutil.copy(RESNET18, tmp_path / "net.yaml")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.cnnshape]\nstrict = "yes"\nmax_param = 1\n\n[tool.cnnshape.severity]\nbudgt = "error"\nbudget = "warn"\n'
    )
    code, out, err = lint(".")
    # `strict = ` is 9 characters: the value at column 10; keys at column 1.
    assert (code, out) == (2, [])
    assert err == [
        "pyproject.toml:2:10: error: strict: expected true or false, got 'yes'",
        "pyproject.toml:3:1: error: max_param: unknown key; did you mean 'max_params'?",
        "pyproject.toml:6:1: error: severity: unknown rule 'budgt'; did you mean 'budget'?",
        "pyproject.toml:7:10: error: severity: severities are \"error\" or \"warning\", got 'warn'; did you mean 'warning'?",
    ]


def test_a_pyproject_over_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    """pyproject.toml is read by the same bounded reader as specs: a 32 MiB (sparse) file is
    refused from its size (16 MiB is the limit: 16 * 1024 * 1024 = 16,777,216 bytes), with
    the usage exit code of a bad configuration."""
    with open(tmp_path / "pyproject.toml", "wb") as handle:
        handle.truncate(32 * 1024 * 1024)
    shutil.copy(ROOT / "specs" / "seed-lenet.yaml", tmp_path / "s.yaml")
    code, out, err = lint("s.yaml")
    assert code == 2
    assert "pyproject.toml: error: cannot read: file is 33,554,432 bytes; the limit is 16,777,216 bytes" in "\n".join(
        out + err
    )
