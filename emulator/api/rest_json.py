"""Proto3 JSON in: parse a document into a message, or say exactly what is wrong with it.

`json_format` alone lets invalid base64 through and words its errors in Python's terms
("time data '' does not match format ..."). Every document is walked against the
message's descriptor first, so a mistake is answered the way Google's front end words
it: `Invalid value at 'task.schedule_time' (type.googleapis.com/google.protobuf.Timestamp):
"" is not an RFC 3339 timestamp, e.g. "2030-01-01T00:00:00Z".`, with the field's path.
"""

from __future__ import annotations

import json
import re
from typing import Any

from google.protobuf import descriptor, duration_pb2, field_mask_pb2, json_format, timestamp_pb2

from emulator import errors

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


def check(document: Any, message_type: descriptor.Descriptor, path: str = "") -> None:
    """Raise INVALID_ARGUMENT naming the first field of `document` that `message_type`
    cannot take."""
    if not isinstance(document, dict):
        where = f" at '{path}'" if path else ""
        raise errors.InvalidArgument(
            f"Invalid JSON payload received. Expected an object{where}, got {_quoted(document)}.",
            field=path or None,
        )
    fields = message_type.fields_by_camelcase_name
    for key, value in document.items():
        field = fields.get(key) or message_type.fields_by_name.get(key)
        if field is None:
            where = f" at '{path}'" if path else ""
            raise errors.InvalidArgument(
                f'Invalid JSON payload received. Unknown name "{key}"{where}: Cannot find field.',
                field=f"{path}.{key}" if path else key,
            )
        if value is None:
            continue  # null means "not set"
        _check_field(field, value, f"{path}.{field.name}" if path else field.name)


def _check_field(field: Any, value: Any, path: str) -> None:
    message = field.message_type
    if message is not None and message.GetOptions().map_entry:
        if not isinstance(value, dict):
            raise _invalid(path, "map", value, "a JSON object")
        value_field = message.fields_by_name["value"]
        for key, item in value.items():
            _check_single(value_field, item, f"{path}[{key}]")
        return
    if _is_repeated(field):
        if not isinstance(value, list):
            raise _invalid(path, "repeated", value, "a JSON array")
        for index, item in enumerate(value):
            _check_single(field, item, f"{path}[{index}]")
        return
    _check_single(field, value, path)


def _is_repeated(field: Any) -> bool:
    if hasattr(field, "is_repeated"):  # protobuf >= 6; `label` is gone in 7
        return bool(field.is_repeated)
    return bool(field.label == FieldDescriptor.LABEL_REPEATED)


def _check_single(field: Any, value: Any, path: str) -> None:
    kind = field.type
    if kind == FieldDescriptor.TYPE_MESSAGE:
        name = field.message_type.full_name
        if name in _STRING_TYPES:
            message_class, expected = _STRING_TYPES[name]
            if not isinstance(value, str):
                raise _invalid(path, f"type.googleapis.com/{name}", value, expected)
            try:
                message_class().FromJsonString(value)
            except (ValueError, TypeError):
                raise _invalid(path, f"type.googleapis.com/{name}", value, expected) from None
        elif name not in _FREE_FORM and not name.startswith("google.protobuf."):
            check(value, field.message_type, path)
    elif kind == FieldDescriptor.TYPE_ENUM:
        enum = field.enum_type
        known = isinstance(value, str) and value in enum.values_by_name
        if not known and not (isinstance(value, int) and not isinstance(value, bool)):
            names = ", ".join(v.name for v in enum.values)
            raise _invalid(path, enum.full_name, value, f"one of {names}")
    elif kind == FieldDescriptor.TYPE_STRING:
        if not isinstance(value, str):
            raise _invalid(path, "TYPE_STRING", value, "a string")
    elif kind == FieldDescriptor.TYPE_BYTES:
        if not isinstance(value, str) or not _BASE64.fullmatch(value) or len(value) % 4 == 1:
            raise _invalid(path, "TYPE_BYTES", value, "base64")
    elif kind == FieldDescriptor.TYPE_BOOL:
        if not isinstance(value, bool):
            raise _invalid(path, "TYPE_BOOL", value, "true or false")
    elif kind in _INT_TYPES:
        type_name, low, high = _INT_TYPES[kind]
        number = _integer(value)
        if number is None or not low <= number <= high:
            raise _invalid(path, type_name, value, f"a whole number from {low} to {high}")
    elif not _is_float(value):  # TYPE_DOUBLE, TYPE_FLOAT
        raise _invalid(path, "TYPE_DOUBLE", value, "a number")


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


def _is_float(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    if isinstance(value, str):
        if value in _FLOAT_WORDS:
            return True
        try:
            float(value)
        except ValueError:
            return False
        return True
    return False


def parse(document: Any, message: Any, path: str = "") -> None:
    """Fill `message` from a decoded JSON document, or raise INVALID_ARGUMENT."""
    check(document, message.DESCRIPTOR, path)
    try:
        json_format.ParseDict(document, message)
    except json_format.ParseError as error:  # what the walk does not foresee
        text = str(error).split(" at ", 1)[0].replace("Failed to parse ", "")
        raise errors.InvalidArgument(f"Invalid JSON payload received: {text}.") from None
