"""Installs cloud_tasks_emulator.pth beside the package, in wheels and editable installs.

The .pth file points unmodified Cloud Tasks clients at the emulator when
CLOUD_TASKS_EMULATOR_HOST is set (see emulator/autoconnect.py); it does nothing else.
Everything else about the build is in pyproject.toml.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.editable_wheel import editable_wheel

PTH = "cloud_tasks_emulator.pth"
HERE = Path(__file__).parent


class BuildPyWithPth(build_py):
    """Regular wheels: the .pth file at the root of the wheel (site-packages)."""

    def run(self) -> None:
        super().run()
        self.copy_file(str(HERE / PTH), str(Path(self.build_lib, PTH)), preserve_mode=False)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        return [*super().get_outputs(include_bytecode), str(Path(self.build_lib, PTH))]


class EditableWheelWithPth(editable_wheel):
    """Editable installs: the wheel's root is the directory written here."""

    def _install_namespaces(self, installation_dir: Any, pth_prefix: Any) -> None:
        super()._install_namespaces(installation_dir, pth_prefix)
        Path(installation_dir, PTH).write_text((HERE / PTH).read_text())


setup(cmdclass={"build_py": BuildPyWithPth, "editable_wheel": EditableWheelWithPth})
