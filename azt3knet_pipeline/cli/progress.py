"""Rich progress for a materialization running in this process: assets done, mailboxes provisioned.

The run executes in a worker thread; the main thread polls the Dagster event log (materializations of the
run, found by a unique tag) and the store (mailboxes in state `active`), so no callback has to reach into
the assets.
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from dagster import DagsterEventType, RunsFilter
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from azt3knet_pipeline import operations
from azt3knet_pipeline.cli.failure import run_log_config
from azt3knet_pipeline.dagster_home import get_instance
from azt3knet_pipeline.settings import get_settings

JOB_ASSETS = {"populate_job": 5, "profiles_job": 2, "dns_reconcile_job": 1}


def materialize_with_progress(
    key: str,
    *,
    job_name: str,
    mailboxes: int,
    console: Console,
    quiet: bool = False,
    run_config: dict[str, Any] | None = None,
) -> operations.RunOutcome:
    """Run `job_name` for `key`, showing progress bars unless `quiet` (or the console is not a terminal)."""
    config = {**run_log_config(), **(run_config or {})}  # Dagster's console output only with --verbose
    if quiet:
        return operations.materialize_population(key, job_name=job_name, run_config=config)
    settings = get_settings()
    instance = get_instance(settings)
    store = operations.open_store(settings)
    invocation = uuid.uuid4().hex
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with (
        ThreadPoolExecutor(max_workers=1) as pool,
        Progress(*columns, console=console, transient=True) as progress,
    ):
        future = pool.submit(
            operations.materialize_population,
            key,
            job_name=job_name,
            instance=instance,
            run_config=config,
            tags={"azt3knet/invocation": invocation},
        )
        assets_task = progress.add_task(f"{key}: assets", total=JOB_ASSETS.get(job_name, 1))
        mailbox_task = progress.add_task(f"{key}: mailboxes", total=mailboxes) if job_name == "populate_job" else None
        run_id: str | None = None
        while not future.done():
            if run_id is None:
                runs = instance.get_runs(filters=RunsFilter(tags={"azt3knet/invocation": invocation}), limit=1)
                run_id = runs[0].run_id if runs else None
            if run_id is not None:
                done = len(instance.get_records_for_run(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION).records)
                progress.update(assets_task, completed=done)
            if mailbox_task is not None:
                progress.update(mailbox_task, completed=store.count_mailboxes(key, "active"))
            time.sleep(0.25)
        return future.result()
