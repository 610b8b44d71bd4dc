"""`dns_drift_sensor` and the `dns_records_in_sync` asset check against the deSEC stand-in: drift in one of two
populations requests a `dns_reconcile_job` run for that partition only, once per drift; reconciling heals it.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import helpers_populations as populations
import pytest
from dagster import (
    AssetCheckKey,
    AssetKey,
    DagsterInstance,
    RunsFilter,
    SensorResult,
    build_sensor_context,
)
from helpers_sandbox import desec_state
from typer.testing import CliRunner

from azt3knet_pipeline.cli.app import app
from azt3knet_pipeline.definitions import defs
from azt3knet_pipeline.defs.resources import pipeline_resources
from azt3knet_pipeline.defs.sensors import dns_drift_sensor
from azt3knet_pipeline.domain.dns import RRset
from azt3knet_pipeline.domain.models import PopulationSpec
from azt3knet_pipeline.orchestration.instance import get_instance
from azt3knet_pipeline.orchestration.launch import QUIET_RUN_CONFIG
from azt3knet_pipeline.sandbox.desec import (
    DEFAULT_THROTTLE_RATES,
    DesecSandboxConfig,
    SandboxDomain,
)
from azt3knet_pipeline.sandbox.run import SANDBOX_ZONE, Sandbox
from azt3knet_pipeline.settings import get_settings

CHECK = AssetCheckKey(AssetKey("dns_records"), "dns_records_in_sync")
PAGE_SIZE = 4  # two populations' 12 rrsets + the apex NS span four pages: every zone read is paginated


@pytest.fixture
def dns_sandbox(sandbox_factory: Callable[..., Sandbox]) -> Sandbox:
    """The stand-ins with a small deSEC page size. Reads are throttled per minute (50/min by default): this
    test reads the paginated zone many times within seconds, so the read window is widened; writes keep
    deSEC's per-domain rates."""
    rates = {**DEFAULT_THROTTLE_RATES, "dns_api_cheap": ["100/s", "2000/min"]}
    config = DesecSandboxConfig(domains=[SandboxDomain(name=SANDBOX_ZONE)], page_size=PAGE_SIZE, throttle_rates=rates)
    return sandbox_factory(desec_config=config)


def tick(instance: DagsterInstance, cursor: str | None) -> SensorResult:
    # The resources start (setup_for_execution) inside the context manager, as in the daemon.
    with build_sensor_context(instance=instance, cursor=cursor, resources=pipeline_resources()) as context:
        result = dns_drift_sensor(context)
    assert isinstance(result, SensorResult), result
    return result


def run_check(instance: DagsterInstance, key: str) -> tuple[bool, dict]:
    """Execute only the `dns_records_in_sync` check for one partition; (passed, metadata)."""
    job = defs.resolve_implicit_global_asset_job_def().get_subset(asset_selection=set(), asset_check_selection={CHECK})
    result = job.execute_in_process(instance=instance, partition_key=key, run_config=QUIET_RUN_CONFIG)
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.partition == key
    return evaluation.passed, {k: v.value for k, v in evaluation.metadata.items()}


def launch_as_the_daemon_would(instance: DagsterInstance, request) -> object:
    """Run `dns_reconcile_job` for a RunRequest with the tags the sensor daemon puts on its runs."""
    tags = {**request.tags, "dagster/run_key": request.run_key, "dagster/sensor_name": "dns_drift_sensor"}
    return defs.resolve_job_def("dns_reconcile_job").execute_in_process(
        instance=instance, partition_key=request.partition_key, tags=tags, run_config=QUIET_RUN_CONFIG
    )


