"""Launching runs of a population's partition: the ONE place the CLI, the API (and tests) start runs.

Every run is created as a run of the project's code location (`remote_job_origin`: the location
`azt3knet_pipeline.definitions:defs` that workspace.yaml and `dg dev` load), so the webserver lists it on the
job's page (Runs tab), on the Overview timeline and in the job's sparklines, whoever launched it:

- `materialize_population` (the CLI, the demo, tests, the API's teardown): the run is created, then executed in
  this process (in-process executor) and its outcome read back from the instance.
- `RunExecutor` (the API): the run is created *before* the request returns (status NOT_STARTED, tagged with the
  partition), so the run id in the 202 answer can be looked up at once, then either
  - `daemon`: submitted to the instance's QueuedRunCoordinator (`instance.submit_run`, status QUEUED);
    `dagster-daemon run -w workspace.yaml` dequeues and launches it through the workspace's code location; or
  - `embedded`: executed by one worker thread of the API process; runs and teardowns are serialized on that
    worker, so two operations on one population never overlap. Runs still waiting when the API stops are
    marked CANCELED (POST recreate submits them again).

`AZT3KNET_API_RUN_EXECUTOR` = `auto` (default) | `daemon` | `embedded`. `auto` picks `daemon` only when the
instance uses the QueuedRunCoordinator *and* a daemon is alive now (`daemon_alive`: a fresh heartbeat of its
run-queue loop, and no run of this instance left QUEUED past AZT3KNET_QUEUED_RUN_TIMEOUT), so a run is never
queued for a daemon that died moments ago. A run that stays QUEUED longer than that bound anyway (the daemon
died after the choice) is reported with the reason by `results.run_detail`. Internal Dagster APIs used here
were checked against dagster 1.13.27.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from dagster import DagsterInstance, DagsterRun, DagsterRunStatus, JobDefinition
from dagster._core.definitions.job_base import InMemoryJob
from dagster._core.definitions.reconstruct import ReconstructableRepository
from dagster._core.definitions.repository_definition.valid_definitions import SINGLETON_REPOSITORY_NAME
from dagster._core.execution.api import execute_run
from dagster._core.execution.build_resources import wrap_resources_for_execution
from dagster._core.execution.execute_in_process import merge_run_tags
from dagster._core.origin import JobPythonOrigin
from dagster._core.remote_origin import InProcessCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

from azt3knet_pipeline.definitions import defs
from azt3knet_pipeline.names import POPULATE_JOB
from azt3knet_pipeline.orchestration.dead_runs import (
    hold_heartbeat,
    owner_tags,
    owning_runs,
    reap_dead_runs,
    release_heartbeat,
)
from azt3knet_pipeline.orchestration.partitions import ensure_partition
from azt3knet_pipeline.orchestration.results import EXECUTOR_TAG, RunOutcome, outcome_of_run, stale_queued_runs

log = logging.getLogger(__name__)

DEFINITIONS_MODULE = "azt3knet_pipeline.definitions"
DEFINITIONS_ATTRIBUTE = "defs"
# The name dagster gives workspace.yaml's `python_module: {module_name: ..., attribute: defs}` entry.
LOCATION_NAME = f"{DEFINITIONS_MODULE}:{DEFINITIONS_ATTRIBUTE}"
EXECUTOR_MODES = ("auto", "daemon", "embedded")
ACTOR_TAG = "azt3knet/actor"
DAEMON_TYPE = "QUEUED_RUN_COORDINATOR"
# dagster-daemon beats every 30 s (DEFAULT_HEARTBEAT_INTERVAL_SECONDS): a later beat than this means it is gone
# or stuck, not merely between beats.
HEARTBEAT_FRESH_SECONDS = 45.0
IN_PROCESS_EXECUTION: dict[str, Any] = {"config": {"in_process": {}}}
QUIET_RUN_CONFIG: dict[str, Any] = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def create_run(
    instance: DagsterInstance,
    key: str,
    job_name: str,
    *,
    run_config: dict[str, Any],
    tags: dict[str, str],
    job_def: JobDefinition | None = None,
) -> DagsterRun:
    """Create (NOT_STARTED) a run of `job_name` (`job_def`: that job with other resources) for partition `key`
    as a run of the project's code location."""
    job = loaded_job(job_name)
    job_def = job_def or job.definition
    merged = merge_run_tags(
        job_def=job_def,
        partition_key=key,
        tags=tags,
        asset_selection=None,
        instance=instance,
        run_config=run_config,
    )
    return instance.create_run_for_job(
        job_def=job_def,
        run_config=run_config,
        tags=merged,
        status=DagsterRunStatus.NOT_STARTED,
        remote_job_origin=remote_job_origin(job_name),
        job_code_origin=job.python_origin,
    )


