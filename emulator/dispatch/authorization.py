"""The Authorization header of dispatched requests: OIDC ID tokens and OAuth tokens.

As the HttpRequest.oidc_token / oauth_token fields of the Cloud Tasks API describe them:
OIDC tokens are RS256 JWTs with Google's service-account ID-token claims, signed by a
key made on first use (or loaded from a PEM file). The public half is served as a JWKS
on the HTTP port, so handlers verify tokens with standard libraries. OAuth tokens are
opaque bearer strings with a recognisable prefix.

Token times are wall-clock time, not the virtual clock, because handlers check them
against real time: this module is the one place allowed to read the wall clock directly.
The private key is never served or logged.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import rsa

# PyJWT and cryptography (~50 ms to import) are loaded with the key, on the first token
# or JWKS request (or at start for --oidc-key-file, to check it): not on every start.

TOKEN_LIFETIME = 3600
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_PATH = "/token"
KEY_FILE_ACCOUNT = "cloud-tasks-emulator"  # the account of service_account_key() files


class TokenRequestError(ValueError):
    """A token request the emulator refuses: an OAuth 2.0 error code (RFC 6749, 5.2)."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(description)
        self.code, self.description = code, description


class InvalidToken(ValueError):
    """A bearer token that is not a valid ID token of this emulator's: says why."""


def service_account_key(project: str, token_uri: str) -> dict[str, Any]:
    """A throw-away service-account key file's content, in the form google-auth loads
    (`google.auth.default()` with GOOGLE_APPLICATION_CREDENTIALS): a fresh RSA key, an
    account of `project`, and `token_uri` (the emulator's token endpoint) as the only
    URL, so nothing it makes reaches Google."""
    import secrets

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    email = f"{KEY_FILE_ACCOUNT}@{project}.iam.gserviceaccount.com"
    return {
        "type": "service_account",
        "project_id": project,
        "private_key_id": secrets.token_hex(20),
        "private_key": pem.decode(),
        "client_email": email,
        "client_id": account_id(email),
        "token_uri": token_uri,
    }


OAUTH_PREFIX = "ya29.cloud-tasks-emulator."
JWKS_PATH = "/.well-known/jwks.json"
OPENID_CONFIGURATION_PATH = "/.well-known/openid-configuration"


def account_id(email: str) -> str:
    """A stable 21-digit numeric ID for a service account, like Google's `sub`."""
    digest = int.from_bytes(hashlib.sha256(email.encode()).digest()[:8], "big")
    return str(10**20 + digest % 10**20)


class Authorizer:
    """Signs OIDC ID tokens with the emulator's key and mints OAuth access tokens."""

    def __init__(self, issuer: str, private_key_pem: bytes | None = None) -> None:
        self.issuer = issuer
        self._pem = private_key_pem

    @cached_property
    def _key(self) -> rsa.RSAPrivateKey:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        if self._pem is None:
            return rsa.generate_private_key(public_exponent=65537, key_size=2048)
        key = serialization.load_pem_private_key(self._pem, password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("the OIDC signing key must be an RSA private key")
        return key

    @cached_property
    def _public_jwk(self) -> dict[str, Any]:
        import jwt

        jwk: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key()))
        thumbprint = json.dumps({k: jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":"))
        kid = base64.urlsafe_b64encode(hashlib.sha256(thumbprint.encode()).digest()).decode()
        return {**jwk, "kid": kid.rstrip("="), "use": "sig", "alg": "RS256"}

    def check_key(self) -> None:
        """Load the key now, so a bad PEM file stops the start-up with a clear error."""
        _ = self._public_jwk

    def oidc(self, email: str, audience: str) -> str:
        now = int(time.time())
        subject = account_id(email)
        claims = {
            "iss": self.issuer,
            "aud": audience,
            "azp": subject,
            "sub": subject,
            "email": email,
            "email_verified": True,
            "iat": now,
            "exp": now + TOKEN_LIFETIME,
        }
        import jwt

        return jwt.encode(
            claims, self._key, algorithm="RS256", headers={"kid": self._public_jwk["kid"]}
        )

    def verify(self, token: str) -> dict[str, Any]:
        """The claims of an ID token this emulator signed: its signature, `iss`, `iat` and
        `exp` checked (the audience is the caller's to check). InvalidToken says why not."""
        import jwt

        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key.public_key(),
                algorithms=["RS256"],
                issuer=self.issuer,
                options={"verify_aud": False, "require": ["iss", "exp", "iat"]},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("the ID token has expired") from None
        except jwt.InvalidSignatureError:
            raise InvalidToken("the token is not signed by the emulator's key") from None
        except jwt.InvalidIssuerError:
            raise InvalidToken(f"the token's issuer is not this emulator ({self.issuer})") from None
        except jwt.DecodeError:
            raise InvalidToken("the bearer token is not an ID token (a JWT)") from None
        except jwt.InvalidTokenError as error:
            raise InvalidToken(f"the ID token is not valid: {error}") from None
        return claims

    @staticmethod
    def oauth(email: str, scope: str) -> str:
        now = int(time.time())
        payload = json.dumps(
            {"email": email, "scope": scope, "iat": now, "exp": now + TOKEN_LIFETIME},
            separators=(",", ":"),
        )
        return OAUTH_PREFIX + base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")

    def token_grant(self, form: Mapping[str, str]) -> dict[str, Any]:
        """The answer to an OAuth 2.0 JWT-bearer grant (RFC 7523), as google-auth sends it
        for a service-account key file whose `token_uri` is the emulator: an access token
        for the assertion's `iss` and `scope`, or an ID token for its `target_audience`.
        The assertion's signature is not checked: the key file is a local throw-away.
        TokenRequestError (an OAuth error code and description) for anything else."""
        if form.get("grant_type") != JWT_BEARER_GRANT:
            raise TokenRequestError(
                "unsupported_grant_type", f"grant_type must be {JWT_BEARER_GRANT}"
            )
        import jwt

        try:
            claims = jwt.decode(form.get("assertion", ""), options={"verify_signature": False})
        except jwt.InvalidTokenError as error:
            raise TokenRequestError("invalid_request", f"assertion is not a JWT: {error}") from None
        email = claims.get("iss")
        if not isinstance(email, str) or not email:
            raise TokenRequestError("invalid_grant", "the assertion has no iss (the account)")
        audience = claims.get("target_audience")
        if isinstance(audience, str) and audience:
            return {"id_token": self.oidc(email, audience)}
        scope = claims.get("scope")
        if not isinstance(scope, str) or not scope:
            raise TokenRequestError("invalid_scope", "the assertion has no scope")
        return {
            "access_token": self.oauth(email, scope),
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME,
        }

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self._public_jwk]}

    def openid_configuration(self, base_url: str) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "jwks_uri": base_url + JWKS_PATH,
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "claims_supported": [
                "aud",
                "azp",
                "email",
                "email_verified",
                "exp",
                "iat",
                "iss",
                "sub",
            ],
        }
