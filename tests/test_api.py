"""The library face (cnnshape.analyze, compare, sweep, lint): the same results as the
command line, checked against the command line's own output in a subprocess, and
docs/api.md's examples run as written.

Numbers asserted here come from hand calculations written out below or from the CLI's
output for the same spec (the API must equal the CLI; the CLI's numbers are pinned to
torchvision by tests/test_zoo*.py).
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import cnnshape

ROOT = Path(__file__).resolve().parent.parent
ZOO = sorted((ROOT / "specs").glob("*.yaml"))


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """The real command line, in a fresh process, from the repository root."""
    done = subprocess.run(
        [sys.executable, "-m", "cnnshape", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**__import__("os").environ, "COLUMNS": "100"},
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done


@pytest.fixture
def at_root(monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("COLUMNS", "100")
    return ROOT


# --- JSON equals the command line's, for every zoo spec ---------------------------------


@pytest.mark.parametrize("path", ZOO, ids=[p.stem for p in ZOO])
def test_analyze_json_is_the_cli_json(path: Path, at_root: Path) -> None:
    relative = path.relative_to(ROOT).as_posix()
    printed = cli("summary", relative, "--format", "json").stdout
    report = cnnshape.analyze(relative)
    assert report.to_json() + "\n" == printed
    assert report.to_dict() == json.loads(printed)


def test_analyze_options_are_the_cli_options(at_root: Path) -> None:
    printed = cli(
        "summary",
        "specs/resnet18.yaml",
        "--input",
        "1,3,320,320",
        "--set",
        "num_classes=10",
        "--dtype",
        "float16",
        "--depth",
        "2",
        "--format",
        "json",
    ).stdout
    report = cnnshape.analyze("specs/resnet18.yaml", input=(1, 3, 320, 320), set={"num_classes": 10}, dtype="float16")
    assert report.to_json(depth=2) + "\n" == printed
    assert cnnshape.analyze("specs/resnet18.yaml", input="1,3,320,320").input_shape == (1, 3, 320, 320)


def test_other_formats_are_the_cli_formats(at_root: Path) -> None:
    report = cnnshape.analyze("specs/resnet18.yaml")
    assert (
        report.to_markdown(depth=1)
        == cli("summary", "specs/resnet18.yaml", "--format", "markdown", "--depth", "1").stdout
    )
    assert report.to_csv() == cli("summary", "specs/resnet18.yaml", "--format", "csv").stdout
    assert report.table(width=100) + "\n" == cli("summary", "specs/resnet18.yaml").stdout


def test_compare_json_is_the_cli_json(at_root: Path) -> None:
    printed = cli("compare", "specs/resnet18.yaml", "specs/resnet34.yaml", "--depth", "1", "--format", "json").stdout
    comparison = cnnshape.compare("specs/resnet18.yaml", "specs/resnet34.yaml", depth=1)
    assert comparison.to_json() + "\n" == printed
    assert comparison.to_dict() == json.loads(printed)
    printed = cli(
        "compare",
        "specs/mobilenet_v2.yaml",
        "specs/mobilenet_v2.yaml",
        "--set-a",
        "num_classes=10",
        "--input-b",
        "1,3,160,160",
        "--format",
        "json",
    ).stdout
    comparison = cnnshape.compare(
        "specs/mobilenet_v2.yaml", "specs/mobilenet_v2.yaml", set_a={"num_classes": 10}, input_b=(1, 3, 160, 160)
    )
    assert comparison.to_json() + "\n" == printed
    assert (
        str(comparison) + "\n"
        == cli(
            "compare",
            "specs/mobilenet_v2.yaml",
            "specs/mobilenet_v2.yaml",
            "--set-a",
            "num_classes=10",
            "--input-b",
            "1,3,160,160",
        ).stdout
    )


def test_sweep_json_is_the_cli_json(at_root: Path) -> None:
    printed = cli(
        "sweep", "specs/resnet18.yaml", "--input", "1,3,{224,320}", "--set", "num_classes={10,1000}", "--format", "json"
    ).stdout
    for grid in (
        cnnshape.sweep("specs/resnet18.yaml", input="1,3,{224,320}", set={"num_classes": "{10,1000}"}),
        cnnshape.sweep("specs/resnet18.yaml", input=[(1, 3, 224), (1, 3, 320)], set={"num_classes": [10, 1000]}),
    ):
        assert grid.to_json() + "\n" == printed
        assert grid.to_dict() == json.loads(printed)


def test_sweep_keeps_a_failing_point_as_the_cli_does(at_root: Path) -> None:
    done = cli("sweep", "specs/seed-lenet.yaml", "--input", "1,1,{32,8}", "--format", "json", check=False)
    assert done.returncode == 1  # the CLI prints the grid, then fails on the point with problems
    grid = cnnshape.sweep("specs/seed-lenet.yaml", input="1,1,{32,8}")
    assert grid.to_json() + "\n" == done.stdout
    assert [point.setting["input"] for point in grid.failed] == ["1,1,8"]
    assert grid.failed[0].problems[0].code == "shape"  # an 8x8 input is too small for LeNet's convolutions


def test_lint_json_is_the_cli_json(at_root: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: b\ninput: [1, 3, 8, 8]\nlayers:\n  - Conv2d: {out_channels: 4, kernel_size: 9}\n")
    args = ["specs/resnet50.yaml", "specs/seed-lenet.yaml", str(broken)]
    done = cli("lint", *args, "--format", "json", "--max-params", "25M", "--no-config", check=False)
    assert done.returncode == 1
    result = cnnshape.lint(args, budgets={"max-params": "25M"}, config=False)
    # The one difference: a budget's message says where it was set.
    assert result.to_json() + "\n" == done.stdout.replace("from the command line", "from the lint() call")
    assert "from the lint() call" in result.to_json()
    assert result.to_dict() == json.loads(done.stdout.replace("from the command line", "from the lint() call"))
    assert not result.ok
    # ResNet-50's 25,557,032 parameters (torchvision) are over 25,000,000; the 9x9 kernel
    # does not fit the 8x8 input; LeNet passes.
    assert sorted((Path(p.file).name, p.code) for p in result.problems) == [
        ("broken.yaml", "shape"),
        ("resnet50.yaml", "budget"),
    ]
    text = cli("lint", *args, "--format", "text", "--max-params", "25M", "--no-config", check=False).stdout
    assert str(result) + "\n" == text.replace("from the command line", "from the lint() call")
    assert cnnshape.lint("specs/seed-lenet.yaml").ok


def test_lint_bad_option_is_a_value_error(at_root: Path) -> None:
    with pytest.raises(ValueError, match="max-param"):
        cnnshape.lint("specs/seed-lenet.yaml", budgets={"max-param": "25M"})
    with pytest.raises(ValueError, match="unknown rule"):
        cnnshape.lint("specs/seed-lenet.yaml", select=["no-such-rule"])


# --- the spec as text or a mapping ------------------------------------------------------


TINY = "name: tiny\ninput: [1, 3, 32, 32]\nlayers:\n  - Conv2d: {out_channels: 8, kernel_size: 3, padding: 1}\n  - Flatten\n  - Linear: {out_features: 10}\n"


def test_text_and_mapping_give_the_file_result(tmp_path: Path) -> None:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    mapping = {
        "name": "tiny",
        "input": (1, 3, 32, 32),
        "layers": [
            {"Conv2d": {"out_channels": 8, "kernel_size": 3, "padding": 1}},
            "Flatten",
            {"Linear": {"out_features": 10}},
        ],
    }
    from_file, from_text, from_mapping = cnnshape.analyze(path), cnnshape.analyze(TINY), cnnshape.analyze(mapping)
    # By hand: conv 8*3*3*3 + 8 = 224 params; linear 8*32*32*10 + 10 = 81,930.
    assert from_file.totals.params == 224 + 81_930
    # MACs: conv 27 per output x 8*32*32 outputs = 221,184; linear 8,192 x 10 = 81,920.
    assert from_file.totals.macs == 221_184 + 81_920
    for other, name in ((from_text, "<string>"), (from_mapping, "<mapping>")):
        assert other.file == name
        assert {**other.to_dict(), "file": ""} == {**from_file.to_dict(), "file": ""}
    assert cnnshape.analyze(Path(path)).to_dict() == from_file.to_dict()


def test_spec_error_carries_every_problem_as_the_cli_prints_it(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(
        "name: broken\ninput: [1, 3, 32, 32]\nlayers:\n"
        "  - Conv2d: {out_channels: 16, kernel_size: 3}\n"
        "  - MaxPool2D: {kernel_size: 2}\n"
        "  - Linear: {out_feature: 10}\n"
    )
    with pytest.raises(cnnshape.SpecError) as caught:
        cnnshape.analyze(str(path))
    done = cli("summary", str(path), check=False)
    assert done.returncode == 1
    problems = caught.value.problems
    assert [p.format() for p in problems] == [line for line in done.stderr.splitlines() if ": error: " in line]
    first, second = problems
    assert (first.file, first.line, first.column, first.code) == (str(path), 5, 5, "unknown-kind")
    assert first.hint == "did you mean 'MaxPool2d'?"
    assert (second.line, second.column, second.code, second.hint) == (
        6,
        14,
        "unknown-argument",
        "did you mean 'out_features'?",
    )
    assert isinstance(first, cnnshape.Problem)


def test_problem_hint_is_empty_without_a_suggestion_and_drops_the_block_context() -> None:
    from cnnshape.errors import Problem

    assert Problem("f", 1, 1, "error", "missing-argument", "Conv2d: missing required argument 'kernel_size'").hint == ""
    inside = Problem("f", 1, 1, "error", "unknown-reference", "unknown layer 'akt'; did you mean 'act'? (in unit_1)")
    assert inside.hint == "did you mean 'act'?"


def test_compare_raises_the_problems_of_both_sides(tmp_path: Path) -> None:
    bad_a, bad_b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    bad_a.write_text("name: a\ninput: [1, 3, 8, 8]\nlayers:\n  - Conv2D: {out_channels: 4, kernel_size: 3}\n")
    bad_b.write_text("name: b\ninput: [1, 3, 8, 8]\nlayers:\n  - Linear: {out_feature: 4}\n")
    with pytest.raises(cnnshape.SpecError) as caught:
        cnnshape.compare(bad_a, bad_b)
    assert [(Path(p.file).name, p.code) for p in caught.value.problems] == [
        ("a.yaml", "unknown-kind"),
        ("b.yaml", "unknown-argument"),
    ]


def test_bad_arguments_are_python_errors() -> None:
    with pytest.raises(ValueError, match="dtype"):
        cnnshape.analyze(TINY, dtype="float8")
    with pytest.raises(ValueError, match="positive"):
        cnnshape.analyze(TINY, input=(1, 3, 0, 32))
    with pytest.raises(TypeError, match="spec must be"):
        cnnshape.analyze(42)  # type: ignore[arg-type]
    with pytest.raises(cnnshape.SpecError) as caught:
        cnnshape.analyze("no/such/spec.yaml")
    assert caught.value.problems[0].code == "file-unreadable"


# --- display ------------------------------------------------------------------------------


def test_print_is_the_plain_table_and_jupyter_gets_html() -> None:
    report = cnnshape.analyze(TINY.replace("name: tiny", "name: <b>tiny</b>"))
    text = report.table(width=100)
    assert "\x1b[" not in text  # no terminal codes in print()
    assert text.splitlines()[0] == "<b>tiny</b>  (<string>)"
    assert re.search(r"^ linear_1 +Linear +\[1, 10\] +81\.9 K +81\.9 K +global$", text, re.M)
    html = report._repr_html_()
    assert html.startswith("<pre") and "&lt;b&gt;tiny&lt;/b&gt;" in html and "<b>tiny" not in html  # spec text escaped
    assert "linear_1" in html and "81.9 K" in html

    from rich.console import Console

    console = Console(file=io.StringIO(), width=100, color_system=None)
    console.print(report)
    assert "linear_1" in console.file.getvalue()  # type: ignore[attr-defined]
    assert repr(report) == "<Report '<b>tiny</b>': 82,154 params, 303,104 MACs, 3 layers>"


# --- import cost and the public names -----------------------------------------------------


def test_import_loads_neither_typer_nor_rich() -> None:
    code = (
        "import sys, cnnshape\n"
        "loaded = lambda: sorted({m.split('.')[0] for m in sys.modules} & {'typer', 'click', 'rich', 'yaml', 'pydantic'})\n"
        "print(loaded(), 'cnnshape.api' in sys.modules)\n"
        "report = cnnshape.analyze('specs/resnet50.yaml'); report.to_json()\n"
        "print(loaded(), [m for m in ('cnnshape.lint', 'cnnshape.compare', 'cnnshape.sweep') if m in sys.modules])\n"
        "cnnshape.lint('specs/seed-lenet.yaml').to_json()\n"
        "print(loaded())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.splitlines() == ["[] False", "['pydantic', 'yaml'] []", "['pydantic', 'yaml']"]


def test_public_names() -> None:
    assert sorted(cnnshape.__all__) == sorted(
        [
            "Comparison",
            "LintResult",
            "Problem",
            "Report",
            "SpecError",
            "Sweep",
            "__version__",
            "analyze",
            "compare",
            "lint",
            "sweep",
        ]
    )
    for name in cnnshape.__all__:
        assert getattr(cnnshape, name) is not None
    # The submodules of the same names do not replace the functions once imported.
    import importlib

    for module in ("cnnshape.compare", "cnnshape.lint", "cnnshape.sweep"):
        assert importlib.import_module(module).__name__ == module
    assert callable(cnnshape.compare) and callable(cnnshape.sweep) and callable(cnnshape.lint)
    assert cnnshape.compare.__module__ == "cnnshape.api"
    with pytest.raises(AttributeError):
        cnnshape.no_such_name  # noqa: B018


def test_api_is_fully_annotated() -> None:
    import inspect

    from cnnshape import api

    for name in ("analyze", "compare", "sweep", "lint"):
        signature = inspect.signature(getattr(api, name))
        assert signature.return_annotation is not inspect.Signature.empty, name
        for parameter in signature.parameters.values():
            assert parameter.annotation is not inspect.Parameter.empty, f"{name}({parameter.name})"


# --- docs/api.md runs as written ---------------------------------------------------------


BLOCK = re.compile(r"^```(python|text)\n(.*?)^```\n", re.M | re.S)


def doc_examples() -> list[tuple[int, str, str | None]]:
    """(line, code, output shown right after it or None) for each ```python block."""
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    blocks = [
        (text.count("\n", 0, m.start()) + 1, m.group(1), m.group(2), m.start(), m.end()) for m in BLOCK.finditer(text)
    ]
    found = []
    for index, (line, kind, body, _, end) in enumerate(blocks):
        if kind != "python":
            continue
        after = blocks[index + 1] if index + 1 < len(blocks) else None
        shown = after[2] if after and after[1] == "text" and not text[end : after[3]].strip() else None
        found.append((line, body, shown))
    return found


def test_api_md_examples_run_and_print_what_they_show(at_root: Path) -> None:
    examples = doc_examples()
    assert len(examples) >= 8
    namespace: dict[str, object] = {}
    for line, code, shown in examples:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, f"docs/api.md:{line}", "exec"), namespace)
        printed = "\n".join(part.rstrip() for part in out.getvalue().splitlines()) + "\n"
        if shown is not None:
            assert printed == shown, f"docs/api.md:{line}: the example prints\n{printed}"


def test_readme_python_example_runs(at_root: Path) -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```python\n(.*?)^```", text, re.M | re.S)
    assert len(blocks) == 1
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(blocks[0], "README.md", "exec"), {})
    # torchvision's ResNet-50: 25,557,032 parameters, 4,089,184,256 MACs; ten classes
    # instead of 1,000 drop 990 rows of the 2,048-input fc layer (weights and a bias each).
    first = out.getvalue().splitlines()[0]
    assert first == f"{25_557_032 - 990 * 2049:,} parameters, {4_089_184_256 - 990 * 2048:,} MACs"
    assert "Totals" in out.getvalue()
