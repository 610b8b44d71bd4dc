"""Use cases that combine the pure core with the adapters (clients, store). Dagster assets, the CLI and the
REST API all call these, so a recreate from any of them runs the same code."""
