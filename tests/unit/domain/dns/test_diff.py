"""Diffing and drift (pure): presentation differences are never drift, deletes stay in scope."""

from __future__ import annotations

import base64
import random

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from azt3knet_pipeline.domain.dns import (
    DkimRecord,
    RRset,
    desired_population_rrsets,
    diff_rrsets,
    drift_for_populations,
    population_scope,
    txt_content,
)

HOST = "mail.example.test"


def dkim_2048() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "v=DKIM1;k=rsa;t=s;s=email;p=" + base64.b64encode(der).decode()


def population(key: str = "seed-42", *, dkim: DkimRecord | None = None, ttl: int = 3600) -> list[RRset]:
    return desired_population_rrsets(population_key=key, mail_hostname=HOST, dkim=dkim, ttl=ttl, minimum_ttl=3600)


@settings(max_examples=60, deadline=None)
@given(
    records=st.lists(st.ip_addresses(v=4).map(str), min_size=1, max_size=8, unique=True),
    seed=st.integers(0, 2**32),
)
def test_shuffled_record_order_is_no_diff(records, seed):
    shuffled = list(records)
    random.Random(seed).shuffle(shuffled)
    desired = [RRset(subname="www", type="A", ttl=3600, records=tuple(records))]
    actual = [RRset(subname="www", type="A", ttl=3600, records=tuple(shuffled))]
    diff = diff_rrsets(desired, actual, managed={("www", "A")})
    assert diff.is_empty and diff.unchanged == 1


def test_deSEC_canonical_answer_is_no_diff():
    """What deSEC answers (lowercased names, TXT re-split at 255) equals what we sent."""
    dkim = DkimRecord(txt=dkim_2048())
    desired = population(dkim=dkim)
    answered = []
    for r in desired:
        records = tuple(x.upper() if r.type in ("MX", "CNAME") else x for x in r.records)
        if r.type == "TXT":
            data = txt_content(r.records[0])
            records = (" ".join(f'"{data[i : i + 100].decode()}"' for i in range(0, len(data), 100)),)
        answered.append(RRset(subname=r.subname, type=r.type, ttl=r.ttl, records=records))
    diff = diff_rrsets(desired, answered, managed=population_scope("seed-42", "dkim"))
    assert diff.is_empty
    assert diff.unchanged == len(desired)


def test_diff_upserts_changes_and_deletes_only_in_managed_scope():
    desired = population()
    actual = [
        RRset(subname="seed-42", type="MX", ttl=3600, records=("10 old.example.test.",)),  # records differ
        RRset(subname="seed-42", type="TXT", ttl=300, records=(f'"v=spf1 mx a:{HOST} -all"',)),  # ttl differs
        RRset(subname="old._domainkey.seed-42", type="TXT", ttl=3600, records=('"v=1"',)),  # managed, stale
        RRset(subname="", type="NS", ttl=3600, records=("ns1.desec.io.",)),  # not ours
        RRset(subname="www.seed-42", type="A", ttl=3600, records=("192.0.2.1",)),  # not in scope
        RRset(subname="seed-43", type="MX", ttl=3600, records=("10 x.",)),  # another population
    ]
    managed = population_scope("seed-42", "dkim") | {("old._domainkey.seed-42", "TXT")}
    diff = diff_rrsets(desired, actual, managed=managed)
    assert {r.key for r in diff.upserts} == {
        ("seed-42", "MX"),
        ("seed-42", "TXT"),
        ("_dmarc.seed-42", "TXT"),
        ("autoconfig.seed-42", "CNAME"),
        ("autodiscover.seed-42", "CNAME"),
    }
    assert [r.key for r in diff.deletes] == [("old._domainkey.seed-42", "TXT")]
    assert diff.changed == 6 and not diff.is_empty
    payload = diff.to_bulk_payload()
    # Deletes carry no TTL: deSEC would validate it against a possibly raised minimum_ttl.
    assert payload[-1] == {"subname": "old._domainkey.seed-42", "type": "TXT", "records": []}
    assert all(set(item) == {"subname", "type", "ttl", "records"} for item in payload[:-1])
    # no scope: nothing is ever deleted
    assert diff_rrsets(desired, actual).deletes == []


def test_desired_without_records_means_delete_and_apex_is_empty_subname():
    actual = [RRset(subname="@", type="MX", ttl=3600, records=("10 mail.example.test.",))]
    diff = diff_rrsets([RRset(subname="", type="MX", ttl=3600, records=())], actual)
    assert diff.to_bulk_payload() == [{"subname": "", "type": "MX", "records": []}]
    assert diff_rrsets([RRset(subname="", type="MX", ttl=3600, records=())], []).is_empty


def test_duplicate_desired_keys_are_an_error():
    rrset = RRset(subname="a", type="A", ttl=3600, records=("192.0.2.1",))
    with pytest.raises(ValueError, match="twice"):
        diff_rrsets([rrset, rrset.model_copy(update={"subname": "A"})], [])


def test_drift_hash_is_stable_and_only_for_drifted_populations():
    dkim = DkimRecord(txt="v=DKIM1;k=rsa;p=" + "A" * 300)
    desired = {"seed-1": population("seed-1", dkim=dkim), "seed-2": population("seed-2", dkim=dkim)}
    actual = [
        *desired["seed-1"],
        *desired["seed-2"],
        RRset(subname="", type="NS", ttl=3600, records=("ns1.x.",)),
    ]
    assert drift_for_populations(desired, actual) == {}

    drifted = [r for r in actual if r.key != ("seed-2", "MX")]
    drifted.append(RRset(subname="x.seed-1", type="A", ttl=3600, records=("192.0.2.1",)))  # not in scope
    first = drift_for_populations(desired, drifted)
    assert set(first) == {"seed-2"}
    assert len(first["seed-2"]) == 64
    assert drift_for_populations(desired, list(reversed(drifted))) == first  # order-independent
    assert drift_for_populations(dict(reversed(desired.items())), drifted) == first

    other = [r for r in actual if r.key != ("_dmarc.seed-2", "TXT")]
    assert drift_for_populations(desired, other)["seed-2"] != first["seed-2"]  # a different drift
