"""`emulator.http.rest_json`: the REST surface's own proto3 JSON reader, held to
`google.protobuf.json_format` on random messages of every type the API speaks: it reads
back what `MessageToDict` (the REST surface's writer) writes."""

from __future__ import annotations

import math
from typing import Any

import pytest
from google.protobuf import descriptor, json_format
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator.core import errors
from emulator.http import rest_json
from emulator.service import pb

FieldDescriptor = descriptor.FieldDescriptor
MESSAGES = [
    pb.Task,
    pb.Queue,
    pb.CreateTaskRequest,
    pb.UpdateQueueRequest,
    pb.ListTasksResponse,
    pb.BatchCreateTasksMetadata,
    pb.Policy,
    pb.SetIamPolicyRequest,
    pb.Operation,
    pb.CmekConfig,
]
INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
}


def _repeated(field: Any) -> bool:
    if hasattr(field, "is_repeated"):
        return bool(field.is_repeated)
    return bool(field.label == FieldDescriptor.LABEL_REPEATED)


def _scalar(field: Any) -> st.SearchStrategy[Any]:
    kind = field.type
    if kind == FieldDescriptor.TYPE_STRING:
        return st.text(st.characters(exclude_categories=("Cs",)), max_size=8)
    if kind == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=12)
    if kind == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if kind == FieldDescriptor.TYPE_ENUM:
        return st.sampled_from([v.number for v in field.enum_type.values])
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return st.floats(width=32, allow_nan=False)
    low, high = INT_RANGES.get(kind, (-(2**31), 2**31 - 1))
    return st.integers(low, high)


def _fill(message: Any, data: st.DataObject, depth: int) -> None:
    for field in message.DESCRIPTOR.fields:
        if not data.draw(st.booleans()):
            continue
        entry = field.message_type
        if entry is not None and entry.full_name.startswith("google.protobuf."):
            name = entry.full_name
            if name == "google.protobuf.Timestamp":
                moment = data.draw(st.integers(0, 2**34 * 10**9))
                getattr(message, field.name).FromNanoseconds(moment)
            elif name == "google.protobuf.Duration":
                span = data.draw(st.integers(-(10**15), 10**15))
                getattr(message, field.name).FromNanoseconds(span)
            continue  # Any, Empty, FieldMask...: left to json_format on both sides
        if entry is not None and entry.GetOptions().map_entry:
            key_field, value_field = entry.fields_by_name["key"], entry.fields_by_name["value"]
            target = getattr(message, field.name)
            for _ in range(data.draw(st.integers(0, 2))):
                key = data.draw(_scalar(key_field))
                if value_field.message_type is not None:
                    if depth < 3:
                        _fill(target[key], data, depth + 1)
                else:
                    target[key] = data.draw(_scalar(value_field))
        elif _repeated(field):
            target = getattr(message, field.name)
            for _ in range(data.draw(st.integers(0, 2))):
                if entry is not None:
                    if depth < 3:
                        _fill(target.add(), data, depth + 1)
                else:
                    target.append(data.draw(_scalar(field)))
        elif entry is not None:
            if depth < 3:
                sub = getattr(message, field.name)
                sub.SetInParent()
                _fill(sub, data, depth + 1)
        else:
            setattr(message, field.name, data.draw(_scalar(field)))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(kind=st.sampled_from(MESSAGES), data=st.data())
def test_reads_back_what_json_format_writes(kind: Any, data: st.DataObject) -> None:
    message = kind()
    _fill(message, data, 0)
    parsed = kind()
    rest_json.parse(json_format.MessageToDict(message), parsed)
    assert parsed == message


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"task": {"httpRequest": {"body": "not base64!"}}}, "is not base64"),
        ({"task": {"httpRequest": {"url": 5}}}, "is not a string"),
        ({"task": {"dispatchCount": "x"}}, "is not a whole number"),
        ({"task": {"scheduleTime": ""}}, "is not an RFC 3339 timestamp"),
        ({"task": {"nope": 1}}, 'Unknown name "nope"'),
        ({"task": {"httpRequest": {"httpMethod": "FETCH"}}}, "is not one of"),
        ({"task": {"httpRequest": {"headers": {"X": 1}}}}, "is not a string"),
        ({"task": {"httpRequest": {"url": "\ud800"}}}, "valid Unicode"),
    ],
)
def test_mistakes_are_invalid_argument_naming_the_field(
    document: dict[str, Any], problem: str
) -> None:
    with pytest.raises(errors.InvalidArgument) as raised:
        rest_json.parse(document, pb.CreateTaskRequest())
    assert problem in raised.value.message


def test_special_floats_and_big_integers() -> None:
    queue = pb.Queue()
    rest_json.parse({"rateLimits": {"maxDispatchesPerSecond": "Infinity"}}, queue)
    assert math.isinf(queue.rate_limits.max_dispatches_per_second)
    override = pb.UriOverride()
    rest_json.parse({"port": "8080"}, override)
    assert override.port == 8080
