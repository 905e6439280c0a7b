"""The worker as it runs on Cloud Run at https://worker-xyz-uc.a.run.app.

It accepts a task only with an OIDC token whose audience is its own service URL, checked
with google-auth: the code and the audience are production's, unchanged. Only where
google-auth fetches the signing keys differs: Google's certificates in production, the
emulator's JWKS locally (OIDC_CERTS_URL).

SERVICE_URL=https://worker-xyz-uc.a.run.app \
OIDC_CERTS_URL=http://127.0.0.1:8124/.well-known/jwks.json python cloud_run_worker.py
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from typing import Any

from aiohttp import web
from google.auth.transport import requests as google_requests
from google.oauth2 import id_token

SERVICE_URL = "https://worker-xyz-uc.a.run.app"  # the service's production URL
GOOGLE_CERTS = "https://www.googleapis.com/oauth2/v1/certs"  # google-auth's default

ACCEPTED = web.AppKey("accepted", list)
AUDIENCE = web.AppKey("audience", str)
CERTS = web.AppKey("certs", str)
log = logging.getLogger("worker")


def verify(authorization: str, audience: str, certs_url: str) -> dict[str, Any]:
    """The token's claims if google-auth accepts it for `audience`; raises otherwise."""
    token = authorization.removeprefix("Bearer ")
    request = google_requests.Request()
    return dict(id_token.verify_token(token, request, audience=audience, certs_url=certs_url))


async def send_email(request: web.Request) -> web.Response:
    """POST /tasks/email: the task's body is the email; the caller must prove it is the
    queue's service account, with a token meant for this service."""
    app = request.app
    try:
        claims = await asyncio.to_thread(
            verify, request.headers.get("Authorization", ""), app[AUDIENCE], app[CERTS]
        )
    except Exception as error:  # google-auth's errors vary by version
        log.warning("refused %s: %s", request.path_qs, error)
        return web.json_response({"error": str(error)}, status=401)
    body = await request.read()
    app[ACCEPTED].append(
        {
            "host": request.host,
            "path": request.path_qs,
            "email": claims["email"],
            "task": request.headers.get("X-CloudTasks-TaskName"),
            "body": body.decode(),
        }
    )
    log.info("accepted %s from %s (host %s)", request.path_qs, claims["email"], request.host)
    return web.json_response({"sent": True})


def make_app(audience: str = SERVICE_URL, certs_url: str = GOOGLE_CERTS) -> web.Application:
    app = web.Application()
    app[ACCEPTED], app[AUDIENCE], app[CERTS] = [], audience, certs_url
    app.router.add_post("/tasks/email", send_email)
    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    service_url = os.environ.get("SERVICE_URL", SERVICE_URL)
    certs_url = os.environ.get("OIDC_CERTS_URL", GOOGLE_CERTS)
    web.run_app(make_app(service_url, certs_url), host=args.host, port=args.port)
