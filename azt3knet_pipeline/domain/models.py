"""Typed, frozen models at the heart of the pipeline: what a population is and what an agent looks like."""

from __future__ import annotations

import hashlib
import json
import os
import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from azt3knet_pipeline.domain.countries import ISO_3166_ALPHA2

Gender = Literal["female", "male", "non_binary", "unspecified"]
GENDERS: tuple[str, ...] = ("female", "male", "non_binary", "unspecified")

POPULATION_KEY_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
INTEREST_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
SEED_STRING_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
LOCALE_RE = re.compile(r"^[a-z]{2,3}(?:_[A-Z]{2})?$")

DEFAULT_MAX_POPULATION = 100_000
# Birth years are computed against this fixed year, never the clock, so a population recreated next year is
# byte-identical. A spec can override it explicitly.
DEFAULT_REFERENCE_YEAR = 2026

# Generator versions (DESIGN.md "Determinism"). A spec that records none was registered before versions
# existed and is version 1 forever; new registrations are stamped with the latest version.
GENERATOR_VERSIONS: tuple[int, ...] = (1, 2)
LATEST_GENERATOR_VERSION = GENERATOR_VERSIONS[-1]


def max_population() -> int:
    """`AZT3KNET_MAX_POPULATION` (default 100000). Read directly so the pure core needs no settings object."""
    raw = os.environ.get("AZT3KNET_MAX_POPULATION", "")
    try:
        return int(raw) if raw.strip() else DEFAULT_MAX_POPULATION
    except ValueError:
        return DEFAULT_MAX_POPULATION


# Labels the zone itself uses (Mailcow's autoconfig/autodiscover CNAMEs, the usual mail host): a population
# there would collide with them on deSEC (CNAME exclusivity) or on Mailcow (domain_cannot_match_hostname).
RESERVED_KEYS = frozenset({"autoconfig", "autodiscover", "mail", "www", "mta-sts"})


def validate_population_key(key: str) -> str:
    """A population key is also a DNS label: lowercase letters, digits and inner hyphens, 1..63 chars."""
    if not isinstance(key, str) or not POPULATION_KEY_RE.fullmatch(key):
        raise ValueError(
            f"key {key!r} is not a DNS label: use 1-63 lowercase letters, digits or inner hyphens "
            "(pattern ^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$)"
        )
    if key in RESERVED_KEYS:
        raise ValueError(f"key {key!r} is reserved for the zone's own records; choose another key")
    return key


def canonical_json(data: Any) -> str:
    """The one canonical JSON encoding (sorted keys, compact, UTF-8) behind every content hash."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class AgeRange(BaseModel):
    """Inclusive age bounds, 13 <= lo <= hi <= 90."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lo: int = Field(default=18, ge=13, le=90)
    hi: int = Field(default=65, ge=13, le=90)

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, value: Any) -> Any:
        if isinstance(value, str):
            match = re.fullmatch(r"\s*(\d{1,3})\s*-\s*(\d{1,3})\s*", value)
            if not match:
                raise ValueError("age_range must look like LO-HI, e.g. 18-45")
            return {"lo": int(match.group(1)), "hi": int(match.group(2))}
        if isinstance(value, list | tuple) and len(value) == 2:
            return {"lo": value[0], "hi": value[1]}
        return value

    @model_validator(mode="after")
    def _ordered(self) -> AgeRange:
        if self.lo > self.hi:
            raise ValueError(f"age_range lower bound {self.lo} is above upper bound {self.hi}")
        return self

    def __str__(self) -> str:
        return f"{self.lo}-{self.hi}"


Seed = Annotated[int | str, Field(description="An integer or a short string (letters, digits, _ . -)")]


