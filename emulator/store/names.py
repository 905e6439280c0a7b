"""Resource names as the Cloud Tasks API reference defines them: parsing, validation
and formatting."""

from __future__ import annotations

import functools
import re
from typing import NamedTuple

from emulator.core import errors

_PROJECT = r"[A-Za-z0-9:.\-]+"
_LOCATION = r"[A-Za-z0-9\-]+"
_QUEUE_ID = r"[A-Za-z0-9\-]{1,100}"
_TASK_ID = re.compile(r"[A-Za-z0-9_\-]{1,500}")

_PROJECT_RE = re.compile(rf"projects/({_PROJECT})")
_LOCATION_RE = re.compile(rf"projects/({_PROJECT})/locations/({_LOCATION})")
_QUEUE_RE = re.compile(rf"projects/({_PROJECT})/locations/({_LOCATION})/queues/({_QUEUE_ID})")
# A task name whose queue part is well formed; the id is checked separately because the
# real service words a bad id differently from a malformed name.
_TASK_RE = re.compile(
    rf"projects/({_PROJECT})/locations/({_LOCATION})/queues/({_QUEUE_ID})/tasks/([^/]*)"
)
_CMEK_RE = re.compile(rf"projects/({_PROJECT})/locations/({_LOCATION})/cmekConfig")
_OPERATION_RE = re.compile(rf"projects/({_PROJECT})/locations/({_LOCATION})/operations/([^/]+)")

LOCATION_FORMAT = 'Location must be formatted: "projects/<PROJECT_ID>/locations/<LOCATION_ID>".'
PROJECT_FORMAT = 'Project must be formatted: "projects/<PROJECT_ID>".'
TASK_NAME_FORMAT = (
    'Task name must be formatted: "projects/<PROJECT_ID>/locations/<LOCATION_ID>/queues/'
    '<QUEUE_ID>/tasks/<TASK_ID>".'
)
CMEK_NAME_FORMAT = (
    'CMEK config name must be formatted: "projects/<PROJECT_ID>/locations/<LOCATION_ID>/'
    'cmekConfig".'
)
OPERATION_NAME_FORMAT = (
    'Operation name must be formatted: "projects/<PROJECT_ID>/locations/<LOCATION_ID>/'
    'operations/<OPERATION_ID>".'
)


class LocationName(NamedTuple):
    project: str
    location: str

    def __str__(self) -> str:
        return f"projects/{self.project}/locations/{self.location}"

    @classmethod
    def parse(cls, name: str) -> LocationName:
        m = _LOCATION_RE.fullmatch(name)
        if not m:
            raise errors.InvalidArgument(LOCATION_FORMAT)
        return cls(m[1], m[2])


class QueueName(NamedTuple):
    """The key of every per-queue table: a tuple, so hashing and comparing it (several
    times a request and a delivery) runs in C."""

    project: str
    location: str
    queue: str

    def __str__(self) -> str:
        return f"projects/{self.project}/locations/{self.location}/queues/{self.queue}"

    @property
    def parent(self) -> LocationName:
        return LocationName(self.project, self.location)

    @classmethod
    def parse(cls, name: str) -> QueueName:
        return _parse_queue_name(name)


@functools.lru_cache(maxsize=4096)
def _parse_queue_name(name: str) -> QueueName:
    """Parsed once per name: every request, task and record of a queue then shares one
    QueueName (and its strings), which saves time per call and memory per task."""
    m = _QUEUE_RE.fullmatch(name)
    if not m:
        raise errors.InvalidArgument(errors.QUEUE_NAME_FORMAT, help_link=errors.QUEUE_NAME_HELP)
    return QueueName(m[1], m[2], m[3])


class TaskName(NamedTuple):
    queue_name: QueueName
    task: str

    def __str__(self) -> str:
        return f"{self.queue_name}/tasks/{self.task}"

    @classmethod
    def parse(cls, name: str) -> TaskName:
        m = _TASK_RE.fullmatch(name)
        if not m:
            raise errors.InvalidArgument(TASK_NAME_FORMAT, help_link=errors.TASK_NAME_HELP)
        if not _TASK_ID.fullmatch(m[4]):
            raise errors.bad_task_id(m[4])
        return cls(_parse_queue_name(name[: m.start(4) - len("/tasks/")]), m[4])


def parse_project(name: str) -> str:
    m = _PROJECT_RE.fullmatch(name)
    if not m:
        raise errors.InvalidArgument(PROJECT_FORMAT)
    return m[1]


def parse_cmek_name(name: str) -> LocationName:
    m = _CMEK_RE.fullmatch(name)
    if not m:
        raise errors.InvalidArgument(CMEK_NAME_FORMAT)
    return LocationName(m[1], m[2])


def cmek_name(location: LocationName) -> str:
    return f"{location}/cmekConfig"


def parse_operation_name(name: str) -> LocationName:
    m = _OPERATION_RE.fullmatch(name)
    if not m:
        raise errors.InvalidArgument(OPERATION_NAME_FORMAT)
    return LocationName(m[1], m[2])
