"""The command line: `cloud-tasks-emulator` / `python -m emulator`.

Every flag has an environment variable CLOUD_TASKS_EMULATOR_<FLAG>; a flag given on the
command line wins over its variable.
"""

from __future__ import annotations

import argparse
import difflib
import logging
import os
import re
import shlex
import signal
import sys
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from emulator import autoconnect, logs
from emulator.api import wire
from emulator.errors import StartupError
from emulator.settings import (
    DEFAULT_PROJECT,
    EMULATOR_HOST_ENV,
    ENV_PREFIX,
    Settings,
    connect_host,
    listen_host_for,
    parse_duration,
)
from emulator.version import __version__

if TYPE_CHECKING:
    from emulator.server import EmulatorServer
    from emulator.startup_queues import StartupFile, StartupQueue

log = logging.getLogger("emulator")


@dataclass(frozen=True)
class Option:
    flag: str
    type: Callable[[str], Any]
    help: str
    metavar: str
    env_name: str = ""  # the variable's name after the prefix; default: from the flag
    aliases: tuple[str, ...] = ()
    default: str = ""  # the default as help shows it; empty: the Settings value, if any

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


def _seconds(text: str) -> float:
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
        _seconds,
        "real seconds /_emulator/advance lets an attempt in flight be answered before the "
        "virtual clock may pass its deadline",
        "SECONDS",
    ),
    Option(
        "--shutdown-grace",
        _seconds,
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
]


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


def _duration_text(seconds: float) -> str:
    """3600 -> '1h', 0.2 -> '0.2s': a default as the flags take it."""
    for unit, suffix in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds and seconds % unit == 0:
            return f"{seconds / unit:g}{suffix}"
    return f"{seconds:g}s"


