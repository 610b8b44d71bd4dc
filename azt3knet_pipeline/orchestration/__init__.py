"""The only code outside `defs/` that talks to a Dagster instance.

- `instance`: the persistent instance under DAGSTER_HOME (its dagster.yaml, first-use locking).
- `partitions`: a population's dynamic partition.
- `launch`: running jobs for a partition, in this process (CLI) or through the API's run executor.
- `results`: reading what runs did (outcomes, last run, run detail, latest materializations, logs).
- `dead_runs`: runs whose process died, failed and their pool slots freed before a new run starts.

The CLI and the API call these and hand the use cases in `services/` an instance and a `launch`; nothing here
decides *what* to run (that is the use case's job). Layering: docs/architecture.md.
"""
