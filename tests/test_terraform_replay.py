"""Terraform's google provider (`google_cloud_tasks_queue`), replayed call by call.

The provider binary cannot be downloaded on our CI machines, so the REST calls it makes
are replayed here as its source makes them (docs/connect.md, Terraform): create, read,
update (each update_mask field, and all at once), pause and resume through
`desired_state`, import and destroy, over plain HTTP at the one port. Each call cites
where the provider makes it, in hashicorp/terraform-provider-google at tag v7.45.0
(commit 6f756229ab21d14d238c6280d2255262e4cccfc4), as
`[function, file]` with files under google/:

- services/cloudtasks/resource_cloud_tasks_queue.go (RESOURCE below): the URLs, bodies,
  the update mask, desired_state, import ids, and what is read back (the flatten*
  functions);
- transport/transport.go, SendRequest (TRANSPORT): `?alt=json`, the headers, the JSON
  body, and that a 404 on read or delete means the queue is gone (HandleNotFoundError);
- transport/base_url.go, BaseUrl, and services/cloudtasks/product.go: the base URL is the
  custom endpoint exactly as given (`GOOGLE_CLOUD_TASKS_CUSTOM_ENDPOINT`).

`Provider` below does what those functions do, and `flatten` keeps what they keep; after
each apply the test checks what `terraform plan` would: the state read back holds every
configured value, so the plan is empty.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import pytest
import requests

from emulator import Emulator

RESOURCE = "google/services/cloudtasks/resource_cloud_tasks_queue.go"
TRANSPORT = "google/transport/transport.go"
PROJECT = "local-project"  # the provider's project (GOOGLE_PROJECT)
LOCATION = "us-central1"
# config.UserAgent, built in ProviderConfigure [google/provider/provider.go].
USER_AGENT = (
    "Terraform/1.9.8 (+https://www.terraform.io) Terraform-Plugin-SDK/2.37.0 "
    "terraform-provider-google/7.45.0"
)
TOKEN = "cloud-tasks-emulator-placeholder-token"  # GOOGLE_OAUTH_ACCESS_TOKEN
# The resource's blocks in the order resourceCloudTasksQueueUpdate adds them to the mask.
BLOCKS = (
    "app_engine_routing_override",
    "rate_limits",
    "retry_config",
    "stackdriver_logging_config",
    "http_target",
)
# Optional+Computed (or Computed) attributes of the schema [ResourceCloudTasksQueue,
# RESOURCE]: left out of the configuration, they keep the state's value in the plan.
COMPUTED = {
    "rate_limits",
    "rate_limits.*",
    "retry_config",
    "retry_config.*",
    "app_engine_routing_override.host",
    "http_target.http_method",
    "http_target.oauth_token.scope",
    "http_target.oidc_token.audience",
    "http_target.uri_override.scheme",
    "http_target.uri_override.path_override.path",
    "http_target.uri_override.query_override.query_params",
    "http_target.uri_override.uri_override_enforce_mode",
}
DURATIONS = {"max_retry_duration", "min_backoff", "max_backoff"}
DURATION = re.compile(r"\d+(\.\d+)?s")
STATES = {"RUNNING", "PAUSED", "DISABLED"}

# Configurations from the provider's own acceptance tests
# (services/cloudtasks/resource_cloud_tasks_queue_test.go and
# resource_cloud_tasks_queue_generated_test.go): _full / the advanced example, _update,
# _HttpTargetOIDC, _HttpTargetOAuth, MaxRetry0s, TimeUnitDiff. HCL numbers given to
# string attributes (uri_override.port) are strings in the provider.
OIDC_TARGET: dict[str, Any] = {
    "http_method": "POST",
    "uri_override": {
        "scheme": "HTTPS",
        "host": "oidc.example.com",
        "port": "8443",
        "path_override": {"path": "/users/1234"},
        "query_override": {"query_params": "qparam1=123&qparam2=456"},
        "uri_override_enforce_mode": "IF_NOT_EXISTS",
    },
    "header_overrides": [
        {"header": {"key": "AddSomethingElse", "value": "MyOtherValue"}},
        {"header": {"key": "AddMe", "value": "MyValue"}},
    ],
    "oidc_token": {
        "service_account_email": f"tasks@{PROJECT}.iam.gserviceaccount.com",
        "audience": "https://oidc.example.com",
    },
}
OAUTH_TARGET: dict[str, Any] = {
    "http_method": "PUT",
    "uri_override": {
        "scheme": "HTTP",
        "host": "oauth.example.com",
        "port": "8080",
        "path_override": {"path": "/users/5678"},
        "uri_override_enforce_mode": "ALWAYS",
    },
    "header_overrides": [{"header": {"key": "AddMe", "value": "MyValue"}}],
    "oauth_token": {
        "service_account_email": f"tasks@{PROJECT}.iam.gserviceaccount.com",
        "scope": "openid https://www.googleapis.com/auth/userinfo.email",
    },
}
FULL: dict[str, Any] = {
    "name": "full",
    "location": LOCATION,
    "desired_state": "RUNNING",
    "app_engine_routing_override": {"service": "worker", "version": "1.0", "instance": "test"},
    "rate_limits": {"max_concurrent_dispatches": 3, "max_dispatches_per_second": 2},
    "retry_config": {
        "max_attempts": 5,
        "max_retry_duration": "4s",
        "max_backoff": "3s",
        "min_backoff": "2s",
        "max_doublings": 1,
    },
    "stackdriver_logging_config": {"sampling_ratio": 0.9},
    "http_target": OIDC_TARGET,
}
UPDATED: dict[str, Any] = {
    **FULL,
    "app_engine_routing_override": {"service": "main", "version": "2.0", "instance": "beta"},
    "rate_limits": {"max_concurrent_dispatches": 4, "max_dispatches_per_second": 3},
    "retry_config": {
        "max_attempts": 6,
        "max_retry_duration": "5s",
        "max_backoff": "4s",
        "min_backoff": "3s",
        "max_doublings": 2,
    },
    "stackdriver_logging_config": {"sampling_ratio": 0.1},
    "http_target": OAUTH_TARGET,
}
CREATED = {
    "basic": {"name": "basic", "location": LOCATION},
    "full": FULL,
    "oauth-target": {"name": "oauth", "location": LOCATION, "http_target": OAUTH_TARGET},
    "max-retry-0s": {
        "name": "max-retry-0s",
        "location": LOCATION,
        "retry_config": {
            "max_attempts": -1,
            "max_backoff": "3600s",
            "max_doublings": 16,
            "max_retry_duration": "0s",
            "min_backoff": "0.100s",
        },
    },
    "time-unit-diff": {
        "name": "time-unit-diff",
        "location": LOCATION,
        "retry_config": {
            "max_attempts": -1,
            "max_backoff": "5.000s",
            "max_doublings": 16,
            "max_retry_duration": "1.0s",
            "min_backoff": "0.10s",
        },
    },
}


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def empty(value: Any) -> bool:
    """tpgresource.IsEmptyValue [utils.go]: "", 0, false, nil, an empty map or list."""
    return value is None or (not isinstance(value, dict | list) and not value) or value in ({}, [])


def expand(value: Any) -> Any:
    """The expandCloudTasksQueue* functions [RESOURCE]: camelCase JSON names; a field
    whose value is empty is left out."""
    if isinstance(value, dict):
        expanded = {camel(key): expand(item) for key, item in value.items()}
        return {key: item for key, item in expanded.items() if not empty(item)}
    if isinstance(value, list):
        return [expand(item) for item in value]
    return value


def planned(config: dict[str, Any], state: dict[str, Any], path: str = "") -> dict[str, Any]:
    """What the plan holds for a block (SDKv2): the configuration's values, and for a
    Computed attribute the configuration leaves out, the state's."""
    out: dict[str, Any] = {}
    for key in config.keys() | state.keys():
        here = f"{path}.{key}" if path else key
        if key in config:
            value = config[key]
            if isinstance(value, dict):
                value = planned(value, state.get(key) or {}, here)
            out[key] = value
        elif here in COMPUTED or f"{path}.*" in COMPUTED:
            out[key] = state[key]
    return out


