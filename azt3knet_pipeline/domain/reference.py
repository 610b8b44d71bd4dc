"""Reference data of generator v2, read from the compact tables under domain/data (see docs/data.md).

- Age and sex: UN World Population Prospects 2024, persons by sex and 5-year age group (0-4 ... 100+),
  interpolated to 2025 (tools/extract_data.py).
- Places: GeoNames places of 15,000+ people with their population and IANA time zone.

These files are generator-v2 data: changing them changes v2 populations, so a change is a new version.
"""

from __future__ import annotations

import difflib
import json
import threading
import unicodedata
import zlib
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent / "data"
BAND = 5  # years per age group of the reference table
SEXES = ("female", "male")


@lru_cache(maxsize=1)
def _age_sex_table() -> dict[str, dict[str, list[int]]]:
    return json.loads((DATA / "age_sex.json").read_text(encoding="utf-8"))


def has_age_structure(country: str) -> bool:
    return country in _age_sex_table()


def age_sex_weights(country: str, lo: int, hi: int) -> np.ndarray:
    """Expected persons by (sex, single year of age) for ages lo..hi: shape (2, hi - lo + 1), female first.

    Each 5-year group is spread evenly over its years (the open 100+ group over 100..104). A country the
    table lacks gets the world's summed structure, so every ISO country generates.
    """
    table = _age_sex_table()
    if country in table:
        groups = np.array([table[country][s] for s in SEXES], dtype=np.float64)
    else:
        groups = np.sum([[row[s] for s in SEXES] for row in table.values()], axis=0, dtype=np.float64)
    ages = np.arange(lo, hi + 1)
    return groups[:, np.minimum(ages // BAND, groups.shape[1] - 1)] / BAND


def reference_band_shares(country: str, lo: int, hi: int, sex: str | None = None) -> dict[int, float]:
    """The reference share of each 5-year band (keyed by its first age) within lo..hi, for one sex or both."""
    weights = age_sex_weights(country, lo, hi)
    per_age = weights.sum(axis=0) if sex is None else weights[SEXES.index(sex)]
    shares: dict[int, float] = {}
    for age, weight in zip(range(lo, hi + 1), per_age.tolist(), strict=True):
        band = age // BAND * BAND
        shares[band] = shares.get(band, 0.0) + weight
    total = sum(shares.values())
    return {band: value / total for band, value in shares.items()}


@dataclass(frozen=True)
class Places:
    """A country's places, most populous first: names, populations and each place's own IANA time zone."""

    names: tuple[str, ...]
    populations: np.ndarray
    timezones: tuple[str, ...]

    @property
    def shares(self) -> np.ndarray:
        return self.populations / self.populations.sum()

    @cached_property
    def zones(self) -> tuple[tuple[str, ...], np.ndarray]:
        """The distinct time zones (in order of first place) and each place's code into them: a country has a
        few zones for hundreds of places."""
        distinct: dict[str, int] = {}
        codes = [distinct.setdefault(zone, len(distinct)) for zone in self.timezones]
        return tuple(distinct), np.array(codes, dtype=np.int64)

    def find(self, name: str) -> int | None:
        """The index of the most populous place called `name` (case and accents ignored), or None."""
        wanted = _fold(name)
        return next((i for i, candidate in enumerate(self.names) if _fold(candidate) == wanted), None)

    def close_matches(self, name: str, n: int = 5) -> list[str]:
        folded = {_fold(candidate): candidate for candidate in reversed(self.names)}
        return [folded[m] for m in difflib.get_close_matches(_fold(name), list(folded), n=n, cutoff=0.6)]


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").casefold().strip()


class _PlacesTable:
    """The table's UTF-8 bytes after a newline (so every row, the first included, starts with one; each ends with
    one: tools/extract_data.py writes them so), decompressed only as far as asked. Rows are sorted by country,
    so a country's rows are all there once a later country's row, or the end, is: a preview of ES decompresses
    a third of the table."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._compressed = b""
        self._read = 0
        self._inflate = zlib.decompressobj(wbits=31)  # gzip
        self._data = b"\n"

    def through(self, country: str) -> bytes:
        """The decompressed table, at least to the end of `country`'s rows."""
        key = country.encode()
        with self._lock:
            if not self._compressed:
                self._compressed = (DATA / "places.tsv.gz").read_bytes()
            while not self._inflate.eof and self._last_country() <= key:
                piece = self._compressed[self._read : self._read + _INFLATE_STEP]
                self._read += len(piece)
                self._data += self._inflate.decompress(piece) if piece else self._inflate.flush()
                if not piece and not self._inflate.eof:
                    raise ValueError("places.tsv.gz is truncated")
            return self._data

    def _last_country(self) -> bytes:
        """The country of the last complete row decompressed (b"" before the first)."""
        end = self._data.rfind(b"\n")
        start = self._data.rfind(b"\n", 0, end)
        return self._data[start + 1 : self._data.find(b"\t", start + 1, end)] if start != -1 else b""


_INFLATE_STEP = 1 << 15
_PLACES = _PlacesTable()


def _country_rows(country: str) -> list[tuple[str, int, str]]:
    """The country's rows in file order. Only its lines are decoded and parsed, found by a byte search from one to
    the next: decoding and scanning all 34,000 costs a preview's start-up several times more."""
    data = _PLACES.through(country)
    key = f"\n{country}\t".encode()
    rows = []
    start = data.find(key)
    while start != -1:
        end = data.find(b"\n", start + 1)
        name, population, zone = data[start + len(key) : end].decode("utf-8").split("\t")
        rows.append((name, int(population), zone))
        start = data.find(key, end)
    return rows


@lru_cache(maxsize=256)
def places(country: str) -> Places | None:
    """The country's GeoNames places (None where GeoNames lists none of 15,000+ people)."""
    rows = _country_rows(country)
    if not rows:
        return None
    return Places(
        names=tuple(r[0] for r in rows),
        populations=np.array([r[1] for r in rows], dtype=np.float64),
        timezones=tuple(r[2] for r in rows),
    )
