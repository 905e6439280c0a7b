"""Run-time settings: one dataclass, filled from flags and environment variables."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta

from emulator.store import limits

ENV_PREFIX = "CLOUD_TASKS_EMULATOR_"

_DURATION = re.compile(r"(?P<value>\d+(?:\.\d+)?)(?P<unit>ms|s|m|h|d)?")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """'90' (seconds), '90s', '15m', '1h', '7d', '250ms' -> timedelta."""
    m = _DURATION.fullmatch(text.strip())
    if not m:
        raise ValueError(f"not a duration: {text!r} (examples: 90s, 15m, 1h, 7d)")
    return timedelta(seconds=float(m["value"]) * _UNITS[m["unit"] or "s"])


@dataclass
class Settings:
    host: str = "127.0.0.1"
    port: int = 8123
    http_port: int = 8124
    default_location: str = limits.DEFAULT_LOCATION
    task_tombstone_ttl: timedelta = field(default=limits.DEFAULT_TASK_TOMBSTONE_TTL)
    queue_tombstone_ttl: timedelta = field(default=limits.DEFAULT_QUEUE_TOMBSTONE_TTL)
    log_level: str = "info"
    app_engine_host: str = "http://127.0.0.1:8080"  # where App Engine tasks are sent
    oidc_issuer: str = ""  # empty: the emulator's own HTTP URL
    oidc_key_file: str = ""  # PEM RSA private key; empty: a key made at start
    clock: str = "real"  # "virtual": real time that can also jump forward (advance)
    default_project: str = "local-project"  # for queue ids in --config / --queue
    config: str = ""  # a YAML file of queues (ours or App Engine's queue.yaml)
    queues: list[str] = field(default_factory=list)  # --queue NAME[:key=value,...]
    healthcheck: bool = False  # probe a running emulator instead of serving
