"""Dagster `Definitions`: wires assets, checks, jobs, schedules, sensors and resources. Nothing else lives here."""

from dagster import Definitions

from azt3knet_pipeline.defs.assets.credentials import credential_export
from azt3knet_pipeline.defs.assets.dns import dns_records
from azt3knet_pipeline.defs.assets.mailboxes import mailboxes
from azt3knet_pipeline.defs.assets.population import agent_profiles, population_spec
from azt3knet_pipeline.defs.checks import dns_records_in_sync
from azt3knet_pipeline.defs.dns_pending import dns_pending_job
from azt3knet_pipeline.defs.dyndns import dyndns_job, dyndns_schedule
from azt3knet_pipeline.defs.jobs import dns_reconcile_job, populate_job, profiles_job
from azt3knet_pipeline.defs.resources import pipeline_resources
from azt3knet_pipeline.defs.sensors import dns_drift_sensor
from azt3knet_pipeline.defs.teardown import teardown_job
from azt3knet_pipeline.defs.verify import mailboxes_accept_login, verify_mailboxes_job, verify_mailboxes_schedule

defs = Definitions(
    assets=[population_spec, agent_profiles, mailboxes, dns_records, credential_export],
    asset_checks=[dns_records_in_sync, mailboxes_accept_login],
    jobs=[
        populate_job,
        profiles_job,
        dns_reconcile_job,
        dns_pending_job,
        dyndns_job,
        verify_mailboxes_job,
        teardown_job,
    ],
    schedules=[dyndns_schedule, verify_mailboxes_schedule],
    sensors=[dns_drift_sensor],
    resources=pipeline_resources(),
)
