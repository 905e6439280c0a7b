"""The command line read into `Settings`: flags, then their variables, then
CLOUD_TASKS_EMULATOR_HOST, then the defaults; the help text."""

from __future__ import annotations

import argparse
import os
import re
import sys
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

from emulator.cli.options import ENV_INIT_OPTIONS, OPTIONS, SWITCHES, Option
from emulator.core.durations import format_duration
from emulator.core.settings import (
    EMULATOR_HOST_ENV,
    ENV_PREFIX,
    Settings,
    connect_host,
    listen_host_for,
)
from emulator.core.version import __version__


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's layout, but lines break at spaces only (never inside a command name, a
    variable or an example), and a blank line in a description or epilog starts a new
    paragraph."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        return textwrap.wrap(_one_line(text), width, break_on_hyphens=False)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "\n\n".join(
            textwrap.fill(
                _one_line(paragraph),
                width,
                initial_indent=indent,
                subsequent_indent=indent,
                break_on_hyphens=False,
            )
            for paragraph in text.split("\n\n")
        )


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _add_options(parser: argparse.ArgumentParser, options: Sequence[Option]) -> None:
    defaults = Settings()
    for option in options:
        shown = option.default
        if not shown:
            value = getattr(defaults, option.dest)
            if isinstance(value, timedelta):
                value = value.total_seconds()
            shown = format_duration(value, compact=True) if isinstance(value, float) else str(value)
        where = f"default: {shown}; env: {option.env}" if shown else f"env: {option.env}"
        parser.add_argument(
            option.flag,
            *option.aliases,
            dest=option.dest,
            type=_typed(option),
            metavar=option.metavar,
            help=f"{option.help} ({where})".replace("%", "%%"),  # argparse formats it
        )


