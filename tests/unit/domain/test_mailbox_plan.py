"""The mailbox plan (pure): create the missing, correct drift, remove only what this population owns."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

from azt3knet_pipeline.domain.generation import generate_population
from azt3knet_pipeline.domain.mailbox_plan import (
    SYNTHETIC_TAG,
    ActualDomain,
    ActualMailbox,
    DesiredMailbox,
    desired_mailboxes,
    is_owned_by,
    plan_domain,
    plan_mailboxes,
    population_tags,
)
from azt3knet_pipeline.domain.models import PopulationSpec

KEY = "seed-4"
DOMAIN = f"{KEY}.azt3knet.test"
TAGS = (SYNTHETIC_TAG, KEY)


def desired(n: int = 5, quota: int = 1024) -> list[DesiredMailbox]:
    return [
        DesiredMailbox(
            address=f"user{i}@{DOMAIN}",
            local_part=f"user{i}",
            domain=DOMAIN,
            name=f"User {i}",
            agent_id=f"agent-{i}",
            quota_mib=quota,
            tags=TAGS,
        )
        for i in range(n)
    ]


def as_actual(mailbox: DesiredMailbox, **changes: object) -> ActualMailbox:
    actual = ActualMailbox(
        address=mailbox.address,
        name=mailbox.name,
        active=mailbox.active,
        quota_mib=mailbox.quota_mib,
        tags=mailbox.tags,
    )
    return replace(actual, **changes)


def foreign(local: str, tags: tuple[str, ...] = ()) -> ActualMailbox:
    return ActualMailbox(address=f"{local}@{DOMAIN}", name=local, active=True, quota_mib=512, tags=tags)


def test_nothing_exists_everything_is_created_in_order() -> None:
    want = desired()
    plan = plan_mailboxes(want, [], KEY)
    assert plan.create == want
    assert plan.update == [] and plan.remove == [] and plan.unchanged == 0
    assert plan.summary() == {"create": 5, "update": 0, "remove": 0, "unchanged": 0, "conflicts": 0}


def test_converged_state_is_an_empty_plan() -> None:
    want = desired()
    plan = plan_mailboxes(want, [as_actual(m) for m in want], KEY)
    assert plan.is_empty and plan.unchanged == 5
    assert plan.summary() == {"create": 0, "update": 0, "remove": 0, "unchanged": 5, "conflicts": 0}


def test_only_the_missing_are_created() -> None:
    want = desired(10)
    present = [as_actual(m) for i, m in enumerate(want) if i not in {2, 3, 7}]
    plan = plan_mailboxes(want, present, KEY)
    assert [m.address for m in plan.create] == [want[2].address, want[3].address, want[7].address]
    assert plan.unchanged == 7 and not plan.update and not plan.remove


@pytest.mark.parametrize(
    ("drift", "expected"),
    [
        ({"name": "Renamed By Hand"}, {"name": "User 0"}),
        ({"active": False}, {"active": 1}),
        ({"quota_mib": 512}, {"quota": 1024}),
        ({"tags": (KEY,)}, {"tags": [SYNTHETIC_TAG]}),
        ({"tags": ("azt3knet-synthetic",)}, {"tags": [KEY]}),
        ({"name": "x", "active": False, "quota_mib": 1}, {"name": "User 0", "active": 1, "quota": 1024}),
    ],
)
def test_drift_is_corrected_with_exactly_the_differing_attributes(drift: dict, expected: dict) -> None:
    want = desired(3)
    actual = [as_actual(want[0], **drift), as_actual(want[1]), as_actual(want[2])]
    plan = plan_mailboxes(want, actual, KEY)
    assert len(plan.update) == 1
    assert plan.update[0].address == want[0].address
    assert dict(plan.update[0].changes) == expected
    assert plan.unchanged == 2 and not plan.create and not plan.remove


def test_desired_inactive_mailbox_is_deactivated() -> None:
    want = [replace(desired(1)[0], active=False)]
    plan = plan_mailboxes(want, [as_actual(desired(1)[0])], KEY)
    assert [dict(u.changes) for u in plan.update] == [{"active": 0}]


def test_extra_tags_added_by_an_operator_are_not_drift() -> None:
    # Mailcow only ever adds tags; an operator's extra tag is kept and is no reason to write.
    want = desired(1)
    plan = plan_mailboxes(want, [as_actual(want[0], tags=(*TAGS, "vip"))], KEY)
    assert plan.is_empty and plan.unchanged == 1


def test_addresses_match_case_insensitively() -> None:
    want = desired(2)
    actual = [as_actual(want[0], address=want[0].address.upper()), as_actual(want[1])]
    plan = plan_mailboxes(want, actual, KEY)
    assert plan.is_empty and plan.unchanged == 2


def test_owned_and_undesired_mailboxes_are_removed_sorted() -> None:
    want = desired(2)
    actual = [as_actual(m) for m in want] + [foreign("zed", TAGS), foreign("abe", TAGS)]
    plan = plan_mailboxes(want, actual, KEY)
    assert plan.remove == [f"abe@{DOMAIN}", f"zed@{DOMAIN}"]
    assert plan.unchanged == 2 and not plan.create


@pytest.mark.parametrize(
    "tags",
    [
        (),  # an operator's own mailbox
        ("vip",),
        (SYNTHETIC_TAG,),  # synthetic, but no population key
        (KEY,),  # the key as a tag, but not marked synthetic
        (SYNTHETIC_TAG, "seed-42"),  # another population whose key merely contains ours (Mailcow's LIKE '%tag%')
        (SYNTHETIC_TAG, "other-pop"),
        (f"{SYNTHETIC_TAG}-x", KEY),
    ],
)
def test_never_removes_what_this_population_does_not_own(tags: tuple[str, ...]) -> None:
    mailbox = foreign("operator", tags)
    assert not is_owned_by(mailbox, KEY)
    plan = plan_mailboxes(desired(2), [foreign("operator", tags)], KEY)
    assert plan.remove == []
    assert len(plan.create) == 2


def test_empty_population_removes_everything_owned_and_nothing_else() -> None:
    actual = [foreign("a", TAGS), foreign("b", ()), foreign("c", (SYNTHETIC_TAG, "seed-40"))]
    plan = plan_mailboxes([], actual, KEY)
    assert plan.remove == [f"a@{DOMAIN}"]


def test_desired_mailboxes_from_generated_profiles() -> None:
    population = generate_population(PopulationSpec(count=60, seed=4, country="ES"), KEY)
    frame: pd.DataFrame = population.frame
    want = desired_mailboxes(frame, KEY, DOMAIN, 2048)
    assert len(want) == 60
    assert len({m.address for m in want}) == 60
    for mailbox, (_, row) in zip(want, frame.iterrows(), strict=True):
        assert mailbox.address == f"{row['email_local_part']}@{DOMAIN}"
        assert mailbox.local_part == row["email_local_part"] and mailbox.domain == DOMAIN
        assert mailbox.name == row["display_name"] and mailbox.agent_id == row["id"]
        assert mailbox.quota_mib == 2048 and mailbox.active
        assert mailbox.tags == population_tags(KEY) == (SYNTHETIC_TAG, KEY)
    # Same profiles ⇒ same desired state (what makes recreate a no-op).
    assert desired_mailboxes(frame, KEY, DOMAIN, 2048) == want


def test_a_foreign_mailbox_at_a_desired_address_is_a_conflict_never_adopted() -> None:
    desired = [
        DesiredMailbox(
            address="ana@k.example.test",
            local_part="ana",
            domain="k.example.test",
            name="Ana",
            agent_id="1",
            quota_mib=10,
            tags=("azt3knet-synthetic", "k"),
        ),
    ]
    foreign = ActualMailbox(address="ana@k.example.test", name="Ana", active=True, quota_mib=10, tags=())
    plan = plan_mailboxes(desired, [foreign], "k")
    assert plan.conflicts == ["ana@k.example.test"]
    assert not plan.create and not plan.update and not plan.remove and plan.unchanged == 0
    assert plan.summary()["conflicts"] == 1


def _domain(**kw: object) -> object:
    fields = {"name": DOMAIN, "max_mailboxes": 5, "max_aliases": 5, "maxquota_mib": 1024, "quota_mib": 5120}
    return ActualDomain(**{**fields, "tags": TAGS, **kw})  # type: ignore[arg-type]


def _plan_domain(existing: object, **kw: object) -> object:
    args = {"name": DOMAIN, "population_key": KEY, "mailbox_quota_mib": 1024, "needed_mailboxes": 5}
    args.update({"needed_quota_mib": 5120, "dkim_present": True, **kw})
    return plan_domain(existing, **args)  # type: ignore[arg-type]


def test_domain_plan_creates_a_missing_domain_with_limits_that_fit() -> None:
    plan = _plan_domain(None, needed_mailboxes=7, needed_quota_mib=7168, dkim_present=False)
    assert plan.create is not None and (plan.create.mailboxes, plan.create.quota, plan.create.maxquota) == (
        7,
        7168,
        1024,
    )
    assert not plan.edit and not plan.add_dkim and not plan.dkim_reused  # add/domain generates the key
    assert [w["route"] for w in plan.writes()] == ["add/domain"]
    assert _plan_domain(None, dkim_present=True).dkim_reused  # a key left by delete/domain is reused


def test_domain_plan_of_our_domain_writes_only_what_differs() -> None:
    assert _plan_domain(_domain()).writes() == []
    low = _plan_domain(_domain(), needed_mailboxes=6, needed_quota_mib=6144)
    assert low.edit == {"mailboxes": 6, "aliases": 6, "maxquota": 1024, "quota": 6144}
    assert _plan_domain(_domain(), dkim_present=False).writes() == [
        {"route": "add/dkim", "object": DOMAIN, "attrs": []}
    ]
    # Limits are only ever raised, never lowered below what is there.
    assert not _plan_domain(_domain(max_mailboxes=50, quota_mib=99999), needed_mailboxes=6).edit


def test_a_domain_without_our_tags_is_not_ours_unless_adopted() -> None:
    foreign = _domain(tags=("someone",))
    refused = _plan_domain(foreign, needed_mailboxes=9, dkim_present=False)
    assert refused.not_owned and refused.writes() == []  # not even the DKIM key or the limits
    half = _plan_domain(_domain(tags=(KEY,)))  # the key alone is not enough
    assert half.not_owned
    adopted = _plan_domain(foreign, adopt=True, needed_mailboxes=9)
    assert adopted.adopt and not adopted.not_owned
    assert adopted.edit["tags"] == [SYNTHETIC_TAG, KEY] and adopted.edit["mailboxes"] == 9
    assert [w["attrs"] for w in adopted.writes()] == [["aliases", "mailboxes", "maxquota", "quota", "tags"]]