def prune(value: Any) -> Any:
    """A value as Terraform compares it: unset and zero are the same."""
    if isinstance(value, dict):
        value = {key: prune(item) for key, item in value.items()}
        return {key: item for key, item in value.items() if not empty(item)} or None
    if isinstance(value, list):
        return [prune(item) for item in value] or None
    return None if empty(value) else value


# -- reading a response as the provider does ----------------------------------------------


def _int(value: Any, where: str) -> int | None:
    # flatten*MaxConcurrentDispatches and the other integer flatteners [RESOURCE]: a JSON
    # number, or a 64-bit integer's decimal string.
    if value is None:
        return None
    assert isinstance(value, int | str), (where, value)
    assert not isinstance(value, bool), (where, value)
    assert re.fullmatch(r"-?\d+", str(value)), (where, value)
    return int(value)


def _number(value: Any, where: str) -> float | None:
    # TypeFloat attributes take the JSON number as it is.
    assert value is None or (isinstance(value, int | float) and not isinstance(value, bool))
    return value


def _str(value: Any, where: str, pattern: re.Pattern[str] | None = None) -> str | None:
    if value is None:
        return None
    assert isinstance(value, str), (where, value)
    if pattern is not None:
        assert pattern.fullmatch(value), (where, value)
    return value


def _block(value: Any) -> dict[str, Any] | None:
    # Every block flattener: nil or {} from the API is no block.
    if value is None:
        return None
    assert isinstance(value, dict), value
    return value or None


