"""Deferred DNS against the deSEC stand-in with deSEC's real per-domain buckets (contract §8): a population whose
rrset write meets the hour bucket ends its run with one deferral line and status `dns_pending` (the desired
rrsets stored write-ahead), and is written in ONE bulk request once the hour has passed, by `azt3knet dns
reconcile` or by one drift-sensor tick plus the run it requests; then it is `provisioned`."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import helpers_populations as populations
import pytest
from dagster import AssetKey, AssetRecordsFilter, SkipReason, build_sensor_context

from azt3knet_pipeline.definitions import defs
from azt3knet_pipeline.defs.resources import pipeline_resources
from azt3knet_pipeline.defs.sensors import dns_drift_sensor
from azt3knet_pipeline.domain.models import PopulationSpec
from azt3knet_pipeline.orchestration.instance import get_instance
from azt3knet_pipeline.orchestration.launch import QUIET_RUN_CONFIG
from azt3knet_pipeline.sandbox.desec import DEFAULT_THROTTLE_RATES, DesecSandboxConfig, SandboxDomain
from azt3knet_pipeline.sandbox.run import SANDBOX_ZONE, Sandbox
from azt3knet_pipeline.services import dns as dns_service
from azt3knet_pipeline.settings import get_settings
from tests.helpers_sandbox import azt3knet, desec_state, domain_mailboxes, mail_domain, population_rrsets, zone_writes
from tests.integration.test_dns_records import expected_keys

WRITE_SCOPE = "dns_api_per_domain_expensive"


def drift_tick(**kwargs: Any) -> Any:
    """One evaluation of the drift sensor, its resources started as the daemon starts them."""
    with build_sensor_context(**kwargs) as context:
        return dns_drift_sensor(context)


@pytest.fixture
def throttled(sandbox_factory: Callable[..., Sandbox]) -> Sandbox:
    """deSEC's production write buckets (2/s, 15/min, 100/h, 300/day per zone); reads widened, as these tests
    read the zone more often than an operator would."""
    rates = {**DEFAULT_THROTTLE_RATES, "dns_api_cheap": ["100/s", "2000/min"]}
    assert rates[WRITE_SCOPE] == ["2/s", "15/min", "100/h", "300/day"]
    return sandbox_factory(
        desec_config=DesecSandboxConfig(domains=[SandboxDomain(name=SANDBOX_ZONE)], throttle_rates=rates)
    )


def shown(key: str) -> dict:
    result = azt3knet("populations", "show", key, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def stored_desired(key: str) -> list[dict]:
    store = populations.open_store()
    try:
        return store.desired_rrsets(get_settings().desec_domain, [key]).get(key, [])
    finally:
        store.dispose()


def tick_then_run_the_partition(sandbox: Sandbox, key: str) -> None:
    """One sensor tick requests the partition's own dns_reconcile_job run (its rrsets were never computed);
    that run writes them and the population becomes provisioned."""
    instance = get_instance(get_settings())
    resources = pipeline_resources()
    (request,) = drift_tick(instance=instance, resources=resources).run_requests
    assert (request.job_name, request.partition_key) == ("dns_reconcile_job", key)
    run = defs.resolve_job_def(request.job_name).execute_in_process(
        instance=instance, partition_key=key, run_config=QUIET_RUN_CONFIG
    )
    assert run.success
    assert set(population_rrsets(sandbox, key)) == expected_keys(key)
    assert shown(key)["status"] == "provisioned"


def test_an_hour_throttled_population_is_deferred_then_written_by_dns_reconcile_in_one_request(
    throttled: Sandbox,
) -> None:
    zone, stand_in = throttled.zone, desec_state(throttled)
    # The zone's 100 rrset writes of this hour are used up (by other work): the next write gets ~an hour.
    assert stand_in.spend_throttle(WRITE_SCOPE, zone, "h") == 100
    started = datetime.now(UTC)

    run = azt3knet(
        "populate", "--count", "5", "--seed", "91", "--country", "ES", "--key", "pop-d", "--create-mailboxes"
    )
    assert run.returncode == 0, run.stderr
    deferral_lines = [line for line in run.stderr.splitlines() if "DNS deferred" in line]
    assert len(deferral_lines) == 1, run.stderr
    (line,) = deferral_lines
    assert "pop-d" in line and zone in line and "pending until" in line and "dns reconcile" in line
    assert "Traceback" not in run.stderr

    # The mailboxes exist; no DNS was written; the population says so and carries deSEC's time.
    assert len(domain_mailboxes(throttled, mail_domain("pop-d"))) == 5
    assert set(population_rrsets(throttled, "pop-d")) == set()
    info = shown("pop-d")
    assert info["status"] == "dns_pending"
    until = datetime.fromisoformat(info["dns_pending_until"].replace("Z", "+00:00"))
    assert started + timedelta(seconds=3000) < until < datetime.now(UTC) + timedelta(seconds=3602)
    assert info["dns_pending_until"][:19] in line  # the line names the same time
    human = azt3knet("populations", "show", "pop-d")
    assert (
        human.returncode == 0
        and f"dns_pending (DNS write deferred by deSEC until {info['dns_pending_until']})" in human.stdout
    )
    # Write-ahead: the desired rrsets are on record although deSEC never took them.
    assert {(r["subname"], r["type"]) for r in stored_desired("pop-d")} == expected_keys("pop-d")

    # Before deSEC's time, an explicit reconcile is deferred again: exit 75, one line, nothing written.
    early = azt3knet("dns", "reconcile")
    assert early.returncode == 75, early.stderr
    assert "DNS deferred" in early.stderr and "pop-d" in early.stderr
    assert set(population_rrsets(throttled, "pop-d")) == set() and shown("pop-d")["status"] == "dns_pending"

    stand_in.advance_clock(3600)  # the hour passes; the bucket has room again
    writes_before = zone_writes(throttled)
    done = azt3knet("dns", "reconcile")
    assert done.returncode == 0, done.stderr
    assert "now provisioned: pop-d" in done.stdout
    assert zone_writes(throttled) - writes_before == 1  # ONE bulk request
    assert set(population_rrsets(throttled, "pop-d")) == expected_keys("pop-d")
    info = shown("pop-d")
    assert (info["status"], info["dns_pending_until"]) == ("provisioned", None)


def test_one_sensor_tick_and_the_run_it_requests_write_every_due_pending_population_in_one_request(
    throttled: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    zone, stand_in = throttled.zone, desec_state(throttled)
    for index, key in enumerate(("pop-a", "pop-b")):
        populations.register_population(PopulationSpec(count=3, seed=70 + index, country="ES"), key)
    stand_in.spend_throttle(WRITE_SCOPE, zone, "h")
    for key in ("pop-a", "pop-b"):
        outcome = populations.materialize_population(key, job_name="populate_job")
        assert outcome.success, outcome.error  # success with deferral
        assert outcome.metadata["dns_records"]["dns_pending"] == 1
    store = populations.open_store()
    assert set(store.dns_pending()) == {"pop-a", "pop-b"}
    instance = get_instance(get_settings())
    resources = pipeline_resources()

    # Before deSEC's time: no run at all (neither the pending run nor per-partition drift runs).
    early = drift_tick(instance=instance, resources=resources)
    assert early.run_requests == []

    # An hour passes, for deSEC and for us.
    stand_in.advance_clock(3600)
    later = datetime.now(UTC) + timedelta(hours=1, seconds=5)
    monkeypatch.setattr(dns_service, "utcnow", lambda: later)
    result = drift_tick(instance=instance, resources=resources)
    (request,) = result.run_requests
    assert request.job_name == "dns_pending_job"
    assert request.run_config["ops"]["write_pending_dns"]["config"]["keys"] == ["pop-a", "pop-b"]

    writes_before = zone_writes(throttled)
    tags = {**request.tags, "dagster/run_key": request.run_key, "dagster/sensor_name": "dns_drift_sensor"}
    run = defs.resolve_job_def(request.job_name).execute_in_process(
        instance=instance, tags=tags, run_config={**QUIET_RUN_CONFIG, **request.run_config}
    )
    assert run.success
    assert zone_writes(throttled) - writes_before == 1  # both populations in ONE bulk request
    for key in ("pop-a", "pop-b"):
        assert set(population_rrsets(throttled, key)) == expected_keys(key)
        population = store.require_population(key)
        assert (population.status, population.dns_pending_until) == ("provisioned", None)
        records = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=AssetKey("dns_records"), asset_partitions=[key]), limit=1
        ).records
        assert records and records[0].run_id == run.run_id  # the partition shows the write
    # Healed: the next tick requests nothing.
    again = drift_tick(instance=instance, resources=resources, cursor=result.cursor)
    assert again.run_requests == []
    store.dispose()


def test_a_dns_write_that_fails_leaves_the_population_dns_pending_never_provisioned(throttled: Sandbox) -> None:
    stand_in = desec_state(throttled)
    populations.register_population(PopulationSpec(count=3, seed=77, country="ES"), "pop-f")
    # A token policy that forbids writes: 403 on the bulk write, not retried.
    stand_in.config = stand_in.config.model_copy(update={"read_only_tokens": list(stand_in.config.tokens)})
    outcome = populations.materialize_population("pop-f", job_name="populate_job")
    assert not outcome.success and "Insufficient token permissions" in (outcome.error or "")
    assert len(domain_mailboxes(throttled, mail_domain("pop-f"))) == 3
    store = populations.open_store()
    population = store.require_population("pop-f")
    assert population.status == "dns_pending"  # mailboxes exist, DNS does not: not `provisioned`
    assert population.dns_pending_until is not None  # the drift sensor repairs it after the write-ahead grace
    assert {(r["subname"], r["type"]) for r in stored_desired("pop-f")} == expected_keys("pop-f")

    stand_in.config = stand_in.config.model_copy(update={"read_only_tokens": []})
    done = azt3knet("dns", "reconcile", "pop-f")
    assert done.returncode == 0, done.stderr
    assert set(population_rrsets(throttled, "pop-f")) == expected_keys("pop-f")
    assert store.require_population("pop-f").status == "provisioned"
    store.dispose()


def test_the_users_daily_limit_is_deferred_the_same_way_and_marks_nothing_falsely_pending(
    throttled: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    stand_in = desec_state(throttled)
    populations.register_population(PopulationSpec(count=2, seed=78, country="ES"), "pop-u")
    assert populations.materialize_population("pop-u", job_name="populate_job").success
    assert shown("pop-u")["status"] == "provisioned"
    # 2000 requests/day per user, used up: even the zone read is answered 429 with most of a day to wait.
    assert 1990 < stand_in.spend_throttle("user", "sandbox", "day") <= 2000  # the rest of the day's 2000

    stuck = azt3knet("dns", "reconcile")
    assert stuck.returncode == 75, stuck.stderr
    (line,) = [line for line in stuck.stderr.splitlines() if line.strip()]
    assert line.startswith("DNS deferred") and "nothing was written" in line
    assert shown("pop-u")["status"] == "provisioned"  # its DNS is on deSEC: a throttled read changes nothing

    # A new population meeting the same limit: mailboxes made, DNS deferred by a day, status dns_pending.
    populations.register_population(PopulationSpec(count=2, seed=79, country="ES"), "pop-v")
    outcome = populations.materialize_population("pop-v", job_name="populate_job")
    assert outcome.success, outcome.error
    info = shown("pop-v")
    assert info["status"] == "dns_pending"
    until = datetime.fromisoformat(info["dns_pending_until"].replace("Z", "+00:00"))
    assert until > datetime.now(UTC) + timedelta(hours=23)
    assert stored_desired("pop-v") == []  # deSEC refused even the reads: the rrsets could not be computed

    # A day later, the sensor asks the partition's own run to compute and write them.
    stand_in.advance_clock(86_400)
    later = datetime.now(UTC) + timedelta(hours=25)
    monkeypatch.setattr(dns_service, "utcnow", lambda: later)
    tick_then_run_the_partition(throttled, "pop-v")


def test_mailboxes_made_by_a_run_that_never_reached_dns_say_dns_pending_and_the_sensor_finishes_them(
    throttled: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    populations.register_population(PopulationSpec(count=2, seed=80, country="ES"), "pop-m")
    instance = get_instance(get_settings())
    upto_mailboxes = defs.resolve_implicit_global_asset_job_def().get_subset(
        asset_selection={AssetKey("population_spec"), AssetKey("agent_profiles"), AssetKey("mailboxes")}
    )
    assert upto_mailboxes.execute_in_process(instance=instance, partition_key="pop-m", run_config=QUIET_RUN_CONFIG)
    assert len(domain_mailboxes(throttled, mail_domain("pop-m"))) == 2
    info = shown("pop-m")
    assert info["status"] == "dns_pending"  # not `provisioned`: no DNS was written
    until = datetime.fromisoformat(info["dns_pending_until"].replace("Z", "+00:00"))
    assert until <= datetime.now(UTC) + dns_service.WRITE_AHEAD_GRACE

    resources = pipeline_resources()
    early = drift_tick(instance=instance, resources=resources)
    assert isinstance(early, SkipReason)  # within the grace the run may still be writing it
    later = datetime.now(UTC) + dns_service.WRITE_AHEAD_GRACE + timedelta(seconds=5)
    monkeypatch.setattr(dns_service, "utcnow", lambda: later)
    tick_then_run_the_partition(throttled, "pop-m")
