"""Checks of the configuration itself: the environment parses, MAIL_HOSTNAME lies inside DESEC_DOMAIN."""

from __future__ import annotations

from pydantic import ValidationError

from azt3knet_pipeline.doctor.report import FAIL, MAIL_HOST, OK, SETTINGS, Check
from azt3knet_pipeline.errors import describe_validation_error
from azt3knet_pipeline.settings import Settings


def check_settings() -> tuple[Check, Settings | None]:
    try:
        settings = Settings()
    except ValidationError as exc:
        return Check(SETTINGS, FAIL, f"environment does not parse: {describe_validation_error(exc)}"), None
    return Check(SETTINGS, OK, f"environment parsed (AZT3KNET_HOME={settings.home})"), settings


def check_mail_hostname(settings: Settings) -> Check:
    host = settings.mail_hostname.strip().rstrip(".").lower()
    zone = settings.desec_domain.strip().rstrip(".").lower()
    if host == zone or host.endswith("." + zone):
        return Check(MAIL_HOST, OK, f"{host} is inside DESEC_DOMAIN {zone} (its A/AAAA are ours to keep)")
    return Check(
        MAIL_HOST,
        FAIL,
        f"{host} is not inside DESEC_DOMAIN {zone}: `dns bootstrap` and the dyn-DNS "
        "job cannot write its A/AAAA, and MX records would point outside the zone",
    )
