"""Every environment variable the pipeline reads, in one place (pydantic-settings).

Only the documented names (`.env.example`) are read: a field is never filled from its own name (`HOME`,
`DATABASE_URL`, `ADMIN_TOKEN`, ...), and `~` is expanded from the password database, not from `$HOME`.
"""

from __future__ import annotations

import os
import pwd
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def user_home() -> Path:
    """The current user's home directory from the password database (`$HOME` is someone else's to set)."""
    return Path(pwd.getpwuid(os.getuid()).pw_dir)


def expand_user(path: Path) -> Path:
    """`~` and `~user` expanded from the password database; any other path unchanged."""
    text = str(path)
    if not text.startswith("~"):
        return path
    name, _, rest = text[1:].partition("/")
    try:
        base = Path(pwd.getpwnam(name).pw_dir) if name else user_home()
    except KeyError:
        raise ValueError(f"unknown user in path {text!r}") from None
    return base / rest if rest else base


def _default_home() -> Path:
    return user_home() / ".azt3knet"


class Settings(BaseSettings):
    """Runtime configuration. Each field maps to one environment variable (see `.env.example`)."""

    # populate_by_name stays off: with it, pydantic-settings would also read each field's own name from the
    # environment (HOME → home, DATABASE_URL → database_url), which belongs to other programs. Names are
    # case-sensitive, as on the command line: `azt3knet_home` is not `AZT3KNET_HOME`.
    model_config = SettingsConfigDict(env_file=None, extra="ignore", populate_by_name=False, case_sensitive=True)

    home: Path = Field(default_factory=_default_home, validation_alias="AZT3KNET_HOME")
    database_url: str | None = Field(default=None, validation_alias="AZT3KNET_DATABASE_URL")
    dagster_home: Path | None = Field(default=None, validation_alias="DAGSTER_HOME")
    dagster_postgres_url: str | None = Field(default=None, validation_alias="AZT3KNET_DAGSTER_POSTGRES_URL")

    secret_key_for_kv_enc: SecretStr | None = Field(default=None, validation_alias="SECRET_KEY_FOR_KV_ENC")
    admin_token: SecretStr | None = Field(default=None, validation_alias="AZT3KNET_ADMIN_TOKEN")

    api_run_executor: str = Field(
        default="auto", pattern=r"^(auto|daemon|embedded)$", validation_alias="AZT3KNET_API_RUN_EXECUTOR"
    )
    queued_run_timeout: float = Field(default=120.0, gt=0, validation_alias="AZT3KNET_QUEUED_RUN_TIMEOUT")
    max_population: int = Field(default=100_000, ge=1, validation_alias="AZT3KNET_MAX_POPULATION")
    preview_limit: int = Field(default=1_000, ge=1, validation_alias="AZT3KNET_PREVIEW_LIMIT")

    mailcow_api_url: str = Field(default="http://127.0.0.1:8081", validation_alias="MAILCOW_API_URL")
    mailcow_api_key: SecretStr | None = Field(default=None, validation_alias="MAILCOW_API_KEY")
    mailcow_verify_tls: bool = Field(default=True, validation_alias="MAILCOW_VERIFY_TLS")
    mailcow_concurrency: int = Field(default=8, ge=1, le=64, validation_alias="MAILCOW_CONCURRENCY")
    mailcow_timeout: float = Field(default=15.0, gt=0, validation_alias="MAILCOW_TIMEOUT")
    mailbox_quota_mib: int = Field(default=1024, ge=1, validation_alias="AZT3KNET_MAILBOX_QUOTA_MIB")
    dkim_selector: str = Field(default="dkim", pattern=r"^[A-Za-z0-9._-]+$", validation_alias="AZT3KNET_DKIM_SELECTOR")
    dkim_key_size: int = Field(default=2048, validation_alias="AZT3KNET_DKIM_KEY_SIZE")
    imap_port: int = Field(default=993, validation_alias="AZT3KNET_IMAP_PORT")
    smtp_port: int = Field(default=465, validation_alias="AZT3KNET_SMTP_PORT")
    submission_port: int = Field(default=587, validation_alias="AZT3KNET_SUBMISSION_PORT")
    mail_hostname: str = Field(default="mail.example.test", validation_alias="MAIL_HOSTNAME")
    # Mailbox verification (`azt3knet verify`, the `mailboxes_accept_login` check): where and how to connect.
    mail_connect_host: str | None = Field(default=None, validation_alias="MAIL_CONNECT_HOST")
    mail_verify_tls: bool = Field(default=True, validation_alias="MAIL_VERIFY_TLS")
    mail_tls_ca_file: Path | None = Field(default=None, validation_alias="MAIL_TLS_CA_FILE")
    mail_timeout: float = Field(default=10.0, gt=0, validation_alias="MAIL_TIMEOUT")
    verify_sample: int = Field(default=20, ge=0, validation_alias="AZT3KNET_VERIFY_SAMPLE")
    verify_delivery_timeout: float = Field(default=60.0, gt=0, validation_alias="AZT3KNET_VERIFY_DELIVERY_TIMEOUT")
    verify_cron: str = Field(default="17 * * * *", validation_alias="AZT3KNET_VERIFY_CRON")

    desec_api_url: str = Field(default="https://desec.io/api/v1", validation_alias="DESEC_API_URL")
    desec_token: SecretStr | None = Field(default=None, validation_alias="DESEC_TOKEN")
    desec_domain: str = Field(default="example.test", validation_alias="DESEC_DOMAIN")
    desec_timeout: float = Field(default=15.0, gt=0, validation_alias="DESEC_TIMEOUT")
    dns_ttl: int = Field(default=3600, ge=1, le=86400, validation_alias="AZT3KNET_DNS_TTL")

    dyndns_ip_source_url: str | None = Field(default=None, validation_alias="DYNDNS_IP_SOURCE_URL")
    dyndns_fixed_ipv4: str | None = Field(default=None, validation_alias="DYNDNS_FIXED_IPV4")
    dyndns_fixed_ipv6: str | None = Field(default=None, validation_alias="DYNDNS_FIXED_IPV6")
    dyndns_ttl: int = Field(default=60, ge=1, le=86400, validation_alias="DYNDNS_TTL")
    dyndns_cron: str = Field(default="*/5 * * * *", validation_alias="DYNDNS_CRON")
    desec_dyndns_url: str | None = Field(default=None, validation_alias="DESEC_DYNDNS_URL")

    llm_backend: str = Field(default="offline", validation_alias="AZT3KNET_LLM_BACKEND")
    ollama_base_url: str = Field(default="http://127.0.0.1:11434", validation_alias="OLLAMA_BASE_URL")
    ollama_model: str = Field(default="llama3.2", validation_alias="OLLAMA_MODEL")
    ollama_timeout: float = Field(default=60.0, gt=0, validation_alias="OLLAMA_TIMEOUT")

    @field_validator("home", "dagster_home")
    @classmethod
    def _expand_user(cls, value: Path | None) -> Path | None:
        return None if value is None else expand_user(value)

    @field_validator("llm_backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in {"offline", "ollama"}:
            raise ValueError("AZT3KNET_LLM_BACKEND must be 'offline' or 'ollama'")
        return value

    @property
    def exports_dir(self) -> Path:
        """Where credential bundles are written (mode 0600)."""
        return self.home / "exports"

    @property
    def resolved_database_url(self) -> str:
        """The project store URL: `AZT3KNET_DATABASE_URL`, else a SQLite file under `AZT3KNET_HOME`."""
        return self.database_url or f"sqlite:///{self.home / 'azt3knet.db'}"

    @property
    def resolved_dagster_home(self) -> Path:
        """`DAGSTER_HOME`, else `$AZT3KNET_HOME/dagster`."""
        return self.dagster_home or (self.home / "dagster")

    @property
    def mail_host(self) -> str:
        """The host mail probes connect to (and verify TLS against): MAIL_CONNECT_HOST, else MAIL_HOSTNAME."""
        return self.mail_connect_host or self.mail_hostname

    def mail_domain_for(self, population_key: str) -> str:
        """The mail domain of one population: `<key>.<DESEC_DOMAIN>`."""
        return f"{population_key}.{self.desec_domain}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings read once from the environment (tests call `get_settings.cache_clear()`)."""
    return Settings()