def flatten(res: dict[str, Any], config: dict[str, Any] | None) -> dict[str, Any]:
    """ResourceCloudTasksQueueFlatten and the flatten* functions [RESOURCE]: the state
    kept from a queue. `config` is the resource's configuration (None on import)."""
    name = _str(res.get("name"), "name")
    assert name, res
    state: dict[str, Any] = {
        "name": name.rsplit("/", 1)[1],  # tpgresource.GetResourceNameFromSelfLink
        "state": _str(res.get("state"), "state"),
    }
    assert state["state"] in STATES, res
    # flattenCloudTasksQueueAppEngineRoutingOverride: only host comes from the API
    # ("service, version, and instance are input-only"); the rest from the configuration.
    routing = _block(res.get("appEngineRoutingOverride"))
    if routing is not None:
        routing = {"host": _str(routing.get("host"), "host")}
        routing |= dict((config or {}).get("app_engine_routing_override") or {})
    state["app_engine_routing_override"] = routing
    limits = _block(res.get("rateLimits"))
    state["rate_limits"] = limits and {
        "max_dispatches_per_second": _number(limits.get("maxDispatchesPerSecond"), "rate"),
        "max_concurrent_dispatches": _int(limits.get("maxConcurrentDispatches"), "concurrent"),
        "max_burst_size": _int(limits.get("maxBurstSize"), "burst"),
    }
    retry = _block(res.get("retryConfig"))
    state["retry_config"] = retry and {
        "max_attempts": _int(retry.get("maxAttempts"), "max_attempts"),
        "max_retry_duration": _str(retry.get("maxRetryDuration"), "retry", DURATION),
        "min_backoff": _str(retry.get("minBackoff"), "min_backoff", DURATION),
        "max_backoff": _str(retry.get("maxBackoff"), "max_backoff", DURATION),
        "max_doublings": _int(retry.get("maxDoublings"), "max_doublings"),
    }
    logging_config = _block(res.get("stackdriverLoggingConfig"))
    state["stackdriver_logging_config"] = logging_config and {
        "sampling_ratio": _number(logging_config.get("samplingRatio"), "sampling_ratio")
    }
    state["http_target"] = _flatten_target(_block(res.get("httpTarget")))
    return state


def _flatten_target(target: dict[str, Any] | None) -> dict[str, Any] | None:
    # flattenCloudTasksQueueHttpTarget and below.
    if target is None:
        return None
    uri = _block(target.get("uriOverride"))
    path = _block((uri or {}).get("pathOverride"))
    query = _block((uri or {}).get("queryOverride"))
    headers = target.get("headerOverrides") or []
    assert isinstance(headers, list), target
    oauth, oidc = _block(target.get("oauthToken")), _block(target.get("oidcToken"))
    return {
        "http_method": _str(target.get("httpMethod"), "http_method"),
        "uri_override": uri
        and {
            "scheme": _str(uri.get("scheme"), "scheme"),
            "host": _str(uri.get("host"), "host"),
            "port": _str(uri.get("port"), "port"),  # int64: a string in JSON
            "path_override": path and {"path": _str(path.get("path"), "path")},
            "query_override": query and {"query_params": _str(query.get("queryParams"), "q")},
            "uri_override_enforce_mode": _str(uri.get("uriOverrideEnforceMode"), "mode"),
        },
        "header_overrides": [
            {"header": {"key": h["header"]["key"], "value": h["header"]["value"]}}
            for h in headers
            if h  # "Do not include empty json objects coming back from the api"
        ],
        "oauth_token": oauth
        and {
            "service_account_email": _str(oauth.get("serviceAccountEmail"), "email"),
            "scope": _str(oauth.get("scope"), "scope"),
        },
        "oidc_token": oidc
        and {
            "service_account_email": _str(oidc.get("serviceAccountEmail"), "email"),
            "audience": _str(oidc.get("audience"), "audience"),
        },
    }


