"""Mailboxes on the Mailcow stand-in through real Dagster materializations: create, recreate as a no-op,
restore what was deleted, correct drift, remove only what the population owns, tear down and come back."""

from __future__ import annotations

import stat
from pathlib import Path

import helpers_populations as populations
import httpx
from helpers_sandbox import (
    api_client,
    assert_converged,
    desec_counters,
    desired,
    domain_mailboxes,
    domain_record,
    has_dkim,
    mail_domain,
    mailcow,
    mailcow_counters,
    reset_counters,
    stored_passwords,
)

from azt3knet_pipeline.clients.factory import secret_box
from azt3knet_pipeline.clients.mailcow import DomainSpec, MailboxSpec
from azt3knet_pipeline.domain.mailbox_plan import SYNTHETIC_TAG
from azt3knet_pipeline.domain.models import PopulationSpec
from azt3knet_pipeline.orchestration.instance import get_instance
from azt3knet_pipeline.sandbox.run import SANDBOX_MAILCOW_KEY, Sandbox
from azt3knet_pipeline.services.credentials import bundle_path, decrypt_bundle
from azt3knet_pipeline.settings import get_settings

SPEC = PopulationSpec(count=25, seed=11, country="ES")  # registered under its default key, seed-11
KEY = "seed-11"


def bundle_passwords(key: str) -> dict[str, str]:
    path = bundle_path(get_settings(), key)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    bundle = decrypt_bundle(secret_box(get_settings()), path.read_bytes())
    assert bundle["population_key"] == key and bundle["synthetic"] is True
    return {entry["address"]: entry["password"] for entry in bundle["mailboxes"]}


def test_create_then_recreate_is_one_list_and_zero_writes_then_restores_deleted(sandbox: Sandbox) -> None:
    # The use case the CLI and the API call: the population this spec names (registered as seed-11).
    first = populations.populate(SPEC, create_mailboxes=True)
    assert first.success, first.error
    assert first.key == KEY
    meta = first.metadata["mailboxes"]
    assert (meta["desired"], meta["created"], meta["unchanged"], meta["removed"]) == (25, 25, 0, 0)
    assert meta["domain_created"] and meta["request_count"] >= 26
    passwords = assert_converged(sandbox, SPEC, KEY)
    domain = domain_record(sandbox, mail_domain(KEY))
    assert domain is not None
    # Limits that fit the population exactly, and the population's tags on the domain.
    assert (domain["mailboxes"], domain["maxquota"], domain["quota"]) == (25, 1024, 25 * 1024)
    assert {SYNTHETIC_TAG, KEY} <= set(domain["tags"])
    assert has_dkim(sandbox, mail_domain(KEY))
    assert bundle_passwords(KEY) == passwords
    assert populations.open_store().require_population(KEY).status == "provisioned"

    # Recreate of an unchanged population: one mailbox LIST, zero writes (Mailcow and deSEC).
    reset_counters(sandbox)
    again = populations.recreate(KEY)
    assert again.success, again.error
    counters = mailcow_counters(sandbox)
    assert counters["GET get/mailbox"] == 1
    assert counters["writes"] == 0, counters
    assert desec_counters(sandbox)["writes"] == 0
    meta = again.metadata["mailboxes"]
    assert (meta["created"], meta["updated"], meta["removed"], meta["unchanged"]) == (0, 0, 0, 25)
    # The asset's own count: domain read, DKIM read, one list (the DNS asset reads the DKIM key once more).
    assert meta["write_count"] == 0 and meta["request_count"] == 3
    assert again.run_id != first.run_id

    # Five mailboxes deleted through the real API: recreate restores exactly those, with the same passwords.
    gone = sorted(passwords)[3:8]
    with api_client(sandbox) as client:
        assert client.delete_mailboxes(gone) == dict.fromkeys(gone, "removed")
    assert set(domain_mailboxes(sandbox, mail_domain(KEY))) == set(passwords) - set(gone)
    reset_counters(sandbox)
    restored = populations.recreate(KEY)
    assert restored.success, restored.error
    counters = mailcow_counters(sandbox)
    assert counters["POST add/mailbox"] == 5 and counters["writes"] == 5, counters
    assert counters["GET get/mailbox"] == 1
    meta = restored.metadata["mailboxes"]
    assert (meta["created"], meta["unchanged"], meta["updated"], meta["removed"]) == (5, 20, 0, 0)
    assert assert_converged(sandbox, SPEC, KEY) == passwords
    bundled = bundle_passwords(KEY)
    assert bundled == passwords
    assert all(mailcow(sandbox).check_password(address, bundled[address]) for address in gone)


