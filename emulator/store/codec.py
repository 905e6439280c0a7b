"""The store's records as JSON and back, for the data directory.

Directed by the records' own type hints, so a new field needs no code here: datetimes are
RFC 3339, durations whole microseconds, bytes base64, enums their numbers, resource names
strings; a record is an object tagged with its class (`$type`), so unions of records
(an HTTP or an App Engine request; an OAuth or an OIDC token) decode to the right one.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import json
import types
import typing
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from emulator.store import names, records

_RECORDS = {
    cls.__name__: cls
    for cls in vars(records).values()
    if isinstance(cls, type) and dataclasses.is_dataclass(cls)
}
_NAMES = {
    names.QueueName: names.QueueName.parse,
    names.TaskName: names.TaskName.parse,
    names.LocationName: names.LocationName.parse,
}


def dumps(record: Any) -> str:
    return json.dumps(_encode(record), separators=(",", ":"))


def loads(text: str, kind: Any) -> Any:
    return _decode(json.loads(text), kind)


def _encode(value: Any) -> Any:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, int | float):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value // timedelta(microseconds=1)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if type(value) in _NAMES:
        return str(value)
    if dataclasses.is_dataclass(value):
        document = {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"$type": type(value).__name__, **document}
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    raise TypeError(f"cannot store a {type(value).__name__}")


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, vars(records))


def _decode(value: Any, kind: Any) -> Any:
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        options = [k for k in typing.get_args(kind) if k is not type(None)]
        if isinstance(value, dict) and "$type" in value:
            return _record(value)
        return _decode(value, options[0])
    if isinstance(value, dict) and "$type" in value:
        return _record(value)
    if origin is list:
        (item,) = typing.get_args(kind)
        return [_decode(v, item) for v in value]
    if origin is tuple:
        return tuple(_decode(v, k) for v, k in zip(value, typing.get_args(kind), strict=True))
    if origin is dict:
        _, item = typing.get_args(kind)
        return {k: _decode(v, item) for k, v in value.items()}
    if kind in _NAMES:
        return _NAMES[kind](value)
    if kind is datetime:
        return datetime.fromisoformat(value)
    if kind is timedelta:
        return timedelta(microseconds=value)
    if kind is bytes:
        return base64.b64decode(value)
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return kind(value)
    return value


def _record(document: dict[str, Any]) -> Any:
    cls = _RECORDS[document["$type"]]
    hints = _hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    values = {k: _decode(v, hints[k]) for k, v in document.items() if k in fields}
    return cls(**values)
