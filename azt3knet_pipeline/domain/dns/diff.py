"""Diffing desired rrsets against what deSEC holds, and the drift hash the sensor compares. Pure: no I/O.

Presentation differences are never differences (both sides are normalised first), and nothing outside the
managed scope is ever deleted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from azt3knet_pipeline.domain.dns.desired import population_scope
from azt3knet_pipeline.domain.dns.rrset import AUTOMATIC_TYPES, RRset, normalise_rrset, sorted_rrsets
from azt3knet_pipeline.domain.models import canonical_json, sha256_hex


@dataclass(frozen=True)
class RRsetDiff:
    """What makes `actual` match `desired`: upserts (full rrsets) and deletes (sent with `records: []`)."""

    upserts: list[RRset] = field(default_factory=list)
    deletes: list[RRset] = field(default_factory=list)
    unchanged: int = 0

    @property
    def is_empty(self) -> bool:
        return not self.upserts and not self.deletes

    @property
    def changed(self) -> int:
        return len(self.upserts) + len(self.deletes)

    def to_bulk_payload(self) -> list[dict[str, Any]]:
        """deSEC bulk PATCH/PUT body: explicit `subname` (`""` = apex), `records: []` for a delete."""
        payload = [r.to_payload() for r in self.upserts]
        # A bulk PATCH delete needs only subname and type; leaving the TTL out keeps a delete valid even when
        # the zone's minimum_ttl has since risen above the rrset's TTL.
        payload += [{"subname": r.subname, "type": r.type, "records": []} for r in self.deletes]
        return payload


def _index(rrsets: Iterable[RRset], what: str) -> dict[tuple[str, str], RRset]:
    index: dict[tuple[str, str], RRset] = {}
    for rrset in rrsets:
        normal = normalise_rrset(rrset)
        if normal.key in index:
            raise ValueError(f"{what} rrsets name {normal.key} twice")
        index[normal.key] = normal
    return index


def diff_rrsets(
    desired: Iterable[RRset],
    actual: Iterable[RRset],
    *,
    managed: set[tuple[str, str]] | None = None,
) -> RRsetDiff:
    """Upsert each desired rrset whose records or ttl differ; delete actual rrsets in `managed` that are not
    desired (nothing outside `managed` is ever deleted; `managed=None` deletes nothing). A desired rrset with
    no records means "must not exist". Presentation differences are not differences. Output is sorted."""
    want = _index(desired, "desired")
    have = _index(actual, "actual")
    scope = {(s.lower(), t.upper()) for s, t in (managed or set())}
    upserts: list[RRset] = []
    deletes: list[RRset] = []
    unchanged = 0
    for key, rrset in sorted(want.items()):
        current = have.get(key)
        if not rrset.records:
            if current is not None and current.records:
                deletes.append(current)
            else:
                unchanged += 1
        elif current is not None and current.records == rrset.records and current.ttl == rrset.ttl:
            unchanged += 1
        else:
            upserts.append(rrset)
    for key, current in sorted(have.items()):
        if key in scope and key not in want and key[1] not in AUTOMATIC_TYPES:
            deletes.append(current)
    return RRsetDiff(upserts=upserts, deletes=sorted_rrsets(deletes), unchanged=unchanged)


def _in_subtree(subname: str, key: str) -> bool:
    return subname == key or subname.endswith("." + key)


def drift_hash(diff: RRsetDiff) -> str:
    """sha256 of the canonical diff: the same drift always hashes the same."""
    return sha256_hex(canonical_json(diff.to_bulk_payload()))


def drift_for_populations(desired_by_key: dict[str, list[RRset]], actual: list[RRset]) -> dict[str, str]:
    """For each population whose rrsets differ from its desired ones, a stable drift hash; no drift = absent.

    Deleting is considered only within each population's own scope (its desired keys and the fixed keys of
    `population_scope`), so records of other populations and of the zone never count as drift.
    """
    normal_actual = [normalise_rrset(r) for r in actual]
    drift: dict[str, str] = {}
    for key in sorted(desired_by_key):
        desired = desired_by_key[key]
        scope = population_scope(key, None) | {normalise_rrset(r).key for r in desired}
        mine = [r for r in normal_actual if _in_subtree(r.subname, key)]
        diff = diff_rrsets(desired, mine, managed=scope)
        if not diff.is_empty:
            drift[key] = drift_hash(diff)
    return drift
