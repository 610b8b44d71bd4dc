"""How faithful a population is: its age pyramid, places, genders and addresses against the reference data.

Pure computation over the profile chunks (streamed, so memory does not grow with the count). Rendering the
PNG lives in services/population_report.py, the only place that imports matplotlib.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from azt3knet_pipeline.domain import columns as col
from azt3knet_pipeline.domain import reference
from azt3knet_pipeline.domain.bios import bio_language
from azt3knet_pipeline.domain.models import PopulationSpec

# Mailcow's local part rule as the contracts give it: letters, digits and . _ - (no leading/trailing dot).
MAILCOW_LOCAL_PART = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62}[A-Za-z0-9])?$")
# v1 wrote these where a name had no ASCII slug ("agent" for a given name, "synth" for a family name).
_PLACEHOLDER = re.compile(r"^agent\.|\.synth|^[a-z]\.synth")


def is_placeholder(local_part: str) -> bool:
    """True for an address built from v1's placeholders instead of the agent's name."""
    return bool(_PLACEHOLDER.search(local_part))


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation (average ranks for ties)."""

    def ranks(v: np.ndarray) -> np.ndarray:
        order = np.argsort(v, kind="mergesort")
        r = np.empty(len(v), dtype=np.float64)
        r[order] = np.arange(len(v), dtype=np.float64)
        ordered = v[order]
        for value in np.unique(ordered[1:][np.diff(ordered) == 0]):
            r[v == value] = r[v == value].mean()
        return r

    rx, ry = ranks(np.asarray(x, dtype=np.float64)), ranks(np.asarray(y, dtype=np.float64))
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


@dataclass
class PopulationReport:
    key: str
    country: str
    generator_version: int
    count: int
    age_bands: list[dict[str, float]] = field(default_factory=list)  # band, sample/reference shares by sex
    age_tv_distance: float = 0.0
    places: list[dict[str, object]] = field(default_factory=list)  # top places: name, timezone, shares
    places_spearman_top50: float | None = None
    genders: dict[str, float] = field(default_factory=dict)
    timezones: dict[str, float] = field(default_factory=dict)
    addresses_from_names: float = 0.0
    addresses_ascii: float = 0.0
    addresses_valid: float = 0.0
    addresses_unique: bool = True
    bio_language: str = "en"
    bio_language_fallback: bool = False

    def summary(self) -> dict[str, object]:
        """The scalar figures (for asset metadata and `--json`)."""
        rho = self.places_spearman_top50
        return {
            "generator_version": self.generator_version,
            "age_tv_distance": round(self.age_tv_distance, 5),
            "places_spearman_top50": None if rho is None else round(rho, 4),
            "gender_shares": {k: round(v, 4) for k, v in self.genders.items()},
            "transliteration_coverage": round(self.addresses_from_names, 5),
            "addresses_valid_mailcow": round(self.addresses_valid, 5),
            "addresses_unique": self.addresses_unique,
            "bio_language": self.bio_language,
            "bio_language_fallback": self.bio_language_fallback,
        }

    def markdown(self, top: int = 10) -> str:
        """A small table of the figures a researcher checks first."""
        lines = [
            f"population {self.key}: {self.count} agents, {self.country}, generator v{self.generator_version}",
            "",
            "| age band | sample female | ref female | sample male | ref male | sample all | ref all |",
            "|---|---|---|---|---|---|---|",
        ]
        for b in self.age_bands:
            lines.append(
                f"| {int(b['band'])}-{int(b['band']) + 4} | {b['sample_female']:.4f} | {b['reference_female']:.4f} "
                f"| {b['sample_male']:.4f} | {b['reference_male']:.4f} | {b['sample']:.4f} | {b['reference']:.4f} |"
            )
        lines += ["", f"age total-variation distance vs reference: {self.age_tv_distance:.4f}", ""]
        lines += ["| place | time zone | sample share | population share |", "|---|---|---|---|"]
        for p in self.places[:top]:
            lines.append(f"| {p['name']} | {p['timezone']} | {p['sample_share']:.4f} | {p['population_share']:.4f} |")
        if self.places_spearman_top50 is not None:
            lines.append(f"\nSpearman (top 50 places, sample vs population share): {self.places_spearman_top50:.3f}")
        lines.append("\ngender shares: " + ", ".join(f"{k} {v:.3f}" for k, v in sorted(self.genders.items())))
        lines.append(
            f"addresses: {self.addresses_from_names:.2%} from the agent's own name (transliteration coverage), "
            f"{self.addresses_valid:.2%} valid Mailcow local parts, "
            + ("unique" if self.addresses_unique else "NOT unique")
        )
        fallback = " (no templates for this locale: English fallback)" if self.bio_language_fallback else ""
        lines.append(f"bio language: {self.bio_language}{fallback}")
        return "\n".join(lines)


