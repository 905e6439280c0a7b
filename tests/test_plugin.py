"""The pytest plugin as a new user meets it: a fresh project, no conftest, just tests.

Each case runs pytest in a subprocess, so the plugin is found the way a user's pytest
finds it: through the installed package's `pytest11` entry point.
"""

from __future__ import annotations

import pytest

from support import Receiver

SMALLEST = """
def test_enqueue(cloud_tasks_client, cloud_tasks_queue, cloud_tasks_emulator):
    queue = cloud_tasks_queue("emails")
    task = {"http_request": {"url": "http://127.0.0.1:9/send", "body": b"hi"}}
    cloud_tasks_client.create_task(parent=queue, task=task)
    cloud_tasks_emulator.wait_until_idle()
    attempt = cloud_tasks_emulator.attempts()[0]
    assert attempt.queue == "emails"
    assert attempt.body == b"hi"
"""


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=120)


def test_the_smallest_test_passes_with_no_conftest(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_smallest=SMALLEST)
    _run(pytester).assert_outcomes(passed=1)


def test_each_test_starts_from_a_clean_slate(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_isolation="""
        from datetime import datetime, timedelta, timezone

        def test_1_leaves_things_behind(
            cloud_tasks_client, cloud_tasks_queue, cloud_tasks_emulator
        ):
            queue = cloud_tasks_queue("kept", rate_limits={"max_dispatches_per_second": 1})
            cloud_tasks_client.create_task(
                parent=queue,
                task={"name": queue + "/tasks/t1", "http_request": {"url": "http://127.0.0.1:9/"}},
            )
            cloud_tasks_emulator.wait_until_idle()
            cloud_tasks_emulator.advance(timedelta(days=2))
            assert cloud_tasks_emulator.attempts()

        def test_2_sees_nothing(cloud_tasks_client, cloud_tasks_queue, cloud_tasks_emulator):
            assert list(cloud_tasks_client.list_queues(parent=cloud_tasks_emulator.parent)) == []
            assert cloud_tasks_emulator.attempts() == []
            now = datetime.now(timezone.utc)
            assert abs(cloud_tasks_emulator.now - now) < timedelta(minutes=1)
            queue = cloud_tasks_queue("kept")
            # the task name is free again: its tombstone went with the reset
            cloud_tasks_client.create_task(
                parent=queue,
                task={"name": queue + "/tasks/t1", "http_request": {"url": "http://127.0.0.1:9/"}},
            )
            rate_limits = cloud_tasks_client.get_queue(name=queue).rate_limits
            assert rate_limits.max_dispatches_per_second == 500
        """
    )
    _run(pytester).assert_outcomes(passed=2)


def test_async_tests_work_too(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_async="""
        import pytest
        from datetime import timedelta

        @pytest.mark.asyncio
        async def test_async(cloud_tasks_emulator, cloud_tasks_queue):
            client = cloud_tasks_emulator.async_client()
            queue = cloud_tasks_queue()
            when = cloud_tasks_emulator.now + timedelta(hours=24)
            await client.create_task(
                parent=queue,
                task={"http_request": {"url": "http://127.0.0.1:9/"}, "schedule_time": when},
            )
            await cloud_tasks_emulator.await_until_idle()
            assert cloud_tasks_emulator.attempts() == []
            await cloud_tasks_emulator.aadvance(timedelta(hours=24))
            assert len(cloud_tasks_emulator.attempts(queue=queue)) >= 1
        """
    )
    _run(pytester).assert_outcomes(passed=1)


def test_options_choose_the_clock_and_the_project(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_options="""
        import pytest
        from emulator.core import errors

        def test_real_clock(cloud_tasks_emulator, cloud_tasks_queue):
            assert cloud_tasks_queue("q").startswith("projects/acme/locations/europe-west1/")
            with pytest.raises(errors.FailedPrecondition):
                cloud_tasks_emulator.advance(1)
        """
    )
    pytester.makeini("[pytest]\ncloud_tasks_location = europe-west1\n")
    _run(pytester, "--cloud-tasks-clock", "real", "--cloud-tasks-project", "acme").assert_outcomes(
        passed=1
    )


def test_help_lists_the_options(pytester: pytest.Pytester) -> None:
    result = _run(pytester, "--help")
    result.stdout.fnmatch_lines(
        ["*cloud-tasks-emulator*", "*--cloud-tasks-clock*", "*--cloud-tasks-project*"]
    )
    result.stdout.fnmatch_lines(["*(default: local-project)*"])


def test_queues_are_in_the_one_default_project(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_default="""
        def test_default(cloud_tasks_emulator, cloud_tasks_queue):
            parent = "projects/local-project/locations/us-central1"
            assert cloud_tasks_queue("q") == parent + "/queues/q"
            assert cloud_tasks_emulator.parent == parent
        """
    )
    _run(pytester).assert_outcomes(passed=1)


def test_app_engine_tasks_go_where_the_option_says(pytester: pytest.Pytester) -> None:
    """--cloud-tasks-app-engine-host (ini: cloud_tasks_app_engine_host), the emulator's
    --app-engine-host; the default is the emulator's, http://127.0.0.1:8080."""
    receiver = Receiver()
    pytester.makepyfile(
        test_app_engine="""
        def test_sent(cloud_tasks_client, cloud_tasks_queue, cloud_tasks_emulator):
            queue = cloud_tasks_queue("q")
            task = {"app_engine_http_request": {"relative_uri": "/work"}}
            cloud_tasks_client.create_task(parent=queue, task=task)
            (attempt,) = cloud_tasks_emulator.wait_for_attempts(1)
            assert attempt.status == 200
        """
    )
    try:
        _run(pytester, "--cloud-tasks-app-engine-host", receiver.url).assert_outcomes(passed=1)
        assert [r["path"] for r in receiver.requests] == ["/work"]
    finally:
        receiver.close()
    _run(pytester, "--help").stdout.fnmatch_lines(
        ["*--cloud-tasks-app-engine-host*", "*App Engine tasks (default:", "*127.0.0.1:8080)"]
    )
