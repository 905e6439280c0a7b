"""Cloud Run's front door: the checks Cloud Run makes on an authenticated invocation
before the request reaches the container, for routes that switch it on (`;auth`,
`;invoker=...`, `;audiences=...`; `emulator.core.routes`).

The rules, in the order they are checked (docs/production-parity.md cites each):

1. A bearer token is present, else 403 (Cloud Run answers a request without credentials
   to a private service with 403: cloud.google.com/run/docs/troubleshooting).
2. It is a valid ID token signed by the emulator's key (the key that signs every OIDC
   token of a task: `emulator.dispatch.authorization`), else 401: Cloud Run accepts
   Google-signed ID tokens only (cloud.google.com/run/docs/authenticating/service-to-service).
3. Its `aud` is the service URL (the production URL's scheme and host, with or without a
   path; no query string or fragment) or one of the route's custom audiences, else 401
   (cloud.google.com/run/docs/configuring/custom-audiences; a query string in the audience
   gets 401: googleapis/python-tasks#137).
4. Its `email` is one of the route's invokers (when the route lists any), else 403: the
   caller lacks roles/run.invoker (cloud.google.com/run/docs/securing/managing-access).

A refused request is answered as Cloud Run answers it; the handler is not contacted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from emulator.core.routes import Routed
from emulator.dispatch.authorization import InvalidToken

Verify = Callable[[str], dict[str, Any]]  # an ID token's claims, or InvalidToken


@dataclass(frozen=True)
class Refusal:
    status: int  # 401 or 403
    reason: str  # why, for the attempt's `error` and the log
    body: bytes  # Cloud Run's answer


def check(routed: Routed, path: str, headers: Mapping[str, str], verify: Verify) -> Refusal | None:
    """None if Cloud Run would let the request through to the container."""
    route = routed.route
    authorization = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return _forbidden(path, "no bearer token: the task has no oidc_token")
    try:
        claims = verify(token.strip())
    except InvalidToken as error:
        return _unauthorized(path, str(error))
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if not any(_accepted(aud, routed.service_url, route.audiences) for aud in audiences):
        return _unauthorized(path, _audience_reason(audience, routed.service_url, route.audiences))
    email = claims.get("email")
    if route.invokers and email not in route.invokers:
        return _forbidden(
            path,
            f"{email or 'the caller'} is not an invoker of {routed.service_url} (invokers: "
            f"{', '.join(route.invokers)})",
        )
    return None


def service_url_accepts(audience: str, service_url: str) -> bool:
    """Whether `audience` names the service: its scheme and host (port included), any
    path or none, and no query string or fragment."""
    if "?" in audience or "#" in audience:
        return False
    try:
        parts, service = urlsplit(audience), urlsplit(service_url)
    except ValueError:
        return False
    return (parts.scheme.lower(), parts.netloc.lower()) == (
        service.scheme.lower(),
        service.netloc.lower(),
    )


def _accepted(audience: Any, service_url: str, custom: tuple[str, ...]) -> bool:
    if not isinstance(audience, str):
        return False
    return audience in custom or service_url_accepts(audience, service_url)


def _audience_reason(audience: Any, service_url: str, custom: tuple[str, ...]) -> str:
    reason = f"audience {audience} does not match the service URL {service_url}"
    if custom:
        reason += f" or a custom audience ({', '.join(custom)})"
    if isinstance(audience, str) and ("?" in audience or "#" in audience):
        reason += (
            "; an audience with a query string or fragment is refused: set "
            "oidc_token.audience (by default it is the task's full URL)"
        )
    return reason


# Cloud Run's own words for the two refusals (the status line and the page's text).
def _unauthorized(path: str, reason: str) -> Refusal:
    text = (
        f"Error: Unauthorized\nYour client does not have permission to the requested URL {path}.\n"
    )
    return Refusal(401, reason, text.encode())


def _forbidden(path: str, reason: str) -> Refusal:
    text = (
        "Error: Forbidden\n"
        f"Your client does not have permission to get URL {path} from this server.\n"
    )
    return Refusal(403, reason, text.encode())
