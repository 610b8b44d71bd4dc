"""Dagster resources: thin wrappers that hand the assets the store and the API clients."""

from functools import lru_cache

from dagster import ConfigurableResource

from azt3knet_pipeline.settings import get_settings
from azt3knet_pipeline.store.repository import Store


@lru_cache(maxsize=8)
def _open_store(url: str) -> Store:
    return Store.open(url)


class StoreResource(ConfigurableResource):
    """The project store. `database_url` empty ⇒ `AZT3KNET_DATABASE_URL` or the SQLite default."""

    database_url: str = ""

    def open(self) -> Store:
        return _open_store(self.database_url or get_settings().resolved_database_url)


class MailcowResource(ConfigurableResource):
    """Mailcow API access; empty fields fall back to MAILCOW_API_URL / MAILCOW_API_KEY."""

    api_url: str = ""

    def client(self):
        from azt3knet_pipeline.clients.factory import mailcow_client

        settings = get_settings()
        if self.api_url:
            settings = settings.model_copy(update={"mailcow_api_url": self.api_url})
        return mailcow_client(settings)


class DesecResource(ConfigurableResource):
    """deSEC API access; empty fields fall back to DESEC_API_URL / DESEC_TOKEN."""

    api_url: str = ""

    def client(self):
        from azt3knet_pipeline.clients.factory import desec_client

        settings = get_settings()
        if self.api_url:
            settings = settings.model_copy(update={"desec_api_url": self.api_url})
        return desec_client(settings)
