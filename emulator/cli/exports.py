"""`env-init`: the export lines that point clients, gcloud or Terraform at an emulator,
and the key file of `--credentials`."""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping, Sequence

from emulator.cli.options import ENV_INIT_OPTIONS
from emulator.cli.parser import build_env_init_parser, emulator_host, read_settings
from emulator.core.errors import StartupError
from emulator.core.settings import (
    DEFAULT_PROJECT,
    EMULATOR_HOST_ENV,
)


def env_init(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> str:
    """`env-init`: the export lines that point clients (and with --gcloud, gcloud; with
    --terraform, Terraform's google provider) here."""
    env = os.environ if environ is None else environ
    parser = build_env_init_parser()
    args = parser.parse_args(argv)
    settings = read_settings(parser, ENV_INIT_OPTIONS, args, env)
    if not settings.http_port:
        raise StartupError("env-init needs a fixed HTTP port, not 0 (picked at start)")
    from emulator import autoconnect  # (its import hook's machinery: env-init alone)

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
