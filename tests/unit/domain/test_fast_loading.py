"""The start-up fast paths of the data loading equal their plain definitions.

- A country's GeoNames rows found by byte search in the table decompressed as far as needed == every line of the
  decoded table split on tabs and grouped by country, for every ISO code, asked for in any order.
- Names transliterated all at once == one by one (hypothesis), and for every locale's name tables.
"""

from __future__ import annotations

import gzip
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from azt3knet_pipeline.domain import locale_data, reference
from azt3knet_pipeline.domain.countries import ISO_3166_ALPHA2


def _grouped() -> tuple[list[str], dict[str, list[tuple[str, int, str]]]]:
    text = gzip.decompress((reference.DATA / "places.tsv.gz").read_bytes()).decode("utf-8")
    countries, grouped = [], {}
    for line in text.splitlines():
        country, name, population, zone = line.split("\t")
        countries.append(country)
        grouped.setdefault(country, []).append((name, int(population), zone))
    return countries, grouped


def test_the_table_is_sorted_by_country_so_a_prefix_holds_every_row_of_its_countries() -> None:
    countries, grouped = _grouped()
    assert countries == sorted(countries)
    assert len(grouped) > 200 and {"AD", "ZW"} <= set(grouped)  # the first and the last country of the file


@pytest.mark.parametrize("order", ["sorted", "reversed", "shuffled"])
def test_country_rows_equal_every_line_split_and_grouped(order: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reference, "_PLACES", reference._PlacesTable())  # decompressed from the start again
    _, grouped = _grouped()
    asked = [*sorted(ISO_3166_ALPHA2), "XX", "E", "ESP", "", "ZZZ"]
    if order == "reversed":
        asked.reverse()
    elif order == "shuffled":
        random.Random(11).shuffle(asked)
    for country in asked:
        assert reference._country_rows(country) == grouped.get(country, []), country


@settings(max_examples=200, deadline=None)
@given(texts=st.lists(st.text(max_size=12), max_size=20))
def test_slugs_transliterated_at_once_equal_one_by_one(texts: list[str]) -> None:
    assert locale_data.transliterated_slugs(texts) == [locale_data.transliterated_slug(t) for t in texts]


def test_every_locales_names_transliterate_at_once_as_one_by_one() -> None:
    for locale in locale_data.available_locales():
        for kind, source in locale_data._name_sources(locale).items():
            names = list(source)  # a dict's keys or the list itself
            slugs = [locale_data.transliterated_slug(name) for name in names]
            assert locale_data.transliterated_slugs(names) == slugs, (locale, kind)
