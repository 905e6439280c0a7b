"""Where the Cloud Tasks message types come from: the installed google-cloud-tasks.

Importing `google.cloud.tasks_v2` (or v2beta3) runs the package's `__init__`, which loads
the whole client: sync and async clients, three transports, google-api-core's retries
and long-running operations, and aiohttp through google-auth: about 0.3 s. The emulator
needs only the message types, which live in `<package>.types` and import nothing of
the client. The command line, which never builds a client, loads them alone:
`load_message_types()` registers each package as an empty shell (its module spec, its
`__init__` not run) before importing its `types`, and leaves the shell in place for the
life of the process. v2beta3's types load the same way with the first v2beta3 call
(`load_beta_types`), not at start-up. Embedded in a test process, where the client is
imported anyway, nothing of this happens and the packages load as usual.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

PACKAGES = ("google.cloud.tasks_v2", "google.cloud.tasks_v2beta3")
_TYPES_ONLY: set[str] = set()  # {"yes"} once the command line loads types without clients


def load_message_types() -> None:
    """Import v2's `types` without the package's client (the command line)."""
    _TYPES_ONLY.add("yes")
    _load(PACKAGES[0])


def load_beta_types() -> None:
    """v2beta3's types, when first needed: alone if the command line loaded v2's alone
    (else importing them loads their package whole, as usual)."""
    if _TYPES_ONLY:
        _load(PACKAGES[1])


def _load(package: str) -> None:
    if package in sys.modules:
        return
    spec = importlib.util.find_spec(package)
    if spec is None or spec.loader is None:
        return
    shell = importlib.util.module_from_spec(spec)  # the package, its __init__ not run
    sys.modules[package] = shell
    try:
        importlib.import_module(f"{package}.types")
    except Exception:  # a version whose types need more of it: load it whole
        for name in [n for n in sys.modules if n == package or n.startswith(package + ".")]:
            del sys.modules[name]
        importlib.import_module(package)
