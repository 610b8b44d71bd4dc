"""Locale tables for generation: Faker's name, city and country data, read from compact package data.

The tables under `data/faker/` were extracted from Faker 40.63.0 by tools/extract_names.py, so no command
imports Faker (a third of a second at start-up) and an upgrade of it can never change a population; the
extraction is checked against Faker itself by tests/unit/domain/test_locale_tables.py. Each table is read once per
process and only for the locale asked for.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from functools import cache, cached_property, lru_cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
from anyascii import anyascii

from azt3knet_pipeline.domain.cdf_lookup import CdfLookup
from azt3knet_pipeline.domain.v1_places import (
    _CITIES,
    _FAMILY_NAME_FIRST,
    _PREFERRED_LOCALE,
    _PRIMARY_TIMEZONE,
    CITY_TIMEZONES,
)

FAKER_DATA = Path(__file__).resolve().parent / "data" / "faker"


@dataclass(frozen=True)
class NameTable:
    """Names with cumulative weights for vectorised sampling, and their ASCII slugs for addresses."""

    names: np.ndarray
    slugs: np.ndarray
    cumulative: np.ndarray

    def pick(self, uniforms: np.ndarray) -> np.ndarray:
        """Indices into `names` for uniforms in [0, 1): `searchsorted(cumulative, uniforms, side="right")`."""
        return np.minimum(self._lookup(uniforms), len(self.names) - 1)

    @cached_property
    def _lookup(self) -> CdfLookup:
        return CdfLookup(self.cumulative)


@dataclass(frozen=True)
class LocaleData:
    locale: str
    country: str
    female: NameTable
    male: NameTable
    any_gender: NameTable
    family: NameTable
    cities: tuple[str, ...]
    primary_timezone: str
    family_name_first: bool

    def timezone_of(self, city: str) -> str:
        """The city's timezone where known, else the country's primary one."""
        return CITY_TIMEZONES.get((self.country, city), self.primary_timezone)


def ascii_slug(text: str) -> str:
    """Lowercase ASCII letters and digits only (accents folded); '' for names in non-Latin scripts."""
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return "".join(filter(str.isalnum, text.lower()))  # ASCII in, so str.isalnum keeps exactly [a-z0-9]


def _weighted_names(values: object) -> tuple[list[str], np.ndarray]:
    """A table's names and cumulative weights (uniform for a list)."""
    if isinstance(values, dict):
        names = list(values.keys())
        weights = np.array([float(w) for w in values.values()], dtype=np.float64)
    else:
        names = list(values)  # type: ignore[call-overload]
        weights = np.ones(len(names), dtype=np.float64)
    cumulative = np.cumsum(weights / weights.sum())
    cumulative[-1] = 1.0
    return names, cumulative


def _table(values: object) -> NameTable:
    names, cumulative = _weighted_names(values)
    return NameTable(
        names=np.array(names, dtype=object),
        slugs=np.array([ascii_slug(n) for n in names], dtype=object),
        cumulative=cumulative,
    )


@lru_cache(maxsize=1)
def _meta() -> dict[str, Any]:
    """Faker's locales, countries (capital, time zones) and the names of its person and address modules."""
    return json.loads((FAKER_DATA / "meta.json").read_text(encoding="utf-8"))


def available_locales() -> list[str]:
    """Faker's `AVAILABLE_LOCALES` (sorted)."""
    return _meta()["available_locales"]


def locale_for_country(country: str) -> str:
    """The Faker locale for an ISO country code; `en` where Faker has none for that country."""
    if country in _PREFERRED_LOCALE:
        return _PREFERRED_LOCALE[country]
    for candidate in available_locales():  # a sorted list, so the choice is stable
        if candidate.endswith(f"_{country}"):
            return candidate
    return "en"


def _source(table: dict[str, list[Any]]) -> object:
    """An extracted table as Faker held it: weighted names as a dict (name -> weight), others as a list."""
    if "weights" in table:
        return dict(zip(table["names"], table["weights"], strict=True))
    return table["names"]


