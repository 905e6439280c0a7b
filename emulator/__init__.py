"""A local emulator of Google Cloud Tasks (google.cloud.tasks.v2).

`Emulator`, `Attempt` and `RoughEdges` are imported on first use, so that importing a
light submodule (`emulator.autoconnect`, which the .pth file's hook loads when a Cloud
Tasks client module is imported) costs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from emulator.core.version import __version__

if TYPE_CHECKING:
    from emulator.core.rough_edges import RoughEdges
    from emulator.embedded import Emulator
    from emulator.store.records import Attempt

__all__ = ["Attempt", "Emulator", "RoughEdges", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "Emulator":
        from emulator.embedded import Emulator

        return Emulator
    if name == "Attempt":
        from emulator.store.records import Attempt

        return Attempt
    if name == "RoughEdges":
        from emulator.core.rough_edges import RoughEdges

        return RoughEdges
    raise AttributeError(f"module 'emulator' has no attribute {name!r}")
