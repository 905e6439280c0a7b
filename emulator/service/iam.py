"""GetIamPolicy, SetIamPolicy and TestIamPermissions on queues (google.iam.v1 semantics).

The emulator stores policies and checks etags but enforces nothing: every caller holds
every permission.
"""

from __future__ import annotations

import os
from typing import Any

from emulator.core import errors
from emulator.service import pb
from emulator.store import Store
from emulator.store.names import QueueName

EMPTY_POLICY_ETAG = b"\x00\x20\x01"  # what Google IAM returns for an empty policy ("ACAB")
_POLICY_FIELDS = {"bindings", "etag", "version", "audit_configs"}
_POLICY_VERSIONS = {0, 1, 3}  # google.iam.v1.Policy.version: "Valid values are 0, 1, and 3"
CONCURRENT_CHANGE = (
    "There were concurrent policy changes. Please retry the whole read-modify-write with "
    "exponential backoff."
)


class IamService:
    def __init__(self, store: Store) -> None:
        self.store = store

    def _policy(self, name: QueueName) -> Any:
        stored = self.store.get_policy(name)
        return pb.Policy.FromString(stored) if stored else pb.Policy(etag=EMPTY_POLICY_ETAG)

    def get_iam_policy(self, request: Any) -> Any:
        return self._policy(QueueName.parse(request.resource))

    def set_iam_policy(self, request: Any) -> Any:
        name = QueueName.parse(request.resource)
        if not request.HasField("policy"):
            raise errors.InvalidArgument("SetIamPolicyRequest.policy is required.")
        if request.policy.version not in _POLICY_VERSIONS:
            raise errors.InvalidArgument(
                f"policy.version must be 0, 1 or 3, got {request.policy.version}.",
                field="policy.version",
            )
        current = self._policy(name)
        if request.policy.etag and request.policy.etag != current.etag:
            raise errors.Aborted(CONCURRENT_CHANGE)
        paths = list(request.update_mask.paths)
        unknown = sorted(set(paths) - _POLICY_FIELDS)
        if unknown:
            raise errors.InvalidArgument(
                f"update_mask has paths that are not fields of Policy: {', '.join(unknown)}."
            )
        if paths:
            for path in paths:
                current.ClearField(path)
            request.update_mask.MergeMessage(request.policy, current)
        else:
            current.CopyFrom(request.policy)
        current.etag = os.urandom(8)
        self.store.set_policy(name, current.SerializeToString())
        return current

    def test_iam_permissions(self, request: Any) -> Any:
        name = QueueName.parse(request.resource)
        wild = [p for p in request.permissions if "*" in p]
        if wild:
            raise errors.InvalidArgument(
                f"Permissions with wildcards (such as '*' or 'cloudtasks.*') are not allowed, "
                f"got {', '.join(repr(p) for p in wild)}.",
                field="permissions",
            )
        granted = list(request.permissions) if self.store.find_queue(name) else []
        return pb.TestIamPermissionsResponse(permissions=granted)
