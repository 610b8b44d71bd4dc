"""Serve an ASGI app on loopback from a background thread: the API (`api.server`), the stand-ins, tests, benchmarks."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import uvicorn


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningServer:
    """A uvicorn server running in a daemon thread. `url` has no trailing slash."""

    server: uvicorn.Server
    thread: threading.Thread
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.stop()


def serve_in_thread(
    app: Any,
    host: str = "127.0.0.1",
    port: int | None = None,
    startup_timeout: float = 15.0,
    *,
    lifespan: str = "off",
    name: str = "uvicorn",
) -> RunningServer:
    """Start `app` with uvicorn on `host:port` (a free port when None) and wait until it accepts connections.

    With `lifespan="on"` the app's startup runs first; if it refuses to start, this raises RuntimeError.
    """
    port = port or free_port(host)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan=lifespan)
    server = uvicorn.Server(config)

    def run() -> None:
        # uvicorn exits when the app's startup fails; the caller gets the RuntimeError below instead.
        with contextlib.suppress(SystemExit):
            server.run()

    thread = threading.Thread(target=run, name=f"{name}-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError(f"{name} on {host}:{port} did not start (see the log above)")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"{name} on {host}:{port} did not start within {startup_timeout}s")
        time.sleep(0.01)
    return RunningServer(server=server, thread=thread, host=host, port=port)
