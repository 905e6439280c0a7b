"""Task RPCs through the real client, over gRPC and REST, in memory and with a data
directory: names, dedup, views, validation and sizes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from google.api_core import exceptions
from google.cloud import tasks_v2
from google.protobuf import duration_pb2

from emulator import Emulator
from emulator.core import errors

from support import PARENT, Client, expect_error, http_task, queue_path

MAX_URL_LENGTH = 2083  # characters (the API's limit)
MAX_TASK_SIZE = 1024 * 1024 - 7  # bytes of the stored Task message
View = tasks_v2.Task.View
Method = tasks_v2.HttpMethod


@pytest.fixture
def emu(backend_emu: Emulator) -> Emulator:
    """Each test runs on both backends: in memory and with a data directory."""
    return backend_emu


def _name(queue: tasks_v2.Queue, task_id: str) -> str:
    return f"{queue.name}/tasks/{task_id}"


# -- CreateTask -------------------------------------------------------------------------


def test_create_task_fills_server_fields(
    client: Client, queue: tasks_v2.Queue, emu: Emulator
) -> None:
    before = emu.now
    task = client.create_task(parent=queue.name, task=http_task())
    after = emu.now
    task_id = task.name.rsplit("/", 1)[1]
    assert task.name == _name(queue, task_id)
    assert task_id.isdigit()
    assert int(task_id) < 2**64
    assert before.replace(microsecond=0) <= task.create_time <= after
    assert task.create_time.microsecond == 0
    assert before <= task.schedule_time <= after
    assert task.dispatch_deadline == timedelta(minutes=10)
    assert task.dispatch_count == 0
    assert task.response_count == 0
    assert task.view == View.BASIC
    assert task.http_request.http_method == Method.POST
    assert "first_attempt" not in task
    assert "last_attempt" not in task


def test_generated_task_ids_are_unique(client: Client, queue: tasks_v2.Queue) -> None:
    names = {client.create_task(parent=queue.name, task=http_task()).name for _ in range(50)}
    assert len(names) == 50


def test_explicit_task_name_is_kept(client: Client, queue: tasks_v2.Queue) -> None:
    name = _name(queue, "order-42_retry")
    assert client.create_task(parent=queue.name, task=http_task(name=name)).name == name
    assert client.get_task(name=name).name == name


def test_task_id_of_500_characters_is_accepted(client: Client, queue: tasks_v2.Queue) -> None:
    name = _name(queue, "t" * 500)
    assert client.create_task(parent=queue.name, task=http_task(name=name)).name == name


@pytest.mark.parametrize("task_id", ["has space", "dot.ted", "t" * 501, "ümlaut", ""])
def test_bad_task_id_gets_the_real_message(
    client: Client, queue: tasks_v2.Queue, task_id: str
) -> None:
    with expect_error(client, exceptions.InvalidArgument, errors.bad_task_id(task_id).message):
        client.create_task(parent=queue.name, task=http_task(name=_name(queue, task_id)))


def test_malformed_task_name_is_invalid(client: Client, queue: tasks_v2.Queue) -> None:
    with expect_error(client, exceptions.InvalidArgument) as raised:
        client.create_task(parent=queue.name, task=http_task(name="tasks/t1"))
    assert raised.message.startswith("Task name must be formatted")


def test_task_named_under_another_queue_is_rejected(client: Client, queue: tasks_v2.Queue) -> None:
    other = queue_path("other")
    with expect_error(client, exceptions.InvalidArgument) as raised:
        client.create_task(parent=queue.name, task=http_task(name=f"{other}/tasks/t1"))
    assert raised.message == (
        f"The queue name from request ('{queue.name}') must be the same as the queue name "
        f"in the named task ('{other}')."
    )


def test_create_task_in_missing_queue_is_not_found(client: Client) -> None:
    with expect_error(client, exceptions.NotFound, errors.QUEUE_NOT_FOUND):
        client.create_task(parent=queue_path("missing"), task=http_task())


def test_duplicate_live_task_name_is_already_exists(client: Client, queue: tasks_v2.Queue) -> None:
    name = _name(queue, "dup")
    client.create_task(parent=queue.name, task=http_task(name=name))
    with expect_error(client, exceptions.AlreadyExists, "Requested entity already exists"):
        client.create_task(parent=queue.name, task=http_task(name=name))


def test_deleted_task_name_is_tombstoned_for_the_ttl(
    client: Client, queue: tasks_v2.Queue, emu: Emulator
) -> None:
    name = _name(queue, "gone")
    client.create_task(parent=queue.name, task=http_task(name=name))
    client.delete_task(name=name)
    with expect_error(client, exceptions.NotFound, errors.TASK_TOMBSTONED):
        client.get_task(name=name)
    with expect_error(client, exceptions.AlreadyExists):
        client.create_task(parent=queue.name, task=http_task(name=name))
    emu.advance(3600 - 30)
    with expect_error(client, exceptions.AlreadyExists):
        client.create_task(parent=queue.name, task=http_task(name=name))
    emu.advance(31)
    with expect_error(client, exceptions.NotFound, "Requested entity was not found."):
        client.delete_task(name=name)
    assert client.create_task(parent=queue.name, task=http_task(name=name)).name == name


def test_task_tombstone_ttl_is_configurable(
    start_emulator: Callable[..., Emulator], client_of: Callable[[Emulator], Client]
) -> None:
    own = start_emulator(task_tombstone_ttl=timedelta(seconds=10))
    client = client_of(own)
    queue = client.create_queue(parent=PARENT, queue={"name": queue_path("q")})
    name = _name(queue, "short")
    client.create_task(parent=queue.name, task=http_task(name=name))
    client.delete_task(name=name)
    own.advance(9)
    with expect_error(client, exceptions.AlreadyExists, errors.ENTITY_EXISTS):
        client.create_task(parent=queue.name, task=http_task(name=name))
    own.advance(2)
    assert client.create_task(parent=queue.name, task=http_task(name=name)).name == name


def test_missing_message_type_is_invalid(client: Client, queue: tasks_v2.Queue) -> None:
    with expect_error(client, exceptions.InvalidArgument) as raised:
        client.create_task(parent=queue.name, task={"name": _name(queue, "empty")})
    assert "http_request or app_engine_http_request" in raised.message


# -- views ------------------------------------------------------------------------------


def test_basic_view_omits_the_body_and_full_view_has_it(
    client: Client, queue: tasks_v2.Queue
) -> None:
    task = client.create_task(parent=queue.name, task=http_task(http_request={"body": b"payload"}))
    assert task.http_request.body == b""
    assert task.view == View.BASIC
    full = client.get_task(request={"name": task.name, "response_view": View.FULL})
    assert full.http_request.body == b"payload"
    assert full.view == View.FULL
    created_full = client.create_task(
        request={
            "parent": queue.name,
            "task": http_task(http_request={"body": b"x"}),
            "response_view": View.FULL,
        }
    )
    assert created_full.http_request.body == b"x"
    listed = client.list_tasks(request={"parent": queue.name, "response_view": View.FULL})
    assert {t.http_request.body for t in listed} == {b"payload", b"x"}
    listed_basic = client.list_tasks(parent=queue.name)
    assert {t.http_request.body for t in listed_basic} == {b""}
    assert {t.view for t in listed_basic} == {View.BASIC}


def test_app_engine_body_follows_the_view_too(client: Client, queue: tasks_v2.Queue) -> None:
    task = client.create_task(
        request={
            "parent": queue.name,
            "task": {"app_engine_http_request": {"relative_uri": "/work", "body": b"{}"}},
        }
    )
    assert task.app_engine_http_request.body == b""
    full = client.get_task(request={"name": task.name, "response_view": View.FULL})
    assert full.app_engine_http_request.body == b"{}"


# -- stored headers ---------------------------------------------------------------------


def test_http_task_headers_are_stored_as_the_service_stores_them(
    client: Client, queue: tasks_v2.Queue
) -> None:
    task = client.create_task(
        parent=queue.name,
        task=http_task(
            http_request={
                "headers": {
                    "X-Custom-Case": "Kept",
                    "content-type": "application/json",
                    "User-Agent": "mine",
                    "Host": "evil.example",
                    "Content-Length": "99",
                    "X-Google-Thing": "1",
                    "X-AppEngine-Country": "ZZ",
                }
            }
        ),
    )
    assert dict(task.http_request.headers) == {
        "X-Custom-Case": "Kept",
        "content-type": "application/json",
        "User-Agent": "Google-Cloud-Tasks",
    }


def test_http_task_gets_no_default_content_type(client: Client, queue: tasks_v2.Queue) -> None:
    task = client.create_task(parent=queue.name, task=http_task(http_request={"body": b"x"}))
    assert dict(task.http_request.headers) == {"User-Agent": "Google-Cloud-Tasks"}


def test_app_engine_task_headers(client: Client, queue: tasks_v2.Queue) -> None:
    with_body = client.create_task(
        parent=queue.name,
        task={
            "app_engine_http_request": {
                "relative_uri": "/a",
                "body": b"12345",
                "headers": {"User-Agent": "mine/1.0", "X-AppEngine-QueueName": "spoof"},
            }
        },
    )
    assert dict(with_body.app_engine_http_request.headers) == {
        "User-Agent": "mine/1.0 AppEngine-Google; (+http://code.google.com/appengine)",
        "Content-Type": "application/octet-stream",
        "Content-Length": "5",
    }
    typed = client.create_task(
        parent=queue.name,
        task={
            "app_engine_http_request": {
                "body": b"{}",
                "headers": {"Content-Type": "application/json"},
            }
        },
    )
    assert typed.app_engine_http_request.headers["Content-Type"] == "application/json"
    assert typed.app_engine_http_request.relative_uri == "/"
    bodiless = client.create_task(
        parent=queue.name, task={"app_engine_http_request": {"http_method": Method.GET}}
    )
    assert dict(bodiless.app_engine_http_request.headers) == {
        "User-Agent": "AppEngine-Google; (+http://code.google.com/appengine)"
    }


# -- validation -------------------------------------------------------------------------


@pytest.mark.parametrize("method", [Method.GET, Method.HEAD, Method.DELETE, Method.OPTIONS])
def test_body_with_a_bodiless_method_is_invalid(
    client: Client, queue: tasks_v2.Queue, method: Method
) -> None:
    with expect_error(client, exceptions.InvalidArgument) as raised:
        client.create_task(
            parent=queue.name, task=http_task(http_request={"http_method": method, "body": b"x"})
        )
    assert "body" in raised.message


@pytest.mark.parametrize("method", [Method.POST, Method.PUT, Method.PATCH])
def test_body_with_post_put_patch_is_accepted(
    client: Client, queue: tasks_v2.Queue, method: Method
) -> None:
    task = client.create_task(
        request={
            "parent": queue.name,
            "task": http_task(http_request={"http_method": method, "body": b"x"}),
            "response_view": View.FULL,
        }
    )
    assert task.http_request.http_method == method
    assert task.http_request.body == b"x"


def test_app_engine_body_only_with_post_or_put(client: Client, queue: tasks_v2.Queue) -> None:
    with expect_error(client, exceptions.InvalidArgument):
        client.create_task(
            parent=queue.name,
            task={"app_engine_http_request": {"http_method": Method.PATCH, "body": b"x"}},
        )


@pytest.mark.parametrize(
    "url", ["ftp://host/x", "host/path", "", "http://", "/relative", "http://h/" + "a" * 2084]
)
def test_bad_urls_are_invalid(client: Client, queue: tasks_v2.Queue, url: str) -> None:
    with expect_error(client, exceptions.InvalidArgument) as raised:
        client.create_task(parent=queue.name, task=http_task(url))
    assert "url" in raised.message


def test_https_and_long_urls_within_the_limit_are_accepted(
    client: Client, queue: tasks_v2.Queue
) -> None:
    url = "https://example.com/" + "a" * (MAX_URL_LENGTH - len("https://example.com/"))
    assert client.create_task(parent=queue.name, task=http_task(url)).http_request.url == url


@pytest.mark.parametrize("relative_uri", ["no-slash", "/has space"])
def test_bad_relative_uri_is_invalid(
    client: Client, queue: tasks_v2.Queue, relative_uri: str
) -> None:
    with expect_error(client, exceptions.InvalidArgument) as raised:
        client.create_task(
            parent=queue.name, task={"app_engine_http_request": {"relative_uri": relative_uri}}
        )
    assert "relative_uri" in raised.message


def test_schedule_time_in_the_past_becomes_now(
    client: Client, queue: tasks_v2.Queue, emu: Emulator
) -> None:
    before = emu.now
    task = client.create_task(
        parent=queue.name, task=http_task(schedule_time=datetime(2001, 1, 1, tzinfo=UTC))
    )
    assert task.schedule_time >= before


def test_schedule_time_up_to_720_hours_ahead(
    client: Client, queue: tasks_v2.Queue, emu: Emulator
) -> None:
    limit = emu.now + timedelta(hours=720)
    ok = client.create_task(
        parent=queue.name, task=http_task(schedule_time=limit - timedelta(minutes=1))
    )
    assert ok.schedule_time == limit - timedelta(minutes=1)
    with expect_error(client, exceptions.InvalidArgument) as raised:
        client.create_task(
            parent=queue.name, task=http_task(schedule_time=limit + timedelta(minutes=1))
        )
    assert "720 hours" in raised.message


def test_schedule_time_keeps_microseconds(
    client: Client, queue: tasks_v2.Queue, emu: Emulator
) -> None:
    when = (emu.now + timedelta(hours=1)).replace(microsecond=123456)
    task = client.create_task(parent=queue.name, task=http_task(schedule_time=when))
    assert task.schedule_time == when


@pytest.mark.parametrize(
    ("seconds", "ok"), [(14.999, False), (15, True), (1800, True), (1800.001, False)]
)
def test_http_dispatch_deadline_range(
    client: Client, queue: tasks_v2.Queue, seconds: float, ok: bool
) -> None:
    deadline = duration_pb2.Duration()
    deadline.FromTimedelta(timedelta(seconds=seconds))
    task = http_task(dispatch_deadline=deadline)
    if ok:
        created = client.create_task(parent=queue.name, task=task)
        assert created.dispatch_deadline == timedelta(seconds=seconds)
    else:
        with expect_error(client, exceptions.InvalidArgument) as raised:
            client.create_task(parent=queue.name, task=task)
        assert "dispatch_deadline" in raised.message


def test_dispatch_deadline_is_truncated_to_milliseconds(
    client: Client, queue: tasks_v2.Queue
) -> None:
    task = client.create_task(
        parent=queue.name,
        task=http_task(dispatch_deadline=duration_pb2.Duration(seconds=20, nanos=123_456_789)),
    )
    assert task.dispatch_deadline == timedelta(seconds=20, milliseconds=123)


def test_app_engine_dispatch_deadline_allows_a_day(client: Client, queue: tasks_v2.Queue) -> None:
    day = duration_pb2.Duration(seconds=24 * 3600 + 15)
    task = client.create_task(
        parent=queue.name, task={"app_engine_http_request": {}, "dispatch_deadline": day}
    )
    assert task.dispatch_deadline == timedelta(hours=24, seconds=15)
    with expect_error(client, exceptions.InvalidArgument):
        client.create_task(
            parent=queue.name,
            task={
                "app_engine_http_request": {},
                "dispatch_deadline": duration_pb2.Duration(seconds=24 * 3600 + 16),
            },
        )


def test_oversized_headers_are_invalid(client: Client, queue: tasks_v2.Queue) -> None:
    with expect_error(client, exceptions.InvalidArgument) as raised:
        client.create_task(
            parent=queue.name, task=http_task(http_request={"headers": {"X-Big": "a" * 82000}})
        )
    assert "80 KB" in raised.message


def test_task_size_limit_is_measured_on_the_stored_task(
    client: Client, queue: tasks_v2.Queue, emu: Emulator, request: pytest.FixtureRequest
) -> None:
    # A 1 MB body is 1.33 MB of base64 in a REST request, which the service accepts.
    # A fixed schedule time and equal-length names make every stored task the same size
    # but for the body, so the limit can be hit to the byte.
    when = (emu.now + timedelta(hours=1)).replace(microsecond=0)

    def task(task_id: str, body_size: int) -> dict:
        return http_task(
            name=_name(queue, task_id),
            schedule_time=when,
            http_request={"body": b"x" * body_size},
        )

    probe = client.create_task(
        request={"parent": queue.name, "task": task("size-a", 1_000_000), "response_view": 2}
    )
    overhead = tasks_v2.Task.pb(probe).ByteSize() - 1_000_000
    exact = MAX_TASK_SIZE - overhead
    created = client.create_task(
        request={"parent": queue.name, "task": task("size-b", exact), "response_view": 2}
    )
    assert tasks_v2.Task.pb(created).ByteSize() == MAX_TASK_SIZE == 1024 * 1024 - 7
    with expect_error(client, exceptions.InvalidArgument) as raised:
        client.create_task(parent=queue.name, task=task("size-c", exact + 1))
    assert "size" in raised.message


def test_task_retry_config_override_inherits_unset_fields(
    client: Client, queue: tasks_v2.Queue
) -> None:
    task = client.create_task(parent=queue.name, task=http_task(retry_config={"max_attempts": 3}))
    assert task.retry_config.max_attempts == 3
    assert task.retry_config.max_backoff == timedelta(seconds=3600)
    with expect_error(client, exceptions.InvalidArgument):
        client.create_task(parent=queue.name, task=http_task(retry_config={"max_attempts": -5}))


def test_tokens_are_stored(client: Client, queue: tasks_v2.Queue) -> None:
    oidc = client.create_task(
        parent=queue.name,
        task=http_task(http_request={"oidc_token": {"service_account_email": "sa@p.iam"}}),
    )
    assert oidc.http_request.oidc_token.service_account_email == "sa@p.iam"
    oauth = client.create_task(
        parent=queue.name,
        task=http_task(
            http_request={"oauth_token": {"service_account_email": "sa@p.iam", "scope": "s"}}
        ),
    )
    assert oauth.http_request.oauth_token.scope == "s"


def test_task_without_url_needs_a_queue_uri_override(client: Client) -> None:
    plain = client.create_queue(parent=PARENT, queue={"name": queue_path("plain")})
    with expect_error(client, exceptions.InvalidArgument) as raised:
        client.create_task(parent=plain.name, task={"http_request": {}})
    assert "url is required" in raised.message
    routed = client.create_queue(
        parent=PARENT,
        queue={"name": queue_path("routed"), "http_target": {"uri_override": {"host": "w"}}},
    )
    assert client.create_task(parent=routed.name, task={"http_request": {}}).http_request.url == ""


# -- Get / List / Delete / Run ----------------------------------------------------------


def test_get_missing_task_is_not_found(client: Client, queue: tasks_v2.Queue) -> None:
    with expect_error(client, exceptions.NotFound, "Requested entity was not found."):
        client.get_task(name=_name(queue, "nope"))
    with expect_error(client, exceptions.NotFound, errors.QUEUE_NOT_FOUND):
        client.get_task(name=f"{queue_path('no-queue')}/tasks/t")


def test_list_tasks_pages_in_creation_order(client: Client, queue: tasks_v2.Queue) -> None:
    created = [client.create_task(parent=queue.name, task=http_task()).name for _ in range(5)]
    pager = client.list_tasks(request={"parent": queue.name, "page_size": 2})
    pages = [[t.name for t in page.tasks] for page in pager.pages]
    assert pages == [created[0:2], created[2:4], created[4:5]]


def test_list_tasks_of_missing_queue_is_not_found(client: Client) -> None:
    with expect_error(client, exceptions.NotFound, errors.QUEUE_NOT_FOUND):
        list(client.list_tasks(parent=queue_path("missing")))


@pytest.mark.parametrize("request_fields", [{"page_size": -1}, {"page_token": "###"}])
def test_bad_list_tasks_requests_are_invalid(
    client: Client, queue: tasks_v2.Queue, request_fields: dict
) -> None:
    with expect_error(client, exceptions.InvalidArgument):
        client.list_tasks(request={"parent": queue.name, **request_fields})


def test_delete_task(client: Client, queue: tasks_v2.Queue) -> None:
    task = client.create_task(parent=queue.name, task=http_task())
    client.delete_task(name=task.name)
    assert list(client.list_tasks(parent=queue.name)) == []
    with expect_error(client, exceptions.NotFound):
        client.delete_task(name=task.name)


def test_run_missing_task_is_not_found(client: Client, queue: tasks_v2.Queue) -> None:
    with expect_error(client, exceptions.NotFound, errors.ENTITY_NOT_FOUND):
        client.run_task(name=_name(queue, "none"))
    # RunTask's dispatching is in tests/delivery/test_scheduling.py.


BAD_QUEUE = "projects/p/locations/l/queues/bad_id"  # each fits the REST URL templates
BAD_TASK = f"{BAD_QUEUE}/tasks/t"
QUEUE_FORMAT, TASK_FORMAT = "Queue name must be formatted", "Task name must be formatted"
MALFORMED_NAMES = [
    ("get_queue", "name", BAD_QUEUE, QUEUE_FORMAT),
    ("delete_queue", "name", BAD_QUEUE, QUEUE_FORMAT),
    ("purge_queue", "name", BAD_QUEUE, QUEUE_FORMAT),
    ("pause_queue", "name", BAD_QUEUE, QUEUE_FORMAT),
    ("resume_queue", "name", BAD_QUEUE, QUEUE_FORMAT),
    ("list_queues", "parent", "projects/p/locations/bad_loc", "Location must be formatted"),
    ("list_tasks", "parent", BAD_QUEUE, QUEUE_FORMAT),
    ("create_task", "parent", BAD_QUEUE, QUEUE_FORMAT),
    ("get_task", "name", BAD_TASK, TASK_FORMAT),
    ("delete_task", "name", BAD_TASK, TASK_FORMAT),
    ("run_task", "name", BAD_TASK, TASK_FORMAT),
    ("get_cmek_config", "name", "projects/p!/locations/l/cmekConfig", "CMEK config name must be"),
]


def _call_with_name(client: Client, method: str, field: str, name: str) -> None:
    request: dict = {field: name}
    if method == "create_task":
        request["task"] = http_task()
    getattr(client, method)(request=request)  # list pagers fetch page one at once


@pytest.mark.parametrize(("method", "field", "name", "message_start"), MALFORMED_NAMES)
def test_malformed_names_are_invalid_argument_on_every_rpc(
    client: Client, method: str, field: str, name: str, message_start: str
) -> None:
    with expect_error(client, exceptions.InvalidArgument) as raised:
        _call_with_name(client, method, field, name)
    assert raised.message.startswith(message_start)


@pytest.mark.parametrize(("method", "field", "name", "message_start"), MALFORMED_NAMES)
def test_names_off_the_url_templates_are_invalid_argument_too(
    emu: Emulator, method: str, field: str, name: str, message_start: str
) -> None:
    # gRPC only: the REST client refuses, before sending, a name its URL cannot carry.
    client = emu.client()
    with expect_error(client, exceptions.InvalidArgument) as raised:
        _call_with_name(client, method, field, "projects/p/locations/l/queues/bad_id/x")
    assert raised.message.startswith(message_start)
