"""Queue RPCs through the real client, over gRPC and REST, in memory and with a data
directory: defaults, limits, masks, listing and errors."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from google.api_core import exceptions
from google.cloud import tasks_v2
from google.protobuf import duration_pb2, field_mask_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from emulator import Emulator
from emulator.core import errors

from support import (
    PARENT,
    Client,
    expect_error,
    help_urls,
    http_task,
    queue_path,
)

State = tasks_v2.Queue.State


@pytest.fixture
def emu(backend_emu: Emulator) -> Emulator:
    """Each test runs on both backends: in memory and with a data directory."""
    return backend_emu


def _seconds(d: timedelta) -> float:
    return d.total_seconds()


# -- CreateQueue ------------------------------------------------------------------------


def test_create_queue_fills_every_default(client: Client) -> None:
    q = client.create_queue(parent=PARENT, queue={"name": queue_path("defaults")})
    assert q.name == queue_path("defaults")
    assert q.state == State.RUNNING
    assert q.rate_limits.max_dispatches_per_second == 500
    assert q.rate_limits.max_burst_size == 100
    assert q.rate_limits.max_concurrent_dispatches == 1000
    assert q.retry_config.max_attempts == 100
    assert _seconds(q.retry_config.max_retry_duration) == 0
    assert _seconds(q.retry_config.min_backoff) == 0.1
    assert _seconds(q.retry_config.max_backoff) == 3600
    assert q.retry_config.max_doublings == 16
    assert "purge_time" not in q
    assert client.get_queue(name=q.name) == q


def test_create_queue_keeps_given_settings(client: Client) -> None:
    q = client.create_queue(
        parent=PARENT,
        queue={
            "name": queue_path("custom"),
            "rate_limits": {"max_dispatches_per_second": 2.5, "max_concurrent_dispatches": 7},
            "retry_config": {
                "max_attempts": -1,
                "max_retry_duration": duration_pb2.Duration(seconds=90, nanos=700_000_000),
                "min_backoff": duration_pb2.Duration(seconds=1),
                "max_backoff": duration_pb2.Duration(seconds=60),
                "max_doublings": 5,
            },
            "stackdriver_logging_config": {"sampling_ratio": 0.5},
            "app_engine_routing_override": {"service": "worker"},
        },
    )
    assert q.rate_limits.max_dispatches_per_second == 2.5
    assert q.rate_limits.max_burst_size == 3
    assert q.rate_limits.max_concurrent_dispatches == 7
    assert q.retry_config.max_attempts == -1
    assert _seconds(q.retry_config.max_retry_duration) == 90  # truncated to whole seconds
    assert _seconds(q.retry_config.min_backoff) == 1
    assert _seconds(q.retry_config.max_backoff) == 60
    assert q.retry_config.max_doublings == 5
    assert q.stackdriver_logging_config.sampling_ratio == 0.5
    assert q.app_engine_routing_override.service == "worker"


@pytest.mark.parametrize(
    ("rate", "burst"), [(500, 100), (100, 100), (99.5, 100), (10, 10), (1, 1), (0.5, 1)]
)
def test_burst_size_is_derived_from_the_rate(client: Client, rate: float, burst: int) -> None:
    q = client.create_queue(
        parent=PARENT,
        queue={"name": queue_path("burst"), "rate_limits": {"max_dispatches_per_second": rate}},
    )
    assert q.rate_limits.max_burst_size == burst


def test_create_queue_ignores_output_only_fields(client: Client) -> None:
    q = client.create_queue(
        parent=PARENT,
        queue={
            "name": queue_path("outonly"),
            "state": State.PAUSED,
            "purge_time": {"seconds": 1000},
            "rate_limits": {"max_burst_size": 7},
        },
    )
    assert q.state == State.RUNNING
    assert "purge_time" not in q
    assert q.rate_limits.max_burst_size == 100


def test_create_existing_queue_is_already_exists(client: Client, queue: tasks_v2.Queue) -> None:
    with expect_error(client, exceptions.AlreadyExists, "Queue already exists"):
        client.create_queue(parent=PARENT, queue={"name": queue.name})


@pytest.mark.parametrize(
    "name",
    [
        "",
        "q",
        f"{PARENT}/queues/",
        f"{PARENT}/queues/under_score",
        f"{PARENT}/queues/{'a' * 101}",
        f"{PARENT}/queues/a/b",
        "projects/p/queues/q",
    ],
)
def test_malformed_queue_name_is_invalid_argument_with_help(
    client: Client, name: str, request: pytest.FixtureRequest
) -> None:
    with expect_error(client, exceptions.InvalidArgument, errors.QUEUE_NAME_FORMAT) as raised:
        client.create_queue(parent=PARENT, queue={"name": name})
    (url,) = help_urls(raised)
    assert "Queue.name" in url


def test_the_help_detail_is_a_packed_google_rpc_help_on_the_wire(emu: Emulator) -> None:
    # gRPC only: the grpc-status-details-bin trailer, unpacked by hand. (REST carries the
    # same detail as JSON, checked through `help_urls` above.)
    with pytest.raises(exceptions.InvalidArgument) as e:
        emu.client().create_queue(parent=PARENT, queue={"name": "q"})
    status = rpc_status.from_call(e.value.response)
    help_detail = error_details_pb2.Help()
    assert status.details[0].Unpack(help_detail)
    assert "Queue.name" in help_detail.links[0].url


def test_queue_id_of_100_characters_is_accepted(client: Client) -> None:
    q = client.create_queue(parent=PARENT, queue={"name": queue_path("a" * 100)})
    assert q.name.endswith("a" * 100)


def test_create_queue_under_another_parent_is_invalid(client: Client) -> None:
    other = "projects/test-project/locations/europe-west1"
    with expect_error(client, exceptions.InvalidArgument) as raised:
        client.create_queue(parent=PARENT, queue={"name": queue_path("q", other)})
    assert "must be under the parent" in raised.message


def test_malformed_parent_is_invalid(emu: Emulator) -> None:
    # gRPC only: the REST client refuses a parent that does not fit its URL template.
    client = emu.client()
    with expect_error(client, exceptions.InvalidArgument) as raised:
        client.create_queue(parent="projects/p", queue={"name": queue_path("q")})
    assert raised.message.startswith("Location must be formatted")


@pytest.mark.parametrize(
    ("queue_fields", "fragment"),
    [
        ({"rate_limits": {"max_dispatches_per_second": 500.5}}, "max_dispatches_per_second"),
        ({"rate_limits": {"max_dispatches_per_second": -1}}, "max_dispatches_per_second"),
        ({"rate_limits": {"max_concurrent_dispatches": 5001}}, "max_concurrent_dispatches"),
        ({"rate_limits": {"max_concurrent_dispatches": -3}}, "max_concurrent_dispatches"),
        ({"retry_config": {"max_attempts": -2}}, "max_attempts"),
        ({"retry_config": {"max_doublings": -1}}, "max_doublings"),
        (
            {"retry_config": {"min_backoff": {"seconds": 10}, "max_backoff": {"seconds": 5}}},
            "min_backoff",
        ),
        ({"retry_config": {"min_backoff": {"seconds": -1}}}, "min_backoff"),
        ({"retry_config": {"max_retry_duration": {"seconds": -5}}}, "max_retry_duration"),
        ({"stackdriver_logging_config": {"sampling_ratio": 1.5}}, "sampling_ratio"),
        ({"http_target": {"uri_override": {"host": ""}}}, "host"),
        ({"http_target": {"uri_override": {"port": -1}}}, "port"),
        (
            {"http_target": {"oidc_token": {"service_account_email": "sa@p.iam"}}},
            "audience",
        ),
        ({"http_target": {"oauth_token": {"scope": "s"}}}, "service_account_email"),
    ],
)
def test_queue_limits_are_enforced(client: Client, queue_fields: dict, fragment: str) -> None:
    with expect_error(client, exceptions.InvalidArgument) as raised:
        client.create_queue(parent=PARENT, queue={"name": queue_path("lim"), **queue_fields})
    assert fragment in raised.message
    with expect_error(client, exceptions.NotFound, errors.QUEUE_NOT_FOUND):
        client.get_queue(name=queue_path("lim"))


def test_limits_at_their_bounds_are_accepted(client: Client) -> None:
    q = client.create_queue(
        parent=PARENT,
        queue={
            "name": queue_path("bounds"),
            "rate_limits": {"max_dispatches_per_second": 500, "max_concurrent_dispatches": 5000},
            "retry_config": {
                "max_attempts": -1,
                "min_backoff": {"seconds": 5},
                "max_backoff": {"seconds": 5},
            },
            "stackdriver_logging_config": {"sampling_ratio": 1.0},
        },
    )
    assert q.rate_limits.max_concurrent_dispatches == 5000
    assert _seconds(q.retry_config.min_backoff) == _seconds(q.retry_config.max_backoff) == 5


def test_queue_http_target_round_trips(client: Client) -> None:
    q = client.create_queue(
        parent=PARENT,
        queue={
            "name": queue_path("routed"),
            "http_target": {
                "uri_override": {
                    "scheme": tasks_v2.UriOverride.Scheme.HTTP,
                    "host": "worker",
                    "port": 8080,
                    "path_override": {"path": "/tasks"},
                    "query_override": {"query_params": "a=1"},
                    "uri_override_enforce_mode": tasks_v2.UriOverride.UriOverrideEnforceMode.ALWAYS,
                },
                "http_method": tasks_v2.HttpMethod.PUT,
                "header_overrides": [{"header": {"key": "X-B", "value": "2"}}],
                "oidc_token": {"service_account_email": "sa@p.iam", "audience": "aud"},
            },
        },
    )
    target = client.get_queue(name=q.name).http_target
    assert target.uri_override.host == "worker"
    assert target.uri_override.port == 8080
    assert target.uri_override.path_override.path == "/tasks"
    assert target.uri_override.query_override.query_params == "a=1"
    assert target.http_method == tasks_v2.HttpMethod.PUT
    assert target.header_overrides[0].header.key == "X-B"
    assert target.oidc_token.audience == "aud"


# -- GetQueue / DeleteQueue / Pause / Resume / Purge -----------------------------------


def test_missing_queue_is_not_found_with_the_real_message(client: Client) -> None:
    name = queue_path("missing")
    for call in (client.get_queue, client.pause_queue, client.resume_queue, client.purge_queue):
        with expect_error(client, exceptions.NotFound, errors.QUEUE_NOT_FOUND):
            call(name=name)
    with expect_error(client, exceptions.NotFound, "Requested entity was not found."):
        client.delete_queue(name=name)


def test_delete_queue_removes_it_and_its_tasks(client: Client, queue: tasks_v2.Queue) -> None:
    task = client.create_task(parent=queue.name, task=http_task())
    client.delete_queue(name=queue.name)
    with expect_error(client, exceptions.NotFound, errors.QUEUE_NOT_FOUND):
        client.get_queue(name=queue.name)
    with expect_error(client, exceptions.NotFound):
        client.get_task(name=task.name)
    with expect_error(client, exceptions.NotFound):
        list(client.list_tasks(parent=queue.name))
    # Without a queue tombstone (the default) the name is free again at once, empty.
    client.create_queue(parent=PARENT, queue={"name": queue.name})
    assert list(client.list_tasks(parent=queue.name)) == []


def test_queue_tombstone_blocks_recreation_until_it_expires(
    start_emulator: Callable[..., Emulator], client_of: Callable[[Emulator], Client]
) -> None:
    own = start_emulator(queue_tombstone_ttl=timedelta(days=7))
    client = client_of(own)
    queue = client.create_queue(parent=PARENT, queue={"name": queue_path("q")})
    client.delete_queue(name=queue.name)
    with expect_error(client, exceptions.FailedPrecondition, errors.QUEUE_TOMBSTONED):
        client.create_queue(parent=PARENT, queue={"name": queue.name})
    with expect_error(client, exceptions.FailedPrecondition, errors.QUEUE_TOMBSTONED):
        client.update_queue(queue={"name": queue.name})
    with expect_error(client, exceptions.NotFound, errors.QUEUE_NOT_FOUND):
        client.get_queue(name=queue.name)
    with expect_error(client, exceptions.NotFound):
        client.create_task(parent=queue.name, task=http_task())
    own.advance(7 * 86400 - 60)
    with expect_error(client, exceptions.FailedPrecondition, errors.QUEUE_TOMBSTONED):
        client.create_queue(parent=PARENT, queue={"name": queue.name})
    own.advance(61)
    assert client.create_queue(parent=PARENT, queue={"name": queue.name}).name == queue.name


def test_pause_and_resume_change_state_and_are_idempotent(
    client: Client, queue: tasks_v2.Queue
) -> None:
    assert client.pause_queue(name=queue.name).state == State.PAUSED
    assert client.pause_queue(name=queue.name).state == State.PAUSED
    assert client.get_queue(name=queue.name).state == State.PAUSED
    # Tasks can still be created in a paused queue.
    client.create_task(parent=queue.name, task=http_task())
    assert client.resume_queue(name=queue.name).state == State.RUNNING
    assert client.resume_queue(name=queue.name).state == State.RUNNING


def test_purge_deletes_tasks_created_before_it_and_sets_purge_time(
    client: Client, queue: tasks_v2.Queue, emu: Emulator
) -> None:
    old = [client.create_task(parent=queue.name, task=http_task()) for _ in range(3)]
    named = client.create_task(parent=queue.name, task=http_task(name=f"{queue.name}/tasks/n1"))
    before = emu.now
    purged = client.purge_queue(name=queue.name)
    assert before <= purged.purge_time <= emu.now
    assert list(client.list_tasks(parent=queue.name)) == []
    for task in old:
        with expect_error(client, exceptions.NotFound):
            client.get_task(name=task.name)
    # Purged names are reserved like deleted ones.
    with expect_error(client, exceptions.AlreadyExists, errors.ENTITY_EXISTS):
        client.create_task(parent=queue.name, task=http_task(name=named.name))
    survivor = client.create_task(parent=queue.name, task=http_task())
    assert [t.name for t in client.list_tasks(parent=queue.name)] == [survivor.name]
    assert client.get_queue(name=queue.name).purge_time == purged.purge_time


# -- UpdateQueue ------------------------------------------------------------------------


def test_update_queue_creates_a_missing_queue_with_defaults(client: Client) -> None:
    q = client.update_queue(
        queue={"name": queue_path("upserted"), "rate_limits": {"max_concurrent_dispatches": 3}}
    )
    assert q.rate_limits.max_concurrent_dispatches == 3
    assert q.rate_limits.max_dispatches_per_second == 500
    assert q.retry_config.max_attempts == 100
    assert client.get_queue(name=q.name) == q


def test_update_queue_with_mask_changes_only_masked_fields(
    client: Client, queue: tasks_v2.Queue
) -> None:
    client.update_queue(
        queue={"name": queue.name, "retry_config": {"max_attempts": 7}},
        update_mask=field_mask_pb2.FieldMask(paths=["retry_config.max_attempts"]),
    )
    q = client.update_queue(
        queue={
            "name": queue.name,
            "rate_limits": {"max_dispatches_per_second": 10, "max_concurrent_dispatches": 9},
        },
        update_mask=field_mask_pb2.FieldMask(paths=["rate_limits.max_dispatches_per_second"]),
    )
    assert q.rate_limits.max_dispatches_per_second == 10
    assert q.rate_limits.max_burst_size == 10  # re-derived from the new rate
    assert q.rate_limits.max_concurrent_dispatches == 1000  # not in the mask
    assert q.retry_config.max_attempts == 7  # kept from the earlier update


def test_update_queue_with_empty_mask_replaces_everything(client: Client) -> None:
    name = queue_path("replaced")
    client.create_queue(
        parent=PARENT,
        queue={
            "name": name,
            "rate_limits": {"max_concurrent_dispatches": 3},
            "retry_config": {"max_attempts": 5},
        },
    )
    q = client.update_queue(queue={"name": name, "retry_config": {"max_doublings": 2}})
    assert q.rate_limits.max_concurrent_dispatches == 1000  # absent: back to the default
    assert q.retry_config.max_attempts == 100
    assert q.retry_config.max_doublings == 2


def test_update_queue_ignores_output_only_fields_and_keeps_state(
    client: Client, queue: tasks_v2.Queue
) -> None:
    client.pause_queue(name=queue.name)
    q = client.update_queue(
        queue={"name": queue.name, "state": State.RUNNING, "rate_limits": {"max_burst_size": 3}},
        update_mask=field_mask_pb2.FieldMask(paths=["state", "rate_limits.max_burst_size"]),
    )
    assert q.state == State.PAUSED
    assert q.rate_limits.max_burst_size == 100


def test_masked_zero_max_doublings_means_zero(client: Client, queue: tasks_v2.Queue) -> None:
    q = client.update_queue(
        queue={"name": queue.name, "retry_config": {"max_doublings": 0}},
        update_mask=field_mask_pb2.FieldMask(paths=["retry_config.max_doublings"]),
    )
    assert q.retry_config.max_doublings == 0
    # A later update of another field keeps the explicit 0.
    q = client.update_queue(
        queue={"name": queue.name, "retry_config": {"max_attempts": 3}},
        update_mask=field_mask_pb2.FieldMask(paths=["retry_config.max_attempts"]),
    )
    assert q.retry_config.max_doublings == 0
    assert q.retry_config.max_attempts == 3


def test_update_queue_masking_a_whole_message_replaces_it(
    client: Client, queue: tasks_v2.Queue
) -> None:
    q = client.update_queue(
        queue={"name": queue.name, "retry_config": {"max_attempts": 4}},
        update_mask=field_mask_pb2.FieldMask(paths=["retry_config"]),
    )
    assert q.retry_config.max_attempts == 4
    assert _seconds(q.retry_config.max_backoff) == 3600  # unset inside: defaults


def test_update_queue_unknown_mask_path_is_invalid(client: Client, queue: tasks_v2.Queue) -> None:
    with expect_error(client, exceptions.InvalidArgument) as raised:
        client.update_queue(
            queue={"name": queue.name},
            update_mask=field_mask_pb2.FieldMask(paths=["rate_limits.nope", "colour"]),
        )
    assert "rate_limits.nope" in raised.message
    assert "colour" in raised.message


def test_update_queue_validates_limits_and_names(client: Client, queue: tasks_v2.Queue) -> None:
    with expect_error(client, exceptions.InvalidArgument) as raised:
        client.update_queue(
            queue={"name": queue.name, "rate_limits": {"max_dispatches_per_second": 501}},
            update_mask=field_mask_pb2.FieldMask(paths=["rate_limits"]),
        )
    assert "max_dispatches_per_second" in raised.message
    assert client.get_queue(name=queue.name).rate_limits.max_dispatches_per_second == 500


def test_update_queue_with_a_malformed_name_is_invalid(emu: Emulator) -> None:
    # gRPC only: the REST client refuses a name that does not fit its URL template.
    client = emu.client()
    with expect_error(client, exceptions.InvalidArgument, errors.QUEUE_NAME_FORMAT):
        client.update_queue(queue={"name": "nope"})


# -- ListQueues -------------------------------------------------------------------------


def _names(queues) -> list[str]:
    return [q.name.rsplit("/", 1)[1] for q in queues]


def test_list_queues_is_lexicographic_and_scoped_to_parent(client: Client) -> None:
    for queue_id in ("b", "a", "c-1", "c"):
        client.create_queue(parent=PARENT, queue={"name": queue_path(queue_id)})
    other = "projects/test-project/locations/asia-east1"
    client.create_queue(parent=other, queue={"name": queue_path("z", other)})
    assert _names(client.list_queues(parent=PARENT)) == ["a", "b", "c", "c-1"]
    assert _names(client.list_queues(parent=other)) == ["z"]
    assert _names(client.list_queues(parent="projects/test-project/locations/nowhere")) == []


def test_list_queues_pages_with_opaque_tokens(client: Client) -> None:
    ids = [f"q{i:02d}" for i in range(7)]
    for queue_id in reversed(ids):
        client.create_queue(parent=PARENT, queue={"name": queue_path(queue_id)})
    pager = client.list_queues(request={"parent": PARENT, "page_size": 3})
    pages = [_names(page.queues) for page in pager.pages]
    assert pages == [ids[0:3], ids[3:6], ids[6:7]]
    # A queue added mid-way behind the cursor does not shift later pages.
    first = client.list_queues(request={"parent": PARENT, "page_size": 2})
    token = first.next_page_token
    client.create_queue(parent=PARENT, queue={"name": queue_path("a-first")})
    second = client.list_queues(request={"parent": PARENT, "page_size": 2, "page_token": token})
    assert _names(second.queues) == ids[2:4]


@pytest.mark.parametrize(
    ("filter_", "expected"),
    [
        ("state: PAUSED", ["p"]),
        ("state=RUNNING", ["r1", "r2"]),
        ("state != PAUSED", ["r1", "r2"]),
        ("NOT state:RUNNING", ["p"]),
        ("state:PAUSED OR state:RUNNING", ["p", "r1", "r2"]),
        ("state:PAUSED AND state:RUNNING", []),
        ("(state:DISABLED OR state:paused)", ["p"]),
        ("", ["p", "r1", "r2"]),
    ],
)
def test_list_queues_filters_on_state(client: Client, filter_: str, expected: list[str]) -> None:
    for queue_id in ("r1", "p", "r2"):
        client.create_queue(parent=PARENT, queue={"name": queue_path(queue_id)})
    client.pause_queue(name=queue_path("p"))
    queues = client.list_queues(request={"parent": PARENT, "filter": filter_})
    assert _names(queues) == expected


def test_filtered_pages_keep_the_filter(client: Client) -> None:
    for i in range(5):
        client.create_queue(parent=PARENT, queue={"name": queue_path(f"p{i}")})
        client.pause_queue(name=queue_path(f"p{i}"))
        client.create_queue(parent=PARENT, queue={"name": queue_path(f"r{i}")})
    pager = client.list_queues(request={"parent": PARENT, "filter": "state:PAUSED", "page_size": 2})
    assert [_names(p.queues) for p in pager.pages] == [["p0", "p1"], ["p2", "p3"], ["p4"]]


@pytest.mark.parametrize(
    "request_fields",
    [
        {"filter": "colour: blue"},
        {"filter": "state: SLEEPING"},
        {"filter": "state > RUNNING"},
        {"filter": "(state: PAUSED"},
        {"filter": "state:"},
        {"page_size": -1},
        {"page_token": "not-a-token"},
    ],
)
def test_bad_list_queues_requests_are_invalid(client: Client, request_fields: dict) -> None:
    with expect_error(client, exceptions.InvalidArgument) as raised:
        client.list_queues(request={"parent": PARENT, **request_fields})
    assert raised.message


def test_changing_the_filter_between_pages_is_invalid(client: Client) -> None:
    for i in range(3):
        client.create_queue(parent=PARENT, queue={"name": queue_path(f"q{i}")})
    first = client.list_queues(request={"parent": PARENT, "page_size": 1})
    with expect_error(client, exceptions.InvalidArgument) as raised:
        client.list_queues(
            request={
                "parent": PARENT,
                "page_size": 1,
                "filter": "state:PAUSED",
                "page_token": first.next_page_token,
            }
        )
    assert "filter" in raised.message


def test_page_tokens_expire_after_two_hours(client: Client, emu: Emulator) -> None:
    for i in range(3):
        client.create_queue(parent=PARENT, queue={"name": queue_path(f"q{i}")})
    token = client.list_queues(request={"parent": PARENT, "page_size": 1}).next_page_token
    emu.advance(2 * 3600 - 60)
    page = client.list_queues(request={"parent": PARENT, "page_size": 1, "page_token": token})
    assert _names(page.queues) == ["q1"]
    emu.advance(120)
    with expect_error(client, exceptions.InvalidArgument) as raised:
        client.list_queues(request={"parent": PARENT, "page_size": 1, "page_token": token})
    assert "expired" in raised.message