def _seconds(text: str) -> Decimal:
    return Decimal(text.removesuffix("s"))


def assert_no_diff(config: dict[str, Any], state: dict[str, Any], path: str = "") -> None:
    """`terraform plan` after the apply shows no change: every configured value is in the
    state (durations compared as tpgresource.DurationDiffSuppress does, by their length;
    max_retry_duration "0s" also matches none, as suppressOmittedMaxDuration allows)."""
    for key, want in config.items():
        here = f"{path}.{key}" if path else key
        if here in ("location", "desired_state"):
            continue  # in the URL; a virtual field, never read from the API
        got = state.get(key)
        if isinstance(want, dict):
            assert isinstance(got, dict), (here, got)
            assert_no_diff(want, got, here)
        elif isinstance(want, list):
            assert isinstance(got, list), (here, got)
            assert len(got) == len(want), (here, got)
            for index, (item_want, item_got) in enumerate(zip(want, got, strict=True)):
                assert_no_diff(item_want, item_got, f"{here}[{index}]")
        elif key in DURATIONS:
            assert (got is None and want == "0s") or _seconds(str(got)) == _seconds(want), here
        else:
            assert got == want, (here, got, want)


# -- the provider ---------------------------------------------------------------------


class ApiError(Exception):
    def __init__(self, status: int, document: dict[str, Any]) -> None:
        super().__init__(f"HTTP {status}: {document}")
        self.status = status