def _add_options(parser: argparse.ArgumentParser, options: Sequence[Option]) -> None:
    defaults = Settings()
    for option in options:
        shown = option.default
        if not shown:
            value = getattr(defaults, option.dest)
            if isinstance(value, timedelta):
                value = value.total_seconds()
            shown = _duration_text(value) if isinstance(value, float) else str(value)
        where = f"default: {shown}; env: {option.env}" if shown else f"env: {option.env}"
        parser.add_argument(
            option.flag,
            *option.aliases,
            dest=option.dest,
            type=_typed(option),
            metavar=option.metavar,
            help=f"{option.help} ({where})",
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
NO_CONTROL_ENV = ENV_PREFIX + "NO_CONTROL"
AUTO_CREATE_QUEUES_ENV = ENV_PREFIX + "AUTO_CREATE_QUEUES"
IN_CONTAINER_ENV = ENV_PREFIX + "IN_CONTAINER"  # read by emulator.dispatch.sender
CRASH_AT_ENV = ENV_PREFIX + "CRASH_AT"  # the crash tests' hook, read by emulator.store.datadir
_KNOWN_ENV = {
    EMULATOR_HOST_ENV,
    QUEUES_ENV,
    NO_CONTROL_ENV,
    AUTO_CREATE_QUEUES_ENV,
    IN_CONTAINER_ENV,
    CRASH_AT_ENV,
    *(o.env for o in OPTIONS),
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
    settings = _settings(parser, OPTIONS, args, env)
    settings.healthcheck = args.healthcheck
    settings.control = not (args.no_control or _switch(parser, env, NO_CONTROL_ENV))
    settings.auto_create_queues = args.auto_create_queues or _switch(
        parser, env, AUTO_CREATE_QUEUES_ENV
    )
    if args.queue:
        settings.queues = list(args.queue)
    elif env.get(QUEUES_ENV):
        settings.queues = [env[QUEUES_ENV]]
    return settings


def _switch(parser: argparse.ArgumentParser, env: Mapping[str, str], name: str) -> bool:
    """An on/off variable: true, yes or 1; false, no, 0 or unset."""
    value = env.get(name, "").strip().lower()
    if value not in ("", "0", "false", "no", "1", "true", "yes"):
        parser.error(f"{name}: not true or false: {value}")
    return value in ("1", "true", "yes")


def _settings(
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
            setattr(settings, option.dest, value)
            given.add(option.dest)
    try:
        _apply_emulator_host(settings, env.get(EMULATOR_HOST_ENV, ""), given)
    except ValueError as error:
        parser.error(f"{EMULATOR_HOST_ENV}: {error}")
    for name in sorted(env):
        if name.startswith(ENV_PREFIX) and name not in _KNOWN_ENV:
            close = [_FLAG_NAMED_ENV[name]] if name in _FLAG_NAMED_ENV else []
            close = close or difflib.get_close_matches(name, sorted(_KNOWN_ENV), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            _warn(f"ignoring the unknown variable {name}{hint}")
    return settings


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


def ready_line(server: EmulatorServer) -> str:
    listening = server.settings.host
    where = f" (listening on {listening})" if listening in ("0.0.0.0", "::", "") else ""
    host = server.http_url.removeprefix("http://")
    return (
        f"cloud-tasks-emulator {__version__} ready{where}: gRPC {server.grpc_target}, "
        f"HTTP {server.http_url}. Connect: export {EMULATOR_HOST_ENV}={host} "
        "(REST, gRPC and Firebase on that one port)"
    )


def env_init(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> str:
    """`env-init`: the export lines that point clients (and with --gcloud, gcloud; with
    --terraform, Terraform's google provider) here."""
    env = os.environ if environ is None else environ
    parser = build_env_init_parser()
    args = parser.parse_args(argv)
    settings = _settings(parser, ENV_INIT_OPTIONS, args, env)
    if not settings.http_port:
        raise StartupError("env-init needs a fixed HTTP port, not 0 (picked at start)")
    host = autoconnect.emulator_host(env) if ":" in env.get(EMULATOR_HOST_ENV, "") else ""
    host = host or emulator_host(settings)
    variables = {EMULATOR_HOST_ENV: host}
    if args.credentials:
        path = write_credentials(args.credentials, host, settings.default_project)
        variables["GOOGLE_APPLICATION_CREDENTIALS"] = path
    if args.gcloud:
        variables |= gcloud_variables(f"http://{host}/", settings.default_project)
    if args.terraform:
        variables |= terraform_variables(f"http://{host}/v2/", settings.default_project)
    return "\n".join(f"export {name}={shlex.quote(value)}" for name, value in variables.items())


def write_credentials(path: str, host: str, project: str) -> str:
    """Write a throw-away service-account key file for the emulator at `host` (its token
    endpoint is the file's only URL) to `path`, readable by its owner only; returns the
    absolute path. A file there that is not such a key file is left alone (StartupError):
    it might be a real key."""
    import json

    from emulator.dispatch.authorization import KEY_FILE_ACCOUNT, TOKEN_PATH, service_account_key

    target = os.path.abspath(os.path.expanduser(path))
    if os.path.lexists(target):
        try:
            with open(target, encoding="utf-8") as file:
                earlier = json.load(file)
        except (OSError, ValueError):
            earlier = None
        email = earlier.get("client_email", "") if isinstance(earlier, dict) else ""
        if not str(email).startswith(KEY_FILE_ACCOUNT + "@"):
            raise StartupError(
                f"{target} exists and is not a key file env-init wrote: choose another path "
                "(it is overwritten only if it is one)"
            )
    info = service_account_key(project, f"http://{host}{TOKEN_PATH}")
    try:
        descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(descriptor, 0o600)  # an earlier file may have had another mode
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            json.dump(info, file, indent=2)
            file.write("\n")
    except OSError as error:
        raise StartupError(f"cannot write the credentials file: {error}") from None
    return target


def gcloud_variables(url: str, project: str = DEFAULT_PROJECT) -> dict[str, str]:
    """What gcloud needs to run `gcloud tasks ...` against the emulator from an empty
    configuration (CLOUDSDK_<SECTION>_<PROPERTY> sets a property, as `gcloud topic
    configurations` describes): its two APIs at `url` (the App Engine one answers gcloud's
    question for the default location), no credentials, the project it would otherwise
    ask for, nothing sent to Google (usage statistics, the update check) and no survey
    prompts."""
    return {
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDTASKS": url,
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_APPENGINE": url,
        "CLOUDSDK_AUTH_DISABLE_CREDENTIALS": "true",
        "CLOUDSDK_CORE_PROJECT": project,
        "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING": "true",
        "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "true",
        "CLOUDSDK_SURVEY_DISABLE_PROMPTS": "true",
    }


# What Terraform's google provider is given instead of credentials: with an access token
# set it looks up no others (docs/connect.md, Terraform). Any text does; the emulator
# checks no token.
TERRAFORM_PLACEHOLDER_TOKEN = "cloud-tasks-emulator-placeholder-token"


def terraform_variables(url: str, project: str = DEFAULT_PROJECT) -> dict[str, str]:
    """What Terraform's google provider needs to manage google_cloud_tasks_queue here
    (docs/connect.md, Terraform): the Cloud Tasks base URL it puts queue paths after
    (`url`, ending in the API version and a slash), an access token so that it loads no
    credentials, and the provider's project."""
    return {
        "GOOGLE_CLOUD_TASKS_CUSTOM_ENDPOINT": url,
        "GOOGLE_OAUTH_ACCESS_TOKEN": TERRAFORM_PLACEHOLDER_TOKEN,
        "GOOGLE_PROJECT": project,
    }


def startup_queues(settings: Settings) -> list[StartupQueue]:
    """The queues of --config and --queue (StartupError names the file, line and field)."""
    return startup_file(settings).queues


def startup_file(settings: Settings) -> StartupFile:
    """What --config and --queue say: the queues (StartupError names the file, line and
    field), whether queues are created on first use, and from which template."""
    from emulator import startup_queues as queue_files

    names = {"project": settings.default_project, "location": settings.default_location}
    found = (
        queue_files.read_file(settings.config, **names)
        if settings.config
        else queue_files.StartupFile([])
    )
    queues = found.queues
    queues += queue_files.parse_flags(settings.queues, source=f"--queue/{QUEUES_ENV}", **names)
    seen: set[str] = set()
    for item in queues:
        name = str(item.queue.name)
        if name in seen:
            raise StartupError(f"queue {name} is configured twice (--config and --queue)")
        seen.add(name)
    return found


async def run(settings: Settings) -> None:
    import asyncio

    from emulator.server import EmulatorServer

    found = startup_file(settings)  # may raise StartupError
    settings.auto_create_queues = settings.auto_create_queues or found.auto_create_queues
    server = EmulatorServer(settings, queues=found.queues, queue_template=found.template)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        if stop.is_set():  # a second signal: stop at once
            log.warning("stopping at once; attempts in flight are retried after a restart")
            os._exit(1)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    print(ready_line(server), flush=True)
    try:
        await stop.wait()
    finally:
        await server.stop(grace=settings.shutdown_grace)


def healthcheck(settings: Settings, timeout: float = 3.0) -> bool:
    """Whether the emulator at the configured address is up: `GET /healthz` on the HTTP
    port (served once every surface is), or gRPC health on the gRPC port if the HTTP port
    is picked at start. Docker runs this every second, so it loads neither gRPC nor
    asyncio."""
    from emulator import probe

    host = connect_host(settings.host)
    try:
        if settings.http_port:
            probe.http_ok(host, settings.http_port, "/healthz", timeout)
        else:
            probe.grpc_serving(host, settings.port, timeout)
    except probe.Unhealthy as error:
        print(f"cloud-tasks-emulator: unhealthy: {error}", file=sys.stderr)
        return False
    return True


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["env-init"]:
        try:
            print(env_init(args[1:]))
        except StartupError as error:
            sys.exit(f"cloud-tasks-emulator: {error}")
        return
    settings = parse_settings(args)
    if settings.healthcheck:
        sys.exit(0 if healthcheck(settings) else 1)
    import asyncio

    logs.configure(settings.log_level, settings.log_format)
    wire.load_message_types()  # this process builds no client: the types alone
    try:
        asyncio.run(run(settings))
    except StartupError as error:
        sys.exit(f"cloud-tasks-emulator: {error}")
