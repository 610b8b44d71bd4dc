"""Locale tables for generation, loaded once from Faker's provider data (never by calling Faker per row).

Faker is pinned to an exact version in pyproject.toml: its name tables are data, and an unpinned upgrade would
change every population generated from the same seed.
"""

from __future__ import annotations

import dataclasses
import importlib
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from faker.config import AVAILABLE_LOCALES
from faker.providers.date_time import Provider as DateTimeProvider

# Where a country has several Faker locales, the one most people there would expect.
_PREFERRED_LOCALE = {
    "US": "en_US",
    "GB": "en_GB",
    "IE": "en_IE",
    "IN": "en_IN",
    "CA": "en_CA",
    "AU": "en_AU",
    "NZ": "en_NZ",
    "CH": "de_CH",
    "BE": "fr_BE",
    "ES": "es_ES",
    "PH": "en_PH",
    "NG": "en_NG",
    "PK": "en_PK",
    "KE": "en_KE",
    "LU": "fr_LU",
    "CY": "el_CY",
    "TH": "th_TH",
    "BD": "bn_BD",
    "DZ": "fr_DZ",
}

# Faker has city lists for only some locales; these fill the gaps for common countries. Anything else falls
# back to the capital from Faker's country table.
_CITIES = {
    "ES": (
        "Madrid",
        "Barcelona",
        "Valencia",
        "Sevilla",
        "Zaragoza",
        "Málaga",
        "Bilbao",
        "Murcia",
        "Palma",
        "Las Palmas",
        "Alicante",
        "Córdoba",
        "Valladolid",
        "Vigo",
        "Gijón",
        "Granada",
        "A Coruña",
        "Vitoria",
    ),
    "US": (
        "New York",
        "Los Angeles",
        "Chicago",
        "Houston",
        "Phoenix",
        "Philadelphia",
        "San Antonio",
        "San Diego",
        "Dallas",
        "Austin",
        "Seattle",
        "Denver",
        "Boston",
        "Portland",
        "Atlanta",
        "Miami",
    ),
    "GB": (
        "London",
        "Manchester",
        "Birmingham",
        "Leeds",
        "Glasgow",
        "Liverpool",
        "Bristol",
        "Edinburgh",
        "Sheffield",
        "Cardiff",
        "Belfast",
        "Nottingham",
        "Newcastle",
        "Leicester",
    ),
    "FR": (
        "Paris",
        "Marseille",
        "Lyon",
        "Toulouse",
        "Nice",
        "Nantes",
        "Strasbourg",
        "Montpellier",
        "Bordeaux",
        "Lille",
        "Rennes",
        "Reims",
    ),
    "MX": (
        "Ciudad de México",
        "Guadalajara",
        "Monterrey",
        "Puebla",
        "Tijuana",
        "León",
        "Mérida",
        "Querétaro",
        "Cancún",
        "Oaxaca",
    ),
    "BR": (
        "São Paulo",
        "Rio de Janeiro",
        "Brasília",
        "Salvador",
        "Fortaleza",
        "Belo Horizonte",
        "Manaus",
        "Curitiba",
        "Recife",
        "Porto Alegre",
    ),
    "AR": ("Buenos Aires", "Córdoba", "Rosario", "Mendoza", "La Plata", "Mar del Plata", "Salta"),
    "CA": ("Toronto", "Montreal", "Vancouver", "Calgary", "Edmonton", "Ottawa", "Winnipeg", "Halifax"),
    "AU": ("Sydney", "Melbourne", "Brisbane", "Perth", "Adelaide", "Canberra", "Hobart", "Darwin"),
    "IN": ("Mumbai", "Delhi", "Bengaluru", "Hyderabad", "Chennai", "Kolkata", "Pune", "Ahmedabad", "Jaipur"),
    "PT": ("Lisboa", "Porto", "Braga", "Coimbra", "Faro", "Aveiro", "Funchal"),
    "NL": ("Amsterdam", "Rotterdam", "Den Haag", "Utrecht", "Eindhoven", "Groningen", "Tilburg"),
    "CO": ("Bogotá", "Medellín", "Cali", "Barranquilla", "Cartagena", "Bucaramanga"),
    "CL": ("Santiago", "Valparaíso", "Concepción", "La Serena", "Antofagasta", "Temuco"),
    "IE": ("Dublin", "Cork", "Galway", "Limerick", "Waterford"),
    "FI": ("Helsinki", "Espoo", "Tampere", "Vantaa", "Oulu", "Turku"),
    "SE": ("Stockholm", "Göteborg", "Malmö", "Uppsala", "Västerås", "Örebro"),
    "NO": ("Oslo", "Bergen", "Trondheim", "Stavanger", "Tromsø"),
    "DK": ("København", "Aarhus", "Odense", "Aalborg", "Esbjerg"),
}