class Provider:
    """google_cloud_tasks_queue's CRUD functions, on the wire as the provider sends them.
    `calls` records (method, path, query string, body) of every request."""

    def __init__(self, endpoint: str, project: str = PROJECT) -> None:
        # BaseUrl [google/transport/base_url.go]: a custom endpoint is returned as it is,
        # and queue paths are appended to it.
        self.base = endpoint
        self.project = project
        self.session = requests.Session()
        self.calls: list[tuple[str, str, str, Any]] = []

    def close(self) -> None:
        self.session.close()

    def send(
        self, method: str, path: str, body: dict[str, Any] | None = None, **query: str
    ) -> dict[str, Any]:
        """SendRequest [TRANSPORT]: `alt=json` added to the query (AddQueryParams: Go's
        url.Values.Encode, keys sorted, ',' as %2C); User-Agent and `Content-Type:
        application/json` on every request; a body only when there is one, as
        json.Encoder writes it (with a newline); a 2xx answer is decoded as a JSON object
        (204: none); any other is a googleapi.Error with the HTTP status as its code."""
        query_string = urlencode(sorted({"alt": "json", **query}.items()))
        data = b"" if body is None else json.dumps(body).encode() + b"\n"
        self.calls.append((method, path, query_string, body))
        response = self.session.request(
            method,
            f"{self.base}{path}?{query_string}",
            data=data,
            headers={
                "User-Agent": USER_AGENT,
                "Content-Type": "application/json",
                # The oauth2 transport of a static token source (GOOGLE_OAUTH_ACCESS_TOKEN).
                "Authorization": f"Bearer {TOKEN}",
            },
            timeout=30,
        )
        if response.status_code == 204:
            return {}
        document = response.json()
        assert isinstance(document, dict), response.text
        if not 200 <= response.status_code < 300:
            # googleapi.CheckResponse reads Google's error envelope.
            error = document["error"]
            assert error["code"] == response.status_code, document
            assert error["message"], document
            raise ApiError(response.status_code, document)
        return document

    def path(self, config: dict[str, Any]) -> str:
        project = config.get("project", self.project)
        return f"projects/{project}/locations/{config['location']}/queues/{config['name']}"

    def create(self, config: dict[str, Any]) -> dict[str, Any]:
        """[resourceCloudTasksQueueCreate, RESOURCE]"""
        queue = self.path(config)
        # expandCloudTasksQueueName: the full name; each block only when its expanded
        # value is not empty.
        body: dict[str, Any] = {"name": queue}
        for block in BLOCKS:
            value = expand(config.get(block))
            if not empty(value):
                body[camel(block)] = value
        # POST {base}projects/{{project}}/locations/{{location}}/queues
        self.send("POST", queue.rsplit("/", 1)[0], body)
        if config.get("desired_state") == "PAUSED":
            # "Handle desired state after queue creation": POST {base}{id}:pause, no body.
            self.send("POST", f"{queue}:pause")
        state = self.read(config)
        assert state is not None
        return state

    def read(self, config: dict[str, Any]) -> dict[str, Any] | None:
        """[resourceCloudTasksQueueRead, RESOURCE]: None is a queue that is gone."""
        try:
            # GET {base}projects/{{project}}/locations/{{location}}/queues/{{name}}
            res = self.send("GET", self.path(config))
        except ApiError as error:
            if error.status == 404:  # HandleNotFoundError [TRANSPORT]: d.SetId("")
                return None
            raise
        state = flatten(res, config)
        state["desired_state"] = config.get("desired_state", "RUNNING")  # virtual field
        return state

    def update(
        self, config: dict[str, Any], state: dict[str, Any]
    ) -> tuple[list[str], dict[str, Any]]:
        """[resourceCloudTasksQueueUpdate, RESOURCE]: the update mask sent, and the state
        read back."""
        plan = {b: planned(config[b], state.get(b) or {}, b) for b in BLOCKS if b in config}
        # rate_limits and retry_config are Computed blocks: left out, the state's stay.
        plan |= {b: state[b] for b in ("rate_limits", "retry_config") if b not in config}
        # The body: every block the plan has (the raw value is tested for emptiness, so
        # a block whose fields are all empty is sent as {}), not only the masked ones.
        body = {camel(b): expand(plan[b]) for b in BLOCKS if plan.get(b) is not None}
        # The mask: the blocks d.HasChange finds changed, in this order, camelCase.
        mask = [camel(b) for b in BLOCKS if prune(plan.get(b)) != prune(state.get(b))]
        queue = self.path(config)
        if mask:  # "if updateMask is empty we are not updating anything so skip the post"
            # PATCH {base}...queues/{{name}}?updateMask=a,b (AddQueryParams)
            self.send("PATCH", queue, body, updateMask=",".join(mask))
        old, new = state["desired_state"], config.get("desired_state", "RUNNING")
        if old != new:
            # "Handle desired state changes": POST {{CloudTasksBasePath}}...:pause or
            # :resume (the same base URL), no body.
            self.send("POST", f"{queue}:{'pause' if new == 'PAUSED' else 'resume'}")
        read = self.read(config)
        assert read is not None
        return mask, read

    def delete(self, config: dict[str, Any]) -> None:
        """[resourceCloudTasksQueueDelete, RESOURCE]: DELETE, no body; a 404 is a queue
        already gone (HandleNotFoundError [TRANSPORT])."""
        try:
            self.send("DELETE", self.path(config))
        except ApiError as error:
            if error.status != 404:
                raise

    def import_state(self, import_id: str) -> dict[str, Any] | None:
        """[resourceCloudTasksQueueImport, RESOURCE]: the id's formats, the provider's
        project where the id has none (tpgresource.ParseImportId), desired_state set to
        RUNNING, then Read."""
        for pattern in (
            r"projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/queues/(?P<name>[^/]+)",
            r"(?P<project>[^/]+)/(?P<location>[^/]+)/(?P<name>[^/]+)",
            r"(?P<location>[^/]+)/(?P<name>[^/]+)",
        ):
            match = re.fullmatch(pattern, import_id)
            if match:
                return self.read({"project": self.project, **match.groupdict()})
        raise AssertionError(f"not an import id: {import_id}")


@pytest.fixture
def provider(emu: Emulator) -> Iterator[Provider]:
    provider = Provider(f"{emu.http_url}/v2/")
    yield provider
    provider.close()


# -- the sequence ---------------------------------------------------------------------


