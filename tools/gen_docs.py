"""The generated parts of the documentation, written from the code: docs/spec.md's layer
reference and problem codes, docs/rules.md's rule table and each rule's examples (with
what lint says about them), docs/torch.md's mapping of kinds to PyTorch.

Each part sits between `<!-- BEGIN NAME -->` and `<!-- END NAME -->` in its page.

    python tools/gen_docs.py            # list the pages whose generated parts are stale (exit 1 if any)
    python tools/gen_docs.py --write    # rewrite them

The tests (tests/test_docs.py, test_lint.py, test_torch_registry.py) check that every page
is current; they never write it.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
LINT_EXAMPLES = ROOT / "tests" / "lint"  # tests/lint/<code>-fail.yaml and -pass.yaml


# --- docs/spec.md ---------------------------------------------------------------------------


def layer_table() -> str:
    """The layer reference of docs/spec.md, one table per family, from the registry."""
    from cnnshape.catalog import FAMILY_TITLES, Argument, arguments_of, inputs_text
    from cnnshape.layers import FAMILIES, REGISTRY

    def argument_text(argument: Argument) -> str:
        if argument.required:
            return f"`{argument.name}` ({argument.type}, required)"
        return f"`{argument.name}` = {argument.default} ({argument.type})"

    out: list[str] = []
    for module in FAMILIES:
        kinds = list(module.KINDS)
        family = kinds[0].family or module.__name__.rsplit(".", 1)[-1]
        title = FAMILY_TITLES.get(family, family.capitalize())
        out += [f"### {title}", "", "| Kind | Arguments (default) | Inputs | What it does |", "|---|---|---|---|"]
        for cls in kinds:
            arguments = [argument_text(item) for item in arguments_of(cls, family)]
            summary = (cls.__doc__ or "").strip().split("\n")[0].replace("|", "\\|")
            out.append(f"| `{cls.kind()}` | {'<br>'.join(arguments) or '(none)'} | {inputs_text(cls)} | {summary} |")
        out.append("")
    out.append(f"{len(REGISTRY)} kinds. Arguments marked *inferred* are read from the input and checked when given.")
    return "\n".join(out)


def codes_table() -> str:
    """The problem codes of docs/spec.md, from errors.CODES."""
    from cnnshape.errors import CODES

    rows = [f"| `{code}` | {meaning.replace('|', chr(92) + '|')} |" for code, meaning in CODES.items()]
    return "\n".join(["| code | meaning |", "|---|---|", *rows])


def spec_parts() -> dict[str, str]:
    return {"LAYER TABLE": layer_table(), "ERROR CODES": codes_table()}


# --- docs/rules.md --------------------------------------------------------------------------


def rule_table() -> str:
    from cnnshape.lint import RULES

    rows = [f"| [`{code}`](#{code}) | {rule.severity} | {rule.summary} |" for code, rule in RULES.items()]
    return "\n".join(["| code | default | flags |", "|---|---|---|", *rows])


def example_body(path: Path) -> str:
    """A lint example without its `# expect:` header lines (tests/test_lint.py reads them)."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    header = next((i for i, line in enumerate(lines) if not line.startswith("# expect:")), len(lines))
    return "".join(lines[header:])


def rule_examples(code: str) -> str:
    """The generated part of a rule's section: its failing example, what lint says, the fix."""
    from cnnshape.lint import Config, lint_file

    fail, fixed = LINT_EXAMPLES / f"{code}-fail.yaml", LINT_EXAMPLES / f"{code}-pass.yaml"
    fail_body = example_body(fail)
    header = len(fail.read_text(encoding="utf-8").splitlines()) - len(fail_body.splitlines())
    said = "\n".join(
        f"{p.line - header}:{p.col}: {p.severity} {p.code} {p.message}" for p in lint_file(fail, Config()).problems
    )
    return "\n".join(
        [
            f"Fails (`tests/lint/{fail.name}`):",
            "",
            "```yaml",
            fail_body.rstrip("\n"),
            "```",
            "",
            "`cnnshape lint` says (`line:col` in the example above):",
            "",
            "```text",
            said,
            "```",
            "",
            f"Fixed (`tests/lint/{fixed.name}`):",
            "",
            "```yaml",
            example_body(fixed).rstrip("\n"),
            "```",
        ]
    )


def rules_parts() -> dict[str, str]:
    from cnnshape.lint import RULES

    return {"RULE TABLE": rule_table(), **{f"EXAMPLES {code}": rule_examples(code) for code in RULES}}


# --- docs/torch.md --------------------------------------------------------------------------


def mapping_table() -> str:
    """Every kind: what the exporter constructs, what import maps onto it, what verify counts."""
    from cnnshape.layers import REGISTRY

    rows = ["| Kind | Exported as | Import maps | MACs in verify |", "|---|---|---|---|"]
    for kind in sorted(REGISTRY):
        cls = REGISTRY[kind]
        side = cls.pytorch
        if side is None:
            rows.append(f"| `{kind}` | none: {cls.no_pytorch} | | |")
            continue
        ctor = f"`{side.class_name}` (cnnshape/bridge/runtime.py)" if side.shipped else f"`{side.ctor}`"
        inferred = ", ".join(f"`{item.arg}`" for item in side.inferred)
        if inferred:
            ctor += f"; {inferred} from the input"
        targets = [f"`{side.ctor}`"] + [f"`{name}`" for name in side.modules]
        targets += [
            f"`x.{name.split('.', 1)[1]}`" if name.startswith("method.") else f"`{name}`" for name in side.functions
        ]
        macs = cls.torch_macs.__name__.removesuffix("_macs").replace("_", " ") if cls.torch_macs else ""
        rows.append(f"| `{kind}` | {ctor} | {', '.join(targets)} | {macs} |")
    return "\n".join(rows)


def torch_parts() -> dict[str, str]:
    return {"MAPPING": mapping_table()}


# --- the pages ------------------------------------------------------------------------------

PAGES: dict[str, Callable[[], dict[str, str]]] = {
    "docs/spec.md": spec_parts,
    "docs/rules.md": rules_parts,
    "docs/torch.md": torch_parts,
}


def region(name: str) -> re.Pattern[str]:
    return re.compile(rf"<!-- BEGIN {re.escape(name)} -->\n(.*?)<!-- END {re.escape(name)} -->", re.DOTALL)


def rendered(page: str, text: str | None = None) -> str:
    """The page (its current text, or `text`) with every generated part written afresh."""
    if text is None:
        text = (ROOT / page).read_text(encoding="utf-8")
    for name, body in PAGES[page]().items():
        pattern = region(name)
        if not pattern.search(text):
            raise ValueError(f"{page} has no <!-- BEGIN {name} --> ... <!-- END {name} --> region")
        text = pattern.sub(lambda _, name=name, body=body: f"<!-- BEGIN {name} -->\n{body}\n<!-- END {name} -->", text)
    return text


def stale() -> list[str]:
    """The pages whose generated parts differ from what the code gives."""
    return [page for page in PAGES if rendered(page) != (ROOT / page).read_text(encoding="utf-8")]


def main(argv: list[str]) -> int:
    if "--write" in argv:
        for page in PAGES:
            path = ROOT / page
            text = rendered(page)
            if text != path.read_text(encoding="utf-8"):
                path.write_text(text, encoding="utf-8")
                print(f"wrote {page}")
        return 0
    pages = stale()
    for page in pages:
        print(f"{page} is stale: python tools/gen_docs.py --write")
    return 1 if pages else 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))  # run from a clone without installing cnnshape
    raise SystemExit(main(sys.argv[1:]))