# Cities of the tables above that are not in their country's primary timezone.
CITY_TIMEZONES = {
    ("ES", "Las Palmas"): "Atlantic/Canary",
    ("US", "Los Angeles"): "America/Los_Angeles",
    ("US", "San Diego"): "America/Los_Angeles",
    ("US", "Seattle"): "America/Los_Angeles",
    ("US", "Portland"): "America/Los_Angeles",
    ("US", "Phoenix"): "America/Phoenix",
    ("US", "Denver"): "America/Denver",
    ("US", "Chicago"): "America/Chicago",
    ("US", "Houston"): "America/Chicago",
    ("US", "San Antonio"): "America/Chicago",
    ("US", "Dallas"): "America/Chicago",
    ("US", "Austin"): "America/Chicago",
    ("CA", "Toronto"): "America/Toronto",
    ("CA", "Montreal"): "America/Toronto",
    ("CA", "Ottawa"): "America/Toronto",
    ("CA", "Vancouver"): "America/Vancouver",
    ("CA", "Calgary"): "America/Edmonton",
    ("CA", "Edmonton"): "America/Edmonton",
    ("CA", "Winnipeg"): "America/Winnipeg",
    ("CA", "Halifax"): "America/Halifax",
    ("AU", "Sydney"): "Australia/Sydney",
    ("AU", "Melbourne"): "Australia/Melbourne",
    ("AU", "Brisbane"): "Australia/Brisbane",
    ("AU", "Perth"): "Australia/Perth",
    ("AU", "Adelaide"): "Australia/Adelaide",
    ("AU", "Canberra"): "Australia/Sydney",
    ("AU", "Hobart"): "Australia/Hobart",
    ("AU", "Darwin"): "Australia/Darwin",
    ("BR", "Manaus"): "America/Manaus",
    ("BR", "Fortaleza"): "America/Fortaleza",
    ("BR", "Recife"): "America/Recife",
    ("BR", "Salvador"): "America/Bahia",
    ("MX", "Tijuana"): "America/Tijuana",
    ("MX", "Cancún"): "America/Cancun",
    ("PT", "Funchal"): "Atlantic/Madeira",
}
_PRIMARY_TIMEZONE = {
    "US": "America/New_York",
    "CA": "America/Toronto",
    "AU": "Australia/Sydney",
    "BR": "America/Sao_Paulo",
    "MX": "America/Mexico_City",
    "ES": "Europe/Madrid",
    "PT": "Europe/Lisbon",
    "AR": "America/Argentina/Buenos_Aires",
    "RU": "Europe/Moscow",
    "CL": "America/Santiago",
    "ID": "Asia/Jakarta",
    "KZ": "Asia/Almaty",
}

_FAMILY_NAME_FIRST = {"ja", "zh", "ko", "hu", "vi"}


@dataclass(frozen=True)
class NameTable:
    """Names with cumulative weights for vectorised sampling, and their ASCII slugs for addresses."""

    names: np.ndarray
    slugs: np.ndarray
    cumulative: np.ndarray

    def pick(self, uniforms: np.ndarray) -> np.ndarray:
        """Indices into `names` for uniforms in [0, 1)."""
        return np.minimum(np.searchsorted(self.cumulative, uniforms, side="right"), len(self.names) - 1)


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
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return "".join(ch for ch in folded.lower() if ch.isalnum())


def _table(values: object) -> NameTable:
    if isinstance(values, dict):
        names = list(values.keys())
        weights = np.array([float(w) for w in values.values()], dtype=np.float64)
    else:
        names = list(values)  # type: ignore[call-overload]
        weights = np.ones(len(names), dtype=np.float64)
    cumulative = np.cumsum(weights / weights.sum())
    cumulative[-1] = 1.0
    return NameTable(
        names=np.array(names, dtype=object),
        slugs=np.array([ascii_slug(n) for n in names], dtype=object),
        cumulative=cumulative,
    )


def locale_for_country(country: str) -> str:
    """The Faker locale for an ISO country code; `en` where Faker has none for that country."""
    if country in _PREFERRED_LOCALE:
        return _PREFERRED_LOCALE[country]
    for candidate in AVAILABLE_LOCALES:  # a sorted list, so the choice is stable
        if candidate.endswith(f"_{country}"):
            return candidate
    return "en"


def _provider(kind: str, locale: str) -> type | None:
    for name in (locale, locale.split("_")[0], "en_US"):
        try:
            return importlib.import_module(f"faker.providers.{kind}.{name}").Provider
        except ModuleNotFoundError:
            continue
    return None


