"""Extract the Faker data generation reads into compact package data, so no command imports Faker at runtime.

Build-time only: `pip install faker==40.63.0` (the `dev` extra has it) and run `python tools/extract_names.py`.
Writes, under azt3knet_pipeline/domain/data/faker/:

- `person/<module>.json`, one per `faker.providers.person.<module>`: the name tables and romanised name pairs
  that `locale_data` reads, resolved through the provider's class hierarchy exactly as `getattr` resolved them.
  A weighted table keeps its weights (floats, written with `repr`, so they read back bit for bit); a list keeps
  its order and duplicates.
- `address/<module>.json`, one per `faker.providers.address.<module>`: its `cities` (null where it has none).
- `meta.json`: Faker's version, `AVAILABLE_LOCALES`, each country's capital and time zones (first row per code,
  as `next(...)` picked it) and the module names above (locale_data resolves a locale to a module by them).

The output is deterministic: re-running with the same Faker reproduces the files byte for byte, and
`python tools/extract_names.py --check` says whether the shipped files still equal Faker's
(tests/unit/domain/test_locale_tables.py runs the same comparison). These tables are generator data: a different
Faker is a different population, so the version is pinned and recorded.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parents[1] / "azt3knet_pipeline" / "domain" / "data" / "faker"
FAKER_VERSION = "40.63.0"
TABLES = ("first_names_female", "first_names_male", "first_names", "last_names")
PAIRS = ("first_name_female_pairs", "first_name_male_pairs", "first_name_pairs", "last_name_pairs")
# Faker builds these modules' `cities` from a set, so their order changed with PYTHONHASHSEED: a v1 population
# drawing from them (country IT) differed from one process to the next. The extracted table fixes one order.
UNORDERED_CITIES = frozenset({"it_IT"})


def _table(values: object) -> dict[str, list[Any]]:
    if isinstance(values, dict):
        return {"names": [str(k) for k in values], "weights": [float(w) for w in values.values()]}
    return {"names": [str(v) for v in values]}  # type: ignore[attr-defined]


def person_record(provider: type) -> dict[str, Any]:
    """What locale_data reads of one person provider class: its tables (lists, tuples, dicts; anything else,
    such as es_CL's computed `first_names`, is left out as locale_data ignores it) and its name pairs."""
    record: dict[str, Any] = {}
    for attribute in TABLES:
        value = getattr(provider, attribute, None)
        if isinstance(value, list | tuple | dict):
            record[attribute] = _table(value)
        elif value is not None and attribute != "first_names":
            raise SystemExit(f"{provider.__module__}: {attribute} is no table")  # locale_data would fail on it
    for female_or_male in ("first_names_female", "first_names_male"):
        if not record.get(female_or_male, {}).get("names") and not record.get("first_names", {}).get("names"):
            # locale_data would fall back to a first_names that is no table: never the case in this Faker.
            raise SystemExit(f"{provider.__module__}: no {female_or_male} and no first_names table")
    for attribute in PAIRS:
        pairs = getattr(provider, attribute, None)
        if pairs:
            record[attribute] = [[str(p[0]), str(p[-1])] for p in pairs]
    return record


def _modules(kind: str) -> list[str]:
    package = importlib.import_module(f"faker.providers.{kind}")
    return sorted(m.name for m in pkgutil.iter_modules(package.__path__) if m.ispkg)


def extract() -> dict[str, bytes]:
    """Every output file (path relative to OUT -> bytes), from the Faker installed in this interpreter."""
    import faker
    from faker.config import AVAILABLE_LOCALES
    from faker.providers.date_time import Provider as DateTimeProvider

    if faker.VERSION != FAKER_VERSION:
        raise SystemExit(f"Faker {faker.VERSION} installed; these tables come from Faker {FAKER_VERSION}")
    files: dict[str, bytes] = {}
    for name in _modules("person"):
        provider = importlib.import_module(f"faker.providers.person.{name}").Provider
        files[f"person/{name}.json"] = _dump(person_record(provider))
    countries: dict[str, Any] = {}
    for row in DateTimeProvider.countries:
        countries.setdefault(row.alpha_2_code, {"capital": row.capital, "timezones": list(row.timezones or [])})
    for name in _modules("address"):
        value = getattr(importlib.import_module(f"faker.providers.address.{name}").Provider, "cities", None)
        listed = [str(c) for c in value] if isinstance(value, list | tuple) else None
        files[f"address/{name}.json"] = _dump(sorted(listed) if listed and name in UNORDERED_CITIES else listed)
    meta = {
        "faker": faker.VERSION,
        "available_locales": list(AVAILABLE_LOCALES),
        "countries": countries,
        "person": _modules("person"),
        "address": _modules("address"),
    }
    files["meta.json"] = _dump(meta)
    return files


def _dump(value: object) -> bytes:
    return (json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def differences(out: Path = OUT) -> list[str]:
    """Files under `out` that differ from (or are missing against, or are extra to) a fresh extraction."""
    fresh = extract()
    shipped = {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*.json")} if out.exists() else {}
    return sorted(name for name in fresh.keys() | shipped.keys() if fresh.get(name) != shipped.get(name))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare the shipped files with Faker; write nothing")
    args = parser.parse_args()
    if args.check:
        diff = differences()
        print("\n".join(diff) if diff else "the shipped tables equal Faker's")
        sys.exit(1 if diff else 0)
    for name, data in extract().items():
        path = OUT / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