def test_drift_is_corrected_and_only_owned_mailboxes_are_removed(sandbox: Sandbox) -> None:
    spec, key = PopulationSpec(count=12, seed=12, country="DE"), "drift-pop"
    assert populations.populate(spec, key, create_mailboxes=True).success
    domain = mail_domain(key)
    passwords = stored_passwords(key)
    a, b, c, d = sorted(passwords)[:4]
    ghost, handmade, neighbour = f"ghost@{domain}", f"postmaster@{domain}", f"neighbour@{domain}"
    with api_client(sandbox) as client:
        # An operator edits mailboxes by hand ...
        client.edit_mailbox([a], {"name": "Renamed By Hand"})
        client.edit_mailbox([b], {"quota": 256})
        client.edit_mailbox([c], {"active": 0})
        client.edit_mailbox([d], {"name": "Also Renamed", "active": 0, "quota": 512})
        # ... makes room in the domain and adds: a mailbox tagged for this population that is not desired
        # (what a shrunken population leaves behind), an untagged one, and one of another population.
        client.edit_domain(domain, {"mailboxes": 15, "quota": 15 * 1024})
        extra = (("ghost", [SYNTHETIC_TAG, key]), ("postmaster", []), ("neighbour", [SYNTHETIC_TAG, "other-pop"]))
        for local, tags in extra:
            client.add_mailbox(
                MailboxSpec(local_part=local, domain=domain, password="Hand-Made-Pass-1", quota=128, tags=tags)
            )
    kept_before = {
        address: dict(box)
        for address, box in domain_mailboxes(sandbox, domain).items()
        if address in {handmade, neighbour}
    }

    planned = populations.plan(key)["mailboxes"]
    assert planned["to_create"] == [] and planned["to_remove"] == [ghost]
    assert {u["address"]: u["changes"] for u in planned["to_update"]} == {
        a: ["name"],
        b: ["quota"],
        c: ["active"],
        d: ["active", "name", "quota"],
    }

    outcome = populations.recreate(key)
    assert outcome.success, outcome.error
    meta = outcome.metadata["mailboxes"]
    assert (meta["updated"], meta["removed"], meta["created"], meta["unchanged"]) == (4, 1, 0, 8)
    assert assert_converged(sandbox, spec, key, foreign={handmade, neighbour}) == passwords
    boxes = domain_mailboxes(sandbox, domain)
    assert ghost not in boxes
    # Untouched, to the timestamp.
    assert {address: boxes[address] for address in kept_before} == kept_before
    assert mailcow(sandbox).check_password(handmade, "Hand-Made-Pass-1")

    # Converged: nothing more to do.
    assert populations.plan(key)["mailboxes"]["to_update"] == []

    # Teardown removes the population's mailboxes but keeps the domain (it is not empty), its DKIM key and its
    # DNS (the remaining mailboxes still receive and sign mail), and says so; the foreign mailboxes survive.
    report = populations.teardown(key)
    assert report.mailboxes_removed == 12 and report.foreign_mailboxes_left == 2
    assert not report.domain_removed
    assert domain_record(sandbox, domain) is not None
    assert set(domain_mailboxes(sandbox, domain)) == {handmade, neighbour}
    assert {address: domain_mailboxes(sandbox, domain)[address] for address in kept_before} == kept_before
    assert has_dkim(sandbox, domain) and not report.plan["mailcow"]["remove_dkim"]
    assert any("not created by azt3knet remain" in note for note in report.plan["notes"])
    store = populations.open_store()
    assert store.require_population(key).status == "torn_down"
    assert {row.state for row in store.list_mailboxes(key)} == {"removed"}
    audit = [e for e in store.audit_entries(target=key) if e.action == "population.teardown"]
    assert audit and audit[0].outcome == "ok" and '"foreign_left": 2' in (audit[0].detail or "")

    # Recreate brings back the same addresses with the same passwords, next to the foreign ones.
    back = populations.recreate(key)
    assert back.success, back.error
    assert assert_converged(sandbox, spec, key, foreign={handmade, neighbour}) == passwords
    assert has_dkim(sandbox, domain)
    assert populations.open_store().require_population(key).status == "provisioned"


def test_foreign_mailbox_in_a_freed_slot_does_not_block_convergence(sandbox: Sandbox) -> None:
    """Mailboxes the pipeline does not own still count against the domain's limits: recreate must make room
    for the whole population rather than fail on the last mailbox forever."""
    spec, key = PopulationSpec(count=10, seed=13, country="FR"), "freed-slot"
    assert populations.populate(spec, key, create_mailboxes=True).success
    domain = mail_domain(key)
    passwords = stored_passwords(key)
    removed = sorted(passwords)[:3]
    with api_client(sandbox) as client:
        client.delete_mailboxes(removed)
        client.add_mailbox(MailboxSpec(local_part="helpdesk", domain=domain, password="Hand-Made-Pass-1", quota=1024))
    outcome = populations.recreate(key)
    assert outcome.success, outcome.error
    assert outcome.metadata["mailboxes"]["created"] == 3
    assert assert_converged(sandbox, spec, key, foreign={f"helpdesk@{domain}"}) == passwords
    # And the next recreate is a no-op again.
    reset_counters(sandbox)
    assert populations.recreate(key).success
    assert mailcow_counters(sandbox)["writes"] == 0


