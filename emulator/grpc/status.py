"""An error as the gRPC status the port aborts a call with (its details included)."""

from __future__ import annotations

import grpc
from grpc_status import rpc_status

from emulator.core.errors import ApiError
from emulator.service.status import to_rpc_status


def to_grpc_status(error: ApiError) -> grpc.Status:
    status: grpc.Status = rpc_status.to_status(to_rpc_status(error))
    return status
