"""Registered populations: registration (same spec again is a no-op), status, and deferred DNS writes."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from azt3knet_pipeline.domain.models import Population, PopulationSpec, validate_population_key
from azt3knet_pipeline.errors import PopulationConflict, PopulationNotFound
from azt3knet_pipeline.store.engine import StoreBase, as_utc, utc_now
from azt3knet_pipeline.store.tables import population


def _pinned(spec: PopulationSpec, version: int) -> PopulationSpec:
    """`spec` as compared with the population registered under a key: a version it states is kept, an unstated
    one is the registered population's, so re-running the same fields stays a no-op."""
    return spec if spec.generator_version is not None else spec.with_version(version)


def _population_from_row(row: Any) -> Population:
    return Population(
        key=row["key"],
        spec=PopulationSpec.model_validate(json.loads(row["spec_json"])),
        spec_hash=row["spec_hash"],
        status=row["status"],
        dns_pending_until=as_utc(row["dns_pending_until"]),
    )


class PopulationsMixin(StoreBase):
    """The `population` table: registered specs, their status and when a deferred DNS write is due."""

    def register_population(self, key: str, spec: PopulationSpec) -> tuple[Population, bool]:
        """Register `spec` under `key`. Same spec again is a no-op; a different spec raises PopulationConflict.

        Returns the population and whether it was newly created.
        """
        validate_population_key(key)
        existing = self.get_population(key)
        if existing is not None:
            self._ensure_same(existing, _pinned(spec, existing.spec.version).spec_hash())
            return existing, False
        spec_hash = spec.spec_hash()
        now = utc_now()
        try:
            with self._tx() as tx:
                tx.execute(
                    insert(population).values(
                        key=key,
                        spec_json=spec.canonical_json(),
                        seed=str(spec.seed),
                        spec_hash=spec_hash,
                        status="registered",
                        created_at=now,
                        updated_at=now,
                    )
                )
        except IntegrityError:
            # Lost a race with a concurrent registration: the row now exists; compare like above.
            existing = self.require_population(key)
            self._ensure_same(existing, _pinned(spec, existing.spec.version).spec_hash())
            return existing, False
        return self.require_population(key), True

    @staticmethod
    def _ensure_same(existing: Population, spec_hash: str) -> None:
        if existing.spec_hash != spec_hash:
            raise PopulationConflict(
                f"population {existing.key!r} is already registered with a different spec "
                f"(registered spec hash {existing.spec_hash[:12]}, given {spec_hash[:12]}); "
                "choose another --key or reuse the registered spec"
            )

    def get_population(self, key: str) -> Population | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(population).where(population.c.key == key)).mappings().first()
        return _population_from_row(row) if row else None

    def require_population(self, key: str) -> Population:
        found = self.get_population(key)
        if found is None:
            raise PopulationNotFound(f"no population is registered under key {key!r}")
        return found

    def list_populations(self, *, offset: int = 0, limit: int | None = None) -> list[Population]:
        query = select(population).order_by(population.c.created_at, population.c.key).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [_population_from_row(row) for row in rows]

    def count_populations(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(population)).scalar_one())

    def set_population_status(self, key: str, status: str, *, dns_pending_until: datetime | None = None) -> None:
        """Set the status (any previous one); `dns_pending_until` only means something with `dns_pending`."""
        with self._tx() as tx:
            result = tx.execute(
                update(population)
                .where(population.c.key == key)
                .values(status=status, dns_pending_until=dns_pending_until, updated_at=utc_now())
            )
        if result.rowcount == 0:
            raise PopulationNotFound(f"no population is registered under key {key!r}")

    # -- deferred DNS ----------------------------------------------------------------------------------

    def mark_dns_pending(self, keys: Iterable[str], until: datetime | None) -> None:
        """Status `dns_pending` for `keys`: their desired rrsets are stored but not (yet) on deSEC. `until` is
        when deSEC said a write may be retried (None: at once)."""
        wanted = list(keys)
        if not wanted:
            return
        with self._tx() as tx:
            tx.execute(
                update(population)
                .where(population.c.key.in_(wanted), population.c.status != "torn_down")
                .values(status="dns_pending", dns_pending_until=until, updated_at=utc_now())
            )

    def mark_dns_written(self, keys: Iterable[str]) -> list[str]:
        """`dns_pending` populations among `keys` become `provisioned` (their DNS is on deSEC); returns them."""
        wanted = list(keys)
        if not wanted:
            return []
        with self._tx() as tx:
            pending = list(
                tx.execute(
                    select(population.c.key).where(population.c.key.in_(wanted), population.c.status == "dns_pending")
                ).scalars()
            )
            if pending:
                tx.execute(
                    update(population)
                    .where(population.c.key.in_(pending))
                    .values(status="provisioned", dns_pending_until=None, updated_at=utc_now())
                )
        return sorted(pending)

    def dns_pending(self, *, due_at: datetime | None = None) -> dict[str, datetime | None]:
        """Populations whose DNS write is deferred, with the time deSEC gave; only those due by `due_at` when
        given (a NULL time is always due)."""
        query = select(population.c.key, population.c.dns_pending_until).where(population.c.status == "dns_pending")
        with self.engine.connect() as conn:
            rows = [(row[0], as_utc(row[1])) for row in conn.execute(query).all()]
        return {key: until for key, until in sorted(rows) if due_at is None or until is None or until <= due_at}
