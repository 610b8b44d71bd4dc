"""RRset normalisation (pure): two spellings of the same data compare equal, and normalising is idempotent."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from azt3knet_pipeline.domain.dns import (
    RRset,
    normalise_record,
    normalise_rrset,
)


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


def test_normalise_rrset_sorts_and_dedups():
    rrset = RRset(subname="WWW", type="mx", ttl=60, records=("20 B.test", "10 a.test.", "20 b.test."))
    assert normalise_rrset(rrset) == RRset(subname="www", type="MX", ttl=60, records=("10 a.test.", "20 b.test."))
    assert rrset.same_as(normalise_rrset(rrset))