class PopulationSpec(BaseModel):
    """What to generate. Same spec (including seed) ⇒ the same population, byte for byte."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    count: int = Field(ge=1, description="Number of agents, 1..AZT3KNET_MAX_POPULATION")
    seed: Seed
    country: str = Field(description="ISO 3166-1 alpha-2 code, e.g. ES")
    gender: Gender | None = Field(default=None, description="None = a mixed population")
    city: str | None = Field(default=None, min_length=1, max_length=80)
    age_range: AgeRange = Field(default_factory=AgeRange)
    interests: tuple[str, ...] | None = Field(default=None, description="Optional non-empty list of slugs")
    locale: str | None = Field(default=None, description="Derived from country when omitted")
    reference_year: int = Field(default=DEFAULT_REFERENCE_YEAR, ge=1900, le=2200)
    generator_version: int | None = Field(
        default=None,
        description="Generation algorithm and data version; absent = 1; new registrations get the latest",
    )

    @property
    def version(self) -> int:
        """The generator version this spec generates with (absent = 1)."""
        return self.generator_version or 1

    def with_version(self, version: int) -> PopulationSpec:
        """The same spec pinned to `version` (validated again: v2 checks the locale and city)."""
        return PopulationSpec.model_validate({**self.canonical(), "generator_version": version})

    @field_validator("generator_version")
    @classmethod
    def _known_version(cls, value: int | None) -> int | None:
        if value is not None and value not in GENERATOR_VERSIONS:
            choices = ", ".join(map(str, GENERATOR_VERSIONS))
            raise ValueError(f"generator_version {value} is unknown (choose one of {choices})")
        return value

    @field_validator("count")
    @classmethod
    def _count_within_max(cls, value: int) -> int:
        limit = max_population()
        if value > limit:
            raise ValueError(f"count {value} is above the maximum {limit} (AZT3KNET_MAX_POPULATION)")
        return value

    @field_validator("seed", mode="before")
    @classmethod
    def _seed_shape(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("seed must be an integer or a short string, not a boolean")
        if isinstance(value, str):
            stripped = value.strip()
            if re.fullmatch(r"-?\d{1,30}", stripped):
                return int(stripped)
            if not SEED_STRING_RE.fullmatch(stripped):
                raise ValueError("seed string must be 1-64 chars of letters, digits, '_', '.', '-'")
            return stripped
        if isinstance(value, int) and abs(value) >= 10**30:
            raise ValueError("seed integer must have at most 30 digits")
        return value

    @field_validator("country", mode="before")
    @classmethod
    def _iso_country(cls, value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError("country must be an ISO 3166-1 alpha-2 code such as ES")
        code = value.strip().upper()
        if code not in ISO_3166_ALPHA2:
            raise ValueError(f"country {value!r} is not an ISO 3166-1 alpha-2 code")
        return code

    @field_validator("city", mode="before")
    @classmethod
    def _city(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            if any(ch in value for ch in "<>\n\r\t"):
                raise ValueError("city must be a plain place name")
        return value

    @field_validator("interests", mode="before")
    @classmethod
    def _interests(cls, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, str):
            value = [part for part in value.split(",")]
        items = [str(v).strip().lower() for v in value]
        if not items or all(not v for v in items):
            raise ValueError("interests, when given, must be a non-empty list of slugs")
        for item in items:
            if not INTEREST_RE.fullmatch(item):
                raise ValueError(
                    f"interest {item!r} is not a short slug (lowercase letters, digits, '_' or '-', max 32)"
                )
        # Order and duplicates carry no meaning: normalise so equal specs hash equal.
        return tuple(sorted(set(items)))

    @field_validator("locale")
    @classmethod
    def _locale_shape(cls, value: str | None) -> str | None:
        if value is not None and not LOCALE_RE.fullmatch(value):
            raise ValueError("locale must look like es_ES or en")
        return value

    @model_validator(mode="after")
    def _valid_for_version(self) -> PopulationSpec:
        # v1 accepted any locale and city and must keep doing so; v2 validates them against its data.
        if self.version >= 2:
            from azt3knet_pipeline.domain.generation_v2 import check_spec

            check_spec(self)
        return self

    def canonical(self) -> dict[str, Any]:
        """JSON-ready dict with every field explicit (defaults included), the form stored and hashed."""
        data = self.model_dump(mode="json")
        data["interests"] = list(self.interests) if self.interests is not None else None
        # Version 1 is written as absent: the specs registered before versions existed keep their spec hash.
        if self.version == 1:
            data.pop("generator_version")
        return data

    def canonical_json(self) -> str:
        return canonical_json(self.canonical())

    def spec_hash(self) -> str:
        """sha256 of the canonical JSON: two specs are the same population iff their hashes match."""
        return sha256_hex(self.canonical_json())

    def default_key(self) -> str:
        """The default partition key, derived from the seed: `seed-42`, `seed-my-run`."""
        raw = str(self.seed).lower()
        label = re.sub(r"[^a-z0-9-]+", "-", raw).strip("-")
        key = f"seed-{label}"[:63].rstrip("-")
        return validate_population_key(key)


class AgentProfile(BaseModel):
    """One synthetic agent. No government or financial identifiers, ever; `synthetic` is always true."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    population_key: str
    index: int = Field(ge=0)
    given_name: str
    family_name: str
    display_name: str
    username: str
    email_local_part: str
    gender: Gender
    age: int = Field(ge=13, le=90)
    birth_year: int
    country: str
    city: str
    locale: str
    timezone: str
    interests: tuple[str, ...]
    bio: str
    posting_cadence: str
    tone: str
    behavioral_biases: tuple[str, ...]
    synthetic: Literal[True] = True


class Population(BaseModel):
    """A registered population: its key, the spec it was registered with, and its lifecycle status."""

    model_config = ConfigDict(frozen=True)

    key: str
    spec: PopulationSpec
    spec_hash: str
    status: str
    dns_pending_until: datetime | None = None


def spec_to_register(spec: PopulationSpec, registered: Population | None) -> PopulationSpec:
    """The spec to register under a key: a new population without an explicit version gets the latest
    generator; for a registered key the store compares against the registered version, so the same fields
    again stay a no-op that keeps it."""
    if spec.generator_version is None and registered is None:
        return spec.with_version(LATEST_GENERATOR_VERSION)
    return spec
