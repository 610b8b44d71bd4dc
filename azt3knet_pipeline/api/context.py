"""What the API process holds while it runs: settings, the token checker, the store and the Dagster instance
(both opened lazily, so a preview never creates either), and the run executor; `Ctx` hands it to the routes."""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from typing import Annotated, Any

import httpx
from dagster import DagsterInstance
from fastapi import Depends, Request

from azt3knet_pipeline.api.auth import TokenChecker
from azt3knet_pipeline.api.models import Counts, DnsState, TeardownInfo
from azt3knet_pipeline.clients.desec import DesecClient
from azt3knet_pipeline.clients.factory import desec_client, mailcow_client
from azt3knet_pipeline.clients.http import RetryPolicy
from azt3knet_pipeline.domain.dns import RRset, drift_for_populations
from azt3knet_pipeline.domain.models import Population
from azt3knet_pipeline.errors import ApiError, ApiProblem
from azt3knet_pipeline.orchestration.instance import get_instance
from azt3knet_pipeline.orchestration.launch import ACTOR_TAG, RunExecutor, SubmittedRun, materialize_population
from azt3knet_pipeline.orchestration.results import RunOutcome
from azt3knet_pipeline.services import populations
from azt3knet_pipeline.services.dns import in_subtree
from azt3knet_pipeline.settings import Settings
from azt3knet_pipeline.store.repository import Store

log = logging.getLogger("azt3knet_pipeline.api")

# The status endpoint reads deSEC once to report drift; it must answer quickly even when deSEC does not.
DRIFT_READ_POLICY = RetryPolicy(max_attempts=2, base_delay=0.2, max_delay=1.0, max_total=8.0)
DRIFT_READ_TIMEOUT = 5.0


class ApiContext:
    def __init__(self, settings: Settings, token: str, executor_mode: str) -> None:
        self.settings = settings
        self.tokens = TokenChecker(token)
        self._lock = threading.Lock()
        self._store: Store | None = None
        self._instance: DagsterInstance | None = None
        self._teardowns: set[str] = set()
        self.runs = RunExecutor(self.instance, executor_mode, queued_timeout=settings.queued_run_timeout)

    def store(self) -> Store:
        with self._lock:
            if self._store is None:
                self._store = Store.open(self.settings.resolved_database_url)
            return self._store

    def instance(self) -> DagsterInstance:
        with self._lock:
            if self._instance is None:
                self._instance = get_instance(self.settings)
            return self._instance

    def close(self) -> None:
        self.runs.shutdown()
        with self._lock:
            if self._instance is not None:
                self._instance.dispose()
                self._instance = None
            if self._store is not None:
                self._store.dispose()
                self._store = None

    # -- configuration checks (503, not the client's fault) ---------------------------------------------

    def check_provisioning_config(self, *, needs_box: bool = True) -> None:
        """Mailcow, deSEC and (for provisioning) the encryption key must be configured before anything is
        submitted; raises ConfigurationError/KeyConfigError naming the missing variable."""
        mailcow_client(self.settings).close()
        desec_client(self.settings).close()
        if needs_box:  # the key must exist, parse, and decrypt what the store already holds
            populations.require_encryption_key(store=self.store(), settings=self.settings)

    def launch(self, key: str, *, job_name: str, run_config: dict[str, Any] | None = None) -> SubmittedRun:
        """Submit a run to the run executor (services.populations.Launch); returns once the run exists."""
        return self.runs.submit(key, job_name, actor="api", run_config=run_config)

    # -- population status --------------------------------------------------------------------------------

    def counts(self, population: Population, desired_rrsets: int) -> Counts:
        rows = self.store().list_mailboxes(population.key)
        by_state = Counter(row.state for row in rows)
        return Counts(
            agents=population.spec.count,
            mailboxes=len(rows),
            mailboxes_by_state=dict(sorted(by_state.items())),
            dns_rrsets_desired=desired_rrsets,
        )

    def desired_rrsets(self, key: str) -> list[dict[str, Any]] | None:
        return self.store().desired_rrsets(self.settings.desec_domain, [key]).get(key)

    def dns_state(self, key: str, desired: list[dict[str, Any]] | None) -> DnsState:
        """One bounded read of the zone: does the population's subtree still match what was last written?"""
        zone = self.settings.desec_domain
        if desired is None:
            return DnsState(state="not_provisioned", zone=zone)
        token = self.settings.desec_token.get_secret_value() if self.settings.desec_token else ""
        if not token:
            return DnsState(state="unknown", zone=zone, reason="DESEC_TOKEN is not set")
        try:
            with DesecClient(
                self.settings.desec_api_url,
                token,
                timeout=min(self.settings.desec_timeout, DRIFT_READ_TIMEOUT),
                policy=DRIFT_READ_POLICY,
            ) as client:
                actual = [r for r in client.list_rrsets(zone) if in_subtree(r, key)]
        except (ApiError, ValueError, OSError, httpx.HTTPError) as exc:
            return DnsState(state="unknown", zone=zone, reason=f"deSEC read failed: {type(exc).__name__}")
        drift = drift_for_populations({key: [RRset.model_validate(r) for r in desired]}, actual)
        if key in drift:
            return DnsState(state="drifted", zone=zone, drift_hash=drift[key])
        return DnsState(state="in_sync", zone=zone)

    def last_teardown(self, key: str) -> TeardownInfo | None:
        for entry in self.store().audit_entries(target=key, limit=200):
            if entry.action == "population.teardown" and entry.outcome in {"ok", "failed"}:
                try:
                    detail = json.loads(entry.detail) if entry.detail else None
                except ValueError:
                    detail = None
                return TeardownInfo(
                    outcome=entry.outcome, at=entry.at.timestamp(), detail=detail if isinstance(detail, dict) else None
                )
        return None

    # -- teardown (teardown_job, run in process as a task on the run worker) -----------------------------

    def submit_teardown(self, key: str) -> bool:
        """Mark the population tearing_down and queue its teardown, unless this process already has one
        queued (a status left at tearing_down by a stopped server is resubmitted). Returns whether queued."""
        with self._lock:
            if key in self._teardowns:
                return False
            self._teardowns.add(key)
        try:
            store = self.store()
            store.set_population_status(key, "tearing_down")
            store.audit("api", "population.teardown", key, "accepted", None)
            self.runs.submit_task(self._teardown_task, key)
        except BaseException:
            with self._lock:
                self._teardowns.discard(key)
            raise
        return True

    def _run_here(self, key: str, *, job_name: str, run_config: dict[str, Any] | None = None) -> RunOutcome:
        return materialize_population(
            key, instance=self.instance(), job_name=job_name, run_config=run_config, tags={ACTOR_TAG: "api"}
        )

    def _teardown_task(self, key: str) -> None:
        try:
            # On this worker thread, in process: teardown_job runs to completion before the next operation.
            populations.teardown(key, store=self.store(), instance=self.instance(), launch=self._run_here, actor="api")
        except Exception as exc:  # recorded in the audit log by populations.teardown; keep the state visible
            log.warning("teardown of %s failed: %s", key, type(exc).__name__)
            self.store().set_population_status(key, "teardown_failed")
        finally:
            with self._lock:
                self._teardowns.discard(key)


def context(request: Request) -> ApiContext:
    """The running API's context (a route dependency); 503 when the app was served without its lifespan."""
    ctx: ApiContext | None = getattr(request.app.state, "ctx", None)
    if ctx is None:  # served without its lifespan: fail closed
        raise ApiProblem(503, "misconfigured", "the API was started without its lifespan (use `azt3knet api serve`)")
    return ctx


Ctx = Annotated[ApiContext, Depends(context)]
