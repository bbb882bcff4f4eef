"""Sign-in with GitHub (OAuth 2.0 authorization-code flow, via Authlib's httpx client).

The endpoints come from settings, so a deployment (or a test) can point them at any provider
that speaks GitHub's dialect. The ``state`` value travels in a short-lived signed cookie.
"""

from __future__ import annotations

from typing import Any

from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client
from itsdangerous import BadSignature, URLSafeTimedSerializer

from growthos_pipeline.errors import BadRequest, FeatureDisabled, ServiceUnavailable
from growthos_pipeline.settings import Settings

STATE_COOKIE = "gos_oauth_state"
STATE_MAX_AGE_S = 600
SCOPE = "read:user user:email"
#: Token-endpoint errors that mean the code is wrong, used or expired (GitHub's, then RFC 6749's):
#: the person should start again. Other errors (bad client secret, redirect mismatch) are the
#: deployment's, not theirs.
_CODE_ERRORS = frozenset({"bad_verification_code", "invalid_grant"})


def _client(settings: Settings, redirect_uri: str) -> AsyncOAuth2Client:
    if not settings.feature_enabled("oauth_login"):
        raise FeatureDisabled("feature_disabled", "sign-in is switched off on this deployment")
    if not settings.github_client_id or settings.github_client_secret is None:
        raise FeatureDisabled(
            "feature_disabled",
            "GitHub sign-in is not configured: set GROWTHOS_GITHUB_CLIENT_ID and "
            "GROWTHOS_GITHUB_CLIENT_SECRET",
        )
    return AsyncOAuth2Client(
        client_id=settings.github_client_id,
        client_secret=settings.github_client_secret.get_secret_value(),
        redirect_uri=redirect_uri,
        scope=SCOPE,
        timeout=10.0,
    )


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.server_secret(), salt="gos-oauth-state")


def start(settings: Settings, redirect_uri: str) -> tuple[str, str]:
    """The provider's authorization URL and the signed state cookie value."""
    client = _client(settings, redirect_uri)
    url, state = client.create_authorization_url(settings.github_authorize_url)
    return str(url), _serializer(settings).dumps(state)


def check_state(settings: Settings, cookie: str | None, state: str | None) -> None:
    if not cookie or not state:
        raise BadRequest("oauth_state_missing", "the sign-in was not started here; start again")
    try:
        expected = _serializer(settings).loads(cookie, max_age=STATE_MAX_AGE_S)
    except BadSignature:
        raise BadRequest("oauth_state_invalid", "the sign-in expired; start again") from None
    if expected != state:
        raise BadRequest("oauth_state_mismatch", "the sign-in state does not match; start again")


async def fetch_profile(settings: Settings, code: str, redirect_uri: str) -> dict[str, Any]:
    """Exchange the code for a token and read the GitHub user (with a verified email)."""
    if not code or len(code) > 512:
        raise BadRequest("oauth_code_missing", "the provider sent no authorization code")
    api = settings.github_api_url.rstrip("/")
    async with _client(settings, redirect_uri) as client:
        try:
            await client.fetch_token(
                settings.github_token_url, code=code, headers={"Accept": "application/json"}
            )
        except OAuthError as exc:
            details = [{"provider_error": str(exc.error)[:100]}]
            if exc.error in _CODE_ERRORS:
                raise BadRequest(
                    "oauth_code_invalid",
                    "the provider refused the sign-in code (wrong, used or expired); start again",
                    details=details,
                ) from None
            raise ServiceUnavailable(
                "oauth_provider_error",
                "the sign-in provider refused this deployment's token request; check the "
                "GitHub client id, secret and callback URL",
                details=details,
            ) from exc
        except Exception as exc:
            raise ServiceUnavailable(
                "oauth_provider_error", "the sign-in provider did not answer as expected"
            ) from exc
        try:
            response = await client.get(f"{api}/user", headers={"Accept": "application/json"})
            response.raise_for_status()
            profile: dict[str, Any] = response.json()
            if not profile.get("email"):
                emails = await client.get(f"{api}/user/emails")
                if emails.status_code == 200:
                    for entry in emails.json():
                        if entry.get("primary") and entry.get("verified"):
                            profile["email"] = entry.get("email")
        except Exception as exc:
            if isinstance(exc, BadRequest):
                raise
            raise ServiceUnavailable(
                "oauth_provider_error", "the sign-in provider did not answer as expected"
            ) from exc
    return profile
