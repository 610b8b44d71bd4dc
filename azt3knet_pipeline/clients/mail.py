"""Mail probes: IMAPS login, SMTP submission (STARTTLS + AUTH) and waiting for a message over IMAP.

Each probe makes one attempt and is never retried: a mail server bans an address after repeated refused logins
(Mailcow runs fail2ban/Dovecot penalties), and a failed probe is the answer we want to report. Errors become a
`MailProbeError` whose `reason` is one of REASONS; its text never contains a password.
"""

from __future__ import annotations

import contextlib
import imaplib
import smtplib
import socket
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from azt3knet_pipeline.errors import MailProbeError
from azt3knet_pipeline.settings import Settings

AUTH_REFUSED, TLS, TIMEOUT, CONNECTION, PROTOCOL = "auth refused", "TLS", "timeout", "connection failed", "protocol"
REASONS = (AUTH_REFUSED, TLS, TIMEOUT, CONNECTION, PROTOCOL)


@dataclass(frozen=True)
class MailEndpoint:
    """Where the mail host answers and how to talk TLS to it."""

    host: str
    imap_port: int
    submission_port: int
    timeout: float
    context: ssl.SSLContext

    @classmethod
    def from_settings(cls, settings: Settings) -> MailEndpoint:
        return cls(
            host=settings.mail_host,
            imap_port=settings.imap_port,
            submission_port=settings.submission_port,
            timeout=settings.mail_timeout,
            context=tls_context(settings.mail_verify_tls, settings.mail_tls_ca_file),
        )


def tls_context(verify: bool, ca_file: Path | None = None) -> ssl.SSLContext:
    """System trust (plus `ca_file`) with hostname checks; `verify=False` only for throwaway test servers."""
    context = ssl.create_default_context()
    if ca_file is not None:
        context.load_verify_locations(cafile=str(ca_file))
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _text(value: object) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return " ".join(str(value).split())[:200]


def classify(exc: BaseException) -> MailProbeError:
    """Map a socket/TLS/IMAP/SMTP exception to a MailProbeError (order matters: TLS errors are OSErrors)."""
    if isinstance(exc, MailProbeError):
        return exc
    if isinstance(exc, ssl.SSLCertVerificationError):
        return MailProbeError(TLS, getattr(exc, "verify_message", None) or "certificate verification failed")
    if isinstance(exc, ssl.SSLError):
        return MailProbeError(TLS, getattr(exc, "reason", None) or "handshake failed")
    if isinstance(exc, TimeoutError):
        return MailProbeError(TIMEOUT, "no answer in time")
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return MailProbeError(AUTH_REFUSED, f"{exc.smtp_code} {_text(exc.smtp_error)}")
    if isinstance(exc, smtplib.SMTPResponseException):
        return MailProbeError(PROTOCOL, f"{exc.smtp_code} {_text(exc.smtp_error)}")
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return MailProbeError(PROTOCOL, "recipient refused")
    if isinstance(exc, smtplib.SMTPException):
        return MailProbeError(PROTOCOL, _text(exc))
    if isinstance(exc, imaplib.IMAP4.abort):
        return MailProbeError(CONNECTION, _text(exc))
    if isinstance(exc, imaplib.IMAP4.error):
        text = _text(exc.args[0] if exc.args else exc)
        refused = "AUTHENTICATIONFAILED" in text.upper() or "AUTHENTICATION FAILED" in text.upper()
        return MailProbeError(AUTH_REFUSED if refused else PROTOCOL, text)
    if isinstance(exc, socket.gaierror):
        return MailProbeError(CONNECTION, f"cannot resolve host ({exc.strerror})")
    if isinstance(exc, OSError):
        return MailProbeError(CONNECTION, exc.strerror or type(exc).__name__)
    return MailProbeError(PROTOCOL, type(exc).__name__)


@contextmanager
def imap_session(endpoint: MailEndpoint, address: str, password: str) -> Iterator[imaplib.IMAP4_SSL]:
    """A logged-in IMAPS session (logged out on exit); MailProbeError on any failure."""
    try:
        client = imaplib.IMAP4_SSL(
            endpoint.host, endpoint.imap_port, ssl_context=endpoint.context, timeout=endpoint.timeout
        )
    except Exception as exc:
        raise classify(exc) from None
    try:
        try:
            client.login(address, password)
        except Exception as exc:
            raise classify(exc) from None
        yield client
    finally:
        with contextlib.suppress(Exception):  # the session is over either way
            client.logout()


def imap_login(endpoint: MailEndpoint, address: str, password: str) -> None:
    """Log in over IMAPS, open the INBOX read-only and log out; MailProbeError when any step fails."""
    with imap_session(endpoint, address, password) as client:
        try:
            status, _ = client.select("INBOX", readonly=True)
        except Exception as exc:
            raise classify(exc) from None
        if status != "OK":
            raise MailProbeError(PROTOCOL, "INBOX cannot be opened")


def submit(endpoint: MailEndpoint, sender: str, password: str, message: EmailMessage) -> None:
    """Submit `message` as `sender` on the submission port: STARTTLS (required), AUTH, then MAIL/RCPT/DATA."""
    try:
        with smtplib.SMTP(endpoint.host, endpoint.submission_port, timeout=endpoint.timeout) as smtp:
            smtp.ehlo()
            if not smtp.has_extn("starttls"):
                raise MailProbeError(TLS, "server does not offer STARTTLS")
            smtp.starttls(context=endpoint.context)
            smtp.ehlo()
            smtp.login(sender, password)
            smtp.send_message(message)
    except Exception as exc:
        raise classify(exc) from None


def wait_for_message(
    endpoint: MailEndpoint, address: str, password: str, message_id: str, within: float, poll: float = 0.5
) -> float:
    """Seconds until the message with `message_id` is in `address`'s INBOX (then it is removed again).

    MailProbeError(TIMEOUT) when it has not arrived within `within` seconds.
    """
    started = time.monotonic()
    with imap_session(endpoint, address, password) as client:
        while True:
            try:
                client.select("INBOX")
                status, data = client.search(None, "HEADER", "Message-ID", message_id)
            except Exception as exc:
                raise classify(exc) from None
            found = data[0].split() if status == "OK" and data and data[0] else []
            if found:
                elapsed = time.monotonic() - started
                # The probe message has served its purpose; leave the agent's mailbox as it was.
                for number in found:
                    client.store(number.decode(), "+FLAGS", "\\Deleted")
                client.expunge()
                return elapsed
            if time.monotonic() - started > within:
                raise MailProbeError(TIMEOUT, f"message not delivered within {within:g}s")
            time.sleep(poll)