def materialize_population(
    key: str,
    *,
    instance: DagsterInstance,
    job_name: str = POPULATE_JOB,
    run_config: dict[str, Any] | None = None,
    tags: dict[str, str] | None = None,
    resources: Mapping[str, Any] | None = None,
) -> RunOutcome:
    """Run `job_name` for partition `key` in this process, in `instance`, as a run of the project's code location
    (it shows on the job's page in the UI); returns once it has finished. `resources` replace the project's
    resources of the same key for this run (e.g. `pipeline_resources(pinned_settings(settings))`).

    Runs of this instance whose process died (kill -9, crash) are marked failed and their pool slots freed
    first, so they never block this one; this run is tagged with this process as its owner for the same reason.
    """
    reap_dead_runs(instance)
    config = {**QUIET_RUN_CONFIG, **(run_config or {}), "execution": IN_PROCESS_EXECUTION}
    job_def = loaded_job(job_name).definition
    if resources:
        job_def = job_def.with_top_level_resources(
            {**(defs.resources or {}), **wrap_resources_for_execution(dict(resources))}
        )
    with owning_runs(instance):
        run = create_run(
            instance, key, job_name, run_config=config, tags={**owner_tags(), **(tags or {})}, job_def=job_def
        )
        execute_run(InMemoryJob(job_def), run, instance)
    return outcome_of_run(instance, run.run_id, key=key, job_name=job_name)


def executor_mode(mode: str) -> str:
    """Who executes the API's runs: AZT3KNET_API_RUN_EXECUTOR or `api serve --executor` (see the module doc)."""
    mode = mode.strip().lower() or "auto"
    if mode not in EXECUTOR_MODES:
        raise ValueError(f"AZT3KNET_API_RUN_EXECUTOR must be one of {', '.join(EXECUTOR_MODES)} (got {mode!r})")
    return mode


@dataclass(frozen=True)
class LoadedJob:
    """A job definition loaded once, and the code origin a run of it records (for the UI and the daemon)."""

    definition: JobDefinition
    python_origin: JobPythonOrigin


_definitions_lock = threading.Lock()
_loaded_jobs: dict[str, LoadedJob] = {}


def load_jobs() -> dict[str, LoadedJob]:
    """Load the project's definitions and resolve every job once per process, under a lock.

    Dagster's own loading (`ReconstructableJob.get_definition`) re-imports the code location through its module
    loader whenever its one-entry cache misses (two jobs alternate), and that loader is not thread-safe:
    concurrent API requests died with IndexError/ModuleNotFoundError. The API loads here at start-up; runs
    then execute the loaded definition in process.
    """
    with _definitions_lock:
        if not _loaded_jobs:
            repository = ReconstructableRepository.for_module(DEFINITIONS_MODULE, DEFINITIONS_ATTRIBUTE)
            repository_def = defs.get_repository_def()
            for job_def in repository_def.get_all_jobs():
                origin = repository.get_reconstructable_job(job_def.name).get_python_origin()  # no loading
                _loaded_jobs[job_def.name] = LoadedJob(job_def, origin)
        return dict(_loaded_jobs)


def loaded_job(job_name: str) -> LoadedJob:
    jobs = load_jobs()
    if job_name not in jobs:
        raise ValueError(f"unknown job {job_name!r}")
    return jobs[job_name]


def remote_job_origin(job_name: str) -> RemoteJobOrigin:
    """The origin the daemon resolves by location name in its own workspace (see LOCATION_NAME)."""
    target = LoadableTargetOrigin(
        executable_path=sys.executable, module_name=DEFINITIONS_MODULE, attribute=DEFINITIONS_ATTRIBUTE
    )
    location = InProcessCodeLocationOrigin(target, location_name=LOCATION_NAME)
    repository = RemoteRepositoryOrigin(code_location_origin=location, repository_name=SINGLETON_REPOSITORY_NAME)
    return RemoteJobOrigin(repository_origin=repository, job_name=job_name)


def daemon_alive(instance: DagsterInstance, *, queued_timeout: float) -> bool:
    """Whether a dagster-daemon is dequeuing this instance's runs now: its run-queue loop sent a heartbeat within
    HEARTBEAT_FRESH_SECONDS without errors, and no run has been QUEUED for longer than `queued_timeout`."""
    try:
        heartbeat = instance.get_daemon_heartbeats().get(DAEMON_TYPE)
    except Exception:  # storage without heartbeats, transient read error: assume no daemon
        return False
    if heartbeat is None or time.time() - heartbeat.timestamp > HEARTBEAT_FRESH_SECONDS or heartbeat.errors:
        return False
    return not stale_queued_runs(instance, queued_timeout)


