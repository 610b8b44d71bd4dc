"""Serve the API from a background thread on loopback (tests, benchmarks). Production: `azt3knet api serve`."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import FastAPI

from azt3knet_pipeline.serving import RunningServer, serve_in_thread

ACCESS_LOGGER = "uvicorn.access"


class DropQueryStrings(logging.Filter):
    """Rewrites uvicorn access-log records so the logged path has no query string: a credential or anything
    else a client put in a URL never reaches the log. uvicorn passes (client, method, path, version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True


def install_access_log_filter() -> None:
    """Attach DropQueryStrings to uvicorn's access logger once (the API's lifespan calls it)."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(existing, DropQueryStrings) for existing in logger.filters):
        logger.addFilter(DropQueryStrings())


def serve_api_in_thread(
    app: FastAPI | None = None, host: str = "127.0.0.1", port: int | None = None, startup_timeout: float = 30.0
) -> RunningServer:
    """Start the API (a fresh `create_app()` by default) with its lifespan, and wait until it accepts
    connections. Raises RuntimeError if the app refuses to start (e.g. no AZT3KNET_ADMIN_TOKEN)."""
    from azt3knet_pipeline.api.app import create_app

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
