"""Run-time settings: one dataclass, filled from flags and environment variables."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import timedelta

from emulator.core import limits
from emulator.core.rough_edges import RoughEdges

ENV_PREFIX = "CLOUD_TASKS_EMULATOR_"
# The one default project: of the command line's start-up queues, of `Emulator`, of the
# pytest plugin's queues and of `env-init --gcloud`'s CLOUDSDK_CORE_PROJECT.
DEFAULT_PROJECT = "local-project"
# The clock an Emulator in tests and scripts starts with (the pytest plugin's too).
TEST_CLOCK = "virtual"
# The one switch clients read: `host:port` of the emulator's HTTP port, which speaks
# REST, gRPC and the Firebase task-queue route (the meaning the Firebase SDKs give it).
EMULATOR_HOST_ENV = "CLOUD_TASKS_EMULATOR_HOST"
FIREBASE_FUNCTION_URL = "http://127.0.0.1:5001/{project}/{location}/{queue}"


def listen_host_for(host: str) -> str:
    """Where to listen so that clients using `host` reach us: a loopback name or an IP
    address as it is; any other name (a compose service, say) on every interface."""
    if host == "localhost":
        return "127.0.0.1"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return "0.0.0.0"
    return host


def connect_host(host: str) -> str:
    """Where a client on this machine connects for a server bound to `host`."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return bracketed(host)


def bracketed(host: str) -> str:
    """An IPv6 literal in brackets, as addresses with a port need it."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


@dataclass
class Settings:
    host: str = "127.0.0.1"
    port: int = 8123  # gRPC only; the HTTP port speaks gRPC too
    http_port: int = 8124
    default_location: str = limits.DEFAULT_LOCATION
    task_tombstone_ttl: timedelta = field(default=limits.DEFAULT_TASK_TOMBSTONE_TTL)
    queue_tombstone_ttl: timedelta = field(default=limits.DEFAULT_QUEUE_TOMBSTONE_TTL)
    log_level: str = "info"
    log_format: str = "text"  # or "json": one object a line
    app_engine_host: str = "http://127.0.0.1:8080"  # where App Engine tasks are sent
    # Where Firebase task-queue tasks without a URL go ({project}, {location}, {queue}).
    firebase_function_url: str = FIREBASE_FUNCTION_URL
    oidc_issuer: str = ""  # empty: the emulator's own HTTP URL
    oidc_key_file: str = ""  # PEM RSA private key; empty: a key made at start
    clock: str = "real"  # "virtual": real time that can also jump forward (advance)
    # Real seconds advance() lets an attempt in flight be answered before the clock may
    # pass its deadline (a handler silent for longer is taken to hang).
    advance_grace: float = 0.2
    data_dir: str = ""  # keep the state in SQLite there; empty: in memory only
    shutdown_grace: float = 5.0  # seconds attempts in flight get to finish on SIGTERM
    # Delivery attempts kept for attempts() and /_emulator/attempts (0 keeps none).
    attempt_history: int = limits.DEFAULT_ATTEMPT_HISTORY
    default_project: str = DEFAULT_PROJECT  # for queue ids in --config / --queue
    config: str = ""  # a YAML file of queues (ours or App Engine's queue.yaml)
    queues: list[str] = field(default_factory=list)  # --queue NAME[:key=value,...]
    # A task for a queue that does not exist creates it (from the start-up file's template,
    # else with every default) instead of NOT_FOUND; production has no such switch.
    auto_create_queues: bool = False
    # --route PATTERN=LOCAL_BASE[;...]: production URLs sent to local handlers, as given
    # (read by the command line with the start-up file's `routes:`; emulator.core.routes).
    routes: list[str] = field(default_factory=list)
    healthcheck: bool = False  # probe a running emulator instead of serving
    control: bool = True  # the /_emulator/ endpoints and the EmulatorControl gRPC service
    # Production's rough edges for every queue without its own (docs/production-parity.md): off.
    rough_edges: RoughEdges = field(default_factory=RoughEdges)
    # Delivery's HTTP work in a process of its own (a second core); the command line's default
    # is on, an in-process Emulator's off (docs/performance.md).
    delivery_process: bool = False
