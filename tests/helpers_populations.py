"""The population use cases as a test calls them: composed from the environment's settings (tests are an edge,
like the CLI), run in process without progress bars. Each call opens what it needs, as one CLI command would."""

from __future__ import annotations

from typing import Any

from azt3knet_pipeline.domain.models import Population, PopulationSpec
from azt3knet_pipeline.names import POPULATE_JOB
from azt3knet_pipeline.orchestration.instance import get_instance
from azt3knet_pipeline.orchestration.launch import materialize_population as launch_in_process
from azt3knet_pipeline.orchestration.results import RunOutcome, latest_materializations
from azt3knet_pipeline.services import populations
from azt3knet_pipeline.services.teardown import TeardownPlan
from azt3knet_pipeline.settings import Settings, get_settings
from azt3knet_pipeline.store.repository import Store


def open_store(settings: Settings | None = None) -> Store:
    return populations.open_store(settings or get_settings())


def materialize_population(
    key: str, *, job_name: str = POPULATE_JOB, run_config: dict[str, Any] | None = None
) -> RunOutcome:
    return launch_in_process(key, instance=get_instance(get_settings()), job_name=job_name, run_config=run_config)


def register_population(spec: PopulationSpec, key: str | None = None, *, actor: str = "cli") -> tuple[Population, bool]:
    settings = get_settings()
    return populations.register_population(
        spec, key, store=open_store(settings), instance=get_instance(settings), actor=actor
    )


def populate(
    spec: PopulationSpec,
    key: str | None = None,
    *,
    create_mailboxes: bool = False,
    adopt_domain: bool = False,
    actor: str = "cli",
) -> RunOutcome:
    settings = get_settings()
    instance = get_instance(settings)
    outcome = populations.populate(
        spec,
        key,
        store=open_store(settings),
        settings=settings,
        instance=instance,
        launch=lambda k, **kw: launch_in_process(k, instance=instance, **kw),
        create_mailboxes=create_mailboxes,
        adopt_domain=adopt_domain,
        actor=actor,
    )
    return outcome.run


def recreate(key: str, *, adopt_domain: bool = False, actor: str = "cli") -> RunOutcome:
    settings = get_settings()
    instance = get_instance(settings)
    return populations.recreate(
        key,
        store=open_store(settings),
        settings=settings,
        instance=instance,
        launch=lambda k, **kw: launch_in_process(k, instance=instance, **kw),
        adopt_domain=adopt_domain,
        actor=actor,
    )


def describe_population(key: str) -> dict[str, Any]:
    settings = get_settings()
    return populations.describe_population(
        key, store=open_store(settings), read_assets=lambda k: latest_materializations(get_instance(settings), k)
    )


def plan(key: str, *, adopt_domain: bool = False) -> dict[str, Any]:
    settings = get_settings()
    return populations.plan(key, store=open_store(settings), settings=settings, adopt_domain=adopt_domain)


def teardown_plan(key: str) -> TeardownPlan:
    settings = get_settings()
    return populations.teardown_plan(key, store=open_store(settings), settings=settings)


def teardown(key: str, *, actor: str = "cli") -> populations.TeardownOutcome:
    settings = get_settings()
    instance = get_instance(settings)
    return populations.teardown(
        key,
        store=open_store(settings),
        instance=instance,
        launch=lambda k, **kw: launch_in_process(k, instance=instance, **kw),
        actor=actor,
    )


def export_credentials(key: str, out: str, **options: Any) -> dict[str, Any]:
    settings = get_settings()
    return populations.export_credentials(key, out, store=open_store(settings), settings=settings, **options)
