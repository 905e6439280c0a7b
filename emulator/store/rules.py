"""Rules more than one part of the emulator applies, each written down once.

Which headers the service owns, and which methods may carry a body, are checked when a
task is created (validation, header normalisation) and again when its request is built.
"""

from __future__ import annotations

from emulator.store.records import HttpMethod

# Headers Cloud Tasks computes or sets itself: a caller's value is dropped when the task
# is stored and never sent as it is.
SERVICE_OWNED_HEADERS = frozenset({"host", "content-length", "user-agent"})
# Header prefixes reserved for Google ("Google use only"): dropped from a stored task.
RESERVED_HEADER_PREFIXES = ("x-google-", "x-appengine-")
# The service's own headers on a dispatched request, by target kind.
HTTP_SERVICE_PREFIX = "X-CloudTasks-"
APP_ENGINE_SERVICE_PREFIX = "X-AppEngine-"

# Methods that may carry a body (the Cloud Tasks HttpRequest and AppEngineHttpRequest docs).
HTTP_BODY_METHODS = frozenset({HttpMethod.POST, HttpMethod.PUT, HttpMethod.PATCH})
APP_ENGINE_BODY_METHODS = frozenset({HttpMethod.POST, HttpMethod.PUT})


def is_service_owned(name: str) -> bool:
    lower = name.lower()
    return lower in SERVICE_OWNED_HEADERS or lower.startswith(RESERVED_HEADER_PREFIXES)
