"""Desired DNS state and diffing (pure): presentation differences are never drift, deletes stay in scope."""

from __future__ import annotations

import base64
import random

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from azt3knet_pipeline.domain.dns_plan import (
    MAX_TTL,
    DkimRecord,
    RRset,
    desired_base_rrsets,
    desired_population_rrsets,
    diff_rrsets,
    drift_for_populations,
    effective_ttl,
    normalise_record,
    normalise_rrset,
    parse_txt_strings,
    population_scope,
    quote_txt,
    txt_content,
)

HOST = "mail.example.test"


def dkim_2048() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "v=DKIM1;k=rsa;t=s;s=email;p=" + base64.b64encode(der).decode()


def population(key: str = "seed-42", *, dkim: DkimRecord | None = None, ttl: int = 3600) -> list[RRset]:
    return desired_population_rrsets(population_key=key, mail_hostname=HOST, dkim=dkim, ttl=ttl, minimum_ttl=3600)


# --- TXT quoting --------------------------------------------------------------------------------------------


def test_quote_txt_quotes_and_escapes():
    assert quote_txt("v=spf1 -all") == '"v=spf1 -all"'
    assert quote_txt('say "hi" \\ bye') == '"say \\"hi\\" \\\\ bye"'
    assert txt_content(quote_txt('say "hi" \\ bye')) == b'say "hi" \\ bye'


def test_quote_txt_splits_a_2048_bit_dkim_key_into_255_byte_strings():
    value = dkim_2048()
    assert len(value) > 255
    quoted = quote_txt(value)
    strings = parse_txt_strings(quoted)
    assert strings is not None and len(strings) == 2
    assert all(len(s) <= 255 for s in strings)
    assert b"".join(strings) == value.encode()
    assert quote_txt(quoted) == quoted  # idempotent
    # Mailcow's SPLIT_DKIM_255 form ("…" "…" at other boundaries) is the same record
    mailcow_split = " ".join(f'"{value[i : i + 200]}"' for i in range(0, len(value), 200))
    assert quote_txt(mailcow_split) == quoted
    assert normalise_record("TXT", mailcow_split) == normalise_record("TXT", quoted)


def test_quote_txt_never_splits_a_multibyte_character():
    value = "é" * 200  # 400 bytes
    strings = parse_txt_strings(quote_txt(value))
    assert strings is not None and all(len(s) <= 255 for s in strings)
    assert [s.decode("utf-8") for s in strings]  # each chunk is valid UTF-8 on its own
    assert b"".join(strings).decode() == value


# --- normalisation ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rtype", "a", "b"),
    [
        ("TXT", '"v=spf1 mx" " -all"', '"v=spf1 mx -all"'),
        ("TXT", "v=spf1 mx -all", '"v=spf1 mx -all"'),
        ("TXT", '"h\\195\\169llo"', '"héllo"'),
        ("MX", "10 Mail.Example.TEST", "10 mail.example.test."),
        ("MX", "010   mail.example.test.", "10 mail.example.test."),
        ("CNAME", "MAIL.example.test", "mail.example.test."),
        ("SRV", "0 1 0443 Mail.Example.Test", "0 1 443 mail.example.test."),
        ("AAAA", "2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
        ("A", " 192.0.2.1 ", "192.0.2.1"),
    ],
)
def test_presentation_differences_normalise_equal(rtype, a, b):
    assert normalise_record(rtype, a) == normalise_record(rtype, b)


@settings(max_examples=150, deadline=None)
@given(rtype=st.sampled_from(["TXT", "SPF", "MX", "CNAME", "NS", "SRV", "A", "AAAA", "CAA"]), value=st.text())
def test_normalise_is_idempotent(rtype, value):
    once = normalise_record(rtype, value)
    assert normalise_record(rtype, once) == once


@settings(max_examples=100, deadline=None)
@given(content=st.text(min_size=0, max_size=700))
def test_txt_normalisation_preserves_the_data(content):
    assert txt_content(normalise_record("TXT", quote_txt(content))) == txt_content(quote_txt(content))


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


# --- desired state ------------------------------------------------------------------------------------------


