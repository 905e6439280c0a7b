"""The start-up file's `routes:` section, and the routes of --route and `Emulator`.

    routes:
      - https://*-uc.a.run.app=http://worker:8080;invoker=tasks@p.iam.gserviceaccount.com
      - pattern: https://api.example.com      # the same, as a mapping
        to: http://api:8000
        auth: true                            # Cloud Run's front door (implied by the next two)
        invoker: [tasks@p.iam.gserviceaccount.com]
        audiences: [https://api.example.com]

Each entry is a route in its one-line form or as a mapping (`emulator.core.routes`); a
bad one stops the start with its file, line and field.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from emulator.core import routes
from emulator.core.errors import ConfigError
from emulator.core.routes import Route
from emulator.service.yaml_lines import Reader


def from_document(value: Any, reader: Reader) -> list[Route]:
    """The `routes:` list of a start-up file."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise reader.fail("routes", "expected a list of routes")
    found = []
    for i, raw in enumerate(value):
        path = f"routes[{i}]"
        if not isinstance(raw, str | dict):
            raise reader.fail(path, f"expected {routes.SYNTAX} or a mapping, not {raw!r}")
        try:
            found.append(routes.parse_any(raw))
        except ValueError as error:
            raise reader.fail(path, str(error)) from None
    return found


def from_specs(specs: Iterable[str | Mapping[str, Any] | Route], *, source: str) -> list[Route]:
    """Routes given one by one (--route values, `Emulator(routes=...)`); ConfigError
    names the one that is wrong."""
    found = []
    for i, spec in enumerate(specs):
        try:
            found.append(routes.parse_any(spec))
        except ValueError as error:
            field = spec if isinstance(spec, str) else f"routes[{i}]"
            raise ConfigError(source, None, field, str(error)) from None
    return found
