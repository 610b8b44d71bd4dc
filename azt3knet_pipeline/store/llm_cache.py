"""The LLM field cache of record: (model, prompt, seed) -> value, first writer wins."""

from __future__ import annotations

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from azt3knet_pipeline.store.engine import StoreBase, utc_now
from azt3knet_pipeline.store.tables import llm_cache


class LlmCacheMixin(StoreBase):
    """The `llm_cache` table (read and written through `llm.StoreFieldCache`)."""

    def llm_cache_get(self, cache_key: str) -> str | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(llm_cache.c.value).where(llm_cache.c.cache_key == cache_key)).first()
        return row[0] if row else None

    def llm_cache_put(self, cache_key: str, model: str, field: str, value: str) -> None:
        try:
            with self._tx() as tx:
                tx.execute(
                    insert(llm_cache).values(
                        cache_key=cache_key, model=model, field=field, value=value, created_at=utc_now()
                    )
                )
        except IntegrityError:
            pass  # first writer wins: the cached value is what makes re-runs identical
