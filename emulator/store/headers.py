"""How Cloud Tasks rewrites a new task's headers before storing it.

The rules are those of the HttpRequest.headers and AppEngineHttpRequest.headers fields
in the Cloud Tasks API reference: `Host`, `Content-Length`, `User-Agent` and the
Google-reserved prefixes are not the caller's to set; an HTTP task shows
`User-Agent: Google-Cloud-Tasks`; an App Engine task appends App Engine's user agent and,
with a body, shows its `Content-Type` (default application/octet-stream) and length.
"""

from __future__ import annotations

from emulator.core import limits
from emulator.store import rules
from emulator.store.records import AppEngineHttpRequest, HttpRequest, TaskRequest


def _kept(headers: dict[str, str]) -> dict[str, str]:
    """The caller's headers without those the service sets itself (casing kept)."""
    return {key: value for key, value in headers.items() if not rules.is_service_owned(key)}


def _get(headers: dict[str, str], name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name.lower()), None)


# The headers of every HTTP task created without headers of its own: one dict that all
# of them share (a stored task's headers are never changed, only read and copied).
_SERVICE_ONLY = {"User-Agent": limits.HTTP_USER_AGENT}


def normalize(request: TaskRequest) -> None:
    """Rewrite `request.headers` in place the way the stored task shows them."""
    if isinstance(request, HttpRequest):
        # No default Content-Type for HTTP tasks; the User-Agent is always the service's.
        kept = _kept(request.headers)
        request.headers = {**kept, **_SERVICE_ONLY} if kept else _SERVICE_ONLY
    else:
        _normalize_app_engine(request)


def _normalize_app_engine(request: AppEngineHttpRequest) -> None:
    caller_agent = _get(request.headers, "User-Agent")
    headers = _kept(request.headers)
    headers["User-Agent"] = (
        f"{caller_agent} {limits.APP_ENGINE_USER_AGENT}"
        if caller_agent
        else limits.APP_ENGINE_USER_AGENT
    )
    if request.body:
        if _get(headers, "Content-Type") is None:
            headers["Content-Type"] = "application/octet-stream"
        headers["Content-Length"] = str(len(request.body))
    request.headers = headers
