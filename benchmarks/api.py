"""Preview latency of the REST API: POST /api/populate with `preview: true` for N profiles, R requests.

Starts `azt3knet api serve` in a subprocess on a free loopback port (throwaway AZT3KNET_HOME, generated admin
token), warms it up, then sends the requests one after another over one keep-alive connection and prints the
median, p95, min and max latency. Preview writes nothing, so the throwaway home stays empty.
Usage: python benchmarks/api.py [--count 100] [--requests 200] [--url URL --token TOKEN]
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from azt3knet_pipeline.serving import free_port


def start_server(home: Path, token: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "AZT3KNET_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "AZT3KNET_ADMIN_TOKEN": token,
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "azt3knet_pipeline.cli.app",
            "api",
            "serve",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        if proc.poll() is not None:
            raise SystemExit("the API server exited during startup")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise SystemExit("the API server did not start within 120 s")
        time.sleep(0.2)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))  # nearest rank
    return ordered[index]


def measure(url: str, token: str, count: int, requests: int, warmup: int) -> list[float]:
    body = {"count": count, "seed": 2026, "country": "ES", "preview": True}
    latencies: list[float] = []
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
        for i in range(warmup + requests):
            body["seed"] = 2026 + i  # a different population each time: no cache can help
            started = time.perf_counter()
            response = client.post("/api/populate", json=body)
            elapsed = time.perf_counter() - started
            if response.status_code != 200 or response.json()["count"] != count:
                raise SystemExit(f"unexpected answer {response.status_code}: {response.text[:300]}")
            if i >= warmup:
                latencies.append(elapsed)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100, help="profiles per preview")
    parser.add_argument("--requests", type=int, default=200, help="timed requests")
    parser.add_argument("--warmup", type=int, default=10, help="untimed requests first")
    parser.add_argument("--url", help="an already running API (default: start one)")
    parser.add_argument("--token", help="its admin token (with --url)")
    args = parser.parse_args()

    if args.url:
        if not args.token:
            parser.error("--url needs --token")
        latencies = measure(args.url.rstrip("/"), args.token, args.count, args.requests, args.warmup)
        where = args.url
    else:
        token = secrets.token_urlsafe(32)
        with tempfile.TemporaryDirectory(prefix="azt3knet-bench-") as tmp:
            home = Path(tmp) / "home"
            proc, url = start_server(home, token)
            try:
                latencies = measure(url, token, args.count, args.requests, args.warmup)
            finally:
                proc.terminate()
                proc.wait(timeout=60)
            wrote = home.exists()
        where = f"azt3knet api serve (subprocess, {url}); preview wrote {'SOMETHING' if wrote else 'nothing'}"

    ms = [value * 1000 for value in latencies]
    print(f"preview latency, {args.count} profiles, {len(ms)} sequential requests ({where})")
    print(f"  median {statistics.median(ms):8.2f} ms")
    print(f"  p95    {percentile(ms, 0.95):8.2f} ms")
    print(f"  min    {min(ms):8.2f} ms   max {max(ms):8.2f} ms   mean {statistics.fmean(ms):8.2f} ms")
    print(f"  throughput {len(ms) / sum(latencies):.1f} requests/s (one client, sequential)")


if __name__ == "__main__":
    main()
