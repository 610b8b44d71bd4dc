"""Safe against the real Mailcow (issue 9, issue 15 point 4), through real materializations and the CLI as a user
runs it: a crashed create is never exported, someone else's mailbox is never adopted, a foreign domain stops
populate before any write until adopted, teardown reads both APIs before writing anything and keeps a domain
that still serves someone else's mailboxes working, and `plan` lists exactly the writes recreate then makes."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import helpers_populations as populations
from helpers_sandbox import (
    api_client,
    assert_cli_error,
    assert_converged,
    azt3knet,
    desec_counters,
    desec_state,
    desired,
    domain_mailboxes,
    domain_record,
    has_dkim,
    mail_domain,
    mailcow,
    mailcow_counters,
    population_rrsets,
    reset_counters,
    stored_passwords,
)

from azt3knet_pipeline.clients.mailcow import DomainSpec, MailboxSpec
from azt3knet_pipeline.domain.dns import RRset
from azt3knet_pipeline.domain.mailbox_plan import SYNTHETIC_TAG
from azt3knet_pipeline.domain.models import PopulationSpec
from azt3knet_pipeline.sandbox.run import SANDBOX_ZONE, Sandbox
from azt3knet_pipeline.services.mailboxes import store_created_domain


def zone_rrsets(sandbox: Sandbox, key: str) -> dict[tuple[str, str], tuple[int, tuple[str, ...]]]:
    return {k: (r.ttl, r.records) for k, r in population_rrsets(sandbox, key).items()}


def received(sandbox: Sandbox) -> list[tuple[str, str, tuple[str, ...]]]:
    """Every write the Mailcow stand-in received, one entry per object: (route, object, attr keys)."""
    out = []
    for write in mailcow(sandbox).writes_received():
        route, body = write["route"], write["body"]
        if route == "add/mailbox":
            out.append((route, f"{body['local_part']}@{body['domain']}", ()))
        elif route == "add/domain":
            out.append((route, body["domain"], ()))
        elif route == "add/dkim":
            out.append((route, body["domains"], ()))
        elif route.startswith("edit/"):
            out += [(route, item, tuple(sorted(body["attr"]))) for item in body["items"]]
        else:
            out += [(route, item, ()) for item in body]
    return out


def planned(plan: dict[str, Any]) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(w["route"], w["object"], tuple(w["attrs"])) for w in plan["writes"]["mailcow"]]


def test_a_crashed_create_is_never_exported_or_active_and_recreate_repairs_it(
    sandbox_factory: Any, tmp_path: Path
) -> None:
    sandbox = sandbox_factory()
    spec, key = PopulationSpec(count=6, seed=71, country="ES"), "crash-create"
    # Domain add answers normally; the next two mailbox creates hit a crashed handler (HTTP 200, empty body).
    mailcow(sandbox).set_faults(fault_actions=["add"], fault_queue=["ok", "empty_200", "empty_200"])
    outcome = populations.populate(spec, key, create_mailboxes=True)
    assert not outcome.success and "ambiguous_reply" in (outcome.error or "")
    meta_rows = {row.address: row.state for row in populations.open_store().list_mailboxes(key)}
    missing = {a for a in meta_rows if a not in domain_mailboxes(sandbox, mail_domain(key))}
    assert len(missing) == 2 and all(meta_rows[a] != "active" for a in missing)
    assert sum(1 for state in meta_rows.values() if state == "active") == 4
    exported = populations.export_credentials(key, str(tmp_path / "creds.json"), plaintext=True)
    bundle = json.loads((tmp_path / "creds.json").read_text())
    assert exported["mailboxes"] == 4 and not missing & {m["address"] for m in bundle["mailboxes"]}

    again = populations.recreate(key)
    assert again.success, again.error
    assert again.metadata["mailboxes"]["created"] == 2
    assert_converged(sandbox, spec, key)


def test_fresh_populate_reports_the_dkim_key_its_domain_creation_generated(sandbox: Sandbox) -> None:
    spec, key = PopulationSpec(count=3, seed=72, country="ES"), "dkim-fresh"
    outcome = populations.populate(spec, key, create_mailboxes=True)
    assert outcome.success, outcome.error
    meta = outcome.metadata["mailboxes"]
    assert meta["domain_created"] and meta["dkim_created"]
    assert [w["route"] for w in mailcow(sandbox).writes_received()].count("add/dkim") == 0  # made by add/domain
    assert store_created_domain(populations.open_store(), key)


def test_a_mailbox_made_by_someone_else_between_list_and_create_is_a_conflict(sandbox: Sandbox) -> None:
    spec, key = PopulationSpec(count=5, seed=73, country="ES"), "race-box"
    target = sorted(m.address for m in desired(spec, key))[0]
    mailcow(sandbox).set_faults(foreign_race_addresses=[target])
    outcome = populations.populate(spec, key, create_mailboxes=True)
    assert not outcome.success
    assert target in (outcome.error or "") and "did not create" in (outcome.error or "")
    theirs = domain_mailboxes(sandbox, mail_domain(key))[target]
    assert theirs["tags"] == [] and mailcow(sandbox).check_password(target, "Someone-elses-1")
    assert not mailcow(sandbox).check_password(target, stored_passwords(key)[target])
    assert not [w for w in mailcow(sandbox).writes_received() if w["route"] == "edit/mailbox"]
    rows = {row.address: row.state for row in populations.open_store().list_mailboxes(key)}
    assert rows[target] == "conflict" and {s for a, s in rows.items() if a != target} == {"active"}
    # Teardown removes the agents' mailboxes and leaves theirs, with the domain that serves it.
    result = azt3knet("teardown", key, "--yes")
    assert result.returncode == 0, result.stderr
    assert set(domain_mailboxes(sandbox, mail_domain(key))) == {target}
    assert mailcow(sandbox).check_password(target, "Someone-elses-1")


def test_teardown_with_a_bad_mailcow_key_or_desec_token_writes_nothing_anywhere(sandbox: Sandbox) -> None:
    spec, key = PopulationSpec(count=4, seed=74, country="ES"), "bad-key"
    assert populations.populate(spec, key, create_mailboxes=True).success
    rrsets = zone_rrsets(sandbox, key)
    boxes = domain_mailboxes(sandbox, mail_domain(key))
    assert len(rrsets) == 6 and len(boxes) == 4
    reset_counters(sandbox)
    for args in (("teardown", key, "--yes"), ("teardown", key)):
        result = azt3knet(*args, env={"MAILCOW_API_KEY": "WRONG-KEY"})
        assert_cli_error(result, 1, "MailcowAuthError", "401")
    result = azt3knet("teardown", key, "--yes", env={"DESEC_TOKEN": "wrong-token"})
    assert_cli_error(result, 1, "401")
    assert desec_counters(sandbox)["writes"] == 0 and mailcow_counters(sandbox)["writes"] == 0
    assert mailcow(sandbox).writes_received() == []
    assert zone_rrsets(sandbox, key) == rrsets and domain_mailboxes(sandbox, mail_domain(key)) == boxes
    assert populations.open_store().require_population(key).status == "provisioned"


def test_teardown_with_a_foreign_mailbox_keeps_the_domain_its_dkim_key_and_dns(sandbox: Sandbox) -> None:
    spec, key = PopulationSpec(count=4, seed=75, country="ES"), "foreign-box"
    assert populations.populate(spec, key, create_mailboxes=True).success
    domain = mail_domain(key)
    foreign = f"helpdesk@{domain}"
    with api_client(sandbox) as client:
        client.edit_domain(domain, {"mailboxes": 5, "aliases": 5, "quota": 5 * 1024})
        client.add_mailbox(MailboxSpec(local_part="helpdesk", domain=domain, password="Hand-Made-Pass-1", quota=64))
        dkim_before = client.get_dkim(domain)
    rrsets = zone_rrsets(sandbox, key)
    shown = azt3knet("teardown", key, "--json")
    assert shown.returncode == 0, shown.stderr
    plan = json.loads(shown.stdout)
    assert plan["mailcow"]["foreign_mailboxes_kept"] == [foreign] and not plan["mailcow"]["remove_domain"]
    assert plan["dns"]["remove_rrsets"] == [] and len(plan["dns"]["kept_rrsets"]) == 6
    result = azt3knet("teardown", key, "--yes")
    assert result.returncode == 0, result.stderr
    assert "4 mailboxes removed, domain kept, 0 rrsets removed" in result.stdout
    assert "not created by azt3knet remain" in result.stderr
    assert set(domain_mailboxes(sandbox, domain)) == {foreign}
    assert domain_record(sandbox, domain) is not None and has_dkim(sandbox, domain)
    with api_client(sandbox) as client:
        assert client.get_dkim(domain) == dkim_before
    assert zone_rrsets(sandbox, key) == rrsets  # MX, SPF, DKIM, DMARC, autoconfig: all still there


def test_populate_on_a_foreign_domain_exits_1_with_no_write_until_adopted(sandbox: Sandbox) -> None:
    key = "foreign-dom"
    domain = mail_domain(key)
    with api_client(sandbox) as client:
        client.add_domain(
            DomainSpec(domain=domain, key_size=1024, mailboxes=3, quota=3072, maxquota=1024, defquota=512)
        )
        client.add_mailbox(MailboxSpec(local_part="owner", domain=domain, password="Hand-Made-Pass-1", quota=512))
    reset_counters(sandbox)
    args = ("populate", "--count", "5", "--seed", "76", "--country", "ES", "--key", key, "--create-mailboxes")
    refused = azt3knet(*args)
    assert refused.returncode == 1, refused.stderr
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in refused.stderr, refused.stderr  # one clean line, no Dagster log
    line = lines[0]
    assert domain in line and "--adopt-domain" in line and "did not create" in line
    assert mailcow(sandbox).writes_received() == [] and desec_counters(sandbox)["writes"] == 0
    planned_refusal = json.loads(azt3knet("plan", key, "--json").stdout)
    assert planned_refusal["blocked"] and planned_refusal["writes"] == {"mailcow": [], "desec": []}

    adopted = azt3knet(*args, "--adopt-domain", "--json")
    assert adopted.returncode == 0, adopted.stderr
    assert json.loads(adopted.stdout)["assets"]["mailboxes"]["domain_adopted"] is True
    spec = PopulationSpec(count=5, seed=76, country="ES")
    assert_converged(sandbox, spec, key, foreign={f"owner@{domain}"})
    record = domain_record(sandbox, domain)
    assert record is not None and {SYNTHETIC_TAG, key} <= set(record["tags"]) and record["mailboxes"] >= 6
    # Adopted means ours from now on: a recreate without the flag is a no-op.
    reset_counters(sandbox)
    assert populations.recreate(key).success
    assert mailcow_counters(sandbox)["writes"] == 0


def test_a_domain_made_before_domains_were_tagged_is_recognised_as_ours(sandbox: Sandbox) -> None:
    """Earlier versions created domains without tags. Such a domain is ours when the store recorded creating it
    and every mailbox in it is this population's: recreate tags it (one edit) and carries on."""
    spec, key = PopulationSpec(count=3, seed=77, country="ES"), "legacy-dom"
    assert populations.populate(spec, key, create_mailboxes=True).success
    domain = mail_domain(key)
    with mailcow(sandbox).lock:
        mailcow(sandbox).domains[domain]["tags"] = []  # as an earlier version left it
    reset_counters(sandbox)
    outcome = populations.recreate(key)
    assert outcome.success, outcome.error
    assert received(sandbox) == [("edit/domain", domain, ("tags",))]
    assert {SYNTHETIC_TAG, key} <= set(domain_record(sandbox, domain)["tags"])  # type: ignore[index]
    # A hand-made mailbox in it makes it not provably ours.
    with mailcow(sandbox).lock:
        mailcow(sandbox).domains[domain]["tags"] = []
    with api_client(sandbox) as client:
        client.edit_domain(domain, {"mailboxes": 4, "aliases": 4, "quota": 4 * 1024})
        client.add_mailbox(MailboxSpec(local_part="owner", domain=domain, password="Hand-Made-Pass-1", quota=64))
    assert populations.plan(key)["blocked"]
    assert not populations.recreate(key).success
    adopted = azt3knet("recreate", key, "--adopt-domain", "--json")
    assert adopted.returncode == 0, adopted.stderr
    assert json.loads(adopted.stdout)["assets"]["mailboxes"]["domain_adopted"] is True
    assert {SYNTHETIC_TAG, key} <= set(domain_record(sandbox, domain)["tags"])  # type: ignore[index]


