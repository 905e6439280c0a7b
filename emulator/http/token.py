"""The tokens' HTTP routes: OIDC discovery and JWKS (how a handler verifies the OIDC
tokens the emulator signs), and `POST /token` for `env-init --credentials` key files."""

from __future__ import annotations

from http import HTTPStatus

from aiohttp import web

from emulator.dispatch.authorization import (
    JWKS_PATH,
    OPENID_CONFIGURATION_PATH,
    TOKEN_PATH,
    Authorizer,
    TokenRequestError,
)

AUTHORIZER = web.AppKey("authorizer", Authorizer)


async def _openid_configuration(request: web.Request) -> web.Response:
    base = f"{request.scheme}://{request.host}"
    return web.json_response(request.app[AUTHORIZER].openid_configuration(base))


async def _jwks(request: web.Request) -> web.Response:
    return web.json_response(request.app[AUTHORIZER].jwks())


async def _token(request: web.Request) -> web.Response:
    """The token endpoint of `env-init --credentials` key files: google-auth's JWT-bearer
    grant, answered with a local token; a bad request gets an OAuth JSON error (400)."""
    try:
        if request.content_type != "application/x-www-form-urlencoded":
            raise TokenRequestError(
                "invalid_request", "the body must be a form (application/x-www-form-urlencoded)"
            )
        try:
            form = await request.post()
        except (ValueError, web.HTTPException) as error:  # not UTF-8, or too large
            raise TokenRequestError("invalid_request", f"not a form: {error}") from None
        fields = {key: value for key, value in form.items() if isinstance(value, str)}
        return web.json_response(request.app[AUTHORIZER].token_grant(fields))
    except TokenRequestError as error:
        body = {"error": error.code, "error_description": error.description}
        return web.json_response(body, status=HTTPStatus.BAD_REQUEST)


def add_to(app: web.Application, authorizer: Authorizer) -> None:
    app[AUTHORIZER] = authorizer
    app.router.add_get(OPENID_CONFIGURATION_PATH, _openid_configuration)
    app.router.add_get(JWKS_PATH, _jwks)
    app.router.add_post(TOKEN_PATH, _token)