@cache
def _module(kind: str, name: str) -> SimpleNamespace:
    """The extracted attributes of `faker.providers.<kind>.<name>.Provider` (absent ones stay absent)."""
    data = json.loads((FAKER_DATA / kind / f"{name}.json").read_text(encoding="utf-8"))
    if kind == "address":
        return SimpleNamespace() if data is None else SimpleNamespace(cities=data)
    tables = {k: _source(v) if isinstance(v, dict) else v for k, v in data.items()}
    return SimpleNamespace(**tables)


def _provider(kind: str, locale: str) -> Any:
    """Faker's provider for `locale`: the locale's own module, else its language's, else en_US's."""
    modules = _meta()[kind]
    for name in (locale, locale.split("_")[0], "en_US"):
        if name in modules:
            return _module(kind, name)
    return None


def _weighted(values: object) -> dict[str, float]:
    return dict(values) if isinstance(values, dict) else dict.fromkeys(values, 1.0)  # type: ignore[call-overload]


def _names(person: Any, attribute: str) -> object:
    """A name table attribute of a provider class, or None where it is absent or not a table."""
    value = getattr(person, attribute, None)
    return value if isinstance(value, list | tuple | dict) and value else None


NAME_KINDS = ("female", "male", "any_gender", "family")


@lru_cache(maxsize=64)
def name_tables(locale: str) -> dict[str, NameTable]:
    """The locale's female, male, any-gender and family name tables (`NAME_KINDS`), built once per process."""
    return {kind: _table(source) for kind, source in _name_sources(locale).items()}


def _name_sources(locale: str) -> dict[str, object]:
    """The Faker tables (dicts of weights or lists) behind each of `NAME_KINDS`."""
    person = _provider("person", locale)
    if person is None or not getattr(person, "last_names", None):
        person = _provider("person", "en_US")
    assert person is not None
    female_src = _names(person, "first_names_female") or person.first_names
    male_src = _names(person, "first_names_male") or person.first_names
    # Some providers (es_CL) compute first_names as a property: on the class that is no table, so combine.
    any_src = _names(person, "first_names") or {**_weighted(female_src), **_weighted(male_src)}
    return dict(zip(NAME_KINDS, (female_src, male_src, any_src, person.last_names), strict=True))


def cities_and_timezone(locale: str, country: str) -> tuple[tuple[str, ...], str]:
    """v1's cities for (locale, country) and the country's primary time zone."""
    address = _provider("address", locale)
    faker_cities = getattr(address, "cities", None) if address is not None else None
    country_row = _meta()["countries"].get(country)
    if country in _CITIES:
        cities: tuple[str, ...] = _CITIES[country]
    elif isinstance(faker_cities, list | tuple) and faker_cities and address is not None and locale.endswith(country):
        cities = tuple(str(c) for c in faker_cities)
    elif country_row is not None and country_row["capital"]:
        cities = (country_row["capital"],)
    else:
        cities = ("Capital City",)
    listed = tuple(country_row["timezones"]) if country_row is not None and country_row["timezones"] else ("UTC",)
    return cities, _PRIMARY_TIMEZONE.get(country, listed[0])


@lru_cache(maxsize=64)
def load_locale(locale: str, country: str) -> LocaleData:
    """Name, city and timezone tables for (locale, country), built once per process."""
    return _locale_data(locale, country, name_tables(locale))


def _locale_data(locale: str, country: str, tables: dict[str, NameTable]) -> LocaleData:
    cities, primary = cities_and_timezone(locale, country)
    return LocaleData(
        locale=locale,
        country=country,
        **tables,
        cities=cities,
        primary_timezone=primary,
        family_name_first=locale.split("_")[0] in _FAMILY_NAME_FIRST,
    )


# -- generator v2 ------------------------------------------------------------------------------------------


