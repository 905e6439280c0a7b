"""clients/node, the Node preload: its own tests (`node --test`), against this emulator.

With `NODE_OPTIONS=--require cloud-tasks-emulator-register` and
`CLOUD_TASKS_EMULATOR_HOST`, unmodified Node producers (`new CloudTasksClient()` and
`new CloudTasksClient({fallback: 'rest'})`, required and imported, and from the packed
tarball installed into an app) create a queue and a task each; the receiver gets the
tasks. The test installs the package's devDependencies itself (`npm ci` in clients/node,
once: the lockfile pins them).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from emulator import Emulator

from support import Receiver, require_node

require_node()  # without Node, this module is skipped (one line saying so)

PACKAGE_DIR = Path(__file__).parent.parent / "clients" / "node"

# The queues test/e2e.test.js creates, one task each.
QUEUES = [
    "node-cjs-grpc",
    "node-cjs-rest",
    "node-esm-grpc",
    "node-esm-rest",
    "node-packed-grpc",
    "node-packed-rest",
]


@pytest.fixture(scope="session")
def register_package() -> Path:
    """clients/node with its devDependencies installed (`npm ci`, once)."""
    if not (PACKAGE_DIR / "node_modules" / "@google-cloud" / "tasks").exists():
        subprocess.run(
            [shutil.which("npm") or "npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=PACKAGE_DIR,
            check=True,
            timeout=600,
        )
    return PACKAGE_DIR


def test_node_preload_delivers_tasks_of_unmodified_scripts(
    register_package: Path, emu: Emulator, receiver: Receiver
) -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("CLOUD_TASKS_EMULATOR") and key != "NODE_OPTIONS"
    }
    env |= {
        "REGISTER_TEST_EMULATOR_HOST": emu.emulator_host,
        "REGISTER_TEST_PARENT": emu.parent,
        "REGISTER_TEST_RECEIVER_URL": receiver.url,
    }
    test_files = sorted(
        str(path.relative_to(register_package))
        for path in (register_package / "test").glob("*.test.js")
    )
    result = subprocess.run(
        [shutil.which("node") or "node", "--test", "--test-reporter=tap", *test_files],
        cwd=register_package,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "\n# fail 0\n" in result.stdout
    assert "\n# skipped 0\n" in result.stdout  # the end-to-end tests ran
    arrived = receiver.wait_for(len(QUEUES))
    assert sorted((r["method"], r["path"], r["body"]) for r in arrived) == [
        ("POST", f"/{queue}", f"hello from {queue}".encode()) for queue in QUEUES
    ]
