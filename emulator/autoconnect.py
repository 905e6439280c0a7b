"""CLOUD_TASKS_EMULATOR_HOST for the Python client: unmodified code reaches the emulator.

With `CLOUD_TASKS_EMULATOR_HOST=host:port` set, a `CloudTasksClient()` or
`CloudTasksAsyncClient()` built without a transport instance and without an
`api_endpoint` talks to the emulator at that address: over gRPC (plain text; the
emulator's HTTP port speaks gRPC too), or over REST when `transport="rest"` was asked
for. No credentials are looked up. Without the variable, or with an explicit transport
instance or endpoint, the client is built exactly as the caller asked.

The variable is read by `parse_emulator_host()`, the one reader of it in this package:
`host:port`, `[v6]:port` (an IPv6 address in brackets) and `http://host:port` (with or
without a trailing `/`, as `STORAGE_EMULATOR_HOST` is often written) are accepted, with
surrounding whitespace ignored. Anything else (`https://`, since the emulator speaks
plain text; no port; a path; another scheme) raises `EmulatorHostError`, a ValueError
naming the variable and the value, when a client the variable applies to is built.

How it gets there: the `cloud_tasks_emulator.pth` file this package installs adds, at
interpreter start-up and only when the variable is set, a small import hook defined in
the .pth file itself: it imports nothing then, so nothing pytest would rewrite (this
package is a pytest plugin) is imported before pytest starts. When a Cloud Tasks client
module is first imported, the hook imports this module and calls `install()`.
`install()` patches the client classes as soon as their modules are imported, and the
patch reads the variable on every construction, so setting or clearing it later (the
pytest plugin does, per test) takes effect for the clients built afterwards. This
module imports nothing heavy.
"""

from __future__ import annotations

import copy
import functools
import importlib.abc
import importlib.machinery
import ipaddress
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from types import ModuleType
from typing import Any

ENV = "CLOUD_TASKS_EMULATOR_HOST"
# The client modules of the API versions the emulator serves.
CLIENT_MODULES = {
    "google.cloud.tasks_v2.services.cloud_tasks.client": "CloudTasksClient",
    "google.cloud.tasks_v2beta3.services.cloud_tasks.client": "CloudTasksClient",
}
_PATCHED = "__cloud_tasks_emulator_patched__"


EXPECTED = "host:port (e.g. 127.0.0.1:8124, [::1]:8124 or http://127.0.0.1:8124)"
_HOST_NAME = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_.])?")


class EmulatorHostError(ValueError):
    """CLOUD_TASKS_EMULATOR_HOST is set to something that is not an address."""


def install() -> importlib.abc.MetaPathFinder:
    """Patch the client classes now if imported, else as soon as they are. Returns the
    import hook that does it (the .pth file's hook asks it for the client modules)."""
    for module_name in CLIENT_MODULES:
        module = sys.modules.get(module_name)
        if module is not None:
            _patch(module)
    for finder in sys.meta_path:
        if isinstance(finder, _PatchOnImport):
            return finder
    finder = _PatchOnImport()
    sys.meta_path.insert(0, finder)
    return finder


def emulator_host(environ: Mapping[str, str] | None = None) -> str | None:
    """The variable's address as `host:port` (`[v6]:port` for IPv6), or None when unset
    or blank. EmulatorHostError when it is set to something else (see the module's doc)."""
    value = (os.environ if environ is None else environ).get(ENV, "")
    if not value.strip():
        return None
    host, port = parse_emulator_host(value)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_emulator_host(value: str, name: str = ENV) -> tuple[str, int]:
    """`host:port`, `[v6]:port` or `http://host:port[/]` -> (host, port), the host of an
    IPv6 address without its brackets. EmulatorHostError names `name` and the value."""

    def refuse(reason: str) -> EmulatorHostError:
        return EmulatorHostError(f"{name}={value!r} is not {EXPECTED}: {reason}")

    text = value.strip()
    scheme, sep, rest = text.partition("://")
    if sep:
        if scheme.lower() == "https":
            raise refuse("the emulator speaks plain HTTP and gRPC, not TLS; drop https://")
        if scheme.lower() != "http":
            raise refuse(f"{scheme}:// is not a scheme the emulator speaks")
        text = rest.removesuffix("/")
    if not text:
        raise refuse("it has no host")
    if any(c in text for c in "/?#@") or any(c.isspace() for c in text):
        raise refuse("only a host and a port may be given (no path, user or spaces)")
    if text.startswith("["):
        address, bracket, port = text[1:].partition("]")
        if not bracket:
            raise refuse("the IPv6 address has no closing ]")
        try:
            ipaddress.IPv6Address(address)
        except ValueError:
            raise refuse(f"{address!r} is not an IPv6 address") from None
        if not port:
            raise refuse("it has no port")
        if not port.startswith(":"):
            raise refuse("the port must follow the ] after a colon")
        return address, _port(port[1:], refuse)
    host, colon, port = text.rpartition(":")
    if not colon:
        raise refuse("it has no port")
    if not host:
        raise refuse("it has no host")
    if ":" in host:
        raise refuse("an IPv6 address needs brackets, as in [::1]:8124")
    if not _HOST_NAME.fullmatch(host):
        raise refuse(f"{host!r} is not a host name or IPv4 address")
    return host, _port(port, refuse)


def _port(text: str, refuse: Callable[[str], EmulatorHostError]) -> int:
    if not text:
        raise refuse("it has no port")
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) <= 65535:
        raise refuse(f"{text!r} is not a port (1-65535)")
    return int(text)


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
        # A client with a transport or endpoint of its own is built as asked, whatever
        # the variable holds; any other refuses a malformed variable here.
        host = emulator_host() if _redirectable(kwargs) else None
        if host is not None:
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