def test_drift_in_one_population_requests_that_partition_once_and_reconciling_heals_it(
    dns_sandbox: Sandbox,
) -> None:
    zone = dns_sandbox.zone
    stand_in = desec_state(dns_sandbox)
    for key, seed in (("pop-a", 1), ("pop-b", 2)):
        populations.register_population(PopulationSpec(count=3, seed=seed, country="ES"), key)
        outcome = populations.materialize_population(key, job_name="populate_job")
        assert outcome.success, outcome.error
    instance = get_instance(get_settings())

    # No drift: nothing requested. A tick is one paginated read of the zone and nothing else.
    before = stand_in.counters()
    result = tick(instance, None)
    after = stand_in.counters()
    assert result.run_requests == [] and json.loads(result.cursor or "") == {}
    pages = 1 + -(-len(stand_in.rrsets(zone)) // PAGE_SIZE)  # the 400 "pagination required" + each page
    assert after["endpoints"].get("GET rrsets", 0) - before["endpoints"].get("GET rrsets", 0) == pages
    assert after["requests"] - before["requests"] == pages and after["writes"] == before["writes"]

    # Drift in pop-a only: its MX is deleted behind our back → one request, for pop-a.
    stand_in.delete_rrset(zone, "pop-a", "MX")
    result = tick(instance, result.cursor)
    (request,) = result.run_requests
    cursor = json.loads(result.cursor or "")
    assert request.partition_key == "pop-a" and set(cursor) == {"pop-a"}
    key, _, digest = request.run_key.partition(":")
    assert key == "pop-a" and len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)
    assert cursor["pop-a"] == digest
    drift_tag = request.tags["azt3knet/drift"]

    # The same drift on the next tick: nothing new.
    again = tick(instance, result.cursor)
    assert again.run_requests == [] and json.loads(again.cursor or "") == cursor

    # The asset check sees it too, per partition: pop-a fails (the same drift hash), pop-b passes.
    passed, meta = run_check(instance, "pop-a")
    assert not passed and meta["drift_hash"][:16] == drift_tag and (meta["desired"], meta["actual"]) == (6, 5)
    assert run_check(instance, "pop-b")[0]

    # The requested run reconciles pop-a in one write; its check passes; the next tick requests nothing.
    writes = stand_in.counters()["writes_by_domain"][zone]
    run = launch_as_the_daemon_would(instance, request)
    assert run.success
    assert stand_in.counters()["writes_by_domain"][zone] - writes == 1
    (evaluation,) = run.get_asset_check_evaluations()
    assert evaluation.passed and evaluation.partition == "pop-a"
    (latest,) = instance.event_log_storage.get_asset_check_execution_history(CHECK, limit=1)
    assert (latest.run_id, latest.partition, latest.status.value) == (run.run_id, "pop-a", "SUCCEEDED")
    healed = tick(instance, again.cursor)
    assert healed.run_requests == [] and json.loads(healed.cursor or "") == {}

    # New drift in pop-b only (its DMARC policy weakened): only pop-b is requested.
    stand_in.put_rrset(zone, RRset(subname="_dmarc.pop-b", type="TXT", ttl=3600, records=('"v=DMARC1; p=none"',)))
    result = tick(instance, healed.cursor)
    assert [r.partition_key for r in result.run_requests] == ["pop-b"]

    # The very same drift recurs in pop-a after it was healed: it is requested again, under a run key no
    # earlier run carries (the daemon silently skips a run key it has launched before).
    stand_in.delete_rrset(zone, "pop-a", "MX")
    recurred = tick(instance, result.cursor)
    (again_a,) = recurred.run_requests
    assert again_a.partition_key == "pop-a" and again_a.tags["azt3knet/drift"] == drift_tag
    assert instance.get_runs(filters=RunsFilter(tags={"dagster/run_key": again_a.run_key})) == []
    assert launch_as_the_daemon_would(instance, again_a).success

    # ... and again, with no tick in between to see it healed (ticks are minutes apart): still requested.
    stand_in.delete_rrset(zone, "pop-a", "MX")
    (third,) = [r for r in tick(instance, recurred.cursor).run_requests if r.partition_key == "pop-a"]
    assert instance.get_runs(filters=RunsFilter(tags={"dagster/run_key": third.run_key})) == []
    assert launch_as_the_daemon_would(instance, third).success
    assert ("pop-a", "MX") in {r.key for r in stand_in.rrsets(zone)}


def test_the_sensor_skips_without_dns_and_the_check_warns_for_a_never_reconciled_partition(
    dns_sandbox: Sandbox,
) -> None:
    instance = get_instance(get_settings())
    populations.register_population(PopulationSpec(count=2, seed=5, country="ES"), "pop-new")
    with build_sensor_context(instance=instance, resources=pipeline_resources()) as context:
        skipped = dns_drift_sensor(context)
    assert not isinstance(skipped, SensorResult) and "no provisioned population" in str(skipped.skip_message)
    passed, meta = run_check(instance, "pop-new")
    assert not passed and "never reconciled" in meta["reason"]


def test_cli_reconcile_heals_many_populations_in_one_write_and_is_recorded(dns_sandbox: Sandbox) -> None:
    """`azt3knet dns reconcile` heals drift in several populations with ONE bulk write and records a runless
    `dns_records` materialization per population, so the same drift coming back later is requested again."""

    zone = dns_sandbox.zone
    stand_in = desec_state(dns_sandbox)
    for key, seed in (("pop-a", 1), ("pop-b", 2)):
        populations.register_population(PopulationSpec(count=3, seed=seed, country="ES"), key)
        assert populations.materialize_population(key, job_name="populate_job").success
    instance = get_instance(get_settings())
    stand_in.delete_rrset(zone, "pop-a", "MX")
    stand_in.delete_rrset(zone, "pop-b", "MX")
    first = tick(instance, None)
    assert sorted(r.partition_key for r in first.run_requests) == ["pop-a", "pop-b"]

    # Throttling off for the count: a 429'd attempt would count as a write request too (the per-domain 2/s
    # window is shared with the two populate runs a moment ago).
    stand_in.set_throttle(enabled=False)
    writes_before = stand_in.counters()["writes"]
    result = CliRunner().invoke(app, ["dns", "reconcile"])
    assert result.exit_code == 0, result.output
    assert stand_in.counters()["writes"] - writes_before == 1
    assert "2 changed in 1 write request(s)" in result.output
    healed = tick(instance, first.cursor)
    assert healed.run_requests == []

    # The same drift again after the CLI reconcile: a new episode, requested again under a new run key.
    stand_in.delete_rrset(zone, "pop-a", "MX")
    again = tick(instance, healed.cursor)
    (request,) = again.run_requests
    old_keys = {r.run_key for r in first.run_requests}
    assert request.partition_key == "pop-a" and request.run_key not in old_keys
