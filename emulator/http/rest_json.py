"""Proto3 JSON in: a document into a message, or exactly what is wrong with it. (Out,
the REST surface writes with `google.protobuf.json_format.MessageToDict`.)

The document is walked against the message's descriptor, field by field, and each
value is checked and set in the same pass. A mistake is answered the way Google's front
end words it, with the field's path: `Invalid value at 'task.schedule_time'
(type.googleapis.com/google.protobuf.Timestamp): "" is not an RFC 3339 timestamp, e.g.
"2030-01-01T00:00:00Z".` (`json_format` would let invalid base64 through and word errors
in Python's terms.)
"""

from __future__ import annotations

import base64
import json
import math
import re
from typing import Any

from google.protobuf import descriptor, duration_pb2, field_mask_pb2, json_format, timestamp_pb2

from emulator.core import errors

FieldDescriptor = descriptor.FieldDescriptor
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]*={0,2}")
_INT_TYPES = {
    FieldDescriptor.TYPE_INT32: ("TYPE_INT32", -(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: ("TYPE_SINT32", -(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: ("TYPE_SFIXED32", -(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_UINT32: ("TYPE_UINT32", 0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: ("TYPE_FIXED32", 0, 2**32 - 1),
    FieldDescriptor.TYPE_INT64: ("TYPE_INT64", -(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: ("TYPE_SINT64", -(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: ("TYPE_SFIXED64", -(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT64: ("TYPE_UINT64", 0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: ("TYPE_FIXED64", 0, 2**64 - 1),
}
_FLOAT_WORDS = {"NaN", "Infinity", "-Infinity"}
# Well-known message types written as JSON strings, with how to check the string.
_STRING_TYPES: dict[str, tuple[Any, str]] = {
    "google.protobuf.Timestamp": (
        timestamp_pb2.Timestamp,
        'an RFC 3339 timestamp, e.g. "2030-01-01T00:00:00Z"',
    ),
    "google.protobuf.Duration": (duration_pb2.Duration, 'a duration in seconds, e.g. "30s"'),
    "google.protobuf.FieldMask": (
        field_mask_pb2.FieldMask,
        'a field mask, e.g. "rateLimits.maxDispatchesPerSecond"',
    ),
}
_FREE_FORM = {"google.protobuf.Value", "google.protobuf.Struct", "google.protobuf.ListValue"}


def _quoted(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return '"' + text[:100].replace('"', '\\"') + '"'


def _invalid(path: str, kind: str, value: Any, expected: str) -> errors.InvalidArgument:
    return errors.InvalidArgument(
        f"Invalid value at '{path}' ({kind}): {_quoted(value)} is not {expected}.", field=path
    )


def load_object(raw: bytes) -> dict[str, Any]:
    """A request body as a JSON object (empty means `{}`), or INVALID_ARGUMENT saying why not."""
    try:
        document = json.loads(raw or b"{}")
    except json.JSONDecodeError as error:
        raise errors.InvalidArgument(
            f"Invalid JSON payload received: the body is not JSON (line {error.lineno}, "
            f"column {error.colno}: {error.msg})."
        ) from None
    except (ValueError, UnicodeDecodeError):
        raise errors.InvalidArgument(
            "Invalid JSON payload received: the body is not UTF-8 JSON."
        ) from None
    except RecursionError:  # nested deeper than the parser's stack allows
        raise errors.InvalidArgument(
            "Invalid JSON payload received: the body is nested too deeply."
        ) from None
    if not isinstance(document, dict):
        raise errors.InvalidArgument("Invalid JSON payload received: expected an object.")
    return document


def parse(document: Any, message: Any, path: str = "") -> None:
    """Fill `message` from a decoded JSON document, or raise INVALID_ARGUMENT."""
    _fill(document, message, path)


def _fill(document: Any, message: Any, path: str) -> None:
    if not isinstance(document, dict):
        where = f" at '{path}'" if path else ""
        raise errors.InvalidArgument(
            f"Invalid JSON payload received. Expected an object{where}, got {_quoted(document)}.",
            field=path or None,
        )
    message_type = message.DESCRIPTOR
    fields = _FIELDS.get(message_type)
    if fields is None:  # its JSON (camelCase) and proto names, worked out once per type
        fields = _FIELDS[message_type] = {
            **message_type.fields_by_name,
            **message_type.fields_by_camelcase_name,
        }
    for key, value in document.items():
        field = fields.get(key)
        if field is None:
            where = f" at '{path}'" if path else ""
            raise errors.InvalidArgument(
                f'Invalid JSON payload received. Unknown name "{key}"{where}: Cannot find field.',
                field=f"{path}.{key}" if path else key,
            )
        if value is None:
            continue  # null means "not set"
        _fill_field(message, field, value, f"{path}.{field.name}" if path else field.name)


_FIELDS: dict[Any, dict[str, Any]] = {}
_SHAPES: dict[Any, str] = {}  # field -> "map", "repeated", "message" or "scalar"


def _shape(field: Any) -> str:
    shape = _SHAPES.get(field)
    if shape is None:
        entry = field.message_type
        if entry is not None and entry.GetOptions().map_entry:
            shape = "map"
        elif _is_repeated(field):
            shape = "repeated"
        else:
            shape = "message" if entry is not None else "scalar"
        _SHAPES[field] = shape
    return shape


def _fill_field(message: Any, field: Any, value: Any, path: str) -> None:
    shape = _shape(field)
    if shape == "scalar":
        _set(message, field.name, _scalar(field, value, path), path)
        return
    entry = field.message_type
    if shape == "map":
        if not isinstance(value, dict):
            raise _invalid(path, "map", value, "a JSON object")
        key_field, value_field = entry.fields_by_name["key"], entry.fields_by_name["value"]
        target = getattr(message, field.name)
        for key, item in value.items():
            item_path = f"{path}[{key}]"
            map_key = _scalar(key_field, key, item_path, key=True)
            if value_field.message_type is not None:
                _set_message(target[map_key], value_field, item, item_path)
            else:
                target[map_key] = _scalar(value_field, item, item_path)
        return
    if shape == "repeated":
        if not isinstance(value, list):
            raise _invalid(path, "repeated", value, "a JSON array")
        target = getattr(message, field.name)
        for index, item in enumerate(value):
            item_path = f"{path}[{index}]"
            if item is None:
                raise _invalid(item_path, "repeated", item, "a value (null is not allowed)")
            if entry is not None:
                _set_message(target.add(), field, item, item_path)
            else:
                target.append(_scalar(field, item, item_path))
        return
    submessage = getattr(message, field.name)
    submessage.SetInParent()  # `{}` is an empty message, not a missing one
    _set_message(submessage, field, value, path)


def _set_message(target: Any, field: Any, value: Any, path: str) -> None:
    name = field.message_type.full_name
    if name in _STRING_TYPES:
        _, expected = _STRING_TYPES[name]
        if not isinstance(value, str):
            raise _invalid(path, f"type.googleapis.com/{name}", value, expected)
        try:
            target.FromJsonString(value)
        except (ValueError, TypeError):
            raise _invalid(path, f"type.googleapis.com/{name}", value, expected) from None
    elif name.startswith("google.protobuf."):  # free-form and wrapper types: as json_format
        try:
            json_format.ParseDict(value, target)
        except json_format.ParseError as error:
            text = str(error).split(" at ", 1)[0].replace("Failed to parse ", "")
            raise errors.InvalidArgument(
                f"Invalid JSON payload received: {text} at '{path}'.", field=path
            ) from None
    else:
        _fill(value, target, path)


def _set(message: Any, name: str, value: Any, path: str) -> None:
    try:
        setattr(message, name, value)
    except (ValueError, TypeError) as error:  # e.g. a lone surrogate in a string
        raise errors.InvalidArgument(
            f"Invalid value at '{path}': {_quoted(value)} cannot be stored ({error}).",
            field=path,
        ) from None


def _is_repeated(field: Any) -> bool:
    if hasattr(field, "is_repeated"):  # protobuf >= 6; `label` is gone in 7
        return bool(field.is_repeated)
    return bool(field.label == FieldDescriptor.LABEL_REPEATED)


def _scalar(field: Any, value: Any, path: str, *, key: bool = False) -> Any:
    """The value a scalar field takes from JSON `value` (a map key is always a string)."""
    kind = field.type
    if kind == FieldDescriptor.TYPE_STRING:
        if not isinstance(value, str):
            raise _invalid(path, "TYPE_STRING", value, "a string")
        if _LONE_SURROGATE.search(value):
            raise _invalid(path, "TYPE_STRING", value, "valid Unicode (a lone surrogate)")
        return value
    if kind == FieldDescriptor.TYPE_ENUM:
        enum = field.enum_type
        if isinstance(value, str) and value in enum.values_by_name:
            return enum.values_by_name[value].number
        if isinstance(value, int) and not isinstance(value, bool):
            return value  # proto3 enums are open: an unknown number is kept
        names = ", ".join(v.name for v in enum.values)
        raise _invalid(path, enum.full_name, value, f"one of {names}")
    if kind == FieldDescriptor.TYPE_BYTES:
        if not isinstance(value, str) or not _BASE64.fullmatch(value) or len(value) % 4 == 1:
            raise _invalid(path, "TYPE_BYTES", value, "base64")
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    if kind == FieldDescriptor.TYPE_BOOL:
        if key and value in ("true", "false"):
            return value == "true"
        if not isinstance(value, bool):
            raise _invalid(path, "TYPE_BOOL", value, "true or false")
        return value
    if kind in _INT_TYPES:
        type_name, low, high = _INT_TYPES[kind]
        number = _integer(value)
        if number is None or not low <= number <= high:
            raise _invalid(path, type_name, value, f"a whole number from {low} to {high}")
        return number
    real = _float(value)  # TYPE_DOUBLE, TYPE_FLOAT
    if real is None:
        raise _invalid(path, "TYPE_DOUBLE", value, "a number")
    if kind == FieldDescriptor.TYPE_FLOAT and math.isfinite(real) and abs(real) > _FLOAT_MAX:
        raise _invalid(path, "TYPE_FLOAT", value, "a number within a float's range")
    return real


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_FLOAT_MAX = 3.4028234663852886e38


def _integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    return None


def _float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        if value in _FLOAT_WORDS:
            return float(value.replace("Infinity", "inf"))
        try:
            return float(value)
        except ValueError:
            return None
    return None