def build_parser(prog: str = "cloud-tasks-emulator") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        formatter_class=_HelpFormatter,
        description=(
            "A local emulator of Google Cloud Tasks: the google.cloud.tasks.v2 API over gRPC "
            "and REST, delivering every task.\n\n"
            "`cloud-tasks-emulator env-init [--gcloud]` prints the export lines that point "
            "clients (and gcloud) at it; see `cloud-tasks-emulator env-init --help`."
        ),
        epilog=(
            f"{EMULATOR_HOST_ENV}=host:port, the variable clients and the Firebase SDKs read, "
            "also sets where the emulator listens (its HTTP port, and its host unless that is "
            "a name other than localhost: then every interface).\n\n"
            f"Every flag can also be set by an environment variable, e.g. {ENV_PREFIX}"
            "LOG_LEVEL=debug; a flag wins over its variable. Durations: 90s, 15m, 1h, 7d."
        ),
    )
    _add_options(parser, OPTIONS)
    for flag, _, text in SWITCHES:
        parser.add_argument(flag, action="store_true", help=f"{text} (env: {_env_of(flag)}=true)")
    parser.add_argument(
        "--queue",
        action="append",
        metavar="NAME[:KEY=VALUE,...]",
        help=(
            "a queue to create at start-up (repeatable), e.g. emails:rate=10,max_attempts=3; "
            "keys: rate, concurrency, max_attempts, min_backoff, max_backoff, "
            "max_doublings, max_retry_duration, state (running, paused or disabled) (env: "
            f"{QUEUES_ENV}, queues separated by spaces or ';')"
        ),
    )
    parser.add_argument(
        "--route",
        action="append",
        metavar="PATTERN=LOCAL_BASE[;...]",
        help=(
            "send tasks for production URLs to a local handler (repeatable), e.g. "
            "'https://*-uc.a.run.app=http://worker:8080': the request goes to the local base "
            "with its path and query, its Host header, X-CloudTasks-* headers and OIDC "
            "audience as production sends them; ';invoker=EMAIL,...', ';audiences=AUD,...' or "
            "';auth' add Cloud Run's token checks first (see docs/production-parity.md) (env: "
            f"{ROUTE_ENV}, routes separated by spaces)"
        ),
    )
    parser.add_argument(
        "--auto-create-queues",
        action="store_true",
        help=(
            "create a queue (with every default, or the --config file's template) the first "
            "time a task is created in it, instead of NOT_FOUND as in production; the "
            "--config file's auto_create_queues: true turns it on too (env: "
            f"{AUTO_CREATE_QUEUES_ENV}=true)"
        ),
    )
    parser.add_argument(
        "--no-control",
        action="store_true",
        help=(
            "switch off the test-control endpoints (/_emulator/ reset, advance, ...) and the "
            f"EmulatorControl gRPC service (env: {NO_CONTROL_ENV}=true)"
        ),
    )
    parser.add_argument(
        "--delivery-process",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=(
            "put delivery's HTTP work (sending tasks, reading the answers) in a process of "
            "its own, started with the first task, so that it has a core of its own; "
            "every decision (rates, caps, deadlines, retries) stays in the emulator "
            f"(default: on; env: {DELIVERY_PROCESS_ENV}=false turns it off)"
        ),
    )
    parser.add_argument(
        "--healthcheck",
        action="store_true",
        help=(
            "do not serve: ask the emulator at --host/--http-port whether it is up (GET "
            "/healthz; gRPC health at --port if --http-port is 0) and exit 0 if so, 1 if "
            "not; for Docker HEALTHCHECK"
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


# env-init's own flags: the server's settings that say where clients find it, with the
# same variables, so one shell's settings give the emulator and its clients one address.


def build_env_init_parser(prog: str = "cloud-tasks-emulator env-init") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        formatter_class=_HelpFormatter,
        description=(
            "Print the export lines that point clients at an emulator started with the same "
            f"settings: {EMULATOR_HOST_ENV}, with --gcloud what gcloud needs from a fresh "
            "configuration, and with --terraform what Terraform's google provider needs. "
            'Use: eval "$(cloud-tasks-emulator env-init --gcloud)"'
        ),
        epilog=(
            f"{EMULATOR_HOST_ENV}=host:port, when set, is printed as it is. Every flag can "
            f"also be set by its variable, as for the emulator; a flag wins over its variable."
        ),
    )
    parser.add_argument(
        "--gcloud",
        action="store_true",
        help=(
            "also the variables gcloud needs, even with an empty configuration: the endpoints "
            "of cloudtasks and appengine, no credentials, the project, and no usage "
            "reporting, update check or survey prompt"
        ),
    )
    parser.add_argument(
        "--terraform",
        action="store_true",
        help=(
            "also the variables Terraform's google provider needs for google_cloud_tasks_queue: "
            "its Cloud Tasks endpoint (GOOGLE_CLOUD_TASKS_CUSTOM_ENDPOINT), a placeholder "
            "access token so that it looks up no credentials, and the project"
        ),
    )
    parser.add_argument(
        "--credentials",
        metavar="PATH",
        help=(
            "also write a throw-away service-account key file to PATH (mode 0600) and print "
            "GOOGLE_APPLICATION_CREDENTIALS=PATH: for code that calls google.auth.default() "
            "itself. Its only URL is the emulator's /token, which answers with a local "
            "token; its project is --default-project"
        ),
    )
    _add_options(parser, ENV_INIT_OPTIONS)
    return parser


def _typed(option: Option) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            return option.type(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    convert.__name__ = option.dest  # argparse names the type in its error messages
    return convert


QUEUES_ENV = ENV_PREFIX + "QUEUES"
ROUTE_ENV = ENV_PREFIX + "ROUTE"
NO_CONTROL_ENV = ENV_PREFIX + "NO_CONTROL"
AUTO_CREATE_QUEUES_ENV = ENV_PREFIX + "AUTO_CREATE_QUEUES"
DELIVERY_PROCESS_ENV = ENV_PREFIX + "DELIVERY_PROCESS"
IN_CONTAINER_ENV = ENV_PREFIX + "IN_CONTAINER"  # read by emulator.dispatch.sender
CRASH_AT_ENV = ENV_PREFIX + "CRASH_AT"  # the crash tests' hook, read by emulator.store.datadir


def _env_of(flag: str) -> str:
    return ENV_PREFIX + flag.removeprefix("--").replace("-", "_").upper()


_KNOWN_ENV = {
    EMULATOR_HOST_ENV,
    QUEUES_ENV,
    ROUTE_ENV,
    NO_CONTROL_ENV,
    AUTO_CREATE_QUEUES_ENV,
    DELIVERY_PROCESS_ENV,
    IN_CONTAINER_ENV,
    CRASH_AT_ENV,
    *(o.env for o in OPTIONS),
    *(_env_of(flag) for flag, _, _ in SWITCHES),
}
# Variables named after a flag whose variable has another name.
_FLAG_NAMED_ENV = {
    ENV_PREFIX + "PORT": ENV_PREFIX + "GRPC_PORT",  # --port
}


def parse_settings(
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    prog: str = "cloud-tasks-emulator",
) -> Settings:
    """Settings from flags, then their variables, then CLOUD_TASKS_EMULATOR_HOST, then the
    defaults. Warnings (unknown variables, a host the emulator will not listen on) go to
    stderr; mistakes exit 2 with a message naming the flag or variable."""
    env = os.environ if environ is None else environ
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    settings = read_settings(parser, OPTIONS, args, env)
    settings.healthcheck = args.healthcheck
    settings.control = not (args.no_control or _switch(parser, env, NO_CONTROL_ENV))
    settings.auto_create_queues = args.auto_create_queues or _switch(
        parser, env, AUTO_CREATE_QUEUES_ENV
    )
    settings.delivery_process = args.delivery_process
    if args.delivery_process is None:  # on unless the variable says false
        settings.delivery_process = _switch(parser, env, DELIVERY_PROCESS_ENV, unset=True)
    for flag, path, _ in SWITCHES:
        if getattr(args, flag[2:]) or _switch(parser, env, _env_of(flag)):
            _set(settings, path, True)
    if args.queue:
        settings.queues = list(args.queue)
    elif env.get(QUEUES_ENV):
        settings.queues = [env[QUEUES_ENV]]
    # Routes hold no spaces: the variable's routes are separated by whitespace.
    settings.routes = list(args.route) if args.route else env.get(ROUTE_ENV, "").split()
    return settings


def _switch(
    parser: argparse.ArgumentParser, env: Mapping[str, str], name: str, *, unset: bool = False
) -> bool:
    """An on/off variable: true, yes or 1; false, no or 0; `unset` if unset or empty."""
    value = env.get(name, "").strip().lower()
    if value not in ("", "0", "false", "no", "1", "true", "yes"):
        parser.error(f"{name}: not true or false: {value}")
    return unset if value == "" else value in ("1", "true", "yes")


def read_settings(
    parser: argparse.ArgumentParser,
    options: Sequence[Option],
    args: argparse.Namespace,
    env: Mapping[str, str],
) -> Settings:
    settings = Settings()
    given: set[str] = set()
    for option in options:
        value = getattr(args, option.dest)
        if value is None and option.env in env:
            try:
                value = option.type(env[option.env])
            except ValueError as error:
                parser.error(f"{option.env}: {error}")
        if value is not None:
            _set(settings, option.sets or option.dest, value)
            given.add(option.dest)
    try:
        _apply_emulator_host(settings, env.get(EMULATOR_HOST_ENV, ""), given)
    except ValueError as error:
        parser.error(f"{EMULATOR_HOST_ENV}: {error}")
    for name in sorted(env):
        if name.startswith(ENV_PREFIX) and name not in _KNOWN_ENV:
            close = [_FLAG_NAMED_ENV[name]] if name in _FLAG_NAMED_ENV else []
            if not close:
                import difflib  # (only for a mistake: not on every start)

                close = difflib.get_close_matches(name, sorted(_KNOWN_ENV), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            _warn(f"ignoring the unknown variable {name}{hint}")
    return settings


def _set(settings: Settings, path: str, value: Any) -> None:
    """Set a field of Settings, or of one of its frozen values ("rough_edges.seed")."""
    outer, _, inner = path.partition(".")
    setattr(
        settings, outer, replace(getattr(settings, outer), **{inner: value}) if inner else value
    )


def _apply_emulator_host(settings: Settings, value: str, given: set[str]) -> None:
    """CLOUD_TASKS_EMULATOR_HOST=host:port: listen where the clients will look."""
    if not value.strip():
        return
    if "//" not in value and ":" not in value.strip("[]"):
        # A bare host, which clients cannot use: taken as where to listen, with a warning.
        _warn(
            f"{EMULATOR_HOST_ENV}={value} has no port; clients need host:port. Read as the "
            f"listen address: {ENV_PREFIX}LISTEN_HOST is the variable for that."
        )
        if "host" not in given:
            settings.host = value
        return
    from emulator import autoconnect  # (its import hook's machinery: not on every start)

    host, port = autoconnect.parse_emulator_host(value)
    if "http_port" not in given:
        settings.http_port = port
    elif settings.http_port != port:
        _warn(
            f"{EMULATOR_HOST_ENV} points clients at port {port}, but the HTTP port is "
            f"{settings.http_port}"
        )
    if "host" not in given:
        settings.host = listen_host_for(host)


def _warn(message: str) -> None:
    print(f"cloud-tasks-emulator: warning: {message}", file=sys.stderr)


def emulator_host(settings: Settings) -> str:
    """The CLOUD_TASKS_EMULATOR_HOST value that reaches an emulator with `settings`."""
    return f"{connect_host(settings.host)}:{settings.http_port}"
