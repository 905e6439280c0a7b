"""An error as a `google.rpc.Status` message: what a failed operation's entry holds, and
what the gRPC port sends (`emulator.grpc.status`)."""

from __future__ import annotations

from google.rpc import error_details_pb2, status_pb2

from emulator.core.errors import ApiError


def to_rpc_status(error: ApiError) -> status_pb2.Status:
    status = status_pb2.Status(code=int(error.code), message=error.message)
    if error.help_link is not None:
        help_detail = error_details_pb2.Help()
        link = help_detail.links.add()
        link.description, link.url = error.help_link.description, error.help_link.url
        status.details.add().Pack(help_detail)
    return status