@dataclass(frozen=True)
class SubmittedRun:
    """A run the RunExecutor created and handed on; it has not necessarily started."""

    run_id: str
    job: str
    executor: str

    def audit_detail(self) -> tuple[str, dict[str, Any]]:
        """(outcome, detail) for the audit log entry of the use case that submitted it."""
        return "submitted", {"run_id": self.run_id, "executor": self.executor}


class RunExecutor:
    """Creates runs in the instance and hands them to the daemon's queue or to the API's own worker thread."""

    def __init__(
        self, instance: Callable[[], DagsterInstance], mode: str = "auto", *, queued_timeout: float = 120.0
    ) -> None:
        if mode not in EXECUTOR_MODES:
            raise ValueError(f"unknown run executor mode {mode!r}")
        self._instance = instance
        self.mode = mode
        self.queued_timeout = queued_timeout
        self.jobs = load_jobs()  # at start-up, once: request threads never load definitions
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="azt3knet-worker")
        self._pending: dict[str, Future[None]] = {}
        self._lock = threading.Lock()
        self._heartbeat: int | None = None

    def choose(self, instance: DagsterInstance) -> str:
        if self.mode != "auto":
            return self.mode
        if isinstance(instance.run_coordinator, QueuedRunCoordinator) and daemon_alive(
            instance, queued_timeout=self.queued_timeout
        ):
            return "daemon"
        return "embedded"

    def submit(
        self, key: str, job_name: str, *, actor: str = "api", run_config: dict[str, Any] | None = None
    ) -> SubmittedRun:
        """Create a run of `job_name` for partition `key` (extra `run_config` merged in) and submit it; returns once
        the run exists."""
        instance = self._instance()
        reap_dead_runs(instance)  # a run whose process died must not hold the pool slot this run needs
        ensure_partition(instance, key)
        executor = self.choose(instance)
        run_config = {**QUIET_RUN_CONFIG, **(run_config or {})}
        extra_tags = {ACTOR_TAG: actor, EXECUTOR_TAG: executor}
        if executor == "embedded":
            run_config["execution"] = IN_PROCESS_EXECUTION
            extra_tags.update(owner_tags())  # this process runs it: if it dies, the run is reaped
            with self._lock:
                if self._heartbeat is None:  # beats from the first embedded run until shutdown
                    self._heartbeat = hold_heartbeat(instance)
        run = create_run(instance, key, job_name, run_config=run_config, tags=extra_tags)
        if executor == "daemon":
            instance.submit_run(run.run_id, workspace=None)  # type: ignore[arg-type]  # the queue needs none
        else:
            future = self._pool.submit(self._execute, job_name, run.run_id)
            with self._lock:
                self._pending[run.run_id] = future
            future.add_done_callback(lambda _f, run_id=run.run_id: self._forget(run_id))
        return SubmittedRun(run_id=run.run_id, job=job_name, executor=executor)

    def submit_task(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        """Run a non-Dagster operation (teardown) on the same worker, after the runs already waiting."""
        return self._pool.submit(fn, *args)

    def _forget(self, run_id: str) -> None:
        with self._lock:
            self._pending.pop(run_id, None)

    def _execute(self, job_name: str, run_id: str) -> None:
        instance = self._instance()
        run = instance.get_run_by_id(run_id)
        if run is None or run.status != DagsterRunStatus.NOT_STARTED:
            return  # canceled (or picked up elsewhere) meanwhile
        try:
            execute_run(InMemoryJob(loaded_job(job_name).definition), run, instance)
        except Exception as exc:
            log.exception("run %s could not execute", run_id)
            current = instance.get_run_by_id(run_id)
            if current is not None and not current.is_finished:
                instance.report_run_failed(current, f"the API could not execute the run: {type(exc).__name__}")

    def shutdown(self) -> None:
        """Finish the operation in progress; mark runs that never started as CANCELED."""
        with self._lock:
            pending = dict(self._pending)
        self._pool.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            if self._heartbeat is not None:
                release_heartbeat(self._heartbeat)
                self._heartbeat = None
        if not pending:
            return
        instance = self._instance()
        for run_id, future in pending.items():
            if not future.cancelled():
                continue
            run = instance.get_run_by_id(run_id)
            if run is not None and run.status == DagsterRunStatus.NOT_STARTED:
                instance.report_run_canceled(
                    run, message="the API stopped before this run started; POST /api/populations/{key}/recreate"
                )
