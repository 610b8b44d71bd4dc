"""Jobs over the population asset graph."""

from dagster import AssetCheckKey, AssetKey, AssetSelection, define_asset_job

from azt3knet_pipeline.defs.partitions import population_partitions
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

# The whole graph of a partition: spec → profiles → mailboxes → DNS → credential export (as they land).
populate_job = define_asset_job(
    POPULATE_JOB,
    selection=AssetSelection.groups(POPULATION_GROUP) - AssetSelection.checks(MAILBOX_LOGIN_CHECK),
    partitions_def=population_partitions,
    description="Materialize every asset of one population partition (this is also recreate).",
)

# Profiles only: what `azt3knet populate` runs without --create-mailboxes.
profiles_job = define_asset_job(
    PROFILES_JOB,
    selection=AssetSelection.assets(POPULATION_SPEC, AGENT_PROFILES),
    partitions_def=population_partitions,
    description="Register/generate the population's profiles without touching Mailcow or deSEC.",
)

# What the drift sensor launches: just the DNS records of the drifted partition (and their check).
dns_reconcile_job = define_asset_job(
    DNS_RECONCILE_JOB,
    selection=AssetSelection.assets(DNS_RECORDS),
    partitions_def=population_partitions,
    description="Re-write a population's DNS records to their desired state (one bulk write at most).",
)
