"""An error as the Google JSON error envelope: the one shape of every HTTP error."""

from __future__ import annotations

from typing import Any

from google.rpc import code_pb2

from emulator.core.errors import ApiError, Code

# The standard mapping of canonical codes to HTTP statuses (google.rpc.Code's own comments).
HTTP_STATUS: dict[Code, int] = {
    Code.OK: 200,
    Code.CANCELLED: 499,
    Code.UNKNOWN: 500,
    Code.INVALID_ARGUMENT: 400,
    Code.DEADLINE_EXCEEDED: 504,
    Code.NOT_FOUND: 404,
    Code.ALREADY_EXISTS: 409,
    Code.PERMISSION_DENIED: 403,
    Code.RESOURCE_EXHAUSTED: 429,
    Code.FAILED_PRECONDITION: 400,
    Code.ABORTED: 409,
    Code.OUT_OF_RANGE: 400,
    Code.UNIMPLEMENTED: 501,
    Code.INTERNAL: 500,
    Code.UNAVAILABLE: 503,
    Code.DATA_LOSS: 500,
    Code.UNAUTHENTICATED: 401,
}


def to_json_envelope(error: ApiError) -> tuple[int, dict[str, Any]]:
    """The HTTP status and body of the Google JSON error for `error`."""
    http = HTTP_STATUS[error.code]
    body: dict[str, Any] = {
        "code": http,
        "message": error.message,
        "status": code_pb2.Code.Name(int(error.code)),
    }
    if error.help_link is not None:
        body["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.Help",
                "links": [{"description": error.help_link.description, "url": error.help_link.url}],
            }
        ]
    return http, {"error": body}
