"""A real Dovecot for the sandbox: IMAPS and submission (STARTTLS) on loopback high ports, self-signed certificate.

Its users follow the Mailcow stand-in: per-service passwd-files with the stand-in's `{SSHA256}` hashes (Mailcow's
Dovecot reads the same hashes from SQL), rewritten on every stand-in change. As in Mailcow's passdb query, a mailbox
logs in only while it and its domain are active and its `imap_access`/`smtp_access` flag allows the service.
Dovecot stats a passwd-file at most once a second, so a change is seen from the next second on (`settle()`).
Submission relays to a small loopback SMTP sink that hands each message to `dovecot-lda`, so a message submitted by
one agent lands in the recipient's Maildir and is seen over IMAP (the sink accepts any recipient, unlike Mailcow's
Postfix). Everything lives in a private temporary directory, removed on stop.
"""

from __future__ import annotations

import datetime as dt
import errno
import grp
import ipaddress
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from azt3knet_pipeline.sandbox.smtp_sink import SmtpSink
from azt3knet_pipeline.serving import free_port

DOVECOT_BINARY = "/usr/sbin/dovecot"
LDA_BINARY = "/usr/lib/dovecot/dovecot-lda"
SUBMISSION_LOGIN = "/usr/lib/dovecot/submission-login"


def dovecot_missing() -> str | None:
    """Why the sandbox cannot run Dovecot here (None when it can)."""
    for path, package in ((DOVECOT_BINARY, "dovecot-imapd"), (SUBMISSION_LOGIN, "dovecot-submissiond")):
        if not os.access(path, os.X_OK):
            return f"{path} not found; install Debian's {package}"
    if not os.access(LDA_BINARY, os.X_OK):
        return f"{LDA_BINARY} not found; install Debian's dovecot-core"
    return None


