"""Dagster `Definitions`: wires assets, jobs, schedules, sensors and resources. Nothing else lives here."""

from dagster import Definitions

from azt3knet_pipeline.defs.assets.population import agent_profiles, population_spec
from azt3knet_pipeline.defs.jobs import populate_job, profiles_job
from azt3knet_pipeline.defs.resources import StoreResource

defs = Definitions(
    assets=[population_spec, agent_profiles],
    jobs=[populate_job, profiles_job],
    resources={"store": StoreResource()},
)
