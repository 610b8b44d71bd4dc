"""The REST API (FastAPI): populate, status, recreate, teardown, credentials. Admin bearer token on every route
but `GET /healthz` (api/auth.py); errors and their statuses in api/errors.py; the OpenAPI document, served at
`/openapi.json`, in api/openapi.py; the routes in api/routes/. Serve with `azt3knet api serve`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

from azt3knet_pipeline.api.access_log import install_access_log_filter
from azt3knet_pipeline.api.auth import admin_token, install_authentication
from azt3knet_pipeline.api.context import ApiContext
from azt3knet_pipeline.api.errors import install_error_handlers
from azt3knet_pipeline.api.openapi import install_openapi
from azt3knet_pipeline.api.routes import health, populations, runs
from azt3knet_pipeline.errors import AdminTokenError
from azt3knet_pipeline.orchestration.launch import executor_mode
from azt3knet_pipeline.private_files import restrict_umask
from azt3knet_pipeline.settings import get_settings

log = logging.getLogger("azt3knet_pipeline.api")

API_VERSION = "1"


def lifespan_for(executor: str | None) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The API process's start-up and shutdown: settings read once, the token required, runs executed by
    `executor` (default AZT3KNET_API_RUN_EXECUTOR)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings = get_settings()
        try:
            token = admin_token(settings)  # the server refuses to start: never open by default
        except AdminTokenError as exc:
            log.error("%s", exc)
            raise
        install_access_log_filter()
        previous_umask = restrict_umask()  # the store, Dagster's files and exports the API makes: 0600 / 0700
        app.state.ctx = ApiContext(settings, token, executor_mode(executor or settings.api_run_executor))
        try:
            yield
        finally:
            ctx, app.state.ctx = app.state.ctx, None
            await run_in_threadpool(ctx.close)
            os.umask(previous_umask)

    return lifespan


def create_app(*, executor: str | None = None) -> FastAPI:
    """The API application; `executor` (auto|daemon|embedded) overrides AZT3KNET_API_RUN_EXECUTOR."""
    app = FastAPI(
        title="Azt3kNet pipeline API",
        version=API_VERSION,
        description=(
            "Synthetic populations with real mailboxes and DNS. Every route but `GET /healthz` needs "
            "`Authorization: Bearer <AZT3KNET_ADMIN_TOKEN>`. See docs/api.md."
        ),
        lifespan=lifespan_for(executor),
        # Every route but /healthz needs the token, the OpenAPI document included; no browser docs pages.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app)
    install_authentication(app)
    app.include_router(health.router)
    app.include_router(populations.router)
    app.include_router(runs.router)
    install_openapi(app)
    return app


app = create_app()
