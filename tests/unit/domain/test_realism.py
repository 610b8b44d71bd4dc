"""Generator v2 populations look like the country's population (issue 12, "What it must show").

One module-scoped generation of 100,000 profiles for each of US, ES, JP, IN, NG, BR (ages 13-90, the widest
bounds a spec allows), measured with the same report code `populations describe` uses; and 10,000 profiles of
every supported locale for the addresses.
"""

from __future__ import annotations

import zoneinfo
from pathlib import Path

import numpy as np
import pytest
from faker.config import AVAILABLE_LOCALES

from azt3knet_pipeline.domain import reference
from azt3knet_pipeline.domain.countries import ISO_3166_ALPHA2
from azt3knet_pipeline.domain.generation import stream_population
from azt3knet_pipeline.domain.generation_v2 import AGE_GROUPS, age_group
from azt3knet_pipeline.domain.locale_data import supported_locales
from azt3knet_pipeline.domain.models import PopulationSpec
from azt3knet_pipeline.domain.report import MAILCOW_LOCAL_PART, PopulationReport, describe, is_placeholder

COUNTRIES = ("US", "ES", "JP", "IN", "NG", "BR")
N = 100_000


def _zone_tab() -> dict[str, set[str]]:
    """country -> its IANA zones, from the system tz database's zone.tab (independent of GeoNames)."""
    zones: dict[str, set[str]] = {}
    for line in Path("/usr/share/zoneinfo/zone.tab").read_text().splitlines():
        if line and not line.startswith("#"):
            country, _, zone, *_ = line.split("\t")
            zones.setdefault(country, set()).add(zone)
    return zones


@pytest.fixture(scope="module")
def big() -> dict[str, tuple[PopulationReport, dict[str, np.ndarray]]]:
    out = {}
    for country in COUNTRIES:
        spec = PopulationSpec(
            count=N, seed=f"realism-{country}", country=country, age_range="13-90", generator_version=2
        )
        chunks = list(stream_population(spec, "realism").chunks())
        columns = {
            name: np.array([v for c in chunks for v in c.values(name)], dtype=object)
            for name in ("age", "gender", "city", "timezone", "interests", "posting_cadence")
        }
        out[country] = (describe(spec, "realism", chunks), columns)
    return out


@pytest.mark.parametrize("country", COUNTRIES)
def test_age_bands_match_wpp_within_tv_001(big, country: str) -> None:
    report, columns = big[country]
    assert report.count == N
    # Recomputed here from the raw ages, not only taken from the report.
    bands = (columns["age"].astype(int) // 5) * 5
    reference_shares = reference.reference_band_shares(country, 13, 90)
    tv = 0.5 * sum(abs(np.mean(bands == band) - share) for band, share in reference_shares.items())
    assert tv < 0.01, (country, tv)
    assert abs(tv - report.age_tv_distance) < 1e-9


@pytest.mark.parametrize("country", COUNTRIES)
def test_city_shares_follow_population_spearman_09(big, country: str) -> None:
    report, _ = big[country]
    assert report.places_spearman_top50 is not None and report.places_spearman_top50 >= 0.9, report.summary()


@pytest.mark.parametrize("country", COUNTRIES)
def test_every_timezone_is_the_countrys_and_the_citys(big, country: str) -> None:
    _, columns = big[country]
    places = reference.places(country)
    assert places is not None
    pairs = set(zip(places.names, places.timezones, strict=True))
    seen = set(zip(columns["city"].tolist(), columns["timezone"].tolist(), strict=True))
    assert seen <= pairs  # each agent's zone is its own city's zone
    zones = {tz for _, tz in seen}
    assert zones <= _zone_tab()[country]
    assert all(tz in zoneinfo.available_timezones() for tz in zones)
    if country in ("US", "BR"):  # countries spanning zones get several, in proportion to their places
        assert len(zones) >= 4


@pytest.mark.parametrize("country", COUNTRIES)
def test_genders_follow_the_reference_sex_ratio_with_a_small_non_binary_share(big, country: str) -> None:
    report, _ = big[country]
    weights = reference.age_sex_weights(country, 13, 90)
    female = weights[0].sum() / weights.sum()
    assert abs(report.genders["female"] / (1 - report.genders["non_binary"]) - female) < 0.01
    assert 0.005 < report.genders["non_binary"] < 0.015


def test_interests_and_cadence_depend_on_age(big) -> None:
    _, columns = big["US"]
    groups = age_group(columns["age"].astype(int))
    young, old = groups == 0, groups == len(AGE_GROUPS) - 1

    def share(interest: str, mask: np.ndarray) -> float:
        return float(np.mean([interest in row for row in columns["interests"][mask]]))

    assert share("gaming", young) > 3 * share("gaming", old)
    assert share("gardening", old) > 3 * share("gardening", young)
    daily_or_more = np.isin(columns["posting_cadence"], ["hourly", "several_daily", "daily"])
    assert daily_or_more[young].mean() > daily_or_more[old].mean() + 0.2


def _supported_pairs() -> list[tuple[str, str]]:
    """(country, locale) for every locale generator v2 accepts (Faker's country locales, and plain `en`)."""
    pairs = {(loc.split("_")[1], loc) for loc in AVAILABLE_LOCALES if "_" in loc and loc[-2:] in ISO_3166_ALPHA2}
    pairs |= {(country, loc) for country, _ in list(pairs) for loc in supported_locales(country)}
    pairs.add(("KE", "en_KE") if "en_KE" in AVAILABLE_LOCALES else ("AQ", "en"))
    return sorted(pairs)


@pytest.mark.parametrize(("country", "locale"), _supported_pairs())
def test_every_locale_gives_readable_unique_valid_addresses(country: str, locale: str) -> None:
    spec = PopulationSpec(count=10_000, seed=f"addr-{locale}", country=country, locale=locale, generator_version=2)
    locals_, users, ascii_names = [], [], 0
    for chunk in stream_population(spec, "addr").chunks():
        locals_ += chunk.values("email_local_part")
        users += chunk.values("username")
    assert not [a for a in locals_ if is_placeholder(a)]
    assert all(MAILCOW_LOCAL_PART.fullmatch(a) and a.isascii() for a in locals_)
    assert all(u.isascii() and u for u in users)
    assert len(set(locals_)) == len(locals_) == 10_000 and len(set(users)) == 10_000
    ascii_names += sum(a.split(".")[0][:1].isalpha() for a in locals_)
    assert ascii_names == 10_000  # every address starts with (a letter of) the agent's transliterated name
