"""Queues configured at start-up: a YAML file (ours or App Engine's queue.yaml) and a
short `--queue` list. All three give the same records; `reset()` re-creates them.

Our format:

    project: local-project         # defaults for queue ids (else the emulator's)
    location: us-central1
    queues:
      - name: emails               # an id, or a full projects/.../queues/... name
        state: PAUSED              # RUNNING (default), PAUSED or DISABLED
        rate_limits: {max_dispatches_per_second: 10, max_concurrent_dispatches: 5}
        retry_config: {max_attempts: 5, min_backoff: 1s, max_backoff: 60s,
                       max_doublings: 3, max_retry_duration: 1h}
        http_target:
          uri_override: {scheme: HTTP, host: worker, port: 8080}
          header_overrides: {X-From: emulator}
        rough_edges: {duplicates: 0.5, seed: 7}   # this queue's own (docs/production-parity.md)
    rough_edges: {throttle: true}  # every other queue's (the flags win, field by field)
    auto_create_queues: {template: standard}   # or true: every default (off unless set)
    templates:                     # queue settings by name, without a queue of their own
      - name: standard
        retry_config: {max_attempts: 3}

`auto_create_queues` (as --auto-create-queues) creates a queue the first time a task is
created in it, instead of NOT_FOUND.

App Engine's queue.yaml (`queue:` at the top) is mapped field by field the way
`gcloud app deploy` maps it (docs/configuration.md, "Queues at start-up", lists the mapping). A bad
file stops the start with its name, line and field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from google.protobuf import json_format

from emulator.core import errors
from emulator.core.errors import ConfigError, StartupError
from emulator.core.rough_edges import RoughEdges, from_mapping
from emulator.core.routes import Route
from emulator.service import convert, pb, startup_routes
from emulator.service.yaml_lines import Reader, load
from emulator.store import validation
from emulator.store.names import QueueName
from emulator.store.records import AppEngineRouting, Queue, QueueState, RetryConfig

_RATE = re.compile(r"(\d+(?:\.\d+)?)/([smhd])")
_RATE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass
class StartupQueue:
    queue: Queue
    state: QueueState = QueueState.RUNNING
    rough_edges: RoughEdges | None = None  # its own (None: the emulator's)


@dataclass
class StartupFile:
    """What a start-up file says: its queues, whether queues are created on first use,
    and the template they are created from (None: every default)."""

    queues: list[StartupQueue]
    auto_create_queues: bool = False
    template: StartupQueue | None = None
    routes: list[Route] = field(default_factory=list)  # `routes:` (emulator.core.routes)
    rough_edges: RoughEdges | None = None  # every queue's without its own


# -- our format ---------------------------------------------------------------------------

_QUEUE_KEYS = {"name", "state", "rate_limits", "retry_config", "http_target",
               "app_engine_routing_override", "stackdriver_logging_config",
               "rough_edges"}  # fmt: skip
_RETRY_DURATIONS = ("min_backoff", "max_backoff", "max_retry_duration")
_RETRY_KEYS = {*_RETRY_DURATIONS, "max_attempts", "max_doublings"}


def _queue_from_ours(
    raw: Any, path: str, reader: Reader, project: str, location: str
) -> StartupQueue:
    fields = dict(reader.mapping(raw, path, _QUEUE_KEYS))
    if "name" not in fields:
        raise reader.fail(f"{path}.name", "required")
    name = _queue_name(str(fields.pop("name")), project, location, reader, f"{path}.name")
    state = _state(fields.pop("state", "RUNNING"), reader, f"{path}.state")
    edges = _rough_edges(fields.pop("rough_edges", None), reader, f"{path}.rough_edges")
    retry = fields.get("retry_config")
    if retry is not None:
        retry = dict(reader.mapping(retry, f"{path}.retry_config", _RETRY_KEYS))
        for key in _RETRY_DURATIONS:
            if key in retry:
                seconds = reader.duration(retry[key], f"{path}.retry_config.{key}").total_seconds()
                retry[key] = f"{seconds:.9f}s"
        fields["retry_config"] = retry
    try:
        message = json_format.ParseDict(fields, pb.Queue())
    except json_format.ParseError as error:
        raise reader.fail(path, str(error)) from None
    keep_zero = isinstance(retry, dict) and "max_doublings" in retry
    queue = _converted(
        lambda: convert.queue_from_pb(message, name, keep_zero_doublings=keep_zero), reader, path
    )
    _validate(queue, reader, path)
    return StartupQueue(queue, state, edges)


def _rough_edges(raw: Any, reader: Reader, path: str) -> RoughEdges | None:
    """`rough_edges: {duplicates: 0.01, shuffle: true, latency: 50ms-2s, throttle: true,
    seed: 42}`, every key optional."""
    if raw is None:
        return None
    try:
        return from_mapping(reader.mapping(raw, path, {"duplicates", "shuffle", "latency",
                                                       "throttle", "seed"}), path)  # fmt: skip
    except ValueError as error:
        where, _, problem = str(error).partition(": ")
        raise reader.fail(where, problem) from None


def _queue_name(text: str, project: str, location: str, reader: Reader, path: str) -> QueueName:
    full = (
        text
        if text.startswith("projects/")
        else f"projects/{project}/locations/{location}/queues/{text}"
    )
    try:
        return QueueName.parse(full)
    except errors.InvalidArgument:
        raise reader.fail(
            path, f"not a queue id or name: {text!r} (letters, digits, hyphens)"
        ) from None


def _state(value: Any, reader: Reader, path: str) -> QueueState:
    try:
        state = QueueState[str(value).upper()]
    except KeyError:
        state = QueueState.STATE_UNSPECIFIED
    if state == QueueState.STATE_UNSPECIFIED:
        raise reader.fail(path, f"not a state: {value!r} (RUNNING, PAUSED or DISABLED)")
    return state


def _converted(build: Any, reader: Reader, path: str) -> Queue:
    try:
        queue: Queue = build()
    except errors.ApiError as error:
        raise reader.fail(path, error.message) from None
    return queue


def _validate(queue: Queue, reader: Reader, path: str) -> None:
    try:
        validation.validate_queue(queue)
    except errors.ApiError as error:
        raise reader.fail(f"{path}.{error.field}" if error.field else path, error.message) from None


# -- App Engine queue.yaml ----------------------------------------------------------------

_APP_ENGINE_KEYS = {"name", "rate", "bucket_size", "max_concurrent_requests", "retry_parameters",
                    "target", "mode", "total_storage_limit", "acl"}  # fmt: skip
_RETRY_PARAMETERS = {"task_retry_limit", "task_age_limit", "min_backoff_seconds",
                     "max_backoff_seconds", "max_doublings"}  # fmt: skip


def _queue_from_app_engine(
    raw: Any, path: str, reader: Reader, project: str, location: str
) -> StartupQueue:
    fields = reader.mapping(raw, path, _APP_ENGINE_KEYS)
    if "name" not in fields:
        raise reader.fail(f"{path}.name", "required")
    name = _queue_name(str(fields["name"]), project, location, reader, f"{path}.name")
    if fields.get("mode", "push") != "push":
        raise reader.fail(f"{path}.mode", "pull queues do not map to Cloud Tasks (v2 has none)")
    queue = Queue(name=name)
    if "rate" in fields:
        match = _RATE.fullmatch(str(fields["rate"]).strip())
        if not match:
            raise reader.fail(f"{path}.rate", f"not a rate: {fields['rate']!r} (e.g. 5/s, 30/m)")
        rate = float(match[1]) / _RATE_UNITS[match[2]]
        queue.rate_limits.max_dispatches_per_second = rate
    bucket = reader.number(fields.get("bucket_size", 5), f"{path}.bucket_size", int)
    if not 1 <= bucket <= 500:
        raise reader.fail(f"{path}.bucket_size", f"must be between 1 and 500, got {bucket}")
    queue.rate_limits.burst_override = bucket
    if "max_concurrent_requests" in fields:
        concurrency = reader.number(
            fields["max_concurrent_requests"], f"{path}.max_concurrent_requests", int
        )
        queue.rate_limits.max_concurrent_dispatches = min(max(concurrency, 1), 5000)
    queue.retry_config = _retry_from_app_engine(
        fields.get("retry_parameters"), f"{path}.retry_parameters", reader
    )
    if "target" in fields:
        queue.app_engine_routing_override = AppEngineRouting(service=str(fields["target"]))
    _validate(queue, reader, path)
    return StartupQueue(queue)


def _retry_from_app_engine(raw: Any, path: str, reader: Reader) -> RetryConfig:
    config = RetryConfig(max_attempts=-1)  # gcloud's default for queue.yaml queues
    if raw is None:
        return config
    fields = reader.mapping(raw, path, _RETRY_PARAMETERS)
    if "task_retry_limit" in fields:  # the YAML counts retries, the API attempts
        config.max_attempts = (
            reader.number(fields["task_retry_limit"], f"{path}.task_retry_limit", int) + 1
        )
    if "task_age_limit" in fields:
        config.max_retry_duration = reader.duration(
            fields["task_age_limit"], f"{path}.task_age_limit"
        )
    for key, attribute in (
        ("min_backoff_seconds", "min_backoff"),
        ("max_backoff_seconds", "max_backoff"),
    ):
        if key in fields:
            seconds = reader.number(fields[key], f"{path}.{key}")
            setattr(config, attribute, timedelta(seconds=seconds))
    if "max_doublings" in fields:
        config.max_doublings = reader.number(fields["max_doublings"], f"{path}.max_doublings", int)
    return config


# -- entry points -------------------------------------------------------------------------


def load_file(path: str, *, project: str, location: str) -> list[StartupQueue]:
    return read_file(path, project=project, location=location).queues


def read_file(path: str, *, project: str, location: str) -> StartupFile:
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except OSError as error:
        raise StartupError(f"cannot read the queue config: {error}") from None
    return read_text(text, source=path, project=project, location=location)


def load_text(text: str, *, source: str, project: str, location: str) -> list[StartupQueue]:
    return read_text(text, source=source, project=project, location=location).queues


_TOP_KEYS = {"project", "location", "queues", "queue", "total_storage_limit",
             "auto_create_queues", "templates", "routes", "rough_edges"}  # fmt: skip


def read_text(text: str, *, source: str, project: str, location: str) -> StartupFile:
    document, lines = load(text, source)
    reader = Reader(source, lines)
    if document is None:
        return StartupFile([])
    document = reader.mapping(document, "", _TOP_KEYS)
    project = str(document.get("project", project))
    location = str(document.get("location", location))
    if "queue" in document:  # App Engine's queue.yaml
        entries, build, key = document["queue"], _queue_from_app_engine, "queue"
    else:
        entries, build, key = document.get("queues", []), _queue_from_ours, "queues"
    if not isinstance(entries, list):
        raise reader.fail(key, "expected a list of queues")
    queues = [build(raw, f"{key}[{i}]", reader, project, location) for i, raw in enumerate(entries)]
    seen: set[QueueName] = set()
    for i, item in enumerate(queues):
        if item.queue.name in seen:
            raise reader.fail(f"{key}[{i}].name", f"queue {item.queue.name.queue} is defined twice")
        seen.add(item.queue.name)
    auto_create, template = _auto_create(document, reader, project, location)
    routes = startup_routes.from_document(document.get("routes"), reader)
    edges = _rough_edges(document.get("rough_edges"), reader, "rough_edges")
    return StartupFile(queues, auto_create, template, routes, edges)


def _auto_create(
    document: dict[str, Any], reader: Reader, project: str, location: str
) -> tuple[bool, StartupQueue | None]:
    """`auto_create_queues: true|false|{template: NAME}` and the `templates:` it names."""
    entries = document.get("templates", [])
    if not isinstance(entries, list):
        raise reader.fail("templates", "expected a list of queue settings with a name each")
    templates: dict[str, StartupQueue] = {}
    for i, raw in enumerate(entries):
        path = f"templates[{i}]"
        template = _queue_from_ours(raw, path, reader, project, location)
        if template.rough_edges is not None:
            raise reader.fail(f"{path}.rough_edges", "not in a template: set them for every queue")
        if template.queue.name.queue in templates:
            raise reader.fail(f"{path}.name", f"template {raw['name']} is defined twice")
        templates[template.queue.name.queue] = template
    value = document.get("auto_create_queues", False)
    if isinstance(value, bool):
        return value, None
    if not isinstance(value, dict):
        raise reader.fail(
            "auto_create_queues", f"expected true, false or {{template: NAME}}, not {value!r}"
        )
    fields = reader.mapping(value, "auto_create_queues", {"template"})
    name = str(fields.get("template", ""))
    if name not in templates:
        known = ", ".join(sorted(templates)) or "none: add one under templates:"
        raise reader.fail(
            "auto_create_queues.template", f"no template named {name!r} (templates: {known})"
        )
    return True, templates[name]


_FLAG_KEYS = {
    "rate": ("rate_limits", "max_dispatches_per_second", float),
    "concurrency": ("rate_limits", "max_concurrent_dispatches", int),
    "max_attempts": ("retry_config", "max_attempts", int),
    "max_doublings": ("retry_config", "max_doublings", int),
    "min_backoff": ("retry_config", "min_backoff", str),
    "max_backoff": ("retry_config", "max_backoff", str),
    "max_retry_duration": ("retry_config", "max_retry_duration", str),
    "state": (None, "state", str),
}


def parse_flag(text: str, *, project: str, location: str, source: str = "--queue") -> StartupQueue:
    """`NAME[:key=value,...]`, e.g. `emails:rate=10,concurrency=5,max_attempts=3,state=paused`."""
    name, _, settings = text.strip().partition(":")
    raw: dict[str, Any] = {"name": name}
    for item in filter(None, (s.strip() for s in settings.split(","))):
        key, sep, value = item.partition("=")
        if not sep or key not in _FLAG_KEYS:
            raise ConfigError(
                source,
                None,
                f"{name}.{key}",
                f"expected key=value with a key of {', '.join(_FLAG_KEYS)}",
            )
        group, field, kind = _FLAG_KEYS[key]
        try:
            converted: Any = kind(value)
        except ValueError:
            raise ConfigError(
                source, None, f"{name}.{key}", f"not a {kind.__name__}: {value!r}"
            ) from None
        if group is None:
            raw[field] = converted
        else:
            raw.setdefault(group, {})[field] = converted
    return _queue_from_ours(raw, name, Reader(source, {}), project, location)


def parse_flags(
    values: list[str], *, project: str, location: str, source: str
) -> list[StartupQueue]:
    """Several `--queue` values; a value may hold several queues separated by spaces or ';'."""
    specs = [spec for value in values for spec in re.split(r"[;\s]+", value) if spec]
    return [parse_flag(spec, project=project, location=location, source=source) for spec in specs]
