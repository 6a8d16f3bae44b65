"""The torch extra is optional: nothing outside the bridge imports torch, and without it
the bridge's commands say how to install it and exit 1. These tests run with or without
torch installed (each check runs in a fresh interpreter)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_cli_and_summary_never_import_torch() -> None:
    ran = _python(
        "import sys\n"
        "import cnnshape.cli\n"
        "import cnnshape.bridge.cli\n"
        "from typer.testing import CliRunner\n"
        "result = CliRunner().invoke(cnnshape.cli.app, ['summary', 'specs/resnet50.yaml'])\n"
        "assert result.exit_code == 0, result.output\n"
        "cnnshape.bridge.cli.register(cnnshape.cli.app)\n"
        "result = CliRunner().invoke(cnnshape.cli.app, ['summary', 'specs/vit_b_16.yaml', '--format', 'json'])\n"
        "assert result.exit_code == 0, result.output\n"
        "print(sorted(name for name in sys.modules if name == 'torch' or name.startswith('torch.')))\n"
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "[]"


def test_without_torch_the_commands_say_how_to_install_it() -> None:
    ran = _python(
        "import sys\n"
        "sys.modules['torch'] = None  # as if torch were not installed: import fails, find_spec says None\n"
        "import typer\n"
        "from typer.testing import CliRunner\n"
        "from cnnshape.bridge.cli import register\n"
        "app = typer.Typer()\n"
        "register(app)\n"
        "for args in (['export', 'specs/seed-lenet.yaml'], ['verify', 'specs/seed-lenet.yaml'],\n"
        "             ['import', 'x.py:Net', '--input', '1,3,8,8']):\n"
        "    result = CliRunner().invoke(app, args)\n"
        "    print(result.exit_code, result.output.strip())\n"
    )
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.strip().splitlines()
    assert len(lines) == 3
    for line, command in zip(lines, ("export", "verify", "import"), strict=True):
        assert line == (
            f"1 cnnshape {command} needs PyTorch, which is not installed; install the extra: pip install 'torch>=2.1'"
        )


def test_the_extra_is_declared() -> None:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["optional-dependencies"]["torch"] == ["torch>=2.1"]


NO_NUMPY = (
    "import sys\nsys.modules['numpy'] = None  # as if NumPy were not installed (the torch extra does not pull it)\n"
)


def _cli_without_numpy(*args: str) -> subprocess.CompletedProcess:
    return _python(
        NO_NUMPY + f"import sys\nfrom cnnshape.cli import main\nsys.argv = ['cnnshape', *{list(args)!r}]\nmain()\n"
    )


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs the torch extra")
def test_verify_and_import_do_not_pass_on_torchs_numpy_warning() -> None:
    plain = _python(NO_NUMPY + "import torch\n")
    assert "Failed to initialize NumPy" in plain.stderr  # what a bare `import torch` prints
    ran = _cli_without_numpy("verify", "specs/seed-lenet.yaml")
    assert ran.returncode == 0, ran.stderr
    assert "NumPy" not in ran.stderr and "Warning" not in ran.stderr
    assert "61,280" in ran.stdout  # the seed's LeNet: 61,280 parameters on both sides
    imported = _cli_without_numpy("import", "tests/bridge_models.py:Residual", "--input", "1,3,32,32")
    assert imported.returncode == 0, imported.stderr
    assert "NumPy" not in imported.stderr and "Warning" not in imported.stderr
    assert imported.stdout.startswith("# Imported by `cnnshape import`")
