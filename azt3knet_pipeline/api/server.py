"""Serve the API from a background thread on loopback (tests, benchmarks). Production: `azt3knet api serve`."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

from azt3knet_pipeline.sandbox.server import RunningServer, free_port


def serve_api_in_thread(
    app: FastAPI | None = None, host: str = "127.0.0.1", port: int | None = None, startup_timeout: float = 30.0
) -> RunningServer:
    """Start the API (a fresh `create_app()` by default) with its lifespan, and wait until it accepts
    connections. Raises RuntimeError if the app refuses to start (e.g. no AZT3KNET_ADMIN_TOKEN)."""
    from azt3knet_pipeline.api.app import create_app

    app = app or create_app()
    port = port or free_port(host)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)

    def run() -> None:
        # uvicorn exits when the app's startup fails; the caller gets the RuntimeError below instead.
        with contextlib.suppress(SystemExit):
            server.run()

    thread = threading.Thread(target=run, name=f"azt3knet-api-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError(f"the API on {host}:{port} did not start (see the log above)")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the API on {host}:{port} did not start within {startup_timeout}s")
        time.sleep(0.01)
    return RunningServer(server=server, thread=thread, host=host, port=port)


@contextmanager
def running_api(
    app: FastAPI | None = None, host: str = "127.0.0.1", port: int | None = None
) -> Iterator[RunningServer]:
    server = serve_api_in_thread(app, host, port)
    try:
        yield server
    finally:
        server.stop(timeout=60.0)
