"""Stage 1 and 2: the registered spec of a partition, and the agent profiles generated from it."""

from typing import Any

import pandas as pd
from dagster import (
    AssetExecutionContext,
    Config,
    Failure,
    MetadataValue,
    Output,
    asset,
)
from pydantic import Field, ValidationError

from azt3knet_pipeline.defs.partitions import population_partitions
from azt3knet_pipeline.defs.resources import SettingsResource
from azt3knet_pipeline.domain.generation import generate_population
from azt3knet_pipeline.domain.models import LATEST_GENERATOR_VERSION, PopulationSpec
from azt3knet_pipeline.domain.report import describe
from azt3knet_pipeline.errors import PopulationConflict, describe_validation_error
from azt3knet_pipeline.llm.enrich import enrich_profiles
from azt3knet_pipeline.names import POPULATION_GROUP
from azt3knet_pipeline.services.population_report import report_path, write_png

PREVIEW_COLUMNS = ["index", "display_name", "gender", "age", "city", "email_local_part", "interests"]


class PopulationSpecConfig(Config):
    """Optional run config to launch a new population from the Dagster UI (fields of PopulationSpec)."""

    count: int | None = Field(default=None, description="Number of agents")
    seed: str | None = Field(default=None, description='Seed, quoted: "42" (digits) or a short string')
    country: str | None = Field(default=None, description="ISO 3166-1 alpha-2 country code")
    gender: str | None = Field(default=None, description="female | male | non_binary | unspecified (empty = mixed)")
    city: str | None = None
    age_range: str | None = Field(default=None, description="LO-HI, e.g. 18-45")
    interests: list[str] | None = None
    locale: str | None = None

    def given(self) -> dict[str, Any]:
        return {name: value for name, value in self.model_dump().items() if value is not None}


def _spec_from_config(given: dict[str, Any]) -> PopulationSpec:
    try:
        return PopulationSpec.model_validate(given)
    except ValidationError as exc:
        raise Failure(f"population_spec config is not a valid spec: {describe_validation_error(exc)}") from None


@asset(
    partitions_def=population_partitions,
    group_name=POPULATION_GROUP,
    kinds={"python"},
    description="The PopulationSpec registered for this partition (registered from run config if new).",
)
def population_spec(
    context: AssetExecutionContext, config: PopulationSpecConfig, settings: SettingsResource
) -> Output[PopulationSpec]:
    """Registers a new population from run config. Its `settings` resource starts first, so a run missing a
    setting that a later step needs (SECRET_KEY_FOR_KV_ENC, MAILCOW_API_KEY, ...) fails here, before registering."""
    key = context.partition_key
    repo = settings.store()
    registered = repo.get_population(key)
    given = config.given()
    if registered is None:
        if not given:
            raise Failure(
                f"no spec is registered for population {key!r}: register it with `azt3knet populate --key {key} ...` "
                "or give count, seed and country in this asset's run config"
            )
        spec = _spec_from_config({"generator_version": LATEST_GENERATOR_VERSION, **given})
        try:
            registered, _ = repo.register_population(key, spec)
        except PopulationConflict as exc:
            raise Failure(str(exc)) from None
        repo.audit("dagster", "population.register", key, "ok", {"spec_hash": spec.spec_hash()})
    elif given:
        merged = {**registered.spec.canonical(), **given}
        candidate = _spec_from_config(merged)
        if candidate.spec_hash() != registered.spec_hash:
            differing = sorted(
                name for name, value in candidate.canonical().items() if registered.spec.canonical().get(name) != value
            )
            raise Failure(
                f"run config contradicts the spec registered for population {key!r} "
                f"(fields: {', '.join(differing)}); a key names exactly one spec: use another key"
            )
    spec = registered.spec
    return Output(
        spec,
        metadata={
            "spec_hash": spec.spec_hash(),
            "count": spec.count,
            "seed": str(spec.seed),
            "country": spec.country,
            "spec": MetadataValue.json(spec.canonical()),
        },
    )


@asset(
    partitions_def=population_partitions,
    group_name=POPULATION_GROUP,
    kinds={"pandas"},
    description="Deterministic synthetic agent profiles (pandas DataFrame, one row per agent).",
    # Follows the generator: a new generator version is new code for new populations (registered ones keep
    # theirs, shown per partition in the `generator_version` metadata).
    code_version=f"generator-v{LATEST_GENERATOR_VERSION}",
)
def agent_profiles(
    context: AssetExecutionContext, population_spec: PopulationSpec, settings: SettingsResource
) -> Output[pd.DataFrame]:
    key = context.partition_key
    generated = generate_population(population_spec, key)
    frame, enriched = enrich_profiles(generated.frame, settings.store(), settings.settings)
    if enriched:
        generated = type(generated)(population_key=key, spec=population_spec, frame=frame)
    preview = generated.frame[PREVIEW_COLUMNS].head(10).copy()
    preview["interests"] = preview["interests"].map(", ".join)
    context.log.info(
        f"generated {len(generated.frame)} profiles for {key} (content hash {generated.content_hash[:12]})"
    )
    report = describe(population_spec, key, generated.chunks())
    home = settings.settings.home
    png = write_png(report, report_path(home, key), home=home)
    return Output(
        generated.frame,
        metadata={
            "row_count": len(generated.frame),
            "content_hash": generated.content_hash,
            "spec_hash": population_spec.spec_hash(),
            "llm_enriched_fields": enriched,
            "preview": MetadataValue.md(preview.to_markdown(index=False)),
            "generator_version": population_spec.version,
            "report": MetadataValue.md(report.markdown()),
            "report_summary": MetadataValue.json(report.summary()),
            "report_png": MetadataValue.path(str(png)),
            "age_tv_distance": round(report.age_tv_distance, 5),
            "transliteration_coverage": round(report.addresses_from_names, 5),
            "bio_language": report.bio_language,
        },
    )
