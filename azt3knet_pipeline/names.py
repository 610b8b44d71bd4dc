"""The public names of the Dagster definitions: jobs, asset keys, checks, schedules, sensors, the partitions.

Operators' cron lines, the docs, the CLI, the API and the tests refer to these strings; the definitions in
`defs/` and every caller take them from here, so a name is spelled once.
"""

# The one partitions definition: a dynamic partition per population, keyed by the population key.
POPULATION_PARTITIONS_NAME = "population"
# The asset group of the population graph.
POPULATION_GROUP = "population"

# Asset keys, in the order the graph materializes them.
POPULATION_SPEC = "population_spec"
AGENT_PROFILES = "agent_profiles"
MAILBOXES = "mailboxes"
DNS_RECORDS = "dns_records"
CREDENTIAL_EXPORT = "credential_export"

# Asset checks.
DNS_RECORDS_IN_SYNC = "dns_records_in_sync"
MAILBOXES_ACCEPT_LOGIN = "mailboxes_accept_login"

# Jobs.
POPULATE_JOB = "populate_job"
PROFILES_JOB = "profiles_job"
DNS_RECONCILE_JOB = "dns_reconcile_job"
DNS_PENDING_JOB = "dns_pending_job"
DYNDNS_JOB = "dyndns_job"
VERIFY_MAILBOXES_JOB = "verify_mailboxes_job"
TEARDOWN_JOB = "teardown_job"
# The op of teardown_job (its run config lives under ops.<this>).
TEARDOWN_OP = "teardown_population"

# Schedules and sensors.
DYNDNS_SCHEDULE = "dyndns_schedule"
VERIFY_MAILBOXES_SCHEDULE = "verify_mailboxes_schedule"
DNS_DRIFT_SENSOR = "dns_drift_sensor"