def self_signed_certificate(names: list[str], directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate (its own trust anchor) for `names` (DNS names or IP addresses); (cert, key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    alt: list[x509.GeneralName] = []
    for name in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt.append(x509.DNSName(name))
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_path.chmod(0o600)
    return cert_path, key_path


# Dovecot service name -> the Mailcow attribute that grants it (Mailcow's passdb query checks the same flags).
SERVICE_FLAGS = {"imap": "imap_access", "submission": "smtp_access"}


def passwd_lines(mailboxes: list[dict[str, Any]], domains: dict[str, dict[str, Any]], service: str) -> list[str]:
    """passwd-file lines of the mailboxes that may log in to `service`: active, in an active domain, flag not 0."""
    flag = SERVICE_FLAGS[service]
    lines = []
    for box in sorted(mailboxes, key=lambda m: m["username"]):
        domain = domains.get(box["domain"])
        if not box.get("active") or not domain or not domain.get("active"):
            continue
        if (box.get("attributes") or {}).get(flag) == "0":
            continue
        lines.append(f"{box['username']}:{box['password_hash']}::::::")
    return lines


@dataclass
class RunningDovecot:
    """A Dovecot instance started by `start_dovecot`. `env` points the pipeline's mail probes at it."""

    root: Path
    imaps_port: int
    submission_port: int
    relay_port: int
    cert_path: Path
    config_path: Path
    host: str = "127.0.0.1"
    auth_owner: tuple[int, int] | None = None
    _sink: SmtpSink | None = None
    _sink_thread: threading.Thread | None = None
    _process: subprocess.Popen[bytes] | None = None
    _stamp: float = 0.0
    _written_at: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def env(self) -> dict[str, str]:
        return {
            "MAIL_CONNECT_HOST": self.host,
            "AZT3KNET_IMAP_PORT": str(self.imaps_port),
            "AZT3KNET_SUBMISSION_PORT": str(self.submission_port),
            "MAIL_TLS_CA_FILE": str(self.cert_path),
            "MAIL_VERIFY_TLS": "true",
        }

    @property
    def log_path(self) -> Path:
        return self.root / "dovecot.log"

    def sync_users(self, mailboxes: list[dict[str, Any]], domains: dict[str, dict[str, Any]]) -> None:
        """Rewrite the per-service passwd-files (atomically) from the stand-in's mailboxes and domains."""
        with self._lock:
            # Dovecot re-reads a passwd-file when its mtime or size changes; a password change keeps the size, and
            # two changes can fall in the same second, so every rewrite gets a strictly newer whole-second mtime.
            self._stamp = max(float(int(time.time())), self._stamp + 1)
            for service in SERVICE_FLAGS:
                target = self.root / f"passwd.{service}"
                tmp = target.with_name(f".passwd.{service}.tmp")
                tmp.write_text("".join(f"{line}\n" for line in passwd_lines(mailboxes, domains, service)))
                # Password hashes: readable only by Dovecot's auth process (the internal user).
                tmp.chmod(0o600)
                if self.auth_owner is not None:
                    os.chown(tmp, *self.auth_owner)
                os.replace(tmp, target)
                os.utime(target, (self._stamp, self._stamp))
            self._written_at = time.time()

    def settle(self) -> None:
        """Wait until Dovecot is sure to see the last rewrite: its auth process stats a passwd-file at most once
        per second, so a login in the same second as a change may still use the old file."""
        while time.time() < self._written_at + 1.05:
            time.sleep(0.05)

    def follow(self, mailcow_sandbox: Any) -> None:
        """Keep the users in step with a `MailcowSandbox` (now and after each of its changes)."""

        def observe(sb: Any) -> None:
            with sb.lock:
                boxes = [dict(m) for m in sb.mailboxes.values()]
                domains = {name: dict(d) for name, d in sb.domains.items()}
            self.sync_users(boxes, domains)

        mailcow_sandbox.on_change.append(observe)
        observe(mailcow_sandbox)

    def stop(self) -> None:
        """Stop Dovecot and the relay sink, then remove the instance's directory (mail included)."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
        if self._sink is not None:
            self._sink.shutdown()
            self._sink.server_close()
        shutil.rmtree(self.root, ignore_errors=True)


def _users() -> tuple[str, str]:
    """(login/internal user, mail user): `nobody` when running as root, else the current user."""
    if os.geteuid() == 0:
        return "nobody", "nobody"
    name = pwd.getpwuid(os.geteuid()).pw_name
    return name, name


CONFIG_TEMPLATE = """\
# Generated by azt3knet_pipeline.sandbox.dovecot for a throwaway loopback instance.
base_dir = {root}/run
state_dir = {root}/state
instance_name = azt3knet-{imaps_port}
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
protocols = imap submission
listen = 127.0.0.1
default_internal_user = {internal_user}
default_internal_group = {internal_group}
default_login_user = {internal_user}
first_valid_uid = 1
hostname = {hostname}
ssl = required
ssl_cert = <{cert}
ssl_key = <{key}
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
auth_mechanisms = plain login
auth_cache_size = 0
# A throwaway test server: answer refused logins at once (production keeps Dovecot's 2 s delay).
auth_failure_delay = 0
mail_location = maildir:{root}/mail/%d/%n
mail_uid = {mail_user}
mail_gid = {mail_group}
submission_relay_host = 127.0.0.1
submission_relay_port = {relay_port}
submission_relay_trusted = no
lda_mailbox_autocreate = yes
recipient_delimiter =
passdb {{
  driver = passwd-file
  args = scheme=SSHA256 {root}/passwd.%s
}}
userdb {{
  driver = static
  args = uid={mail_user} gid={mail_group} home={root}/mail/%d/%n allow_all_users=yes
}}
service imap-login {{
  chroot = {login_chroot}
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    port = {imaps_port}
    ssl = yes
  }}
}}
service submission-login {{
  chroot = {login_chroot}
  inet_listener submission {{
    port = {submission_port}
  }}
}}
service anvil {{
  chroot = {anvil_chroot}
  # Refused logins from 127.0.0.1 would otherwise slow every later test login down by up to 15 s (auth penalty).
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""


# Dovecot binds the free ports it is given only once it runs; another process binding a free port of its own may
# take one first. Dovecot then exits at once, and the sandbox starts it again on new ports, a bounded number of times.
START_ATTEMPTS = 3


class _PortTaken(RuntimeError):
    """One of the ports chosen for this start was taken before Dovecot or the relay sink bound it."""


def start_dovecot(*, hostname: str, host: str = "127.0.0.1", startup_timeout: float = 15.0) -> RunningDovecot:
    """Start Dovecot (and its relay sink) in a new private directory; raises RuntimeError if it does not come up."""
    missing = dovecot_missing()
    if missing:
        raise RuntimeError(f"Dovecot is not available: {missing}")
    for attempt in range(1, START_ATTEMPTS + 1):
        try:
            return _start_once(hostname, host, startup_timeout)
        except _PortTaken:
            if attempt == START_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def _start_once(hostname: str, host: str, startup_timeout: float) -> RunningDovecot:
    root = Path(tempfile.mkdtemp(prefix="azt3knet-dovecot-"))
    # Dovecot's unprivileged processes (auth, imap as the mail user) must reach these paths.
    root.chmod(0o755)
    internal_user, mail_user = _users()
    internal_group = mail_group = _group_name(internal_user)
    mail_root = root / "mail"
    mail_root.mkdir(mode=0o700)
    auth_owner = None
    if os.geteuid() == 0:
        os.chown(mail_root, pwd.getpwnam(mail_user).pw_uid, pwd.getpwnam(mail_user).pw_gid)
        auth_owner = (pwd.getpwnam(internal_user).pw_uid, pwd.getpwnam(internal_user).pw_gid)
    cert_path, key_path = self_signed_certificate([host, hostname], root)
    imaps_port, submission_port, relay_port = free_port(host), free_port(host), free_port(host)
    config_path = root / "dovecot.conf"
    config_path.write_text(
        CONFIG_TEMPLATE.format(
            root=root,
            imaps_port=imaps_port,
            submission_port=submission_port,
            relay_port=relay_port,
            internal_user=internal_user,
            internal_group=internal_group,
            mail_user=mail_user,
            mail_group=mail_group,
            hostname=hostname,
            # Only root may chroot; unprivileged, Dovecot's login processes and anvil run unchrooted.
            login_chroot="login" if os.geteuid() == 0 else "",
            anvil_chroot="empty" if os.geteuid() == 0 else "",
            cert=cert_path,
            key=key_path,
        ),
        encoding="utf-8",
    )
    running = RunningDovecot(
        root=root,
        host=host,
        imaps_port=imaps_port,
        submission_port=submission_port,
        relay_port=relay_port,
        cert_path=cert_path,
        config_path=config_path,
        auth_owner=auth_owner,
    )
    running.sync_users([], {})
    try:
        running._sink = SmtpSink(relay_port, config_path, LDA_BINARY)
    except OSError as exc:
        running.stop()
        if exc.errno == errno.EADDRINUSE:
            raise _PortTaken(f"the relay sink's port {relay_port} was taken") from exc
        raise
    running._sink_thread = threading.Thread(target=running._sink.serve_forever, name="dovecot-relay", daemon=True)
    running._sink_thread.start()
    # -F: stay in the foreground, so the instance is our child and stops with us.
    running._process = subprocess.Popen(
        [DOVECOT_BINARY, "-F", "-c", str(config_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    if not _wait_for_ports(running._process, host, [imaps_port, submission_port], startup_timeout):
        log = running.log_path.read_text(errors="replace") if running.log_path.exists() else ""
        running.stop()
        if "Address already in use" in log:
            raise _PortTaken(f"Dovecot could not listen: {log[-500:]}")
        raise RuntimeError(f"Dovecot did not listen within {startup_timeout}s: {log[-500:]}")
    return running


def _group_name(user: str) -> str:
    return grp.getgrgid(pwd.getpwnam(user).pw_gid).gr_name


def _wait_for_ports(process: subprocess.Popen[bytes], host: str, ports: list[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    pending = list(ports)
    while pending and time.monotonic() < deadline and process.poll() is None:
        port = pending[0]
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex((host, port)) == 0:
                pending.pop(0)
                continue
        time.sleep(0.05)
    return not pending
