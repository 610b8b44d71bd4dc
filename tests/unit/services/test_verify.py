"""Pure parts of mailbox verification: the deterministic sample, the passwd-file rules that mirror Mailcow's
passdb query, the reason a probe failure is filed under, and what a report counts as a pass."""

from __future__ import annotations

import imaplib
import smtplib
import socket
import ssl

from azt3knet_pipeline.clients.mail import AUTH_REFUSED, CONNECTION, PROTOCOL, TIMEOUT, TLS, classify
from azt3knet_pipeline.domain.sampling import deterministic_sample
from azt3knet_pipeline.errors import MailProbeError
from azt3knet_pipeline.sandbox.dovecot import passwd_lines
from azt3knet_pipeline.sandbox.mailcow import hash_password
from azt3knet_pipeline.services.verify import Delivery, MailboxFailure, VerifyReport

ADDRESSES = [f"agent{i:03d}@pop.example.test" for i in range(200)]


def test_sample_is_deterministic_spread_and_prefix_stable() -> None:
    first = deterministic_sample(ADDRESSES, "pop", 20)
    assert first == deterministic_sample(list(reversed(ADDRESSES)), "pop", 20)
    assert len(first) == len(set(first)) == 20 and set(first) <= set(ADDRESSES)
    assert first != sorted(ADDRESSES)[:20]  # spread over the population, not its first addresses
    assert deterministic_sample(ADDRESSES, "pop", 50)[:20] == first
    assert deterministic_sample(ADDRESSES, "other-pop", 20) != first  # each population its own sample
    assert sorted(deterministic_sample(ADDRESSES, "pop", 0)) == sorted(ADDRESSES)
    assert sorted(deterministic_sample(ADDRESSES[:3], "pop", 10)) == sorted(ADDRESSES[:3])


def test_passwd_lines_follow_mailcow_passdb_rules() -> None:
    def box(name: str, domain: str = "a.test", active: int = 1, **attributes: str) -> dict[str, object]:
        return {
            "username": f"{name}@{domain}",
            "domain": domain,
            "active": active,
            "password_hash": hash_password(f"pw-{name}"),
            "attributes": attributes,
        }

    boxes = [
        box("ok"),
        box("off", active=0),
        box("noimap", imap_access="0"),
        box("nosmtp", smtp_access="0"),
        box("dead", domain="off.test"),
        box("orphan", domain="gone.test"),
    ]
    domains = {"a.test": {"active": 1}, "off.test": {"active": 0}}
    imap = [line.split(":")[0] for line in passwd_lines(boxes, domains, "imap")]
    submission = [line.split(":")[0] for line in passwd_lines(boxes, domains, "submission")]
    assert imap == ["nosmtp@a.test", "ok@a.test"]
    assert submission == ["noimap@a.test", "ok@a.test"]
    line = passwd_lines(boxes, domains, "imap")[1]
    assert line.split(":")[1].startswith("{SSHA256}") and "pw-ok" not in line
    assert line.count(":") == 7  # user:password:uid:gid:gecos:home:shell:extra


def test_classify_names_the_reason() -> None:
    cases = [
        (ssl.SSLCertVerificationError(1, "certificate verify failed"), TLS),
        (ssl.SSLError(1, "wrong version number"), TLS),
        (TimeoutError("timed out"), TIMEOUT),
        (ConnectionRefusedError(111, "Connection refused"), CONNECTION),
        (socket.gaierror(-2, "Name or service not known"), CONNECTION),
        (imaplib.IMAP4.error(b"[AUTHENTICATIONFAILED] Authentication failed."), AUTH_REFUSED),
        (imaplib.IMAP4.abort("socket error: EOF"), CONNECTION),
        (imaplib.IMAP4.error("SELECT command error: BAD"), PROTOCOL),
        (smtplib.SMTPAuthenticationError(535, b"5.7.8 Authentication failed"), AUTH_REFUSED),
        (smtplib.SMTPDataError(451, b"4.3.0 local delivery failed"), PROTOCOL),
    ]
    for exc, reason in cases:
        assert classify(exc).reason == reason, exc
    assert str(classify(ConnectionRefusedError(111, "Connection refused"))) == "connection failed: Connection refused"
    already = MailProbeError(TLS, "x")
    assert classify(already) is already


def test_report_passes_only_when_every_sampled_mailbox_logs_in_and_delivery_worked() -> None:
    base = {"population_key": "p", "mail_host": "h", "mailboxes": 5, "sampled": 3, "seconds": 0.5}
    assert VerifyReport(**base, logged_in=3, failures=[]).ok
    failure = MailboxFailure(address="a@p.test", reason=AUTH_REFUSED)
    bad = VerifyReport(**base, logged_in=2, failures=[failure])
    assert not bad.ok
    meta = bad.metadata()
    assert (meta["failed"], meta["failed_auth_refused"], meta["failed_addresses"]) == (1, 1, "a@p.test")
    assert not VerifyReport(**base, logged_in=3, failures=[], delivery=Delivery(failure=failure)).ok
    assert VerifyReport(**base, logged_in=3, failures=[], delivery=Delivery(delivered=True, seconds=0.1)).ok
    assert not VerifyReport(**{**base, "sampled": 0}, logged_in=0, failures=[]).ok
    assert failure.line() == "a@p.test: auth refused"
