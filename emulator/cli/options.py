"""The command line's options: each flag, its environment variable, its check and its
help text (`emulator.cli.parser` reads them)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from emulator.core import logs
from emulator.core.durations import parse_duration
from emulator.core.rough_edges import parse_fraction, parse_latency, parse_seed
from emulator.core.settings import ENV_PREFIX


@dataclass(frozen=True)
class Option:
    flag: str
    type: Callable[[str], Any]
    help: str
    metavar: str
    env_name: str = ""  # the variable's name after the prefix; default: from the flag
    aliases: tuple[str, ...] = ()
    default: str = ""  # the default as help shows it; empty: the Settings value, if any
    sets: str = ""  # the Settings field it sets, e.g. "rough_edges.seed"; default: `dest`

    @property
    def dest(self) -> str:
        return self.flag.removeprefix("--").replace("-", "_")

    @property
    def env(self) -> str:
        return ENV_PREFIX + (self.env_name or self.dest.upper())


def _port(text: str) -> int:
    if not text.strip().isdigit() or int(text) > 65535:
        raise ValueError(f"not a port: {text}")
    return int(text)


def _log_level(text: str) -> str:
    level = text.lower()
    if level not in ("debug", "info", "warning", "error"):
        raise ValueError(f"not a log level: {text}")
    return level


def _log_format(text: str) -> str:
    if text.lower() not in logs.FORMATS:
        raise ValueError(f"not a log format: {text} (text or json)")
    return text.lower()


def _base_url(text: str) -> str:
    if not text.startswith(("http://", "https://")):
        raise ValueError(f"not an http:// or https:// URL: {text}")
    return text.rstrip("/")


def _up_to_an_hour(text: str) -> float:
    value = parse_duration(text).total_seconds()
    if value > 3600:
        raise ValueError(f"at most an hour: {text}")
    return value


def _count(text: str) -> int:
    if not text.strip().isdigit():
        raise ValueError(f"not a count (0 or more): {text}")
    return int(text)


def _clock(text: str) -> str:
    if text not in ("real", "virtual"):
        raise ValueError(f"not a clock: {text} (real or virtual)")
    return text


def _function_url(text: str) -> str:
    url = _base_url(text)
    try:
        url.format(project="p", location="l", queue="q")
    except (KeyError, IndexError, ValueError):
        raise ValueError(
            f"not a function URL template: {text} (placeholders: {{project}}, {{location}}, "
            "{queue})"
        ) from None
    return url


OPTIONS = [
    Option(
        "--host",
        str,
        "address to listen on (0.0.0.0 in a container)",
        "ADDR",
        env_name="LISTEN_HOST",
    ),
    Option(
        "--port",
        _port,
        "port of the gRPC-only listener; 0 picks a free one (the HTTP port speaks gRPC too)",
        "PORT",
        env_name="GRPC_PORT",
        aliases=("--grpc-port",),
    ),
    Option(
        "--http-port",
        _port,
        "the one port: REST, gRPC, the Firebase route and the web endpoints; 0 picks one",
        "PORT",
    ),
    Option(
        "--default-location", str, "location of queue ids in --config/--queue; always listed", "ID"
    ),
    Option(
        "--default-project",
        str,
        "project of queue ids in --config/--queue, and of the dashboard's new queues",
        "ID",
    ),
    Option(
        "--config",
        str,
        "YAML file of queues to create at start-up: ours, or App Engine's queue.yaml",
        "PATH",
        default="none",
    ),
    Option(
        "--task-tombstone-ttl",
        parse_duration,
        "how long a finished or deleted task's name stays reserved",
        "DURATION",
    ),
    Option(
        "--queue-tombstone-ttl",
        parse_duration,
        "how long a deleted queue's name cannot be re-created (0 = off; the real service: 7d)",
        "DURATION",
    ),
    Option("--log-level", _log_level, "debug, info, warning or error", "LEVEL"),
    Option(
        "--log-format",
        _log_format,
        "text (readable lines) or json (one object a line: time, level, queue, task, "
        "attempt, status, latency, next schedule time)",
        "FORMAT",
    ),
    Option(
        "--app-engine-host",
        _base_url,
        "base URL that App Engine tasks are sent to (relative_uri is appended)",
        "URL",
    ),
    Option(
        "--firebase-function-url",
        _function_url,
        "where Firebase task-queue tasks without a URL are sent; {project}, {location} and "
        "{queue} are filled in (the Firebase Functions emulator's form)",
        "TEMPLATE",
    ),
    Option(
        "--clock",
        _clock,
        "real, or virtual: real time that /_emulator/advance can move forward",
        "KIND",
    ),
    Option(
        "--advance-grace",
        _up_to_an_hour,
        "real seconds /_emulator/advance lets an attempt in flight be answered before the "
        "virtual clock may pass its deadline",
        "SECONDS",
    ),
    Option(
        "--shutdown-grace",
        _up_to_an_hour,
        "on SIGTERM or SIGINT, how long attempts in flight may take to finish before the "
        "emulator exits (a second signal exits at once)",
        "SECONDS",
    ),
    Option(
        "--data-dir",
        str,
        "keep queues, tasks, tombstones, IAM policies, CMEK configs, operations and the "
        "virtual clock's offset in SQLite in this directory, across restarts",
        "PATH",
        default="in memory only",
    ),
    Option(
        "--attempt-history",
        _count,
        "delivery attempts kept for /_emulator/attempts, newest first; older ones (with "
        "their headers and bodies) are dropped; 0 keeps none",
        "N",
    ),
    Option("--oidc-issuer", str, "`iss` claim of OIDC tokens", "URL", default="the HTTP URL"),
    Option(
        "--oidc-key-file",
        str,
        "PEM RSA private key that signs OIDC tokens",
        "PATH",
        default="a key made at start",
    ),
    # Production's rough edges (docs/production-parity.md), for every queue without its own; the
    # switches --shuffle and --throttle are SWITCHES below.
    Option(
        "--duplicates",
        parse_fraction,
        "rough edges: the fraction of successful deliveries delivered once more, as the "
        "at-least-once service sometimes does, e.g. 0.01 or 1%",
        "FRACTION",
        default="0, off",
        sets="rough_edges.duplicates",
    ),
    Option(
        "--latency",
        parse_latency,
        "rough edges: a delay drawn before each attempt is dispatched, e.g. 50ms-2s (one "
        "duration: always that)",
        "RANGE",
        default="none",
        sets="rough_edges.latency",
    ),
    Option(
        "--rough-edges-seed",
        parse_seed,
        "the seed of every rough edge's draw: the same seed repeats a run exactly",
        "N",
        default="random, logged at start",
        sets="rough_edges.seed",
    ),
]

# On/off flags of production's rough edges: (flag, the Settings field it sets, help).
SWITCHES = [
    (
        "--shuffle",
        "rough_edges.shuffle",
        "rough edges: tasks due together are dispatched in a shuffled order, not earliest "
        "first (none is guaranteed)",
    ),
    (
        "--throttle",
        "rough_edges.throttle",
        "rough edges: each 429 or 503 answer halves the queue's dispatch rate (down to 1/64), "
        "and each 10 successes in a row double it again",
    ),
]


ENV_INIT_OPTIONS = [
    replace(option, help=text)
    for option in OPTIONS
    for flag, text in (
        ("--host", "the emulator's listen address; clients connect to 127.0.0.1 for 0.0.0.0"),
        ("--http-port", "the emulator's HTTP port, the one clients connect to"),
        (
            "--default-project",
            "the project gcloud (CLOUDSDK_CORE_PROJECT, with --gcloud) and Terraform "
            "(GOOGLE_PROJECT, with --terraform) use",
        ),
    )
    if option.flag == flag
]
