"""What an operator sees in the Dagster UI after using the CLI, and what a UI launch does without settings.

- `azt3knet populate --create-mailboxes` and `azt3knet teardown --yes` (real subprocesses, against the stand-ins)
  start runs of the project's code location: the real `dagster-webserver` lists the populate run on
  `populate_job`'s page (the job's own runs, as its Runs tab, Overview timeline and sparklines query them), the
  teardown on `teardown_job`'s, and the `mailboxes` partition's latest materialization says it was torn down.
- Headless Chromium renders the job page with the CLI's run listed (screenshot kept in the test's temp dir).
- A launch as the UI makes it (GraphQL `launchRun` with the launchpad's scaffolded config for a new partition),
  by a webserver whose environment lacks SECRET_KEY_FOR_KV_ENC, fails in its first step naming the variable,
  and registers nothing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from dagster import DagsterInstance, RunsFilter
from helpers_dagster import graphql, running_daemon, running_webserver
from helpers_env import isolate_environment, reset_caches
from test_ui_browser import _chromium, png_facts, rendered_dom, screenshot

from azt3knet_pipeline.orchestration.instance import get_instance
from azt3knet_pipeline.sandbox.run import Sandbox, running_sandbox
from azt3knet_pipeline.settings import get_settings
from azt3knet_pipeline.store.repository import Store
from tests.helpers_sandbox import azt3knet, domain_mailboxes, mail_domain

pytestmark = pytest.mark.slow

LOCATION = "azt3knet_pipeline.definitions:defs"
REPOSITORY = "__repository__"
KEY = "ui-native"

JOB_RUNS = """
query ($job: String!, $location: String!, $repository: String!) {
  pipelineOrError(params: {pipelineName: $job, repositoryName: $repository, repositoryLocationName: $location}) {
    __typename ... on Pipeline { runs(limit: 20) { runId status tags { key value } } } } }
"""

LATEST_MAILBOXES = """
query ($partition: String!) { assetOrError(assetKey: {path: ["mailboxes"]}) { __typename ... on Asset {
  assetMaterializations(partitions: [$partition], limit: 1) { runId partition
    metadataEntries { label ... on TextMetadataEntry { text } ... on IntMetadataEntry { intValue } } } } } }
"""

SCAFFOLD = """
query ($location: String!, $repository: String!, $partition: String!) {
  partitionSetOrError(repositorySelector: {repositoryLocationName: $location, repositoryName: $repository},
                      partitionSetName: "populate_job_partition_set") {
    __typename ... on PartitionSet { partition(partitionName: $partition) { runConfigOrError {
      __typename ... on PartitionRunConfig { yaml } } } } } }
"""

ADD_PARTITION = """
mutation ($location: String!, $repository: String!, $partition: String!) {
  addDynamicPartition(repositorySelector: {repositoryLocationName: $location, repositoryName: $repository},
                      partitionsDefName: "population", partitionKey: $partition) { __typename } }
"""

LAUNCH = """
mutation ($params: ExecutionParams!) { launchRun(executionParams: $params) { __typename
  ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } ... on RunConfigValidationInvalid {
    errors { message } } } }
"""

RUN_STATE = """
query ($runId: ID!) { runOrError(runId: $runId) { __typename ... on Run { status
  stepStats { stepKey status }
  eventConnection(afterCursor: null) { events { __typename ... on ExecutionStepFailureEvent { stepKey
    error { message causes { message } } } } } } } }
