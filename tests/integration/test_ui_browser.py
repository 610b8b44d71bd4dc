"""The Dagster UI in a real browser: headless Chromium (Debian's `chromium`, installed by .ci/run) opens the
asset page and the asset graph served by `dagster-webserver` for the project's workspace, after a partition was
materialized. The rendered DOM (after the UI's JavaScript ran) must name the assets, the partition and the
content hash; screenshots are kept under the test's temp dir."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import httpx
import pytest
from helpers_dagster import graphql, running_webserver
from test_dagster_webserver import ASSETS, Materialized, materialize_population

pytestmark = pytest.mark.slow

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
    "--virtual-time-budget=15000",
)
ATTEMPTS = 3  # the UI is a single-page app: a slow CI box may need a second load to finish its queries


def _chromium() -> str:
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no Chromium on this machine (.ci/run installs Debian's `chromium`); cannot open the UI")


def _run_chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=90,
        env={**os.environ, "HOME": str(profile)},
    )


def rendered_dom(binary: str, profile: Path, url: str, expected: list[str]) -> str:
    """The DOM after JavaScript ran (`--dump-dom`); loaded again (bounded) until every expected text shows."""
    dom = ""
    for _ in range(ATTEMPTS):
        proc = _run_chromium(binary, profile, "--dump-dom", url)
        dom = proc.stdout
        if all(text in dom for text in expected):
            return dom
    missing = [text for text in expected if text not in dom]
    pytest.fail(f"{url}: rendered page lacks {missing}; {len(dom)} bytes of DOM; chromium said:\n{proc.stderr[-2000:]}")


def screenshot(binary: str, profile: Path, url: str, out: Path) -> Path:
    proc = _run_chromium(binary, profile, f"--screenshot={out}", url)
    assert out.exists(), proc.stderr[-2000:]
    return out


def png_facts(path: Path) -> tuple[int, int, int]:
    """(width, height, distinct byte values in the pixel data): a blank page has almost none."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    pos, idat = 8, b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        if kind == b"IDAT":
            idat += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    return width, height, len(set(zlib.decompress(idat)))


def test_asset_page_and_graph_render_in_headless_chromium(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    binary = _chromium()
    pop: Materialized = materialize_population(monkeypatch)
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    with running_webserver(tmp_path / "webserver.log") as base_url:
        # What clicking "Skip" on the first-visit community dialog does, so the screenshots show the page.
        assert graphql(base_url, "mutation { setNuxSeen }")["setNuxSeen"] is True
        assert httpx.get(base_url, timeout=30).status_code == 200

        asset_url = f"{base_url}/assets/agent_profiles?partition={pop.key}"
        dom = rendered_dom(binary, profile, asset_url, ["agent_profiles", "content_hash", pop.content_hash, pop.key])
        # The asset page shows its neighbours in the graph too.
        assert "population_spec" in dom and "mailboxes" in dom
        asset_png = screenshot(binary, profile, asset_url, tmp_path / "asset_agent_profiles.png")

        graph_url = f"{base_url}/asset-groups"
        rendered_dom(binary, profile, graph_url, list(ASSETS))
        graph_png = screenshot(binary, profile, graph_url, tmp_path / "asset_graph.png")

        for secret in pop.secrets:
            assert secret not in dom

    for png in (asset_png, graph_png):
        width, height, distinct = png_facts(png)
        assert (width, height) == (1400, 1000)
        assert distinct > 32, f"{png} looks blank"
