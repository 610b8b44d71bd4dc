"""Start the Mailcow and deSEC stand-ins together on loopback and tell the pipeline where they are."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from azt3knet_pipeline.sandbox.desec import DEFAULT_TOKEN, DesecSandboxConfig, SandboxDomain, create_desec_app
from azt3knet_pipeline.sandbox.dovecot import RunningDovecot, start_dovecot
from azt3knet_pipeline.sandbox.mailcow import MailcowSandboxConfig, create_mailcow_app
from azt3knet_pipeline.serving import RunningServer, serve_in_thread

SANDBOX_MAILCOW_KEY = "SANDBOX-RW-KEY"
SANDBOX_ZONE = "azt3knet.test"


@dataclass
class Sandbox:
    """Both stand-ins, running. `env` holds the settings that point the pipeline at them."""

    mailcow: RunningServer
    desec: RunningServer
    mailcow_app: object
    desec_app: object
    zone: str
    dovecot: RunningDovecot | None = None

    @property
    def env(self) -> dict[str, str]:
        return {
            **(self.dovecot.env if self.dovecot else {}),
            "MAILCOW_API_URL": self.mailcow.url,
            "MAILCOW_API_KEY": SANDBOX_MAILCOW_KEY,
            "MAILCOW_VERIFY_TLS": "false",
            "DESEC_API_URL": f"{self.desec.url}/api/v1",
            "DESEC_TOKEN": DEFAULT_TOKEN,
            "DESEC_DOMAIN": self.zone,
            "MAIL_HOSTNAME": f"mail.{self.zone}",
        }

    def stop(self) -> None:
        self.mailcow.stop()
        self.desec.stop()
        if self.dovecot:
            self.dovecot.stop()


def start_sandbox(
    *,
    host: str = "127.0.0.1",
    mailcow_port: int | None = None,
    desec_port: int | None = None,
    zone: str = SANDBOX_ZONE,
    state_dir: Path | None = None,
    mailcow_config: MailcowSandboxConfig | None = None,
    desec_config: DesecSandboxConfig | None = None,
    mail_server: bool = False,
) -> Sandbox:
    """Serve both stand-ins (state in memory, or JSON files under `state_dir`) with `zone` pre-created on deSEC.

    `mail_server=True` also starts a real Dovecot whose users follow the Mailcow stand-in (RuntimeError when
    Dovecot is not installed: check `sandbox.dovecot.dovecot_missing()` first).
    """
    mailcow_config = mailcow_config or MailcowSandboxConfig(
        mailcow_hostname=f"mail.{zone}",
        state_file=str(state_dir / "mailcow.json") if state_dir else None,
    )
    desec_config = desec_config or DesecSandboxConfig(
        domains=[SandboxDomain(name=zone)],
        state_file=state_dir / "desec.json" if state_dir else None,
    )
    if state_dir:
        state_dir.mkdir(parents=True, exist_ok=True)
    mailcow_app = create_mailcow_app(mailcow_config)
    desec_app = create_desec_app(desec_config)
    mailcow = serve_in_thread(mailcow_app, host, mailcow_port)
    try:
        desec = serve_in_thread(desec_app, host, desec_port)
    except Exception:
        mailcow.stop()
        raise
    running = Sandbox(mailcow=mailcow, desec=desec, mailcow_app=mailcow_app, desec_app=desec_app, zone=zone)
    if mail_server:
        try:
            running.dovecot = start_dovecot(hostname=f"mail.{zone}")
            running.dovecot.follow(mailcow_app.state.sandbox)
        except Exception:
            running.stop()
            raise
    return running


@contextmanager
def running_sandbox(**kwargs: object) -> Iterator[Sandbox]:
    sandbox = start_sandbox(**kwargs)  # type: ignore[arg-type]
    try:
        yield sandbox
    finally:
        sandbox.stop()
