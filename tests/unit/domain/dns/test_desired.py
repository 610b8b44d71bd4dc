"""Desired rrsets (pure): a population's mail domain and the zone's own records, TTLs within deSEC's bounds."""

from __future__ import annotations

import pytest

from azt3knet_pipeline.domain.dns import (
    MAX_TTL,
    DkimRecord,
    RRset,
    desired_base_rrsets,
    desired_population_rrsets,
    effective_ttl,
    population_scope,
)

HOST = "mail.example.test"


def population(key: str = "seed-42", *, dkim: DkimRecord | None = None, ttl: int = 3600) -> list[RRset]:
    return desired_population_rrsets(population_key=key, mail_hostname=HOST, dkim=dkim, ttl=ttl, minimum_ttl=3600)


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
