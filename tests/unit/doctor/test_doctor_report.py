"""The doctor's report and checks that need no server: one line per check, secrets scrubbed, hostname in zone."""

from __future__ import annotations

import json

from azt3knet_pipeline.doctor import Check, Report
from azt3knet_pipeline.doctor.config import check_mail_hostname
from azt3knet_pipeline.doctor.report import FAIL, OK, SKIP, describe_db_url
from azt3knet_pipeline.doctor.run import _Scrubber
from azt3knet_pipeline.settings import Settings


def test_report_lines_align_names_and_end_with_a_summary() -> None:
    report = Report(
        [Check("settings", OK, "parsed"), Check("deSEC API", FAIL, "down"), Check("MAIL_HOSTNAME", SKIP, "-")]
    )
    lines = report.lines()
    assert lines[0].startswith("✓ settings") and lines[1].startswith("✗ deSEC API")
    columns = {line.rindex(check.detail) for line, check in zip(lines, report.checks, strict=False)}
    assert len(columns) == 1  # every detail starts in one column
    assert lines[-1] == "1 problem(s): deSEC API"
    assert not report.ok and report.failed == ["deSEC API"]
    assert json.loads(report.to_json())["failed"] == ["deSEC API"]
    green = Report([Check("settings", OK, "parsed")])
    assert green.ok and green.lines()[-1] == "all 1 checks passed"


def test_scrubber_removes_every_configured_secret() -> None:
    settings = Settings(
        SECRET_KEY_FOR_KV_ENC="first-fernet-key,second-fernet-key",
        MAILCOW_API_KEY="mailcow-api-key-1",
        DESEC_TOKEN="desec-token-123",
        AZT3KNET_DATABASE_URL="postgresql://azt3knet:db-password-9@127.0.0.1:5432/azt3knet",
    )
    scrub = _Scrubber(settings)
    line = "second-fernet-key mailcow-api-key-1 desec-token-123 db-password-9 and the rest"
    assert scrub(line) == "*** *** *** *** and the rest"


def test_describe_db_url_never_shows_the_password() -> None:
    described = describe_db_url("postgresql://user:s3cret-pw@db.example:5433/azt3knet")
    assert described == "postgresql db.example:5433/azt3knet"
    assert describe_db_url("sqlite:////tmp/x.db") == "SQLite /tmp/x.db"


def test_mail_hostname_must_lie_inside_the_zone() -> None:
    inside = check_mail_hostname(Settings(MAIL_HOSTNAME="mail.example.test", DESEC_DOMAIN="example.test"))
    outside = check_mail_hostname(Settings(MAIL_HOSTNAME="mail.other.test", DESEC_DOMAIN="example.test"))
    assert inside.status == OK and outside.status == FAIL and "not inside DESEC_DOMAIN" in outside.detail
