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
