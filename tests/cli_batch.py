"""Run several cnnshape command lines in one process, for tests that run them under
tests/test_hostile.capped (one capped child for a batch instead of one per command).

Usage: python cli_batch.py COMMANDS.json  (a JSON list of argument lists). Prints one JSON
list: each command's exit code and standard output, in order. Each runs as conftest.cli
runs it: Typer's CliRunner, NO_COLOR, a console 2,000 columns wide.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(commands: list[list[str]]) -> list[dict[str, object]]:
    from typer.testing import CliRunner

    from cnnshape.cli import app

    results: list[dict[str, object]] = []
    for args in commands:
        result = CliRunner().invoke(app, args, env={"COLUMNS": "2000", "NO_COLOR": "1"})
        results.append({"args": args, "exit_code": result.exit_code, "stdout": result.stdout, "output": result.output})
    return results


if __name__ == "__main__":
    print(json.dumps(main(json.loads(Path(sys.argv[1]).read_text(encoding="utf-8")))))
