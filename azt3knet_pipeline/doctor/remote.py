"""Checks of the remote APIs: ONE request each, never retried (Mailcow's fail2ban bans repeated bad keys)."""

from __future__ import annotations

from pydantic import SecretStr

from azt3knet_pipeline.clients.factory import DESEC_TOKEN_MISSING, MAILCOW_KEY_MISSING, desec_client, mailcow_client
from azt3knet_pipeline.clients.http import RetryPolicy
from azt3knet_pipeline.doctor.report import DESEC, FAIL, MAILCOW, OK, REMOTE_TIMEOUT, Check, short_error
from azt3knet_pipeline.errors import (
    DesecAuthError,
    DesecError,
    DesecNotFound,
    DesecThrottled,
    MailcowAuthError,
    MailcowError,
)
from azt3knet_pipeline.settings import Settings


def _blank(secret: SecretStr | None) -> bool:
    """Unset, empty or whitespace only: the doctor reports it as not set."""
    return secret is None or not secret.get_secret_value().strip()


def check_mailcow(settings: Settings) -> Check:
    """ONE read (`get/domain/all`) with the configured key, never retried (fail2ban)."""
    url = settings.mailcow_api_url
    if _blank(settings.mailcow_api_key):
        return Check(MAILCOW, FAIL, MAILCOW_KEY_MISSING)
    try:
        timeout = min(settings.mailcow_timeout, REMOTE_TIMEOUT)
        client = mailcow_client(settings, timeout=timeout, policy=RetryPolicy(max_attempts=1))
    except Exception as exc:
        return Check(MAILCOW, FAIL, f"MAILCOW_API_URL {url!r} is not usable: {short_error(exc)}")
    try:
        with client:
            domains = client.list_domains()
    except MailcowAuthError as exc:
        return Check(
            MAILCOW,
            FAIL,
            f"{url}: key refused ({short_error(exc)}); check MAILCOW_API_KEY and Mailcow's API "
            "allow-list (the address it names). One attempt was made: repeated bad keys "
            "trip fail2ban",
        )
    except MailcowError as exc:
        return Check(MAILCOW, FAIL, f"{url}: unreachable or failing: {short_error(exc)}")
    except Exception as exc:
        return Check(MAILCOW, FAIL, f"{url}: {type(exc).__name__}: {short_error(exc)}")
    tls = "" if settings.mailcow_verify_tls or not url.startswith("https") else "; TLS NOT verified"
    return Check(MAILCOW, OK, f"{url}: key accepted, {len(domains)} domain(s){tls}")


def check_desec(settings: Settings) -> Check:
    """ONE read of `domains/<DESEC_DOMAIN>/` with the configured token, never retried."""
    url, domain = settings.desec_api_url, settings.desec_domain
    if _blank(settings.desec_token):
        return Check(DESEC, FAIL, DESEC_TOKEN_MISSING)
    try:
        timeout = min(settings.desec_timeout, REMOTE_TIMEOUT)
        client = desec_client(settings, timeout=timeout, policy=RetryPolicy(max_attempts=1))
    except Exception as exc:
        return Check(DESEC, FAIL, f"DESEC_API_URL {url!r} is not usable: {short_error(exc)}")
    try:
        with client:
            found = client.get_domain(domain)
    except DesecAuthError as exc:
        return Check(DESEC, FAIL, f"{url}: token refused (HTTP {exc.status}); check DESEC_TOKEN")
    except DesecNotFound:
        return Check(DESEC, FAIL, f"{url}: token accepted, but DESEC_DOMAIN {domain} is not in this account")
    except DesecThrottled:
        return Check(DESEC, FAIL, f"{url}: throttled (HTTP 429); the token was not checked, try again later")
    except DesecError as exc:
        return Check(DESEC, FAIL, f"{url}: unreachable or failing: {short_error(exc)}")
    except Exception as exc:
        return Check(DESEC, FAIL, f"{url}: {type(exc).__name__}: {short_error(exc)}")
    return Check(DESEC, OK, f"{url}: token accepted, domain {found.name} present")
