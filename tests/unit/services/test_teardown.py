"""services.teardown with fake Mailcow and deSEC clients and a real SQLite store: what the plan reads, what the
apply writes and in which order (mailboxes, then DKIM and domain, then DNS in one bulk request)."""

from __future__ import annotations

from services_fakes import MAIL_DOMAIN, OURS, ZONE, FakeDesec, FakeMailcow, population_rrsets

from azt3knet_pipeline.services.teardown import apply_teardown, read_teardown_plan
from azt3knet_pipeline.settings import Settings
from azt3knet_pipeline.store.repository import Store

KEY = "pop-a"


def test_an_owned_domain_is_planned_away_whole_and_applied_in_order(store: Store, settings: Settings) -> None:
    mailcow = FakeMailcow(domain_tags=OURS, mailboxes={f"b@{MAIL_DOMAIN}": OURS, f"a@{MAIL_DOMAIN}": OURS})
    desec = FakeDesec(population_rrsets())

    plan = read_teardown_plan(mailcow=mailcow, desec=desec, store=store, settings=settings, population_key=KEY)

    assert mailcow.writes() == []  # the plan only reads
    assert plan.agent_mailboxes == [f"a@{MAIL_DOMAIN}", f"b@{MAIL_DOMAIN}"]
    assert (plan.domain_owned, plan.remove_domain, plan.remove_dkim) == (True, True, True)
    assert sorted((r.subname, r.type) for r in plan.dns.deletes) == sorted([(KEY, "MX"), (f"_dmarc.{KEY}", "TXT")])
    assert plan.writes()[-1] == f"delete 2 rrset(s) in {ZONE} (one bulk request)"

    outcome = apply_teardown(plan, mailcow=mailcow, desec=desec, store=store)

    assert mailcow.writes() == ["delete_mailboxes", "delete_dkim", "delete_domain"]
    assert [zone for zone, _ in desec.patches] == [ZONE]  # DNS last, in one request
    assert (outcome.mailboxes_removed, outcome.dkim_removed, outcome.domain_removed) == (2, True, True)
    assert outcome.rrsets_removed == 2


def test_foreign_mailboxes_keep_the_domain_its_dkim_key_and_its_dns(store: Store, settings: Settings) -> None:
    foreign = f"human@{MAIL_DOMAIN}"
    mailcow = FakeMailcow(domain_tags=OURS, mailboxes={f"a@{MAIL_DOMAIN}": OURS, foreign: ["someone-else"]})
    desec = FakeDesec(population_rrsets())

    plan = read_teardown_plan(mailcow=mailcow, desec=desec, store=store, settings=settings, population_key=KEY)
    outcome = apply_teardown(plan, mailcow=mailcow, desec=desec, store=store)

    assert plan.foreign_mailboxes == [foreign] and not plan.remove_domain and not plan.remove_dkim
    assert plan.dns.deletes == [] and sorted(plan.dns_kept) == sorted([(KEY, "MX"), (f"_dmarc.{KEY}", "TXT")])
    assert any("not created by azt3knet remain" in note for note in plan.notes)
    assert mailcow.writes() == ["delete_mailboxes"]
    assert mailcow.calls[-1] == ("delete_mailboxes", (f"a@{MAIL_DOMAIN}",))
    assert (outcome.mailboxes_removed, outcome.foreign_left, outcome.rrsets_removed) == (1, 1, 0)


def test_a_domain_azt3knet_did_not_create_is_never_removed(store: Store, settings: Settings) -> None:
    mailcow = FakeMailcow(domain_tags=["someone-else"], mailboxes={})

    plan = read_teardown_plan(mailcow=mailcow, desec=None, store=store, settings=settings, population_key=KEY)
    apply_teardown(plan, mailcow=mailcow, desec=None, store=store)

    assert (plan.domain_exists, plan.domain_owned, plan.remove_domain) == (True, False, False)
    assert any("was not created by azt3knet" in note for note in plan.notes)
    assert any("DESEC_TOKEN is not set" in note for note in plan.notes)
    assert mailcow.writes() == []  # nothing of ours to delete, and the domain is not ours


def test_without_the_domain_no_mailbox_list_is_read(store: Store, settings: Settings) -> None:
    # Mailcow answers every mailbox of the server for an unknown domain (contract §7): the plan must not ask.
    mailcow = FakeMailcow(domain_tags=None, mailboxes={"x@elsewhere.test": OURS}, dkim=False)

    plan = read_teardown_plan(mailcow=mailcow, desec=None, store=store, settings=settings, population_key=KEY)

    assert "list_mailboxes" not in [c[0] for c in mailcow.calls]
    assert plan.agent_mailboxes == [] and not plan.domain_exists and not plan.remove_domain
    assert plan.to_dict()["mailcow"]["remove_mailboxes"] == []
