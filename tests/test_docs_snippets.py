"""Snippets in the docs that are copies of programs CI builds and runs stay copies.

docs/connect.md's Go section shows clients/go/enqueue/main.go, which tests/test_go_client.py
compiles and runs; the docs' block must be that file, byte for byte, so they cannot drift.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONNECT = ROOT / "docs" / "connect.md"
GO_HEADING = "## Go (`cloud.google.com/go/cloudtasks/apiv2`)"
GO_PROGRAM = ROOT / "clients" / "go" / "enqueue" / "main.go"


def _first_block_after(page: Path, heading: str, language: str) -> str:
    text = page.read_text(encoding="utf-8")
    assert heading in text, f"{page.name} has no heading {heading!r}"
    section = text.split(heading, 1)[1].split("\n## ", 1)[0]
    match = re.search(rf"^```{language}\n(.*?)^```$", section, re.MULTILINE | re.DOTALL)
    assert match, f"{page.name}: no ```{language} block under {heading!r}"
    return match.group(1)


def test_the_go_block_in_connect_is_the_program_ci_runs() -> None:
    block = _first_block_after(CONNECT, GO_HEADING, "go")
    assert block == GO_PROGRAM.read_text(encoding="utf-8"), (
        f"the Go block under {GO_HEADING!r} in docs/connect.md differs from "
        f"{GO_PROGRAM.relative_to(ROOT)}: copy the file into the block"
    )
