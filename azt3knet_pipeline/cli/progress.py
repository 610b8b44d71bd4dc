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

from dagster import DagsterInstance
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from azt3knet_pipeline.cli.failure import run_log_config
from azt3knet_pipeline.names import DNS_RECONCILE_JOB, POPULATE_JOB, PROFILES_JOB
from azt3knet_pipeline.orchestration.launch import materialize_population
from azt3knet_pipeline.orchestration.results import RunOutcome, materialized_count, run_id_tagged
from azt3knet_pipeline.store.repository import Store

JOB_ASSETS = {POPULATE_JOB: 5, PROFILES_JOB: 2, DNS_RECONCILE_JOB: 1}
INVOCATION_TAG = "azt3knet/invocation"


class ProgressLaunch:
    """Launches runs in this process for the use cases (services.populations.Launch), showing progress bars unless
    `quiet` (or the console is not a terminal); Dagster's console output only with --verbose."""

    def __init__(
        self, *, instance: DagsterInstance, store: Store, mailboxes: int, console: Console, quiet: bool = False
    ) -> None:
        self.instance = instance
        self.store = store
        self.mailboxes = mailboxes
        self.console = console
        self.quiet = quiet

    def __call__(self, key: str, *, job_name: str, run_config: dict[str, Any] | None = None) -> RunOutcome:
        config = {**run_log_config(), **(run_config or {})}
        if self.quiet:
            return materialize_population(key, instance=self.instance, job_name=job_name, run_config=config)
        invocation = uuid.uuid4().hex
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with (
            ThreadPoolExecutor(max_workers=1) as pool,
            Progress(*columns, console=self.console, transient=True) as progress,
        ):
            future = pool.submit(
                materialize_population,
                key,
                instance=self.instance,
                job_name=job_name,
                run_config=config,
                tags={INVOCATION_TAG: invocation},
            )
            assets_task = progress.add_task(f"{key}: assets", total=JOB_ASSETS.get(job_name, 1))
            mailbox_task = (
                progress.add_task(f"{key}: mailboxes", total=self.mailboxes) if job_name == POPULATE_JOB else None
            )
            run_id: str | None = None
            while not future.done():
                if run_id is None:
                    run_id = run_id_tagged(self.instance, INVOCATION_TAG, invocation)
                if run_id is not None:
                    progress.update(assets_task, completed=materialized_count(self.instance, run_id))
                if mailbox_task is not None:
                    progress.update(mailbox_task, completed=self.store.count_mailboxes(key, "active"))
                time.sleep(0.25)
            return future.result()
