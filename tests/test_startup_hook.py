"""The .pth file imports nothing of the package at interpreter start-up.

pytest rewrites the asserts of a plugin's package (this package is one, through its
`pytest11` entry point) and warns, `PytestAssertRewriteWarning: Module already imported
so cannot be rewritten: emulator`, when the package was imported before pytest started:
with `filterwarnings = error` or `-W error` that warning stops the run. So the .pth file
only adds an import hook; the package is imported when a Cloud Tasks client module is.

pytest marks the package for rewriting from the files a regular install lists, so the
package is installed here as users install it, from a wheel built from this checkout,
into a fresh virtual environment (which sees this one's dependencies through a path
file, so nothing is downloaded).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path

import pytest

from emulator import Emulator

ROOT = Path(__file__).resolve().parent.parent


def _clean_env(**extra: str) -> dict[str, str]:
    """This environment without emulator or Google settings; credentials that a lookup
    would fail on."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CLOUD_TASKS_EMULATOR", "GOOGLE_", "GCLOUD", "CLOUDSDK", "PYTEST_"))
        and k not in ("PYTHONPATH", "VIRTUAL_ENV")
    }
    return {**env, "GOOGLE_APPLICATION_CREDENTIALS": "/nonexistent/credentials.json", **extra}


def _run(
    *args: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    command = [str(a) for a in args]
    return subprocess.run(
        command, capture_output=True, text=True, env=env, cwd=cwd, timeout=300, check=False
    )


def _ok(*args: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    result = _run(*args, env=env, cwd=cwd)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from a copy of this checkout (the build writes into its source)."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    shutil.copytree(
        ROOT,
        source,
        symlinks=True,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "dist", "*.egg-info", "node_modules", "__pycache__",
            ".*_cache", ".hypothesis", "tests", "bench", "docs", "examples",
        ),
    )  # fmt: skip
    args = ["--no-deps", "--no-build-isolation", "--no-index", "--wheel-dir", root / "dist"]
    _ok(sys.executable, "-m", "pip", "wheel", "--quiet", *args, source)
    (built,) = (root / "dist").glob("cloud_tasks_emulator-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python of a fresh venv with the wheel installed, as `pip install` does."""
    venv = tmp_path_factory.mktemp("venv")
    _ok(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", python, "install", "--quiet"]
    _ok(*pip, "--no-deps", "--no-index", wheel)
    purelib = _ok(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    # This venv's packages (the dependencies, pytest) after the new venv's own.
    Path(purelib.strip(), "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


def test_the_wheel_carries_the_pth_file_and_no_top_level_module(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert "cloud_tasks_emulator.pth" in names
    top_level = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top_level == {"emulator", "cloud_tasks_emulator.pth"}


STARTUP = """
import sys
loaded = lambda: sorted(m for m in sys.modules if m.split('.')[0] == 'emulator')
print(loaded())
from google.cloud import tasks_v2
print(loaded())
import emulator
print(emulator.__file__.startswith(sys.prefix))
"""


def test_nothing_of_the_package_is_imported_until_a_client_module_is(
    installed: Path, tmp_path: Path
) -> None:
    env = _clean_env(CLOUD_TASKS_EMULATOR_HOST="127.0.0.1:9")
    out = _ok(installed, "-c", STARTUP, env=env, cwd=tmp_path).splitlines()
    assert out[0] == "[]"
    assert "emulator.autoconnect" in out[1]
    assert out[2] == "True"  # the wheel's copy, not this checkout's


STRICT_PROJECT_TEST = """
import sys

import emulator
from google.cloud import tasks_v2


def test_an_unmodified_client_creates_a_queue():
    assert emulator.__file__.startswith(sys.prefix)  # the wheel's copy
    parent = "projects/strict-project/locations/us-central1"
    for transport in ("grpc", "rest"):
        client = tasks_v2.CloudTasksClient(transport=transport)
        name = f"{parent}/queues/strict-{transport}"
        assert client.create_queue(parent=parent, queue={"name": name}).name == name
"""

STRICT_PROJECT_INI = """
[pytest]
filterwarnings =
    error
asyncio_default_fixture_loop_scope = function
"""


def test_a_strict_warnings_pytest_project_runs_with_the_variable_set(
    installed: Path, tmp_path: Path, cloud_tasks_emulator: Emulator
) -> None:
    (tmp_path / "pytest.ini").write_text(textwrap.dedent(STRICT_PROJECT_INI))
    (tmp_path / "test_strict.py").write_text(textwrap.dedent(STRICT_PROJECT_TEST))
    env = _clean_env(CLOUD_TASKS_EMULATOR_HOST=cloud_tasks_emulator.emulator_host)
    command = [installed, "-W", "error", "-m", "pytest", "-W", "error", "-p", "no:cacheprovider"]
    result = _run(*command, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    queues = cloud_tasks_emulator.client().list_queues(
        parent="projects/strict-project/locations/us-central1"
    )
    assert sorted(q.name.rsplit("/", 1)[1] for q in queues) == ["strict-grpc", "strict-rest"]
