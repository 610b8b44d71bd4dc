"""The start-up fast paths of the data loading equal their plain definitions.

- A country's GeoNames rows found by byte search == every line of the decoded table split on tabs and grouped by
  country, for every ISO code.
"""

from __future__ import annotations

import gzip

from azt3knet_pipeline.domain import reference
from azt3knet_pipeline.domain.countries import ISO_3166_ALPHA2


def test_country_rows_equal_every_line_split_and_grouped() -> None:
    text = gzip.decompress((reference.DATA / "places.tsv.gz").read_bytes()).decode("utf-8")
    grouped: dict[str, list[tuple[str, int, str]]] = {}
    for line in text.splitlines():
        country, name, population, zone = line.split("\t")
        grouped.setdefault(country, []).append((name, int(population), zone))
    assert len(grouped) > 200 and {"AD", "ZW"} <= set(grouped)  # the first and the last country of the file
    for country in (*sorted(ISO_3166_ALPHA2), "XX", "E", "ESP"):
        assert reference._country_rows(country) == grouped.get(country, []), country
