"""Serve the API from a background thread on loopback (tests, benchmarks). Production: `azt3knet api serve`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import FastAPI

from azt3knet_pipeline.api.app import create_app
from azt3knet_pipeline.serving import RunningServer, serve_in_thread


def serve_api_in_thread(
    app: FastAPI | None = None, host: str = "127.0.0.1", port: int | None = None, startup_timeout: float = 30.0
) -> RunningServer:
    """Start the API (a fresh `create_app()` by default) with its lifespan, and wait until it accepts
    connections. Raises RuntimeError if the app refuses to start (e.g. no AZT3KNET_ADMIN_TOKEN)."""
    app = app or create_app()
    return serve_in_thread(app, host, port, startup_timeout, lifespan="on", name="the API")


@contextmanager
def running_api(
    app: FastAPI | None = None, host: str = "127.0.0.1", port: int | None = None
) -> Iterator[RunningServer]:
    server = serve_api_in_thread(app, host, port)
    try:
        yield server
    finally:
        server.stop(timeout=60.0)
