"""docs/architecture.md names every module under emulator/, and only modules that exist.

The page is the map of the code (docs/architecture.md, "Layout"); this keeps it true when
modules are added, moved or removed. Generated code (control_pb2*) is left out.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "architecture.md"


def _modules() -> set[str]:
    return {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "emulator").rglob("*.py")
        if not path.name.startswith("control_pb2")
    }


def _named() -> set[str]:
    return set(re.findall(r"`(emulator/[\w/]+\.py)`", PAGE.read_text(encoding="utf-8")))


def test_every_module_under_emulator_is_in_the_architecture_page() -> None:
    missing = sorted(_modules() - _named())
    assert not missing, f"docs/architecture.md does not name these modules: {missing}"


def test_the_architecture_page_names_no_module_that_is_gone() -> None:
    gone = sorted(_named() - _modules() - {"emulator/control_pb2.py"})
    assert not gone, f"docs/architecture.md names modules that do not exist: {gone}"
