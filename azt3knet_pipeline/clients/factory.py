"""Build API clients and the secret box from settings, with a clear error for anything missing."""

from __future__ import annotations

from azt3knet_pipeline.clients.desec import DesecClient
from azt3knet_pipeline.clients.http import RetryPolicy
from azt3knet_pipeline.clients.mailcow import MailcowClient
from azt3knet_pipeline.errors import ConfigurationError
from azt3knet_pipeline.settings import Settings
from azt3knet_pipeline.store.crypto import SecretBox

MAILCOW_KEY_MISSING = "MAILCOW_API_KEY is not set (Mailcow → Configuration → Access → API, read-write key)"
DESEC_TOKEN_MISSING = "DESEC_TOKEN is not set (deSEC → Token management)"


def secret_box(settings: Settings) -> SecretBox:
    """The Fernet/MultiFernet box from SECRET_KEY_FOR_KV_ENC (KeyConfigError if missing or malformed)."""
    raw = settings.secret_key_for_kv_enc.get_secret_value() if settings.secret_key_for_kv_enc else None
    return SecretBox.from_setting(raw)


def mailcow_client(
    settings: Settings, *, timeout: float | None = None, policy: RetryPolicy | None = None
) -> MailcowClient:
    """A Mailcow client for MAILCOW_API_URL / MAILCOW_API_KEY (`timeout`, `policy`: instead of MAILCOW_TIMEOUT
    and the default retries)."""
    if settings.mailcow_api_key is None or not settings.mailcow_api_key.get_secret_value():
        raise ConfigurationError(MAILCOW_KEY_MISSING)
    return MailcowClient(
        settings.mailcow_api_url,
        settings.mailcow_api_key.get_secret_value(),
        verify_tls=settings.mailcow_verify_tls,
        timeout=settings.mailcow_timeout if timeout is None else timeout,
        policy=policy,
    )


def desec_client(settings: Settings, *, timeout: float | None = None, policy: RetryPolicy | None = None) -> DesecClient:
    """A deSEC client for DESEC_API_URL / DESEC_TOKEN (`timeout`, `policy`: instead of DESEC_TIMEOUT and the
    default retries)."""
    if settings.desec_token is None or not settings.desec_token.get_secret_value():
        raise ConfigurationError(DESEC_TOKEN_MISSING)
    return DesecClient(
        settings.desec_api_url,
        settings.desec_token.get_secret_value(),
        timeout=settings.desec_timeout if timeout is None else timeout,
        policy=policy,
    )