def test_population_rrsets_shape():
    rrsets = population(dkim=DkimRecord(selector="dkim", txt="v=DKIM1;k=rsa;p=AAAA"))
    by_key = {r.key: r for r in rrsets}
    assert set(by_key) == population_scope("seed-42", "dkim")
    assert by_key[("seed-42", "MX")].records == (f"10 {HOST}.",)
    assert by_key[("seed-42", "TXT")].records == (f'"v=spf1 mx a:{HOST} -all"',)  # MX and TXT: two rrsets
    assert by_key[("dkim._domainkey.seed-42", "TXT")].records == ('"v=DKIM1;k=rsa;p=AAAA"',)
    assert by_key[("_dmarc.seed-42", "TXT")].records[0].startswith('"v=DMARC1; p=reject')
    assert by_key[("autoconfig.seed-42", "CNAME")].records == (f"{HOST}.",)
    assert by_key[("autodiscover.seed-42", "CNAME")].records == (f"{HOST}.",)
    assert rrsets == sorted(rrsets, key=lambda r: r.key)
    assert rrsets == population(dkim=DkimRecord(selector="dkim", txt="v=DKIM1;k=rsa;p=AAAA"))


def test_population_without_dkim_and_with_rua():
    rrsets = desired_population_rrsets(
        population_key="seed-7",
        mail_hostname=HOST,
        dkim=None,
        ttl=3600,
        minimum_ttl=60,
        dmarc_rua="dmarc@x.test",
    )
    assert not any("_domainkey" in r.subname for r in rrsets)
    dmarc = next(r for r in rrsets if r.subname == "_dmarc.seed-7")
    assert "rua=mailto:dmarc@x.test" in dmarc.records[0]


def test_population_key_must_be_a_dns_label():
    with pytest.raises(ValueError, match="DNS label"):
        population("Seed_42")


@pytest.mark.parametrize(
    ("ttl", "minimum", "expected"),
    [(60, 3600, 3600), (7200, 3600, 7200), (3600, 60, 3600), (100_000, 60, MAX_TTL), (60, 100_000, MAX_TTL)],
)
def test_ttl_is_max_of_ttl_and_minimum_capped(ttl, minimum, expected):
    assert effective_ttl(ttl, minimum) == expected
    rrsets = desired_population_rrsets(population_key="p1", mail_hostname=HOST, dkim=None, ttl=ttl, minimum_ttl=minimum)
    assert {r.ttl for r in rrsets} == {expected}


def test_base_rrsets():
    rrsets = desired_base_rrsets(
        mail_hostname="Mail.Example.Test.",
        zone="example.test",
        ipv4="192.0.2.10",
        ipv6="2001:db8:0::10",
        ttl=60,
        minimum_ttl=3600,
        include_srv=True,
    )
    by_key = {r.key: r for r in rrsets}
    assert by_key[("mail", "A")].records == ("192.0.2.10",)
    assert by_key[("mail", "AAAA")].records == ("2001:db8::10",)
    assert by_key[("", "MX")].records == ("10 mail.example.test.",)
    assert ("", "TXT") in by_key and ("_dmarc", "TXT") in by_key
    assert by_key[("autodiscover", "CNAME")].records == ("mail.example.test.",)
    assert by_key[("_submission._tcp", "SRV")].records == ("0 1 587 mail.example.test.",)
    assert by_key[("_caldavs._tcp", "TXT")].records == ('"path=/SOGo/dav/"',)
    assert {r.ttl for r in rrsets} == {3600}
    assert all(r.subname != "@" for r in rrsets)


def test_base_rrsets_reject_a_mail_host_outside_the_zone():
    with pytest.raises(ValueError, match="not inside the zone"):
        desired_base_rrsets(
            mail_hostname="mail.other.test",
            zone="example.test",
            ipv4=None,
            ipv6=None,
            ttl=3600,
            minimum_ttl=3600,
        )
    with pytest.raises(ValueError, match="not inside the zone"):
        desired_base_rrsets(
            mail_hostname="badexample.test",
            zone="example.test",
            ipv4=None,
            ipv6=None,
            ttl=3600,
            minimum_ttl=3600,
        )
    with pytest.raises(ValueError):
        desired_base_rrsets(
            mail_hostname="mail.example.test",
            zone="example.test",
            ipv4="::1",
            ipv6=None,
            ttl=3600,
            minimum_ttl=60,
        )


# --- diffing ------------------------------------------------------------------------------------------------


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


def test_normalise_rrset_sorts_and_dedups():
    rrset = RRset(subname="WWW", type="mx", ttl=60, records=("20 B.test", "10 a.test.", "20 b.test."))
    assert normalise_rrset(rrset) == RRset(subname="www", type="MX", ttl=60, records=("10 a.test.", "20 b.test."))
    assert rrset.same_as(normalise_rrset(rrset))


# --- drift --------------------------------------------------------------------------------------------------


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