def _weighted(values: object) -> dict[str, float]:
    return dict(values) if isinstance(values, dict) else dict.fromkeys(values, 1.0)  # type: ignore[call-overload]


def _names(person: type, attribute: str) -> object:
    """A name table attribute of a provider class, or None where it is absent or not a table."""
    value = getattr(person, attribute, None)
    return value if isinstance(value, list | tuple | dict) and value else None


@lru_cache(maxsize=64)
def load_locale(locale: str, country: str) -> LocaleData:
    """Name, city and timezone tables for (locale, country), built once per process."""
    person = _provider("person", locale)
    if person is None or not getattr(person, "last_names", None):
        person = _provider("person", "en_US")
    assert person is not None
    female_src = _names(person, "first_names_female") or person.first_names
    male_src = _names(person, "first_names_male") or person.first_names
    # Some providers (es_CL) compute first_names as a property: on the class that is no table, so combine.
    any_src = _names(person, "first_names") or {**_weighted(female_src), **_weighted(male_src)}

    address = _provider("address", locale)
    faker_cities = getattr(address, "cities", None) if address is not None else None
    country_row = next((c for c in DateTimeProvider.countries if c.alpha_2_code == country), None)
    if country in _CITIES:
        cities: tuple[str, ...] = _CITIES[country]
    elif isinstance(faker_cities, list | tuple) and faker_cities and address is not None and locale.endswith(country):
        cities = tuple(str(c) for c in faker_cities)
    elif country_row is not None and country_row.capital:
        cities = (country_row.capital,)
    else:
        cities = ("Capital City",)
    listed = tuple(country_row.timezones) if country_row is not None and country_row.timezones else ("UTC",)
    primary = _PRIMARY_TIMEZONE.get(country, listed[0])
    return LocaleData(
        locale=locale,
        country=country,
        female=_table(female_src),
        male=_table(male_src),
        any_gender=_table(any_src),
        family=_table(person.last_names),
        cities=cities,
        primary_timezone=primary,
        family_name_first=locale.split("_")[0] in _FAMILY_NAME_FIRST,
    )


# -- generator v2 ------------------------------------------------------------------------------------------


def supported_locales(country: str) -> tuple[str, ...]:
    """The locales generator v2 accepts for `country`: Faker's locales of that country and its default."""
    return tuple(sorted({locale_for_country(country), *(c for c in AVAILABLE_LOCALES if c.endswith(f"_{country}"))}))


def transliterated_slug(text: str) -> str:
    """Lowercase ASCII letters and digits of a readable transliteration (anyascii: Cyrillic, Greek, Arabic,
    Hebrew, Devanagari, Hangul, Thai, Chinese ...); '' only when nothing transliterates."""
    from anyascii import anyascii

    return ascii_slug(anyascii(text))


# v1's placeholder slugs: a real name that transliterates to one (Bulgarian "Агент") would read as a placeholder.
_PLACEHOLDERS = frozenset({"agent", "synth"})


def _transliterated_table(values: object, slugs: dict[str, str] | None = None) -> NameTable:
    """A weighted name table whose slugs are transliterations; names that yield no slug are left out, so an
    address is never a placeholder."""
    items = list(values.items()) if isinstance(values, dict) else [(name, 1.0) for name in values]  # type: ignore[attr-defined]
    kept = []
    for name, weight in items:
        slug = (slugs or {}).get(name) or transliterated_slug(name)
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


def _pairs(person: type, attribute: str) -> tuple[list[str], dict[str, str]] | None:
    """Native names and their romanised slugs from Faker's (kanji, kana, romaji) pairs, where it ships them."""
    pairs = getattr(person, attribute, None)
    if not pairs:
        return None
    names = list(dict.fromkeys(p[0] for p in pairs))
    return names, {p[0]: ascii_slug(p[-1]) for p in pairs}


@lru_cache(maxsize=64)
def load_locale_v2(locale: str, country: str) -> LocaleData:
    """v1's tables with every name transliterated (romanised readings where Faker has them) and only names
    that give an address kept."""
    base = load_locale(locale, country)
    person = _provider("person", locale)
    tables = {}
    for kind, pair_attr in (
        ("female", "first_name_female_pairs"),
        ("male", "first_name_male_pairs"),
        ("any_gender", "first_name_pairs"),
        ("family", "last_name_pairs"),
    ):
        paired = _pairs(person, pair_attr) if person is not None else None
        if paired is not None:
            tables[kind] = _transliterated_table(paired[0], paired[1])
        else:
            source: NameTable = getattr(base, kind)
            cumulative = source.cumulative
            weights = np.diff(np.concatenate([[0.0], cumulative]))
            tables[kind] = _transliterated_table(dict(zip(source.names.tolist(), weights.tolist(), strict=True)))
    return dataclasses.replace(base, **tables)
