import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ResetRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ResetResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AdvanceRequest(_message.Message):
    __slots__ = ("by", "to", "timeout")
    BY_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    by: _duration_pb2.Duration
    to: _timestamp_pb2.Timestamp
    timeout: _duration_pb2.Duration
    def __init__(self, by: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., to: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class AdvanceResponse(_message.Message):
    __slots__ = ("now",)
    NOW_FIELD_NUMBER: _ClassVar[int]
    now: _timestamp_pb2.Timestamp
    def __init__(self, now: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class WaitUntilIdleRequest(_message.Message):
    __slots__ = ("timeout",)
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    timeout: _duration_pb2.Duration
    def __init__(self, timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class WaitUntilIdleResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListAttemptsRequest(_message.Message):
    __slots__ = ("queue", "task", "min_count", "timeout")
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    MIN_COUNT_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    queue: str
    task: str
    min_count: int
    timeout: _duration_pb2.Duration
    def __init__(self, queue: _Optional[str] = ..., task: _Optional[str] = ..., min_count: _Optional[int] = ..., timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class Attempt(_message.Message):
    __slots__ = ("queue", "task", "project", "location", "attempt", "method", "url", "headers", "body", "status", "error", "schedule_time", "dispatch_time", "response_time", "result", "next_attempt", "backoff", "latency_seconds", "response_body", "duplicate")
    class HeadersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_TIME_FIELD_NUMBER: _ClassVar[int]
    DISPATCH_TIME_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_TIME_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    NEXT_ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    BACKOFF_FIELD_NUMBER: _ClassVar[int]
    LATENCY_SECONDS_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_BODY_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    queue: str
    task: str
    project: str
    location: str
    attempt: int
    method: str
    url: str
    headers: _containers.ScalarMap[str, str]
    body: bytes
    status: int
    error: str
    schedule_time: _timestamp_pb2.Timestamp
    dispatch_time: _timestamp_pb2.Timestamp
    response_time: _timestamp_pb2.Timestamp
    result: str
    next_attempt: _timestamp_pb2.Timestamp
    backoff: str
    latency_seconds: float
    response_body: bytes
    duplicate: bool
    def __init__(self, queue: _Optional[str] = ..., task: _Optional[str] = ..., project: _Optional[str] = ..., location: _Optional[str] = ..., attempt: _Optional[int] = ..., method: _Optional[str] = ..., url: _Optional[str] = ..., headers: _Optional[_Mapping[str, str]] = ..., body: _Optional[bytes] = ..., status: _Optional[int] = ..., error: _Optional[str] = ..., schedule_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., dispatch_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., response_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., result: _Optional[str] = ..., next_attempt: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., backoff: _Optional[str] = ..., latency_seconds: _Optional[float] = ..., response_body: _Optional[bytes] = ..., duplicate: _Optional[bool] = ...) -> None: ...

class ListAttemptsResponse(_message.Message):
    __slots__ = ("attempts",)
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    attempts: _containers.RepeatedCompositeFieldContainer[Attempt]
    def __init__(self, attempts: _Optional[_Iterable[_Union[Attempt, _Mapping]]] = ...) -> None: ...

class RoughEdges(_message.Message):
    __slots__ = ("duplicates", "shuffle", "latency_min", "latency_max", "throttle", "seed")
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    SHUFFLE_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MIN_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MAX_FIELD_NUMBER: _ClassVar[int]
    THROTTLE_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    duplicates: float
    shuffle: bool
    latency_min: _duration_pb2.Duration
    latency_max: _duration_pb2.Duration
    throttle: bool
    seed: int
    def __init__(self, duplicates: _Optional[float] = ..., shuffle: _Optional[bool] = ..., latency_min: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., latency_max: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., throttle: _Optional[bool] = ..., seed: _Optional[int] = ...) -> None: ...

class GetRoughEdgesRequest(_message.Message):
    __slots__ = ("queue",)
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    queue: str
    def __init__(self, queue: _Optional[str] = ...) -> None: ...

class SetRoughEdgesRequest(_message.Message):
    __slots__ = ("queue", "rough_edges")
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    ROUGH_EDGES_FIELD_NUMBER: _ClassVar[int]
    queue: str
    rough_edges: RoughEdges
    def __init__(self, queue: _Optional[str] = ..., rough_edges: _Optional[_Union[RoughEdges, _Mapping]] = ...) -> None: ...

class RoughEdgesState(_message.Message):
    __slots__ = ("rough_edges", "own", "enforced_rate")
    ROUGH_EDGES_FIELD_NUMBER: _ClassVar[int]
    OWN_FIELD_NUMBER: _ClassVar[int]
    ENFORCED_RATE_FIELD_NUMBER: _ClassVar[int]
    rough_edges: RoughEdges
    own: bool
    enforced_rate: float
    def __init__(self, rough_edges: _Optional[_Union[RoughEdges, _Mapping]] = ..., own: _Optional[bool] = ..., enforced_rate: _Optional[float] = ...) -> None: ...

PACKAGE: str
SERVICE: str
