"""A local emulator of Google Cloud Tasks (google.cloud.tasks.v2)."""

__version__ = "0.1.0"

from emulator.embedded import Attempt, Emulator

__all__ = ["Attempt", "Emulator", "__version__"]
