"""`describe_population` answers from the project store alone (a real SQLite store): mailboxes by state, the
credentials an export bundles, the desired rrsets of record; the assets only when a reader is given."""

from __future__ import annotations

from pathlib import Path

from azt3knet_pipeline.domain.models import PopulationSpec
from azt3knet_pipeline.services.populations import describe_population
from azt3knet_pipeline.store.repository import Store


def test_describe_reports_what_the_store_holds(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'store.db'}")
    store.register_population("pop-a", PopulationSpec(count=3, seed="9", country="ES"))
    bare = describe_population("pop-a", store=store)
    assert (bare["status"], bare["mailboxes"], bare["credentials"], bare["desired_rrsets"]) == (
        "registered",
        {},
        0,
        None,
    )
    assert "assets" not in bare

    rows = [(f"a{i}@pop-a.example.test", f"id-{i}", "ciphertext") for i in range(3)]
    store.record_mailbox_intents("pop-a", rows)
    store.set_mailbox_states([rows[0][0], rows[1][0]], "active")
    rrsets = [{"subname": "pop-a", "type": "MX", "ttl": 3600, "records": ["10 mail.example.test."]}]
    digest = store.save_desired_rrsets("pop-a", "example.test", rrsets)

    info = describe_population("pop-a", store=store, read_assets=lambda key: {"agent_profiles": {"run_id": key}})
    assert info["mailboxes"] == {"active": 2, "intent": 1}
    assert info["credentials"] == 2
    desired = info["desired_rrsets"]
    assert (desired["zone"], desired["count"], desired["hash"]) == ("example.test", 1, digest)
    assert desired["updated_at"].endswith("Z")
    assert info["assets"] == {"agent_profiles": {"run_id": "pop-a"}}
