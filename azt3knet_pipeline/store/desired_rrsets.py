"""Desired rrsets of record: what was last written to deSEC for each population (the drift sensor's reference)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, insert, select, update

from azt3knet_pipeline.domain.models import canonical_json, sha256_hex
from azt3knet_pipeline.store.engine import StoreBase, utc_now
from azt3knet_pipeline.store.tables import population, population_dns


class DesiredRRsetsMixin(StoreBase):
    """The `population_dns` table: one JSON list of desired rrsets per population, with its hash."""

    def save_desired_rrsets(self, population_key: str, zone: str, rrsets: list[dict[str, Any]]) -> str:
        """Record the desired rrsets (JSON-ready dicts) last written for a population; returns their hash."""
        text = canonical_json(rrsets)
        digest = sha256_hex(text)
        values = {"zone": zone, "desired_json": text, "desired_hash": digest, "updated_at": utc_now()}
        with self._tx() as tx:
            updated = tx.execute(
                update(population_dns).where(population_dns.c.population_key == population_key).values(**values)
            )
            if updated.rowcount == 0:
                tx.execute(insert(population_dns).values(population_key=population_key, **values))
        return digest

    def clear_desired_rrsets(self, population_key: str) -> None:
        with self._tx() as tx:
            tx.execute(delete(population_dns).where(population_dns.c.population_key == population_key))

    def desired_rrsets_of(self, population_key: str) -> dict[str, Any] | None:
        """The desired rrsets of record of one population (zone, rrsets, hash, when written), or None."""
        query = select(population_dns).where(population_dns.c.population_key == population_key)
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            return None
        return {
            "zone": row["zone"],
            "rrsets": json.loads(row["desired_json"]),
            "hash": row["desired_hash"],
            "updated_at": row["updated_at"],
        }

    def desired_rrsets(self, zone: str, keys: Iterable[str] | None = None) -> dict[str, list[dict[str, Any]]]:
        """Desired rrsets by population key, for populations that are provisioned (not torn down)."""
        query = (
            select(population_dns.c.population_key, population_dns.c.desired_json)
            .join(population, population.c.key == population_dns.c.population_key)
            .where(population_dns.c.zone == zone, population.c.status != "torn_down")
        )
        if keys is not None:
            query = query.where(population_dns.c.population_key.in_(list(keys)))
        with self.engine.connect() as conn:
            return {row[0]: json.loads(row[1]) for row in conn.execute(query).all()}
