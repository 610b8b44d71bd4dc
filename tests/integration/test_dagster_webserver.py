"""The Dagster UI's backend as a user reaches it: `dagster-webserver` on loopback for the project's workspace.

A partition is materialized through the population use cases (the whole graph, against the Mailcow/deSEC
stand-ins);
then the real webserver is started for `workspace.yaml` on the same instance, and its GraphQL API must show
the asset graph, the population partition and the materialization metadata, and no secret anywhere.

`materialize_population` is also used by test_ui_browser.py; the webserver is started by tests/helpers_dagster.py.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import helpers_populations as populations
import pytest
from helpers_dagster import graphql, running_webserver

from azt3knet_pipeline.clients.factory import secret_box
from azt3knet_pipeline.domain.generation import generate_population
from azt3knet_pipeline.domain.models import PopulationSpec
from azt3knet_pipeline.sandbox.run import running_sandbox
from azt3knet_pipeline.settings import get_settings

pytestmark = pytest.mark.slow

ASSETS = ("population_spec", "agent_profiles", "mailboxes", "dns_records", "credential_export")
SPEC = PopulationSpec(count=6, seed="ui", country="ES", interests=["jazz", "hiking"])
KEY = "seed-ui"


@dataclass
class Materialized:
    key: str
    run_id: str
    content_hash: str
    secrets: list[str]  # every secret the run touched: none may show in the UI


def materialize_population(monkeypatch: pytest.MonkeyPatch) -> Materialized:
    """Register SPEC under KEY and run populate_job against the stand-ins, in the test's own instance."""
    with running_sandbox() as sandbox:
        for name, value in sandbox.env.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        populations.register_population(SPEC, KEY, actor="test")
        outcome = populations.materialize_population(KEY, job_name="populate_job")
        assert outcome.success, outcome.error
        settings = get_settings()
        box = secret_box(settings)
        passwords = [box.decrypt(row.password_ciphertext) for row in populations.open_store().list_mailboxes(KEY)]
        assert len(passwords) == SPEC.count
        secrets = [
            *passwords,
            *os.environ["SECRET_KEY_FOR_KV_ENC"].split(","),
            sandbox.env["MAILCOW_API_KEY"],
            sandbox.env["DESEC_TOKEN"],
        ]
    return Materialized(KEY, outcome.run_id, outcome.metadata["agent_profiles"]["content_hash"], secrets)


@pytest.fixture
def materialized_population(monkeypatch: pytest.MonkeyPatch) -> Materialized:
    return materialize_population(monkeypatch)


ASSET_GRAPH = """
{ assetNodes { assetKey { path } groupName dependencyKeys { path }
    partitionDefinition { type dimensionTypes { dynamicPartitionsDefinitionName } } } }
"""

PARTITIONS = """
query ($path: [String!]!) { assetNodeOrError(assetKey: {path: $path}) { __typename ... on AssetNode {
    partitionKeys partitionDefinition { name type } } } }
"""

METADATA_FRAGMENT = """
  metadataEntries { __typename label
    ... on TextMetadataEntry { text } ... on IntMetadataEntry { intValue } ... on FloatMetadataEntry { floatValue }
    ... on BoolMetadataEntry { boolValue } ... on JsonMetadataEntry { jsonString }
    ... on MarkdownMetadataEntry { mdStr } ... on PathMetadataEntry { path } }
"""

LATEST = (
    "query ($path: [String!]!, $partition: String!) { assetOrError(assetKey: {path: $path}) { __typename "
    "... on Asset { assetMaterializations(partitions: [$partition], limit: 1) { runId partition "
    + METADATA_FRAGMENT
    + " } } } }"
)

RUN = """
query ($runId: ID!) { runOrError(runId: $runId) { __typename ... on Run {
    status jobName tags { key value } } } }
"""


def _entries(materialization: dict) -> dict[str, dict]:
    return {entry["label"]: entry for entry in materialization["metadataEntries"]}


def test_webserver_graphql_shows_graph_partition_and_metadata(
    materialized_population: Materialized, tmp_path: Path
) -> None:
    pop = materialized_population
    with running_webserver(tmp_path / "webserver.log") as base_url:
        nodes = {"/".join(node["assetKey"]["path"]): node for node in graphql(base_url, ASSET_GRAPH)["assetNodes"]}
        assert set(ASSETS) <= set(nodes)
        deps = {name: {"/".join(d["path"]) for d in node["dependencyKeys"]} for name, node in nodes.items()}
        assert "population_spec" in deps["agent_profiles"]
        assert "agent_profiles" in deps["mailboxes"]
        assert "mailboxes" in deps["dns_records"]
        assert {"mailboxes", "dns_records"} & deps["credential_export"]
        for name in ASSETS:
            assert nodes[name]["groupName"] == "population"
            dims = nodes[name]["partitionDefinition"]["dimensionTypes"]
            assert [d["dynamicPartitionsDefinitionName"] for d in dims] == ["population"]

        node = graphql(base_url, PARTITIONS, {"path": ["agent_profiles"]})["assetNodeOrError"]
        assert node["partitionDefinition"] == {"name": "population", "type": "DYNAMIC"}
        assert node["partitionKeys"] == [pop.key]

        latest: dict[str, dict] = {}
        for name in ASSETS:
            asset = graphql(base_url, LATEST, {"path": [name], "partition": pop.key})["assetOrError"]
            assert asset["__typename"] == "Asset", (name, asset)
            (materialization,) = asset["assetMaterializations"]
            assert materialization["runId"] == pop.run_id
            assert materialization["partition"] == pop.key
            latest[name] = _entries(materialization)
        profiles = latest["agent_profiles"]
        assert (
            profiles["content_hash"]["text"]
            == pop.content_hash
            == generate_population(SPEC.with_version(2), KEY).content_hash
        )
        assert profiles["row_count"]["intValue"] == SPEC.count
        assert latest["mailboxes"]["created"]["intValue"] == SPEC.count
        assert latest["credential_export"]["encrypted"]["boolValue"] is True

        run = graphql(base_url, RUN, {"runId": pop.run_id})["runOrError"]
        assert run["__typename"] == "Run" and run["status"] == "SUCCESS" and run["jobName"] == "populate_job"
        assert {"key": "dagster/partition", "value": pop.key} in run["tags"]

        # Nothing the UI can show holds a secret: metadata of every asset, the run and its tags.
        shown = json.dumps([latest, run])
        for secret in pop.secrets:
            assert secret not in shown
