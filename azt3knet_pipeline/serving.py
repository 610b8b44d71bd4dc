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


def _bound_socket(host: str) -> socket.socket:
    """A TCP socket bound to a free port of `host`, set up as uvicorn sets up its own (it listens on it)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, 0))
    except OSError:
        sock.close()
        raise
    return sock


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
    # A free port is bound here and handed to uvicorn, so no other socket can take it between choosing and
    # listening (servers start side by side in tests and in the API's process).
    sockets: list[socket.socket] | None = None
    if not port:
        sockets = [_bound_socket(host)]
        port = int(sockets[0].getsockname()[1])
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan=lifespan)
    server = uvicorn.Server(config)

    def run() -> None:
        try:
            # uvicorn exits when the app's startup fails; the caller gets the RuntimeError below instead.
            with contextlib.suppress(SystemExit):
                server.run(sockets=sockets)
        finally:
            for sock in sockets or ():
                sock.close()

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
