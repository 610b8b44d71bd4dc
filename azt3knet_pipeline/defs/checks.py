"""Asset checks: does the zone on deSEC still match what `dns_records` last wrote for the partition?"""

import warnings

from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetCheckSeverity, asset_check
from dagster._utils.warnings import PreviewWarning

from azt3knet_pipeline.defs.assets.dns import dns_records
from azt3knet_pipeline.defs.partitions import population_partitions
from azt3knet_pipeline.defs.resources import DesecResource, StoreResource
from azt3knet_pipeline.domain.dns import RRset, drift_for_populations
from azt3knet_pipeline.names import DNS_RECORDS_IN_SYNC
from azt3knet_pipeline.services.dns import in_subtree

# Partitioned asset checks are a Dagster "preview" feature; the warning would print on every CLI call.
warnings.filterwarnings("ignore", message="Specifying a partitions_def on an AssetCheckSpec", category=PreviewWarning)


@asset_check(
    name=DNS_RECORDS_IN_SYNC,
    asset=dns_records,
    partitions_def=population_partitions,
    description="The partition's rrsets on deSEC equal the desired rrsets last written (no drift).",
)
def dns_records_in_sync(
    context: AssetCheckExecutionContext, store: StoreResource, desec: DesecResource
) -> AssetCheckResult:
    settings = store.settings.settings
    key = context.partition_key
    repo = store.open()
    population = repo.get_population(key)
    if population is not None and population.status == "dns_pending":
        until = population.dns_pending_until
        return AssetCheckResult(
            passed=False,
            severity=AssetCheckSeverity.WARN,
            metadata={
                "reason": "DNS write deferred by deSEC (dns_pending); written once deSEC allows",
                "dns_pending_until": until.isoformat() if until else "now",
            },
        )
    stored = repo.desired_rrsets(settings.desec_domain, [key])
    if key not in stored:
        return AssetCheckResult(
            passed=False,
            severity=AssetCheckSeverity.WARN,
            metadata={"reason": "no desired rrsets recorded (never reconciled or torn down)"},
        )
    with desec.client() as client:
        actual = [r for r in client.list_rrsets(settings.desec_domain) if in_subtree(r, key)]
    desired = [RRset.model_validate(r) for r in stored[key]]
    drift = drift_for_populations({key: desired}, actual)
    return AssetCheckResult(
        passed=key not in drift,
        metadata={"drift_hash": drift.get(key, ""), "desired": len(desired), "actual": len(actual)},
    )
