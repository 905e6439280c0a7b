"""The control service's messages, compiled from protos/ with grpcio-tools at first use.

Compiling at run time (to a descriptor set, then message classes) rather than committing
generated code keeps the .proto the single source and works with any protobuf runtime.
"""

from __future__ import annotations

import tempfile
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import grpc_tools
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from grpc_tools import protoc

from emulator.errors import StartupError

PROTO = "cloud_tasks_emulator/v1/control.proto"
PACKAGE = "cloud_tasks_emulator.v1"
SERVICE = f"{PACKAGE}.EmulatorControl"


@cache
def messages() -> dict[str, Any]:
    """Message classes of control.proto by short name (e.g. "AdvanceRequest")."""
    root = Path(str(resources.files("emulator") / "protos"))
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "control.pb"
        status = protoc.main(
            [
                "protoc",
                f"-I{root}",
                f"-I{well_known}",
                "--include_imports",
                f"--descriptor_set_out={out}",
                PROTO,
            ]
        )
        if status != 0:
            raise StartupError(f"cannot compile {root / PROTO} (protoc exit status {status})")
        files = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    # The default pool already holds the well-known types, so our Duration and Timestamp
    # fields take the same classes as the rest of the process.
    pool = descriptor_pool.Default()
    for file in files.file:
        try:
            pool.FindFileByName(file.name)
        except KeyError:
            pool.Add(file)
    control = pool.FindFileByName(PROTO)
    return {
        name: message_factory.GetMessageClass(descriptor)
        for name, descriptor in control.message_types_by_name.items()
    }