def sandbox_tmp(key: str) -> Path:
    return get_settings().home / f"{key}-export.json"


def test_a_hand_made_mailbox_at_a_desired_address_is_left_alone_and_reported(sandbox: Sandbox) -> None:
    """An untagged mailbox squatting on an agent's address is never adopted (its password is not ours, and
    teardown would delete it): the run fails naming it, everything else converges, the bundle leaves it out."""
    spec, key = PopulationSpec(count=6, seed=17, country="FR"), "squat"
    populations.register_population(spec, key)
    domain = mail_domain(key)
    target = sorted(m.address for m in desired(spec, key))[0]
    local = target.split("@", 1)[0]
    with api_client(sandbox) as client:
        assert populations.populate(spec, key, create_mailboxes=True).success
        client.delete_mailboxes([target])
        client.add_mailbox(MailboxSpec(local_part=local, domain=domain, password="Hand-Made-Pass-1", quota=7))
    outcome = populations.recreate(key)
    assert not outcome.success
    assert target in outcome.error and "did not create" in outcome.error
    squatter = domain_mailboxes(sandbox, domain)[target]
    assert SYNTHETIC_TAG not in squatter.get("tags", []) and mailcow(sandbox).check_password(target, "Hand-Made-Pass-1")
    assert len(domain_mailboxes(sandbox, domain)) == 6
    exported = populations.export_credentials(key, str(sandbox_tmp(key)), plaintext=True)
    assert exported["mailboxes"] == 5
    assert target not in sandbox_tmp(key).read_text()


def test_a_domain_azt3knet_did_not_create_stops_the_run_until_adopted(sandbox: Sandbox, tmp_path: Path) -> None:
    """A pre-existing domain (made by hand with Mailcow's default template: 10 mailboxes, 10 GiB, no tags) is not
    ours: populate fails naming it and the way out, with zero Mailcow writes. Adopting it tags it, raises its
    limits to fit, and converges; from then on it is ours (a recreate is a no-op)."""
    spec, key = PopulationSpec(count=14, seed=14, country="IT"), "premade"
    domain = mail_domain(key)
    with api_client(sandbox) as client:
        client.add_domain(DomainSpec(domain=domain))
    assert "tags" not in domain_record_api(sandbox, domain)  # contract §7: no tags key on an untagged domain
    reset_counters(sandbox)
    refused = populations.populate(spec, key, create_mailboxes=True)
    assert not refused.success
    assert domain in (refused.error or "") and "--adopt-domain" in (refused.error or "")
    assert mailcow_counters(sandbox)["writes"] == 0 and mailcow(sandbox).writes_received() == []
    assert domain_mailboxes(sandbox, domain) == {}
    assert domain_record(sandbox, domain)["tags"] == []  # type: ignore[index]

    outcome = populations.populate(spec, key, create_mailboxes=True, adopt_domain=True)
    assert outcome.success, outcome.error
    meta = outcome.metadata["mailboxes"]
    assert not meta["domain_created"] and meta["domain_adopted"]
    assert_converged(sandbox, spec, key)
    record = domain_record(sandbox, domain)
    assert record is not None and record["mailboxes"] >= 14 and record["quota"] >= 14 * 1024
    assert {SYNTHETIC_TAG, key} <= set(record["tags"])
    reset_counters(sandbox)
    assert populations.recreate(key).success
    assert mailcow_counters(sandbox)["writes"] == 0


def domain_record_api(sandbox: Sandbox, domain: str) -> dict:
    answer = httpx.get(f"{sandbox.mailcow.url}/api/v1/get/domain/{domain}", headers={"X-API-Key": SANDBOX_MAILCOW_KEY})
    return answer.json()


def test_recreate_re_adds_a_partition_lost_with_dagster_storage(sandbox: Sandbox) -> None:
    """The store is the record of which populations exist: if Dagster's storage lost the partition, recreate
    puts it back and converges (with zero writes, as nothing changed on Mailcow)."""

    spec, key = PopulationSpec(count=4, seed=19, country="PT"), "lost-partition"
    assert populations.populate(spec, key, create_mailboxes=True).success
    instance = get_instance(get_settings())
    instance.delete_dynamic_partition("population", key)
    assert not instance.has_dynamic_partition("population", key)
    reset_counters(sandbox)
    outcome = populations.recreate(key)
    assert outcome.success, outcome.error
    assert instance.has_dynamic_partition("population", key)
    assert mailcow_counters(sandbox)["writes"] == 0