"""


def _cli_runs(instance: DagsterInstance, job: str, key: str) -> list[str]:
    return [run.run_id for run in instance.get_runs(filters=RunsFilter(job_name=job, tags={"dagster/partition": key}))]


def _populate_and_tear_down(sandbox: Sandbox) -> tuple[str, str]:
    """The CLI as an operator runs it; returns (populate run id, teardown run id) from the instance."""
    populate = azt3knet(
        "populate", "-n", "4", "--seed", "7", "--country", "ES", "--key", KEY, "--create-mailboxes", "--quiet"
    )
    assert populate.returncode == 0, populate.stderr[-2000:]
    assert len(domain_mailboxes(sandbox, mail_domain(KEY))) == 4
    teardown = azt3knet("teardown", KEY, "--yes")
    assert teardown.returncode == 0, teardown.stderr[-2000:]
    assert domain_mailboxes(sandbox, mail_domain(KEY)) == {}
    instance = get_instance(get_settings())
    (populate_run,) = _cli_runs(instance, "populate_job", KEY)
    (teardown_run,) = _cli_runs(instance, "teardown_job", KEY)
    return populate_run, teardown_run


def _job_runs(base_url: str, job: str) -> list[dict]:
    variables = {"job": job, "location": LOCATION, "repository": REPOSITORY}
    found = graphql(base_url, JOB_RUNS, variables)["pipelineOrError"]
    assert found["__typename"] == "Pipeline", found
    return found["runs"]


@dataclass(frozen=True)
class JobPages:
    base_url: str
    populate_run: str
    teardown_run: str


@pytest.fixture(scope="module")
def job_pages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JobPages]:
    """One instance where the CLI populated and tore down KEY against the stand-ins, served by the real
    dagster-webserver. The job-page tests only read it, so they share one populate, teardown and webserver start
    (a test environment of its own, like `isolated_env`'s, for the module)."""
    root = tmp_path_factory.mktemp("job-pages")
    with pytest.MonkeyPatch.context() as monkeypatch, running_sandbox() as sandbox:
        isolate_environment(monkeypatch, root / "azt3knet-home")
        for name, value in sandbox.env.items():
            monkeypatch.setenv(name, value)
        reset_caches()
        populate_run, teardown_run = _populate_and_tear_down(sandbox)
        with running_webserver(root / "webserver.log") as base_url:
            yield JobPages(base_url, populate_run, teardown_run)
    reset_caches()


@pytest.mark.xdist_group("dagster-native-job-pages")
def test_cli_populate_and_teardown_show_on_the_job_pages(job_pages: JobPages) -> None:
    base_url, populate_run, teardown_run = job_pages.base_url, job_pages.populate_run, job_pages.teardown_run
    # The job page's Runs tab (and the Overview timeline, the sparklines) list the job's runs of this code
    # location: the CLI's runs must be among them.
    populate_runs = {run["runId"]: run for run in _job_runs(base_url, "populate_job")}
    assert populate_run in populate_runs
    assert populate_runs[populate_run]["status"] == "SUCCESS"
    assert {"key": "dagster/partition", "value": KEY} in populate_runs[populate_run]["tags"]
    teardown_runs = {run["runId"]: run["status"] for run in _job_runs(base_url, "teardown_job")}
    assert teardown_runs == {teardown_run: "SUCCESS"}

    asset = graphql(base_url, LATEST_MAILBOXES, {"partition": KEY})["assetOrError"]
    (latest,) = asset["assetMaterializations"]
    entries = {entry["label"]: entry for entry in latest["metadataEntries"]}
    assert latest["runId"] == teardown_run and latest["partition"] == KEY
    assert entries["status"]["text"] == "torn_down"
    assert entries["mailboxes"]["intValue"] == 0
    assert entries["mailboxes_removed"]["intValue"] == 4


@pytest.mark.xdist_group("dagster-native-job-pages")
def test_job_page_lists_the_cli_run_in_headless_chromium(job_pages: JobPages, tmp_path: Path) -> None:
    binary = _chromium()
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    # What clicking "Skip" on the first-visit community dialog does (the only write, a UI flag), so the
    # screenshot shows the page.
    assert graphql(job_pages.base_url, "mutation { setNuxSeen }")["setNuxSeen"] is True
    url = f"{job_pages.base_url}/locations/{LOCATION}/jobs/populate_job/runs"
    # The runs table shows a run by the first 8 characters of its id.
    rendered_dom(binary, profile, url, ["populate_job", job_pages.populate_run[:8]])
    png = screenshot(binary, profile, url, tmp_path / "populate_job_runs.png")
    width, height, distinct = png_facts(png)
    assert (width, height) == (1400, 1000)
    assert distinct > 32, f"{png} looks blank"


def _wait_finished(base_url: str, run_id: str, timeout: float = 240.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = graphql(base_url, RUN_STATE, {"runId": run_id})["runOrError"]
        if run["status"] in {"SUCCESS", "FAILURE", "CANCELED"}:
            return run
        time.sleep(1)
    pytest.fail(f"run {run_id} did not finish within {timeout:.0f}s")


def test_ui_launch_without_the_key_fails_in_its_first_step(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    key = "ui-launch"
    settings = get_settings()
    get_instance(settings).dispose()  # the instance directory and dagster.yaml the CLI would write
    store_url = settings.resolved_database_url
    monkeypatch.delenv("SECRET_KEY_FOR_KV_ENC")
    # What a UI user reaches: a webserver (and the run it launches) without the key in its environment, and
    # the Mailcow/deSEC settings present, so the key is the one thing missing.
    monkeypatch.setenv("MAILCOW_API_KEY", "configured-but-unused")
    monkeypatch.setenv("DESEC_TOKEN", "configured-but-unused")
    with running_daemon(tmp_path / "daemon.log"), running_webserver(tmp_path / "webserver.log") as base_url:
        repo = {"location": LOCATION, "repository": REPOSITORY}
        added = graphql(base_url, ADD_PARTITION, {**repo, "partition": key})["addDynamicPartition"]
        assert added["__typename"] == "AddDynamicPartitionSuccess", added
        scaffold = graphql(base_url, SCAFFOLD, {**repo, "partition": key})["partitionSetOrError"]
        run_config = scaffold["partition"]["runConfigOrError"]
        assert run_config["__typename"] == "PartitionRunConfig", run_config
        # The launchpad starts a new partition from an example spec.
        assert "population_spec" in run_config["yaml"] and "count" in run_config["yaml"]
        params = {
            "selector": {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "jobName": "populate_job"},
            "runConfigData": run_config["yaml"],
            "mode": "default",
            "executionMetadata": {"tags": [{"key": "dagster/partition", "value": key}]},
        }
        launched = graphql(base_url, LAUNCH, {"params": params})["launchRun"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        run = _wait_finished(base_url, launched["run"]["runId"])

    assert run["status"] == "FAILURE"
    steps = {stat["stepKey"]: stat["status"] for stat in run["stepStats"]}
    assert steps.get("population_spec") == "FAILURE", steps
    assert all(status != "SUCCESS" for status in steps.values()), steps
    failures = [
        event for event in run["eventConnection"]["events"] if event["__typename"] == "ExecutionStepFailureEvent"
    ]
    assert failures and failures[0]["stepKey"] == "population_spec"
    error = failures[0]["error"]
    messages = [error["message"], *[cause["message"] for cause in error["causes"]]]
    # One line names the variable (the resource's own error, as Dagster reports the step's failure).
    lines = [line for message in messages for line in message.splitlines() if "SECRET_KEY_FOR_KV_ENC" in line]
    assert lines, messages
    assert lines[0].split("SECRET_KEY_FOR_KV_ENC", 1)[1].startswith(" is not set ("), lines[0]
    assert "this run needs it for credential_export, mailboxes" in lines[0], lines[0]
    # Nothing was registered: the store has no population under the key.
    assert Store.open(store_url).get_population(key) is None
    assert os.environ.get("SECRET_KEY_FOR_KV_ENC") is None
