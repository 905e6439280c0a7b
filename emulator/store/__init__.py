"""The in-memory store: typed records, names, defaults and validation.

`Store` is imported on first use, so that a module of the package (the records, the
names) costs no more than itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from emulator.store.store import Store

__all__ = ["Store"]


def __getattr__(name: str) -> Any:
    if name == "Store":
        from emulator.store.store import Store

        return Store
    raise AttributeError(f"module 'emulator.store' has no attribute {name!r}")
