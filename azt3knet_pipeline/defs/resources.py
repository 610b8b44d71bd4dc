"""Dagster resources: the run's settings (secrets and URLs), the store and the API clients.

`SettingsResource` carries every secret and URL a run uses. Each field left unset is read from its environment
variable (the names of `.env.example`) when the run starts; a deployment may also bind a field to
`EnvVar("NAME")` explicitly. `setup_for_execution` checks what the run's steps will need, so a run without
SECRET_KEY_FOR_KV_ENC, MAILCOW_API_KEY or DESEC_TOKEN fails while its first step starts, with one line naming the
variable, before a population is registered or anything is written. (An `EnvVar` bound by default would instead
fail every run, even a profiles-only one, at config resolution whenever any of them is unset.)

`StoreResource`, `MailcowResource` and `DesecResource` are thin adapters over one `SettingsResource`.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, ClassVar

from dagster import ConfigurableResource, InitResourceContext
from pydantic import Field, PrivateAttr

from azt3knet_pipeline.clients.factory import desec_client, mailcow_client, secret_box
from azt3knet_pipeline.errors import ConfigurationError
from azt3knet_pipeline.settings import Settings
from azt3knet_pipeline.store.repository import Store

# Field → environment variable it defaults to (also the alias `Settings` reads it under).
ENV_NAMES: dict[str, str] = {
    "home": "AZT3KNET_HOME",
    "database_url": "AZT3KNET_DATABASE_URL",
    "secret_key_for_kv_enc": "SECRET_KEY_FOR_KV_ENC",
    "mailcow_api_url": "MAILCOW_API_URL",
    "mailcow_api_key": "MAILCOW_API_KEY",
    "desec_api_url": "DESEC_API_URL",
    "desec_token": "DESEC_TOKEN",
    "desec_domain": "DESEC_DOMAIN",
    "mail_hostname": "MAIL_HOSTNAME",
    "ollama_base_url": "OLLAMA_BASE_URL",
}

# What each step of a run needs set (steps are named after their asset, op or check).
STEP_NEEDS: dict[str, tuple[str, ...]] = {
    "mailboxes": ("SECRET_KEY_FOR_KV_ENC", "MAILCOW_API_KEY"),
    "dns_records": ("MAILCOW_API_KEY", "DESEC_TOKEN"),
    "credential_export": ("SECRET_KEY_FOR_KV_ENC",),
    "mailboxes_mailboxes_accept_login": ("SECRET_KEY_FOR_KV_ENC",),  # the check's step
    "teardown_population": ("MAILCOW_API_KEY",),
}
HINTS: dict[str, str] = {
    "SECRET_KEY_FOR_KV_ENC": "a Fernet key: see .env.example",
    "MAILCOW_API_KEY": "Mailcow → Configuration → Access → API, read-write key",
    "DESEC_TOKEN": "deSEC → Token management",
}


def _field(name: str, description: str) -> Any:
    return Field(default=None, description=f"{description} (unset: ${ENV_NAMES[name]})")


@lru_cache(maxsize=8)
def _open_store(url: str) -> Store:
    return Store.open(url)


def run_step_keys(context: InitResourceContext) -> set[str] | None:
    """The steps the run being started will execute (None outside a run: sensors, schedules, tests)."""
    run = context.dagster_run
    if run is None:
        return None
    if run.step_keys_to_execute:
        return set(run.step_keys_to_execute)
    if context.instance is not None and run.execution_plan_snapshot_id:
        snapshot = context.instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
        return {step.key for step in snapshot.steps}
    return None


class SettingsResource(ConfigurableResource):
    """Secrets and URLs of the pipeline; every field defaults to its environment variable (see `.env.example`)."""

    home: str | None = _field("home", "Data directory (store, exports, reports)")
    database_url: str | None = _field("database_url", "Project store URL; unset: SQLite under the data directory")
    secret_key_for_kv_enc: str | None = _field("secret_key_for_kv_enc", "Fernet key(s) encrypting stored secrets")
    mailcow_api_url: str | None = _field("mailcow_api_url", "Mailcow API base URL")
    mailcow_api_key: str | None = _field("mailcow_api_key", "Mailcow read-write API key")
    desec_api_url: str | None = _field("desec_api_url", "deSEC API base URL")
    desec_token: str | None = _field("desec_token", "deSEC API token")
    desec_domain: str | None = _field("desec_domain", "Zone the populations' mail domains live under")
    mail_hostname: str | None = _field("mail_hostname", "The mail server's host name (MX target)")
    ollama_base_url: str | None = _field("ollama_base_url", "Ollama URL (AZT3KNET_LLM_BACKEND=ollama)")

    # Set only on the subclasses `pinned_settings` makes: a class attribute, because Dagster re-creates the
    # resource from its config (instance and private attributes are lost, the class is kept).
    pinned: ClassVar[Settings | None] = None
    _settings: Settings | None = PrivateAttr(default=None)

    @property
    def settings(self) -> Settings:
        """Settings with this resource's fields over the environment (the non-secret knobs stay env-driven)."""
        if self.pinned is not None:
            return self.pinned
        if self._settings is None:
            given = {ENV_NAMES[name]: value for name in ENV_NAMES if (value := getattr(self, name)) is not None}
            self._settings = Settings(**given)
        return self._settings

    def setup_for_execution(self, context: InitResourceContext) -> None:
        """Fail the run's first step, in one line naming the variable, when a step of the run needs it unset."""
        self._settings = None
        steps = run_step_keys(context)
        if steps is None:
            return
        settings = self.settings
        values = {
            "SECRET_KEY_FOR_KV_ENC": settings.secret_key_for_kv_enc,
            "MAILCOW_API_KEY": settings.mailcow_api_key,
            "DESEC_TOKEN": settings.desec_token,
        }
        needed = sorted({name for step in steps for name in STEP_NEEDS.get(step, ())})
        for name in needed:
            value = values[name]
            if value is None or not value.get_secret_value():
                users = ", ".join(sorted(step for step in steps if name in STEP_NEEDS.get(step, ())))
                raise ConfigurationError(f"{name} is not set ({HINTS[name]}); this run needs it for {users}")
        if "SECRET_KEY_FOR_KV_ENC" in needed:
            secret_box(settings)  # malformed key: one-line KeyConfigError now, not after registering

    def store(self) -> Store:
        return _open_store(self.settings.resolved_database_url)

    def secret_box(self):  # -> SecretBox
        return secret_box(self.settings)


