"""The name, city and country tables shipped under domain/data/faker equal Faker's, and generation never imports
Faker.

Generation reads the tables tools/extract_names.py extracted from Faker 40.63.0. These tests (where that Faker is
installed: the dev extra) re-extract and compare the files byte for byte, then check that what locale_data
builds from them equals what it builds from Faker's own provider classes, for every locale and country.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from azt3knet_pipeline.domain import locale_data
from azt3knet_pipeline.domain.countries import ISO_3166_ALPHA2

ROOT = Path(__file__).resolve().parents[3]
faker = pytest.importorskip("faker")
sys.path.insert(0, str(ROOT / "tools"))
import extract_names  # noqa: E402
from faker.config import AVAILABLE_LOCALES  # noqa: E402  (after the importorskip)
from faker.providers.date_time import Provider as DateTimeProvider  # noqa: E402


def test_faker_is_the_version_the_tables_come_from() -> None:
    assert faker.VERSION == extract_names.FAKER_VERSION == locale_data._meta()["faker"]


def test_shipped_files_equal_a_fresh_extraction_from_faker() -> None:
    assert extract_names.differences() == []


def _faker_provider(kind: str, locale: str) -> Any:
    """locale_data's provider resolution as it was, on Faker's classes; it_IT's set-built cities in the one
    order the extraction fixed (Faker's own order changes with PYTHONHASHSEED)."""
    for name in (locale, locale.split("_")[0], "en_US"):
        try:
            provider = importlib.import_module(f"faker.providers.{kind}.{name}").Provider
        except ModuleNotFoundError:
            continue
        if kind == "address" and name in extract_names.UNORDERED_CITIES:
            return type("Sorted", (provider,), {"cities": sorted(provider.cities)})
        return provider
    return None


def _tables(tables: dict[str, locale_data.NameTable]) -> dict[str, Any]:
    return {k: (t.names.tolist(), t.slugs.tolist(), t.cumulative.tobytes()) for k, t in tables.items()}


def _all_pairs() -> list[tuple[str, str]]:
    """Every (locale, country) generation can be asked for with a valid locale, plus unknown locales that fall
    back to the language's or en_US's tables."""
    pairs = {(locale, country) for country in ISO_3166_ALPHA2 for locale in locale_data.supported_locales(country)}
    return sorted(pairs | {("xx_YY", "ES"), ("es_XX", "XX"), ("en", "AQ"), ("es_CL", "CL"), ("it_IT", "IT")})


def _built(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """What locale_data builds: v1 and v2 name tables of every locale, cities and zone of every pair, defaults."""
    locales = sorted({locale for locale, _ in pairs})
    built = {
        "names": {locale: _tables(locale_data.name_tables(locale)) for locale in locales},
        "names_v2": {locale: _tables(locale_data.name_tables_v2(locale)) for locale in locales},
        "places": {pair: locale_data.cities_and_timezone(*pair) for pair in pairs},
        "defaults": [locale_data.locale_for_country(c) for c in ISO_3166_ALPHA2],
        "supported": [locale_data.supported_locales(c) for c in ISO_3166_ALPHA2],
    }
    locale_data.name_tables.cache_clear()
    locale_data.name_tables_v2.cache_clear()
    return built


def test_locale_tables_built_from_the_files_equal_those_built_from_faker(monkeypatch: pytest.MonkeyPatch) -> None:
    pairs = _all_pairs()
    assert len(pairs) > 250
    from_files = _built(pairs)

    countries = {}
    for row in DateTimeProvider.countries:
        countries.setdefault(row.alpha_2_code, {"capital": row.capital, "timezones": row.timezones})
    monkeypatch.setattr(locale_data, "_provider", _faker_provider)
    monkeypatch.setattr(locale_data, "_meta", lambda: {"available_locales": AVAILABLE_LOCALES, "countries": countries})
    from_faker = _built(pairs)
    for part, built in from_files.items():
        assert built == from_faker[part], part


def test_weights_read_back_bit_for_bit() -> None:
    en = json.loads((locale_data.FAKER_DATA / "person" / "en_US.json").read_text(encoding="utf-8"))
    weights = faker.providers.person.en_US.Provider.first_names_female
    assert en["first_names_female"]["names"] == list(weights)
    assert np.array(en["first_names_female"]["weights"]).tobytes() == np.array(list(weights.values())).tobytes()


def test_generating_and_previewing_never_import_faker() -> None:
    script = (
        "import sys\n"
        "from azt3knet_pipeline.domain.models import PopulationSpec\n"
        "from azt3knet_pipeline.domain.generation import generate_population\n"
        "for v in (1, 2):\n"
        "    for c in ('ES', 'JP', 'IT'):\n"
        "        spec = PopulationSpec.model_validate({'count': 20, 'seed': 1, 'country': c, 'generator_version': v})\n"
        "        generate_population(spec).content_hash\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'faker'))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]"


def test_italian_v1_populations_no_longer_depend_on_the_hash_seed() -> None:
    """Faker's it_IT cities come from a set: before the extraction a v1 IT population differed between
    processes. Now two interpreters with different hash seeds agree."""
    script = (
        "from azt3knet_pipeline.domain.models import PopulationSpec\n"
        "from azt3knet_pipeline.domain.generation import generate_population\n"
        "spec = PopulationSpec.model_validate({'count': 200, 'seed': 1, 'country': 'IT', 'generator_version': 1})\n"
        "print(generate_population(spec).content_hash)\n"
    )
    hashes = {
        subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2")
    }
    assert len(hashes) == 1
