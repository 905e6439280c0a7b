"""The code blocks of README.md and docs/*.md, run by Sybil as part of `pytest`.

Each document gets its own in-process emulator (`with Emulator() as emu`), and while its
blocks run `CLOUD_TASKS_EMULATOR_HOST` points at it, so a block connects the way the docs
tell users to. In the namespace: `emu`, the emulator; `receiver_url`, a local HTTP handler
that answers 200 to everything; `which`, for conditional skips; `yaml_block`, the text
of the document's latest YAML block.

- `python` blocks run; a `test_*` function a block defines (one a block) is then called
  with the fixtures its parameters name (the pytest plugin's `cloud_tasks_emulator`, ...),
  as pytest would call it.
- `sh` blocks run in bash (`set -euo pipefail`), with the emulator's variable set.
- `yaml`/`yml` blocks must parse (`yaml.safe_load`); `json` blocks must parse (`json.loads`).
- Every other block (and any block above) can be marked as not run, with a reason:
  `<!-- skip: next "starts a server; exercised by tests/test_cli.py" -->`. An unmarked block
  of another language fails, so no block is silently left unchecked.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from sybil import Document, Example, Region, Sybil
from sybil.evaluators.python import PythonEvaluator
from sybil.parsers.markdown import CodeBlockParser, SkipParser
from sybil.parsers.markdown.lexers import RawFencedCodeBlockLexer

ROOT = Path(__file__).resolve().parent
HOST_ENV = "CLOUD_TASKS_EMULATOR_HOST"
RUN_LANGUAGES = {"python", "sh", "yaml", "yml", "json"}


class _Answer200(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _setup(namespace: dict[str, Any]) -> None:
    # Here, not at the top: this conftest is loaded by every pytest run in the repository.
    from emulator import Emulator, autoconnect  # noqa: PLC0415

    stack = ExitStack()
    namespace["_stack"] = stack
    emu = stack.enter_context(Emulator())
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Answer200)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    stack.callback(receiver.server_close)
    stack.callback(receiver.shutdown)
    saved = os.environ.get(HOST_ENV)
    os.environ[HOST_ENV] = emu.emulator_host
    stack.callback(_restore, saved)
    autoconnect.install()
    namespace.update(
        emu=emu, receiver_url=f"http://127.0.0.1:{receiver.server_port}", which=shutil.which
    )


def _restore(saved: str | None) -> None:
    if saved is None:
        os.environ.pop(HOST_ENV, None)
    else:
        os.environ[HOST_ENV] = saved


def _teardown(namespace: dict[str, Any]) -> None:
    namespace["_stack"].close()


_python = PythonEvaluator()


def _run_python(example: Example) -> None:
    before = set(example.namespace)
    _python(example)
    tests = [
        function
        for name, function in example.namespace.items()
        if name not in before and name.startswith("test_") and callable(function)
    ]
    # Fixtures are set up once per block, so two tests in one block would share them.
    assert len(tests) <= 1, "one test function per block: each block gets fresh fixtures"
    for function in tests:
        request: pytest.FixtureRequest = example.namespace["request"]
        params = inspect.signature(function).parameters
        function(**{param: request.getfixturevalue(param) for param in params})


def _run_sh(example: Example) -> None:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    result = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + example.parsed],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}{result.stderr}"


def _parse_yaml(example: Example) -> None:
    yaml.safe_load(example.parsed)
    example.namespace["yaml_block"] = example.parsed  # for a hidden block that uses it


def _parse_json(example: Example) -> None:
    json.loads(example.parsed)


class UnmarkedBlocks:
    """Fails every fenced block in a language nothing runs, unless a skip marks it."""

    def __init__(self) -> None:
        self.lexer = RawFencedCodeBlockLexer(
            info_pattern=re.compile(r"(?P<language>[^\n]*)$\n", re.MULTILINE),
            mapping={"language": "language", "source": "source"},
        )

    def __call__(self, document: Document) -> Iterable[Region]:
        for region in self.lexer(document):
            language = str(region.lexemes["language"]).strip()
            if language not in RUN_LANGUAGES:
                region.parsed = language
                region.evaluator = self.evaluate
                yield region

    @staticmethod
    def evaluate(example: Example) -> None:
        raise AssertionError(
            f"a {example.parsed or 'plain'} block that nothing runs: make it runnable, or mark it "
            'with <!-- skip: next "why it cannot run here" --> on the line before'
        )


def _block(language: str, evaluate: Callable[[Example], None]) -> CodeBlockParser:
    return CodeBlockParser(language=language, evaluator=evaluate)


_docs = Sybil(
    parsers=[
        SkipParser(),
        _block("python", _run_python),
        _block("sh", _run_sh),
        _block("yaml", _parse_yaml),
        _block("yml", _parse_yaml),
        _block("json", _parse_json),
        UnmarkedBlocks(),
    ],
    patterns=["*.md"],
    setup=_setup,
    teardown=_teardown,
    fixtures=["request"],  # a documented test function gets its fixtures from it
)
_collect = _docs.pytest()


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """README.md and docs/*.md of this repository only (not the READMEs of node_modules)."""
    if file_path == ROOT / "README.md" or file_path.parent == ROOT / "docs":
        result: pytest.Collector | None = _collect(file_path, parent)
        return result
    return None