def describe(spec: PopulationSpec, key: str, chunks: Iterable[col.ProfileChunk]) -> PopulationReport:
    """The report of a population from its profile chunks."""
    lo, hi = spec.age_range.lo, spec.age_range.hi
    ages_by_sex: dict[str, Counter[int]] = {"female": Counter(), "male": Counter(), "all": Counter()}
    genders: Counter[str] = Counter()
    cities: Counter[str] = Counter()
    zones: Counter[str] = Counter()
    from_names = ascii_count = valid = 0
    seen: set[str] = set()
    unique = True
    locale = ""
    n = 0
    for chunk in chunks:
        ages = chunk.values("age")
        gender = chunk.values("gender")
        for age, g in zip(ages, gender, strict=True):
            ages_by_sex["all"][age // 5 * 5] += 1
            if g in ages_by_sex:
                ages_by_sex[g][age // 5 * 5] += 1
        genders.update(gender)
        cities.update(chunk.values("city"))
        zones.update(chunk.values("timezone"))
        for local in chunk.values("email_local_part"):
            from_names += not is_placeholder(local)
            ascii_count += local.isascii()
            valid += bool(MAILCOW_LOCAL_PART.fullmatch(local))
            if local in seen:
                unique = False
            seen.add(local)
        locale = chunk.values("locale")[0] if chunk.size else locale
        n += chunk.size
    n = max(n, 1)
    ref_all = reference.reference_band_shares(spec.country, lo, hi)
    ref_sex = {s: reference.reference_band_shares(spec.country, lo, hi, s) for s in reference.SEXES}
    total_f, total_m = sum(ages_by_sex["female"].values()), sum(ages_by_sex["male"].values())
    # The reference pyramid splits the whole population by sex; so does the sample's (non-binary agents count
    # in "all" only).
    female_share = (
        sum(reference.age_sex_weights(spec.country, lo, hi)[0]) / reference.age_sex_weights(spec.country, lo, hi).sum()
    )
    bands = []
    for band in sorted(ref_all):
        bands.append(
            {
                "band": band,
                "sample": ages_by_sex["all"][band] / n,
                "reference": ref_all[band],
                "sample_female": ages_by_sex["female"][band] / max(total_f + total_m, 1),
                "reference_female": ref_sex["female"][band] * female_share,
                "sample_male": ages_by_sex["male"][band] / max(total_f + total_m, 1),
                "reference_male": ref_sex["male"][band] * (1 - female_share),
            }
        )
    tv = 0.5 * sum(abs(b["sample"] - b["reference"]) for b in bands)
    places = reference.places(spec.country)
    place_rows: list[dict[str, object]] = []
    rho = None
    if places is not None:
        shares = places.shares
        index = {name: i for i, name in reversed(list(enumerate(places.names)))}
        for name, count in cities.most_common(50):
            at = index.get(name)
            place_rows.append(
                {
                    "name": name,
                    "timezone": places.timezones[at] if at is not None else "",
                    "sample_share": count / n,
                    "population_share": float(shares[at]) if at is not None else 0.0,
                }
            )
        top = np.argsort(-places.populations, kind="stable")[:50]
        if not spec.city and len(top) >= 3:
            sample = np.array([cities.get(places.names[i], 0) for i in top], dtype=np.float64)
            rho = spearman(sample, places.populations[top])
            rho = None if np.isnan(rho) else rho
    language = bio_language(locale) if locale else "en"
    return PopulationReport(
        key=key,
        country=spec.country,
        generator_version=spec.version,
        count=n,
        age_bands=bands,
        age_tv_distance=tv,
        places=place_rows,
        places_spearman_top50=rho,
        genders={k: v / n for k, v in genders.items()},
        timezones={k: v / n for k, v in zones.items()},
        addresses_from_names=from_names / n,
        addresses_ascii=ascii_count / n,
        addresses_valid=valid / n,
        addresses_unique=unique,
        bio_language=language,
        bio_language_fallback=spec.version >= 2 and locale.split("_")[0] != language,
    )
