"""All checks in order, each detail line scrubbed of every configured secret."""

from __future__ import annotations

from sqlalchemy.engine import make_url

from azt3knet_pipeline.doctor.config import check_mail_hostname, check_settings
from azt3knet_pipeline.doctor.instance import check_dagster
from azt3knet_pipeline.doctor.remote import check_desec, check_mailcow
from azt3knet_pipeline.doctor.report import ORDER, SKIP, Check, Report
from azt3knet_pipeline.doctor.store import check_key, check_store
from azt3knet_pipeline.settings import Settings


class _Scrubber:
    """Removes every configured secret from a detail line before it is shown."""

    def __init__(self, settings: Settings | None) -> None:
        secrets: set[str] = set()
        if settings is not None:
            for value in (
                settings.secret_key_for_kv_enc,
                settings.mailcow_api_key,
                settings.desec_token,
                settings.admin_token,
            ):
                if value is not None and value.get_secret_value():
                    raw = value.get_secret_value()
                    secrets.add(raw)
                    secrets.update(part.strip() for part in raw.split(",") if part.strip())
            for url in (settings.database_url, settings.dagster_postgres_url):
                try:
                    password = make_url(url).password if url else None
                except Exception:  # an unparsable URL is reported by its own check
                    password = None
                if password:
                    secrets.add(str(password))
        self.secrets = sorted((s for s in secrets if len(s) >= 4), key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


def run_checks() -> Report:
    """Run every check; a check whose prerequisite failed is reported as skipped, never silently dropped."""
    report = Report()
    settings_check, settings = check_settings()
    scrub = _Scrubber(settings)
    report.checks.append(settings_check)
    if settings is None:
        for name in ORDER[1:]:
            report.checks.append(Check(name, SKIP, "not checked: the settings do not parse"))
        return report
    store_check, store = check_store(settings)
    results = [
        store_check,
        check_key(settings, store.engine),
        check_dagster(settings, store.keys),
        check_mailcow(settings),
        check_desec(settings),
        check_mail_hostname(settings),
    ]
    report.checks.extend(Check(c.name, c.status, scrub(c.detail)) for c in results)
    return report