@pytest.mark.parametrize("config", CREATED.values(), ids=CREATED.keys())
def test_create_then_read_keeps_every_configured_value(
    provider: Provider, config: dict[str, Any]
) -> None:
    state = provider.create(config)
    post, get = provider.calls
    assert post[:3] == ("POST", f"projects/{PROJECT}/locations/{LOCATION}/queues", "alt=json")
    assert post[3]["name"] == f"projects/{PROJECT}/locations/{LOCATION}/queues/{config['name']}"
    assert get[:3] == ("GET", provider.path(config), "alt=json")
    assert_no_diff(config, state)
    assert state["name"] == config["name"]
    assert state["state"] == "RUNNING"
    # The Computed blocks left out of the configuration are filled with the defaults,
    # max_burst_size (output only) included.
    assert all(value is not None for value in state["rate_limits"].values())
    retry = state["retry_config"]
    assert retry["max_attempts"]
    assert retry["min_backoff"]
    assert retry["max_backoff"]


@pytest.mark.parametrize("block", BLOCKS)
def test_update_sends_one_mask_field_per_changed_block(provider: Provider, block: str) -> None:
    before = provider.create(FULL)
    config = {**FULL, block: UPDATED[block]}
    mask, after = provider.update(config, before)
    assert mask == [camel(block)]
    patch = provider.calls[-2]
    assert patch[:3] == ("PATCH", provider.path(FULL), f"alt=json&updateMask={camel(block)}")
    # The body also holds the unchanged blocks, and the output-only
    # rateLimits.maxBurstSize from the state: the emulator applies only the mask.
    assert set(patch[3]) == {camel(b) for b in BLOCKS}
    assert patch[3]["rateLimits"]["maxBurstSize"] == before["rate_limits"]["max_burst_size"]
    assert_no_diff(config, after)
    for other in set(BLOCKS) - {block, "rate_limits"}:
        assert after[other] == before[other], other
    if block == "rate_limits":
        # Output only: Cloud Tasks picks max_burst_size from max_dispatches_per_second
        # (RateLimits in the Cloud Tasks REST reference), so the new rate changes it.
        assert after["rate_limits"]["max_burst_size"] != before["rate_limits"]["max_burst_size"]


def test_update_of_every_block_at_once(provider: Provider) -> None:
    before = provider.create(FULL)
    mask, after = provider.update(UPDATED, before)
    everything = (
        "appEngineRoutingOverride,rateLimits,retryConfig,stackdriverLoggingConfig,httpTarget"
    )
    assert ",".join(mask) == everything
    assert provider.calls[-2][2] == "alt=json&" + urlencode({"updateMask": everything})
    assert "%2C" in provider.calls[-2][2]
    assert_no_diff(UPDATED, after)
    assert after["http_target"]["oidc_token"] is None  # replaced by oauth_token


@pytest.mark.parametrize(
    "block", ["app_engine_routing_override", "stackdriver_logging_config", "http_target"]
)
def test_a_block_removed_from_the_configuration_is_cleared(provider: Provider, block: str) -> None:
    # A block that is not Computed and leaves the configuration: masked, and absent from
    # the body.
    before = provider.create(FULL)
    config = {key: value for key, value in FULL.items() if key != block}
    mask, after = provider.update(config, before)
    assert mask == [camel(block)]
    assert camel(block) not in provider.calls[-2][3]
    assert after[block] is None
    assert_no_diff(config, after)


def test_desired_state_pauses_and_resumes(provider: Provider) -> None:
    paused = {**FULL, "desired_state": "PAUSED"}
    state = provider.create(paused)
    assert [c[:2] for c in provider.calls] == [
        ("POST", f"projects/{PROJECT}/locations/{LOCATION}/queues"),
        ("POST", f"{provider.path(FULL)}:pause"),
        ("GET", provider.path(FULL)),
    ]
    assert provider.calls[1][3] is None  # no body
    assert state["state"] == "PAUSED"

    del provider.calls[:]
    mask, state = provider.update(FULL, state)  # desired_state back to RUNNING, alone
    assert mask == []  # no PATCH
    assert [c[:2] for c in provider.calls] == [
        ("POST", f"{provider.path(FULL)}:resume"),
        ("GET", provider.path(FULL)),
    ]
    assert state["state"] == "RUNNING"

    del provider.calls[:]
    config = {**paused, "rate_limits": UPDATED["rate_limits"]}
    mask, state = provider.update(config, state)  # a change and a pause in one apply
    assert mask == ["rateLimits"]
    assert [c[0] for c in provider.calls] == ["PATCH", "POST", "GET"]
    assert state["state"] == "PAUSED"
    assert_no_diff(config, state)


