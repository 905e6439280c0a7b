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
from collections.abc import Callable
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
    return _JSON(_encode(record))


def dumps_fields(record: Any, names: tuple[str, ...]) -> list[str]:
    """Some of a record's fields, each as JSON text (to update a stored record in place)."""
    return [_JSON(_encode(getattr(record, name))) for name in names]


def loads(text: str, kind: Any) -> Any:
    return _decode(json.loads(text), kind)


# -- encoding: one function per type, made once ------------------------------------------

_JSON = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode
_PLAIN = {type(None), bool, str, int, float}


def _encode(value: Any) -> Any:
    encode = _ENCODERS.get(type(value))
    if encode is None:
        encode = _ENCODERS[type(value)] = _encoder_for(type(value))
    return encode(value)


def _same(value: Any) -> Any:
    return value


def _encoder_for(kind: type) -> Callable[[Any], Any]:
    if kind in _PLAIN:
        return _same
    if issubclass(kind, enum.Enum):
        return lambda value: value.value
    if kind in _NAMES:
        return str
    if dataclasses.is_dataclass(kind):
        return _record_encoder(kind)
    if issubclass(kind, dict):
        return lambda value: {str(k): _encode(v) for k, v in value.items()}
    if issubclass(kind, list | tuple):
        return lambda value: [_encode(v) for v in value]
    raise TypeError(f"cannot store a {kind.__name__}")


def _record_encoder(cls: type) -> Callable[[Any], Any]:
    """One function for the record's class, compiled once, that builds its document in
    one expression (as dataclasses build __init__): a plain field is read as it is, a
    datetime is its isoformat(), anything else goes through `_encode`."""
    hints = _hints(cls)
    items = [f'"$type": {cls.__name__!r}']
    for field in dataclasses.fields(cls):
        value, kind = f"record.{field.name}", hints[field.name]
        if kind is datetime:
            value += ".isoformat()"
        elif kind == datetime | None:
            value = f"(None if {value} is None else {value}.isoformat())"
        elif not _is_plain(kind):
            value = f"_encode({value})"
        items.append(f"{field.name!r}: {value}")
    namespace: dict[str, Any] = {"_encode": _encode}
    exec(f"def encode(record):\n    return {{{', '.join(items)}}}\n", namespace)
    encode: Callable[[Any], Any] = namespace["encode"]
    return encode


def _is_plain(kind: Any) -> bool:
    """Whether values of this type hint are JSON as they are (an IntEnum is its number)."""
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType, list):
        return all(map(_is_plain, typing.get_args(kind)))
    if origin is dict:
        key, item = typing.get_args(kind)
        return key is str and _is_plain(item)
    if origin is tuple:
        return all(map(_is_plain, typing.get_args(kind)))
    return kind in _PLAIN or (isinstance(kind, type) and issubclass(kind, enum.IntEnum))


_ENCODERS: dict[type, Callable[[Any], Any]] = {
    datetime: datetime.isoformat,
    timedelta: lambda value: value // timedelta(microseconds=1),
    bytes: lambda value: base64.b64encode(value).decode(),
}


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
