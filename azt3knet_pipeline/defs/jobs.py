"""Jobs over the population asset graph."""

from typing import Any

from dagster import AssetCheckKey, AssetKey, AssetSelection, PartitionedConfig, define_asset_job

from azt3knet_pipeline.defs.partitions import population_partitions
from azt3knet_pipeline.defs.resources import SettingsResource
from azt3knet_pipeline.names import (
    AGENT_PROFILES,
    DNS_RECONCILE_JOB,
    DNS_RECORDS,
    MAILBOXES,
    MAILBOXES_ACCEPT_LOGIN,
    POPULATE_JOB,
    POPULATION_GROUP,
    POPULATION_SPEC,
    PROFILES_JOB,
)

# Logging in to mailboxes is its own job (verify_mailboxes_job): a provisioning run does not wait on the mail host.
MAILBOX_LOGIN_CHECK = AssetCheckKey(AssetKey(MAILBOXES), MAILBOXES_ACCEPT_LOGIN)

# What the launchpad shows for a partition no population is registered under yet: a spec to edit (the
# fields of PopulationSpecConfig; README "Launching a population from the Dagster UI").
SCAFFOLD_SPEC: dict[str, Any] = {"count": 25, "seed": "42", "country": "ES", "age_range": "18-65"}


def scaffold_run_config(partition_key: str) -> dict[str, Any]:
    """Run config the UI (launchpad, backfills, `dg launch --partition`) starts from: an example spec for a new
    partition, nothing for a registered one (its spec is in the store). Runs given a run config (CLI, API) skip it."""
    try:
        registered = SettingsResource().store().get_population(partition_key) is not None
    except Exception:  # a scaffold only: an unreachable store must not break the launchpad
        registered = False
    return {} if registered else {"ops": {POPULATION_SPEC: {"config": dict(SCAFFOLD_SPEC)}}}


def _partitioned_config() -> PartitionedConfig:
    return PartitionedConfig(partitions_def=population_partitions, run_config_for_partition_key_fn=scaffold_run_config)


# The whole graph of a partition: spec → profiles → mailboxes → DNS → credential export (as they land).
populate_job = define_asset_job(
    POPULATE_JOB,
    selection=AssetSelection.groups(POPULATION_GROUP) - AssetSelection.checks(MAILBOX_LOGIN_CHECK),
    partitions_def=population_partitions,
    config=_partitioned_config(),
    description="Materialize every asset of one population partition (this is also recreate).",
)

# Profiles only: what `azt3knet populate` runs without --create-mailboxes.
profiles_job = define_asset_job(
    PROFILES_JOB,
    selection=AssetSelection.assets(POPULATION_SPEC, AGENT_PROFILES),
    partitions_def=population_partitions,
    config=_partitioned_config(),
    description="Register/generate the population's profiles without touching Mailcow or deSEC.",
)

# What the drift sensor launches: just the DNS records of the drifted partition (and their check).
dns_reconcile_job = define_asset_job(
    DNS_RECONCILE_JOB,
    selection=AssetSelection.assets(DNS_RECORDS),
    partitions_def=population_partitions,
    description="Re-write a population's DNS records to their desired state (one bulk write at most).",
)