@pytest.mark.parametrize(
    "import_id",
    [
        f"projects/{PROJECT}/locations/{LOCATION}/queues/full",
        f"{PROJECT}/{LOCATION}/full",
        f"{LOCATION}/full",
    ],
)
def test_import_reads_the_state_an_apply_left(provider: Provider, import_id: str) -> None:
    applied = provider.create(FULL)
    imported = provider.import_state(import_id)
    assert provider.calls[-1][:2] == ("GET", provider.path(FULL))
    # The provider's tests verify an import the same way, ignoring the input-only
    # app_engine_routing_override fields.
    routing = ("service", "version", "instance")
    for state in (applied, imported):
        assert state is not None
        state["app_engine_routing_override"] = {
            key: value
            for key, value in state["app_engine_routing_override"].items()
            if key not in routing
        }
    assert imported == applied


def test_destroy_then_the_queue_is_gone(provider: Provider) -> None:
    provider.create(FULL)
    provider.delete(FULL)
    assert provider.calls[-1] == ("DELETE", provider.path(FULL), "alt=json", None)
    assert provider.read(FULL) is None  # 404: removed from the state, not an error
    with pytest.raises(ApiError) as gone:
        provider.send("DELETE", provider.path(FULL))
    assert gone.value.status == 404  # a second destroy is a queue already gone
    provider.delete(FULL)
    # `terraform apply` after `terraform destroy` creates it again (no queue tombstone
    # unless --queue-tombstone-ttl is set).
    assert provider.create(FULL)["state"] == "RUNNING"


def test_create_of_an_existing_queue_is_a_conflict(provider: Provider) -> None:
    provider.create(FULL)
    with pytest.raises(ApiError) as exists:
        provider.create(FULL)
    assert exists.value.status == 409  # "Error creating Queue: googleapi: Error 409"


# -- env-init --terraform ---------------------------------------------------------------


def _env_init(*args: str, **env: str) -> dict[str, str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CLOUD_TASKS_EMULATOR", "GOOGLE_", "CLOUDSDK"))
    }
    out = subprocess.run(
        [sys.executable, "-m", "emulator", "env-init", *args],
        capture_output=True,
        text=True,
        env={**clean, **env},
        check=True,
        timeout=60,
    ).stdout
    lines = [line.removeprefix("export ").partition("=") for line in out.splitlines()]
    return {name: value for name, _, value in lines}


def test_env_init_terraform_prints_the_provider_settings() -> None:
    assert _env_init("--terraform") == {
        "CLOUD_TASKS_EMULATOR_HOST": "127.0.0.1:8124",
        "GOOGLE_CLOUD_TASKS_CUSTOM_ENDPOINT": "http://127.0.0.1:8124/v2/",
        "GOOGLE_OAUTH_ACCESS_TOKEN": TOKEN,
        "GOOGLE_PROJECT": "local-project",
    }
    shop = _env_init("--terraform", "--http-port", "9000", "--default-project", "shop")
    assert shop["GOOGLE_CLOUD_TASKS_CUSTOM_ENDPOINT"] == "http://127.0.0.1:9000/v2/"
    assert shop["GOOGLE_PROJECT"] == "shop"
    assert "GOOGLE_PROJECT" not in _env_init()  # only with --terraform


def test_the_endpoint_env_init_prints_takes_the_whole_sequence(emu: Emulator) -> None:
    printed = _env_init("--terraform", CLOUD_TASKS_EMULATOR_HOST=emu.emulator_host)
    endpoint = printed["GOOGLE_CLOUD_TASKS_CUSTOM_ENDPOINT"]
    # The provider refuses a custom endpoint that does not end in "/<version>/"
    # (ValidateCustomEndpoint [google/provider/provider_validators.go]).
    assert re.fullmatch(r".*/[^/]+/", endpoint)
    provider = Provider(endpoint, project=printed["GOOGLE_PROJECT"])
    try:
        state = provider.create(FULL)
        _, state = provider.update({**UPDATED, "desired_state": "PAUSED"}, state)
        assert state["state"] == "PAUSED"
        provider.delete(FULL)
        assert provider.read(FULL) is None
    finally:
        provider.close()