def supported_locales(country: str) -> tuple[str, ...]:
    """The locales generator v2 accepts for `country`: Faker's locales of that country and its default."""
    return tuple(sorted({locale_for_country(country), *(c for c in available_locales() if c.endswith(f"_{country}"))}))


def transliterated_slug(text: str) -> str:
    """Lowercase ASCII letters and digits of a readable transliteration (anyascii: Cyrillic, Greek, Arabic,
    Hebrew, Devanagari, Hangul, Thai, Chinese ...); '' only when nothing transliterates."""
    return ascii_slug(anyascii(text))


def transliterated_slugs(texts: list[str]) -> list[str]:
    """`[transliterated_slug(text) for text in texts]`: anyascii's text is ASCII, so its slug is the text
    lowercased without what is not [a-z0-9], done for all texts at once (joined on newlines, which no name holds;
    texts that do are done one by one)."""
    slugs = "\n".join(map(anyascii, texts)).lower().translate(_NOT_ALNUM).split("\n")
    return slugs if len(slugs) == len(texts) else [transliterated_slug(text) for text in texts]


_NOT_ALNUM = dict.fromkeys(c for c in range(128) if not chr(c).isalnum() and chr(c) != "\n")


# v1's placeholder slugs: a real name that transliterates to one (Bulgarian "Агент") would read as a placeholder.
_PLACEHOLDERS = frozenset({"agent", "synth"})


def _transliterated_table(values: object, slugs: dict[str, str] | None = None) -> NameTable:
    """A weighted name table whose slugs are transliterations; names that yield no slug are left out, so an
    address is never a placeholder."""
    items = list(values.items()) if isinstance(values, dict) else [(name, 1.0) for name in values]  # type: ignore[attr-defined]
    given = slugs or {}
    made = iter(transliterated_slugs([name for name, _ in items if not given.get(name)]))
    kept = []
    for name, weight in items:
        slug = given.get(name) or next(made)
        if slug and slug not in _PLACEHOLDERS:
            kept.append((name, slug, float(weight)))
    weights = np.array([w for _, _, w in kept], dtype=np.float64)
    cumulative = np.cumsum(weights / weights.sum())
    cumulative[-1] = 1.0
    return NameTable(
        names=np.array([n for n, _, _ in kept], dtype=object),
        slugs=np.array([s for _, s, _ in kept], dtype=object),
        cumulative=cumulative,
    )


def _pairs(person: Any, attribute: str) -> tuple[list[str], dict[str, str]] | None:
    """Native names and their romanised slugs from Faker's (kanji, kana, romaji) pairs, where it ships them."""
    pairs = getattr(person, attribute, None)
    if not pairs:
        return None
    names = list(dict.fromkeys(p[0] for p in pairs))
    return names, {p[0]: ascii_slug(p[-1]) for p in pairs}


@lru_cache(maxsize=64)
def name_tables_v2(locale: str) -> dict[str, NameTable]:
    """v1's name tables with every name transliterated (romanised readings where Faker has them) and only
    names that give an address kept."""
    sources = _name_sources(locale)  # v1's names and weights; its slugs are not needed here
    person = _provider("person", locale)
    tables = {}
    for kind, pair_attr in zip(
        NAME_KINDS,
        ("first_name_female_pairs", "first_name_male_pairs", "first_name_pairs", "last_name_pairs"),
        strict=True,
    ):
        paired = _pairs(person, pair_attr) if person is not None else None
        if paired is not None:
            tables[kind] = _transliterated_table(paired[0], paired[1])
        else:
            names, cumulative = _weighted_names(sources[kind])
            weights = np.diff(np.concatenate([[0.0], cumulative]))
            tables[kind] = _transliterated_table(dict(zip(names, weights.tolist(), strict=True)))
    return tables


@lru_cache(maxsize=64)
def load_locale_v2(locale: str, country: str) -> LocaleData:
    """`load_locale` with generator v2's name tables (`name_tables_v2`)."""
    return _locale_data(locale, country, name_tables_v2(locale))
