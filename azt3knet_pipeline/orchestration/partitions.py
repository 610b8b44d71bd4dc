"""A population's Dagster partition: the store registers populations, Dagster needs a partition key for each."""

from __future__ import annotations

from typing import TYPE_CHECKING

from azt3knet_pipeline.names import POPULATION_PARTITIONS_NAME

if TYPE_CHECKING:  # the use cases import this module; commands that never open an instance must not load Dagster
    from dagster import DagsterInstance


def ensure_partition(instance: DagsterInstance, key: str) -> None:
    """The population's partition exists (re-added for a registered population whose Dagster storage was lost or
    reset: the store is the record of which populations exist)."""
    if not instance.has_dynamic_partition(POPULATION_PARTITIONS_NAME, key):
        instance.add_dynamic_partitions(POPULATION_PARTITIONS_NAME, [key])