def test_plan_lists_exactly_the_writes_recreate_makes(sandbox: Sandbox) -> None:
    spec, key = PopulationSpec(count=6, seed=78, country="ES"), "exact-plan"
    domain = mail_domain(key)
    populations.register_population(spec, key)
    store = populations.open_store()

    def drift_mailbox_deleted() -> None:
        with api_client(sandbox) as client:
            client.delete_mailboxes([sorted(domain_mailboxes(sandbox, domain))[0]])

    def drift_attribute() -> None:
        with api_client(sandbox) as client:
            client.edit_mailbox([sorted(domain_mailboxes(sandbox, domain))[1]], {"name": "Renamed", "quota": 512})

    def drift_limit_too_low() -> None:
        with api_client(sandbox) as client:
            client.delete_mailboxes([sorted(domain_mailboxes(sandbox, domain))[2]])
            client.edit_domain(domain, {"mailboxes": 5, "aliases": 5, "quota": 5 * 1024})

    def drift_dkim_missing() -> None:
        with api_client(sandbox) as client:
            client.delete_dkim(domain)

    def drift_rrsets() -> None:
        desec = desec_state(sandbox)
        desec.put_rrset(SANDBOX_ZONE, RRset(subname=key, type="MX", ttl=3600, records=("10 elsewhere.example.",)))
        desec.delete_rrset(SANDBOX_ZONE, f"_dmarc.{key}", "TXT")

    def foreign_and_ghost() -> None:
        with api_client(sandbox) as client:
            client.edit_domain(domain, {"mailboxes": 8, "aliases": 8, "quota": 8 * 1024})
            client.add_mailbox(MailboxSpec(local_part="owner", domain=domain, password="Hand-Made-Pass-1", quota=64))
            client.add_mailbox(
                MailboxSpec(local_part="ghost", domain=domain, password="Hand-Made-Pass-1", tags=[SYNTHETIC_TAG, key])
            )

    shapes = [
        ("fresh", lambda: None),
        ("unchanged", lambda: None),
        ("mailbox deleted", drift_mailbox_deleted),
        ("attribute changed", drift_attribute),
        ("domain limit too low", drift_limit_too_low),
        ("dkim missing", drift_dkim_missing),
        ("rrsets drifted", drift_rrsets),
        ("foreign and ghost mailboxes", foreign_and_ghost),
    ]
    for name, drift in shapes:
        drift()
        plan = populations.plan(key)
        before = zone_rrsets(sandbox, key)
        reset_counters(sandbox)
        outcome = populations.recreate(key)
        assert outcome.success, (name, outcome.error)
        assert Counter(received(sandbox)) == Counter(planned(plan)), name
        after = zone_rrsets(sandbox, key)
        changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
        planned_rrsets = {(r["subname"], r["type"]) for r in plan["dns"]["to_upsert"]} | {
            (r["subname"], r["type"]) for r in plan["dns"]["to_delete"]
        }
        assert changed == planned_rrsets, name
        assert desec_counters(sandbox)["writes"] == (1 if planned_rrsets else 0), name
        assert len(plan["writes"]["desec"]) == len(planned_rrsets), name
        if name == "fresh":
            assert [w[0] for w in planned(plan)].count("add/mailbox") == 6 and planned(plan)[0][0] == "add/domain"
            assert len(planned_rrsets) == 6
        if name == "unchanged":
            assert planned(plan) == [] and not planned_rrsets
        if name == "domain limit too low":
            assert ("edit/domain", domain, ("aliases", "mailboxes", "maxquota", "quota")) in planned(plan)
        if name == "dkim missing":
            assert ("add/dkim", domain, ()) in planned(plan) and (f"dkim._domainkey.{key}", "TXT") in planned_rrsets
    store.dispose()