class StoreResource(ConfigurableResource):
    """The project store (AZT3KNET_DATABASE_URL, else the SQLite file under AZT3KNET_HOME)."""

    settings: SettingsResource

    def open(self) -> Store:
        return self.settings.store()


class MailcowResource(ConfigurableResource):
    """Mailcow API access (MAILCOW_API_URL / MAILCOW_API_KEY)."""

    settings: SettingsResource

    def client(self):  # -> MailcowClient
        return mailcow_client(self.settings.settings)


class DesecResource(ConfigurableResource):
    """deSEC API access (DESEC_API_URL / DESEC_TOKEN)."""

    settings: SettingsResource

    def client(self):  # -> DesecClient
        return desec_client(self.settings.settings)


def pipeline_resources(settings: SettingsResource | None = None) -> dict[str, ConfigurableResource]:
    """The resources every job, sensor and schedule uses, over one `SettingsResource` (default: the environment)."""
    settings = settings or SettingsResource()
    return {
        "settings": settings,
        "store": StoreResource(settings=settings),
        "mailcow": MailcowResource(settings=settings),
        "desec": DesecResource(settings=settings),
    }


def pinned_settings(settings: Settings) -> SettingsResource:
    """A SettingsResource that is exactly `settings` (environment not read) for runs executed in this process.

    Its values are held by a one-off subclass, not by fields: field values become defaults of the resource's
    config schema, which Dagster stores with the run's job snapshot, secrets included.
    """
    pinned_class = type("PinnedSettingsResource", (SettingsResource,), {"pinned": settings, "__module__": __name__})
    return pinned_class()
