"""CLOUD_TASKS_EMULATOR_HOST for the Python client: unmodified code reaches the emulator.

With `CLOUD_TASKS_EMULATOR_HOST=host:port` set, a `CloudTasksClient()` or
`CloudTasksAsyncClient()` built without a transport instance and without an
`api_endpoint` talks to the emulator at that address: over gRPC (plain text; the
emulator's HTTP port speaks gRPC too), or over REST when `transport="rest"` was asked
for. No credentials are looked up. Without the variable, or with an explicit transport
instance or endpoint, the client is built exactly as the caller asked.

How it gets there: the `cloud_tasks_emulator.pth` file this package installs runs
`install()` at interpreter start-up, only when the variable is set (the way pytest-cov
starts coverage in subprocesses). `install()` patches the client classes as soon as
their modules are imported, and the patch reads the variable on every construction, so
setting or clearing it later (the pytest plugin does, per test) takes effect for the
clients built afterwards. This module imports nothing heavy.
"""

from __future__ import annotations

import copy
import functools
import importlib.abc
import importlib.machinery
import os
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

ENV = "CLOUD_TASKS_EMULATOR_HOST"
# The client modules of the API versions the emulator serves.
CLIENT_MODULES = {
    "google.cloud.tasks_v2.services.cloud_tasks.client": "CloudTasksClient",
    "google.cloud.tasks_v2beta3.services.cloud_tasks.client": "CloudTasksClient",
}
_PATCHED = "__cloud_tasks_emulator_patched__"


def install() -> None:
    """Patch the client classes now if imported, else as soon as they are."""
    for module_name in CLIENT_MODULES:
        module = sys.modules.get(module_name)
        if module is not None:
            _patch(module)
    if not any(isinstance(finder, _PatchOnImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _PatchOnImport())


def emulator_host() -> str | None:
    """The variable's `host:port`, or None when unset."""
    return os.environ.get(ENV, "").strip() or None


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself: it wraps the real loader of the client modules."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in CLIENT_MODULES:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _PatchingLoader(spec.loader)
        return spec


class _PatchingLoader(importlib.abc.Loader):
    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        module: ModuleType | None = self.loader.create_module(spec)
        return module

    def exec_module(self, module: ModuleType) -> None:
        self.loader.exec_module(module)
        _patch(module)


def _patch(module: ModuleType) -> None:
    cls = getattr(module, CLIENT_MODULES[module.__name__])
    if getattr(cls, _PATCHED, False):
        return
    original = cls.__init__

    @functools.wraps(original)
    def __init__(self: Any, **kwargs: Any) -> None:
        host = emulator_host()
        if host is not None and _redirectable(kwargs):
            kwargs = _to_emulator(type(self), host, kwargs)
        original(self, **kwargs)

    cls.__init__ = __init__
    setattr(cls, _PATCHED, True)


def _option(options: Any, name: str) -> Any:
    if options is None:
        return None
    if isinstance(options, dict):
        return options.get(name)
    return getattr(options, name, None)


def _redirectable(kwargs: dict[str, Any]) -> bool:
    """No transport instance or factory, and no endpoint of the caller's own."""
    transport = kwargs.get("transport")
    if transport is not None and not isinstance(transport, str):
        return False
    return not _option(kwargs.get("client_options"), "api_endpoint")


def _to_emulator(cls: Any, host: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The same arguments, with a transport bound to the emulator and no credentials
    (a transport instance refuses credentials, scopes and credentials files)."""
    kind = kwargs.get("transport") or "grpc"
    transport_class = cls.get_transport_class(kind)
    if kind == "rest":
        from google.auth.credentials import AnonymousCredentials

        transport = transport_class(
            host=f"http://{host}",
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        )
    else:
        import grpc

        # Unlimited message sizes, as the library's own channels have.
        unlimited = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]
        if kind == "grpc_asyncio":
            channel: Any = grpc.aio.insecure_channel(host, options=unlimited)
        else:
            channel = grpc.insecure_channel(host, options=unlimited)
        transport = transport_class(channel=channel)
    options = kwargs.get("client_options")
    if isinstance(options, dict):
        options = {k: v for k, v in options.items() if k not in ("scopes", "credentials_file")}
    elif options is not None:
        options = copy.copy(options)
        options.scopes = options.credentials_file = None
    return {**kwargs, "transport": transport, "credentials": None, "client_options": options}
