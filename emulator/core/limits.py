"""Every default and limit of the Cloud Tasks API, in one place.

From the Cloud Tasks API reference (Queue, RateLimits, RetryConfig, Task fields) and its
quotas page; where the service documents no number, docs/behaviour.md's Behaviour notes say
which one the emulator chose.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

# Queue rate limits.
DEFAULT_MAX_DISPATCHES_PER_SECOND = 500.0
MAX_DISPATCHES_PER_SECOND = 500.0
DEFAULT_MAX_CONCURRENT_DISPATCHES = 1000
MAX_CONCURRENT_DISPATCHES = 5000
MAX_BURST_SIZE = 100

# Queue retry config.
DEFAULT_MAX_ATTEMPTS = 100
UNLIMITED_ATTEMPTS = -1
DEFAULT_MAX_RETRY_DURATION = timedelta(0)  # 0 = unlimited
DEFAULT_MIN_BACKOFF = timedelta(seconds=0.1)
DEFAULT_MAX_BACKOFF = timedelta(seconds=3600)
DEFAULT_MAX_DOUBLINGS = 16

# Tasks.
DEFAULT_DISPATCH_DEADLINE = timedelta(minutes=10)
HTTP_DISPATCH_DEADLINE_RANGE = (timedelta(seconds=15), timedelta(minutes=30))
APP_ENGINE_DISPATCH_DEADLINE_RANGE = (timedelta(seconds=15), timedelta(hours=24, seconds=15))
MAX_SCHEDULE_AHEAD = timedelta(hours=720)
MAX_TASK_SIZE = 1024 * 1024 - 7  # bytes of the stored Task message
MAX_URL_LENGTH = 2083
MAX_HEADERS_SIZE = 80 * 1024
TASK_RETENTION = timedelta(days=31)
DEFAULT_OAUTH_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
APP_ENGINE_USER_AGENT = "AppEngine-Google; (+http://code.google.com/appengine)"
HTTP_USER_AGENT = "Google-Cloud-Tasks"

# Listing.
MAX_QUEUES_PAGE_SIZE = 9800
MAX_TASKS_PAGE_SIZE = 1000
PAGE_TOKEN_TTL = timedelta(hours=2)

# Requests: the largest gRPC message and HTTP request body the emulator reads (a batch of
# up to 30 tasks near the task size limit fits); anything larger is refused with a clear
# error. A ListTasks page ends early rather than grow past MAX_PAGE_BYTES (FULL bodies).
MAX_REQUEST_BYTES = 32 * 1024 * 1024
MAX_PAGE_BYTES = 16 * 1024 * 1024
MAX_METADATA_BYTES = 16 * 1024  # gRPC metadata (request headers) in all

# Batches.
MAX_BATCH_CREATE = 100
MAX_BATCH_DELETE = 1000

# Tombstones: how long a name stays reserved after its task or queue is gone.
DEFAULT_TASK_TOMBSTONE_TTL = timedelta(hours=1)
DEFAULT_QUEUE_TOMBSTONE_TTL = timedelta(0)  # off: developers re-create queues all the time

DEFAULT_LOCATION = "us-central1"

# Delivery attempts kept for inspection (attempts(), /_emulator/attempts); older ones go.
DEFAULT_ATTEMPT_HISTORY = 10_000
# Finished batch operations kept for GetOperation (and request_id idempotency).
OPERATIONS_KEPT = 1000

# The virtual clock stops well short of the largest Timestamp (9999-12-31), so every time
# derived from "now" (schedule limits, retention, TTLs) stays representable.
LATEST_CLOCK_TIME = datetime(9000, 1, 1, tzinfo=UTC)


def burst_size_for(rate: float) -> int:
    """`max_burst_size` derived from `max_dispatches_per_second` (an emulator choice).

    The real service only documents that it picks the burst from the rate; the one
    observed pair is 500/s -> 100. This rule reproduces it and stays intuitive below:
    the burst is the rate rounded up, at least 1 and at most 100 (0.5/s -> 1, 10/s -> 10).
    """
    return min(MAX_BURST_SIZE, max(1, math.ceil(rate)))
