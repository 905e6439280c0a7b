"""Routes: tasks keep their production URLs, and the emulator sends them to local handlers.

A route is `PATTERN=LOCAL_BASE[;auth][;invoker=A,B][;audiences=A,B]`, e.g.
`https://*-uc.a.run.app=http://worker:8080`. PATTERN is `[SCHEME://]HOST[:PORT][/PATH]`:
the host exact (`api.example.com`) or with a leading `*` that stands for one or more
characters (`*-uc.a.run.app`, `*.run.app`); without a scheme it matches http and https,
without a port any port, without a path every path (a path matches whole segments:
`/tasks` matches `/tasks` and `/tasks/email`, not `/tasks2`). The request goes to
LOCAL_BASE with the task's path and query appended (see docs/production-parity.md).

The most specific pattern wins: an exact host over any wildcard, then the wildcard with
the longer literal suffix, then the longer path, then a pattern with a port, then one with
a scheme. `auth`, `invoker` or `audiences` switch on Cloud Run's front door for the route
(`emulator.dispatch.front_door`). Pure: no I/O, nothing but parsing and matching.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

SYNTAX = "PATTERN=LOCAL_BASE[;auth][;invoker=EMAIL,...][;audiences=AUDIENCE,...]"
EXAMPLE = "https://*-uc.a.run.app=http://worker:8080"
_HOST = re.compile(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?")
_WILDCARD_SUFFIX = re.compile(r"[a-z0-9.-]*[a-z0-9]")  # what follows the leading "*"
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Cloud Run IAM members are written `serviceAccount:EMAIL` or `user:EMAIL`; the token's
# `email` claim is the EMAIL part.
_MEMBER_PREFIXES = ("serviceAccount:", "user:")


@dataclass(frozen=True)
class Route:
    pattern: str  # as given
    scheme: str | None  # http or https; None matches both
    host: str  # lower case; a leading "*" is the wildcard
    port: int | None  # None matches any port
    path: str  # a path prefix without a trailing slash; "" matches every path
    base: str  # the local base URL, without a trailing slash
    auth: bool = False  # Cloud Run's front door checks every request first
    invokers: tuple[str, ...] = ()  # empty: any caller with a valid token
    audiences: tuple[str, ...] = ()  # custom audiences, besides the service URL

    @property
    def wildcard(self) -> bool:
        return self.host.startswith("*")

    def specificity(self) -> tuple[int, int, int, int, int]:
        suffix = len(self.host) - 1 if self.wildcard else len(self.host)
        has_port, has_scheme = self.port is not None, self.scheme is not None
        return (not self.wildcard, suffix, len(self.path), has_port, has_scheme)

    def matches(self, scheme: str, host: str, port: int | None, path: str) -> bool:
        if self.scheme is not None and scheme != self.scheme:
            return False
        if self.wildcard:
            suffix = self.host[1:]
            if not (host.endswith(suffix) and len(host) > len(suffix)):
                return False
        elif host != self.host:
            return False
        if self.port is not None and (port or _DEFAULT_PORTS.get(scheme)) != self.port:
            return False
        return not self.path or path == self.path or path.startswith(self.path + "/")

    def describe(self) -> str:
        """The route as one readable line, for the start-up log."""
        door = ""
        if self.auth:
            door = " (Cloud Run's front door"
            door += f"; invokers: {', '.join(self.invokers)}" if self.invokers else ""
            door += f"; custom audiences: {', '.join(self.audiences)}" if self.audiences else ""
            door += ")"
        return f"{self.pattern} -> {self.base}{door}"


@dataclass(frozen=True)
class Routed:
    """Where one request goes: its route, and the local URL to connect to."""

    route: Route
    url: str  # the local base with the production URL's path and query
    service_url: str  # scheme://host[:port] of the production URL
    host: str  # the production URL's host[:port]: the Host header


class RouteTable:
    """The routes, most specific first; `match` picks the one for a URL."""

    def __init__(self, routes: Iterable[Route] = ()) -> None:
        given = list(routes)
        seen: set[tuple[str | None, str, int | None, str]] = set()
        for route in given:
            key = (route.scheme, route.host, route.port, route.path)
            if key in seen:
                raise ValueError(f"route {route.pattern} is given twice")
            seen.add(key)
        # A stable sort: among equally specific patterns the one given first wins.
        self.routes = sorted(given, key=Route.specificity, reverse=True)

    def __bool__(self) -> bool:
        return bool(self.routes)

    def match(self, url: str) -> Routed | None:
        if not self.routes:
            return None
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            return None  # the sender reports the bad URL as it would without routes
        scheme, host = parts.scheme.lower(), (parts.hostname or "")
        for route in self.routes:
            if route.matches(scheme, host, port, parts.path):
                query = f"?{parts.query}" if parts.query else ""
                local = route.base + (parts.path or "/") + query
                netloc = parts.netloc.rpartition("@")[2]
                return Routed(route, local, f"{scheme}://{netloc}", netloc)
        return None


# -- parsing ------------------------------------------------------------------------------


def parse(text: str) -> Route:
    """A route from its one-line form; ValueError says what is wrong."""
    main, *options = text.strip().split(";")
    pattern, sep, base = main.partition("=")
    if not sep or not pattern.strip() or not base.strip():
        raise ValueError(f"not a route: {text!r} (expected {SYNTAX}, e.g. {EXAMPLE})")
    fields: dict[str, Any] = {}
    for option in options:
        key, has_value, value = (part.strip() for part in option.partition("="))
        if key == "auth" and not has_value:
            fields["auth"] = True
        elif key in ("invoker", "audiences") and has_value:
            fields[key] = _listed(value, key)
        else:
            raise ValueError(
                f"unknown route option {option.strip()!r} in {text!r} (options: auth, "
                "invoker=EMAIL,..., audiences=AUDIENCE,...)"
            )
    return build(pattern.strip(), base.strip(), **fields)


def from_mapping(fields: Mapping[str, Any]) -> Route:
    """A route from its mapping form (the start-up file, `Emulator(routes=...)`): `pattern`,
    `to`, and optionally `auth` (true/false), `invoker` and `audiences` (lists, or
    strings separated by commas)."""
    unknown = sorted(set(fields) - {"pattern", "to", "auth", "invoker", "audiences"})
    if unknown:
        raise ValueError(
            f"unknown route field {unknown[0]!r} (fields: pattern, to, auth, invoker, audiences)"
        )
    for required in ("pattern", "to"):
        if not isinstance(fields.get(required), str) or not fields[required].strip():
            raise ValueError(f"a route needs {required}: a string")
    auth = fields.get("auth", False)
    if not isinstance(auth, bool):
        raise ValueError(f"auth: expected true or false, not {auth!r}")
    return build(
        fields["pattern"].strip(),
        fields["to"].strip(),
        auth=auth,
        invoker=_listed(fields["invoker"], "invoker") if "invoker" in fields else (),
        audiences=_listed(fields["audiences"], "audiences") if "audiences" in fields else (),
    )


def build(
    pattern: str,
    base: str,
    *,
    auth: bool = False,
    invoker: Sequence[str] = (),
    audiences: Sequence[str] = (),
) -> Route:
    scheme, host, port, path = _pattern(pattern)
    members = tuple(_member(email) for email in invoker)
    return Route(
        pattern=pattern,
        scheme=scheme,
        host=host,
        port=port,
        path=path,
        base=_base(base),
        auth=auth or bool(members) or bool(audiences),
        invokers=members,
        audiences=tuple(audiences),
    )


def _pattern(pattern: str) -> tuple[str | None, str, int | None, str]:
    scheme: str | None = None
    rest = pattern
    if "://" in pattern:
        scheme, _, rest = pattern.partition("://")
        scheme = scheme.lower()
        if scheme not in _DEFAULT_PORTS:
            raise ValueError(f"pattern {pattern}: the scheme is http or https, not {scheme!r}")
    try:
        parts = urlsplit("//" + rest)
        port = parts.port
    except ValueError as error:
        raise ValueError(f"pattern {pattern}: {error}") from None
    if parts.query or parts.fragment or "?" in rest or "#" in rest:
        raise ValueError(f"pattern {pattern}: a pattern has no query or fragment")
    if "@" in parts.netloc:
        raise ValueError(f"pattern {pattern}: a pattern has no user or password")
    host = (parts.hostname or "").lower()
    literal = host[1:] if host.startswith("*") else host
    if not (_WILDCARD_SUFFIX if host.startswith("*") else _HOST).fullmatch(literal):
        raise ValueError(
            f"pattern {pattern}: not a host name: {host!r} (a name, or a leading * then a "
            "domain, e.g. *-uc.a.run.app)"
        )
    if host.startswith("*") and "." not in literal:
        raise ValueError(
            f"pattern {pattern}: a wildcard needs a domain after it, e.g. *.run.app or "
            "*-uc.a.run.app"
        )
    return scheme, host, port, parts.path.rstrip("/")


def _base(base: str) -> str:
    try:
        parts = urlsplit(base)
        parts.port  # noqa: B018 (raises ValueError for a bad port)
    except ValueError as error:
        raise ValueError(f"local base {base}: {error}") from None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"local base {base}: not an http:// or https:// URL with a host")
    if parts.query or parts.fragment:
        raise ValueError(f"local base {base}: a local base has no query or fragment")
    return base.rstrip("/")


def _listed(value: Any, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        items = [item.strip() for item in value.split(",")]
    elif isinstance(value, list | tuple):
        items = [item.strip() if isinstance(item, str) else item for item in value]
    else:
        raise ValueError(f"{key}: expected a list of strings, not {value!r}")
    if not items or any(not isinstance(item, str) or not item for item in items):
        raise ValueError(f"{key}: expected one or more non-empty strings, not {value!r}")
    return tuple(items)


def _member(member: str) -> str:
    for prefix in _MEMBER_PREFIXES:
        if member.startswith(prefix):
            return member.removeprefix(prefix)
    return member


def parse_any(spec: str | Mapping[str, Any] | Route) -> Route:
    """A route from either form (or a Route as it is)."""
    if isinstance(spec, Route):
        return spec
    if isinstance(spec, str):
        return parse(spec)
    return from_mapping(spec)
