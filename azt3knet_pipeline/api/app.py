"""The REST API (FastAPI): populate, status, recreate, teardown, credentials. Admin bearer token on every route
but `GET /healthz`; the OpenAPI document is served at `/openapi.json`. Serve with `azt3knet api serve`.

Status codes: 200/202 success; 401 missing or wrong token; 404 unknown population or run; 409 a key already
registered with a different spec; 422 invalid input (one entry per field); 502 Mailcow/deSEC failed; 503 the
server is misconfigured (a missing key or URL; never the client's fault). Handlers are sync functions: FastAPI
runs them in its thread pool, so the blocking store and Dagster calls never stall the event loop.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from azt3knet_pipeline.api.context import ApiContext
from azt3knet_pipeline.api.models import (
    POPULATION_KEY_PATTERN,
    RUN_ID_PATTERN,
    CredentialBundle,
    EncryptedCredentials,
    ErrorBody,
    Health,
    PlaintextCredentials,
    PopulateRequest,
    PopulationDetail,
    PopulationPage,
    PopulationSummary,
    PreviewResponse,
    RunDetail,
    RunInfo,
    RunSubmitted,
    SpecOut,
    TeardownAccepted,
    ValidationErrorBody,
)
from azt3knet_pipeline.api.security import AdminTokenError, admin_token, token_in_query
from azt3knet_pipeline.api.server import install_access_log_filter
from azt3knet_pipeline.clients.factory import ConfigurationError
from azt3knet_pipeline.clients.http import ApiError
from azt3knet_pipeline.domain.models import Population, max_population
from azt3knet_pipeline.orchestration.launch import SubmittedRun, executor_mode_from_env
from azt3knet_pipeline.orchestration.results import last_run, run_detail
from azt3knet_pipeline.private_files import restrict_umask
from azt3knet_pipeline.services import populations
from azt3knet_pipeline.settings import get_settings
from azt3knet_pipeline.store.crypto import DecryptionError, KeyConfigError
from azt3knet_pipeline.store.repository import PopulationConflict, PopulationNotFound

log = logging.getLogger("azt3knet_pipeline.api")

API_VERSION = "1"
MAX_PAGE = 500
MAX_OFFSET = 1_000_000_000

PopulationKey = Annotated[
    str,
    Path(
        pattern=POPULATION_KEY_PATTERN, max_length=63, description="Population key (a DNS label)", examples=["seed-42"]
    ),
]


class ApiProblem(Exception):
    """An error answered as `{"error": ..., "detail": ...}` with `status`."""

    def __init__(self, status: int, error: str, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail
        self.headers = headers


def _error(status: int, error: str, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": error, "detail": detail}, headers=headers)


def _issues(errors: list[Any], prefix: tuple[str | int, ...] = ()) -> list[dict[str, Any]]:
    """Validation errors as `{loc, msg, type}` (no echo of the input, no exception objects)."""
    issues = []
    for error in errors:
        loc = [part if isinstance(part, int) else str(part) for part in (*prefix, *error.get("loc", ()))]
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        issues.append({"loc": loc, "msg": message, "type": str(error.get("type", "value_error"))})
    return issues


# -- responses declared for the OpenAPI document ----------------------------------------------------------------


def _declare(*statuses: int) -> dict[int | str, dict[str, Any]]:
    described = {
        401: "Missing or wrong bearer token",
        404: "Unknown population or run",
        409: "The key is registered with a different spec",
        422: "Invalid input: one entry per field",
        502: "Mailcow or deSEC answered with an error",
        503: "The server is misconfigured (a required setting is missing)",
    }
    return {
        status: {"model": ValidationErrorBody if status == 422 else ErrorBody, "description": described[status]}
        for status in statuses
    }


# -- dependencies ------------------------------------------------------------------------------------------------

bearer = HTTPBearer(auto_error=False, description="AZT3KNET_ADMIN_TOKEN", scheme_name="AdminToken")


def context(request: Request) -> ApiContext:
    ctx: ApiContext | None = getattr(request.app.state, "ctx", None)
    if ctx is None:  # served without its lifespan: fail closed
        raise ApiProblem(503, "misconfigured", "the API was started without its lifespan (use `azt3knet api serve`)")
    return ctx


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def presented_token(authorization: str | None) -> str | None:
    scheme, _, credentials = (authorization or "").partition(" ")
    credentials = credentials.strip()
    return credentials if scheme.lower() == "bearer" and credentials else None


def reject(ctx: ApiContext, request: Request, presented: str | None, reason: str | None = None) -> JSONResponse:
    """Audit-log a failed authentication (never the presented token, never the query string) and answer 401.
    Blocking: call it from a worker thread."""
    reason = reason or ("missing" if presented is None else "invalid")
    client = _client_ip(request)
    try:
        ctx.store().audit("api", "auth.failed", request.url.path, "denied", {"client": client, "reason": reason})
    except Exception:
        log.exception("could not audit-log a failed authentication")
    log.warning("authentication failed (%s token) for %s from %s", reason, request.url.path, client)
    return _error(401, "unauthorized", "missing or invalid bearer token", headers={"WWW-Authenticate": "Bearer"})


def require_admin(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]
) -> None:
    """Declares the bearer scheme in the OpenAPI document and checks again (the middleware checked first)."""
    ctx = context(request)
    presented = credentials.credentials if credentials is not None else None
    if not ctx.tokens.matches(presented):
        raise ApiProblem(401, "unauthorized", "missing or invalid bearer token", headers={"WWW-Authenticate": "Bearer"})


Ctx = Annotated[ApiContext, Depends(context)]


def _summary(population: Population) -> PopulationSummary:
    return PopulationSummary(
        key=population.key,
        status=population.status,
        spec_hash=population.spec_hash,
        spec=SpecOut.model_validate(population.spec.canonical()),
    )


def _run_info(fields: dict[str, Any] | None) -> RunInfo | None:
    return RunInfo(**fields) if fields is not None else None


def _submitted(key: str, submitted: SubmittedRun, registered: bool = False) -> RunSubmitted:
    return RunSubmitted(
        key=key,
        run_id=submitted.run_id,
        job=submitted.job,
        executor=submitted.executor,
        registered=registered,
        status_url=f"/api/populations/{key}",
        run_url=f"/api/runs/{submitted.run_id}",
    )


# -- routes ------------------------------------------------------------------------------------------------------

router = APIRouter(prefix="/api", dependencies=[Depends(require_admin)], responses=_declare(401, 503))


@router.post(
    "/populate",
    status_code=202,
    response_model=RunSubmitted,
    responses={
        200: {"model": PreviewResponse, "description": "Preview: the profiles, nothing written"},
        **_declare(409, 422),
    },
    summary="Preview a population, or register it and submit a run of its partition",
)
def populate(body: PopulateRequest, ctx: Ctx) -> Any:
    try:  # the request model already ran the spec's validators; this only guards the conversion
        spec = body.spec()
        key = body.key or spec.default_key()
    except ValidationError as exc:
        raise RequestValidationError(_issues(exc.errors(), ("body",))) from None
    except ValueError as exc:
        raise RequestValidationError([{"loc": ["body", "key"], "msg": str(exc), "type": "value_error"}]) from None
    if body.preview:
        return _preview(ctx, spec, key)
    if body.create_mailboxes:  # the encryption key is checked by the use case, before anything is registered
        ctx.check_provisioning_config(needs_box=False)

    def launch(population_key: str, *, job_name: str, run_config: dict[str, Any] | None = None) -> SubmittedRun:
        submitted = ctx.launch(population_key, job_name=job_name, run_config=run_config)
        detail = {"run_id": submitted.run_id, "job": job_name, "executor": submitted.executor}
        ctx.store().audit("api", "run.submit", population_key, "ok", detail)
        return submitted

    try:  # a new population gets the latest generator, whose data also checks the locale and city
        outcome = populations.populate(
            spec,
            key,
            store=ctx.store(),
            settings=ctx.settings,
            instance=ctx.instance(),
            launch=launch,
            create_mailboxes=body.create_mailboxes,
            adopt_domain=body.adopt_domain,
            actor="api",
        )
    except ValidationError as exc:
        raise RequestValidationError(_issues(exc.errors(), ("body",))) from None
    return _submitted(key, outcome.run, registered=outcome.registered)


def _preview(ctx: ApiContext, spec: Any, key: str) -> JSONResponse:
    # Generation is prefix-stable (agent i is the same whatever the count), so the capped preview is exactly
    # the first profiles of the full population; only the whole population's hash is meaningful.
    returned = min(spec.count, ctx.settings.preview_limit)
    truncated = returned < spec.count
    generated = populations.preview_population(spec.model_copy(update={"count": returned}) if truncated else spec, key)
    body = PreviewResponse(
        key=key,
        count=spec.count,
        returned=returned,
        truncated=truncated,
        content_hash=None if truncated else generated.content_hash,
        profiles=generated.profiles(),
    )
    return JSONResponse(status_code=200, content=body.model_dump(mode="json"))


@router.get(
    "/populations",
    response_model=PopulationPage,
    responses=_declare(422),
    summary="List registered populations (oldest first)",
)
def list_populations(
    ctx: Ctx,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> PopulationPage:
    store = ctx.store()
    items = [_summary(p) for p in store.list_populations(offset=offset, limit=limit)]
    return PopulationPage(items=items, total=store.count_populations(), offset=offset, limit=limit)


@router.get(
    "/populations/{key}",
    response_model=PopulationDetail,
    responses=_declare(404, 422),
    summary="One population: spec, status, counts, last run and its state, DNS drift",
)
def get_population(key: PopulationKey, ctx: Ctx) -> PopulationDetail:
    population = ctx.store().require_population(key)
    desired = ctx.desired_rrsets(key)
    summary = _summary(population)
    return PopulationDetail(
        key=key,
        status=population.status,
        dns_pending_until=population.dns_pending_until,
        spec_hash=population.spec_hash,
        spec=summary.spec,
        mail_domain=ctx.settings.mail_domain_for(key),
        counts=ctx.counts(population, len(desired or [])),
        last_run=_run_info(last_run(ctx.instance(), key)),
        dns=ctx.dns_state(key, desired),
        last_teardown=ctx.last_teardown(key),
    )


@router.post(
    "/populations/{key}/recreate",
    status_code=202,
    response_model=RunSubmitted,
    responses=_declare(404, 422),
    summary="Re-materialize the whole graph of a population",
)
def recreate_population(key: PopulationKey, ctx: Ctx) -> RunSubmitted:
    ctx.store().require_population(key)
    ctx.check_provisioning_config(needs_box=False)  # the encryption key is checked by the use case
    submitted = populations.recreate(
        key, store=ctx.store(), settings=ctx.settings, instance=ctx.instance(), launch=ctx.launch, actor="api"
    )
    return _submitted(key, submitted)


@router.delete(
    "/populations/{key}",
    status_code=202,
    response_model=TeardownAccepted,
    responses=_declare(404, 422),
    summary="Tear down mailboxes, DKIM, mail domain and DNS (the population stays recreatable)",
)
def teardown_population(key: PopulationKey, ctx: Ctx) -> TeardownAccepted:
    ctx.store().require_population(key)
    ctx.check_provisioning_config(needs_box=False)
    ctx.submit_teardown(key)  # a no-op while this population's teardown is already queued
    return TeardownAccepted(key=key, status="tearing_down", status_url=f"/api/populations/{key}")


@router.get(
    "/populations/{key}/credentials",
    response_model=EncryptedCredentials | PlaintextCredentials,
    responses={
        200: {"description": "The Fernet-encrypted bundle; with plaintext=true the plaintext bundle"},
        **_declare(404, 422),
    },
    summary="The population's credential bundle: encrypted, or plaintext with ?plaintext=true (audit-logged)",
)
def get_credentials(
    key: PopulationKey,
    request: Request,
    ctx: Ctx,
    plaintext: Annotated[bool, Query(description="Return plaintext passwords (audit-logged)")] = False,
) -> Any:
    from azt3knet_pipeline.clients.factory import secret_box
    from azt3knet_pipeline.services.credentials import build_bundle, encrypted_bundle

    store = ctx.store()
    store.require_population(key)
    box = secret_box(ctx.settings)
    headers = {"Cache-Control": "no-store"}
    detail = {"plaintext": plaintext, "via": "api", "client": _client_ip(request)}
    if plaintext:
        bundle = build_bundle(store, box, ctx.settings, key)
        store.audit("api", "credentials.export", key, "ok", {**detail, "mailboxes": len(bundle["mailboxes"])})
        body: Any = PlaintextCredentials(
            key=key, mailboxes=len(bundle["mailboxes"]), bundle=CredentialBundle.model_validate(bundle)
        )
    else:
        token, count = encrypted_bundle(store, box, ctx.settings, key)
        store.audit("api", "credentials.export", key, "ok", {**detail, "mailboxes": count})
        body = EncryptedCredentials(key=key, mailboxes=count, bundle=token.decode("ascii"))
    return JSONResponse(content=body.model_dump(mode="json"), headers=headers)


@router.get(
    "/runs/{run_id}",
    response_model=RunDetail,
    responses=_declare(404, 422),
    summary="One Dagster run: state, what it materialized, why it failed",
)
def get_run(run_id: Annotated[str, Path(pattern=RUN_ID_PATTERN)], ctx: Ctx) -> RunDetail:
    detail = run_detail(ctx.instance(), run_id, queued_timeout=ctx.settings.queued_run_timeout)
    if detail is None:
        raise ApiProblem(404, "not_found", f"no run with id {run_id!r}")
    return RunDetail(**detail)


# -- the application -----------------------------------------------------------------------------------------


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
    app.state.ctx = ApiContext(settings, token, executor_mode_from_env())
    try:
        yield
    finally:
        ctx, app.state.ctx = app.state.ctx, None
        await run_in_threadpool(ctx.close)
        os.umask(previous_umask)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiProblem)
    async def _problem(_request: Request, exc: ApiProblem) -> JSONResponse:
        return _error(exc.status, exc.error, exc.detail, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _request_invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": _issues(list(exc.errors()))})

    @app.exception_handler(PopulationNotFound)
    async def _not_found(_request: Request, exc: PopulationNotFound) -> JSONResponse:
        return _error(404, "not_found", str(exc))

    @app.exception_handler(PopulationConflict)
    async def _conflict(_request: Request, exc: PopulationConflict) -> JSONResponse:
        return _error(409, "conflict", str(exc))

    async def _misconfigured(_request: Request, exc: Exception) -> JSONResponse:
        log.error("server misconfigured: %s", exc)
        return _error(503, "misconfigured", f"server misconfigured: {exc}")

    for kind in (ConfigurationError, KeyConfigError, DecryptionError):
        app.add_exception_handler(kind, _misconfigured)

    @app.exception_handler(ApiError)
    async def _upstream(_request: Request, exc: ApiError) -> JSONResponse:
        return _error(502, "upstream_error", f"{type(exc).__name__}: {exc}")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # FastAPI's "error parsing the body" (undecodable bytes): invalid input
            issue = {"loc": ["body"], "msg": str(exc.detail), "type": "body_unparsable"}
            return JSONResponse(status_code=422, content={"detail": [issue]})
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _error(exc.status_code, code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _internal(_request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled %s", type(exc).__name__, exc_info=exc)
        return _error(500, "internal", "internal error; see the server log")


def publish_spec_rules(request_schema: dict[str, Any]) -> None:
    """Publish in the OpenAPI document what the spec's validators enforce (the validators stay the authority;
    a value matching these rules can still get a 422, e.g. an unknown country code), plus examples."""
    props = request_schema["properties"]
    props["count"]["maximum"] = max_population()  # the server's own maximum: AZT3KNET_MAX_POPULATION
    limit = 10**30 - 1
    props["seed"]["anyOf"] = [
        {"type": "integer", "minimum": -limit, "maximum": limit},
        {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"},
    ]
    props["country"].update({"pattern": r"^[A-Za-z]{2}$", "minLength": 2, "maxLength": 2})
    for branch in props["interests"]["anyOf"]:
        if branch.get("type") == "array":
            branch.update({"minItems": 1, "items": {"type": "string", "pattern": r"^[a-z0-9][a-z0-9_-]{0,31}$"}})
    for branch in props["locale"]["anyOf"]:
        if branch.get("type") == "string":
            branch["pattern"] = r"^[a-z]{2,3}(?:_[A-Z]{2})?$"
    for branch in props["city"]["anyOf"]:
        if branch.get("type") == "string":
            branch["pattern"] = r"^[^<>\r\n\t]*[^<>\s][^<>\r\n\t]*$"
    request_schema["examples"] = [
        {"count": 3, "seed": 42, "country": "ES", "preview": True},
        {"count": 3, "seed": 42, "country": "ES", "create_mailboxes": True},
    ]


def create_app() -> FastAPI:
    app = FastAPI(
        title="Azt3kNet pipeline API",
        version=API_VERSION,
        description=(
            "Synthetic populations with real mailboxes and DNS. Every route but `GET /healthz` needs "
            "`Authorization: Bearer <AZT3KNET_ADMIN_TOKEN>`. See docs/api.md."
        ),
        lifespan=lifespan,
        # Every route but /healthz needs the token, the OpenAPI document included; no browser docs pages.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app)

    @app.middleware("http")
    async def authenticate(request: Request, call_next: Any) -> Any:
        """Before routing and body parsing: everything but GET /healthz needs the token (unknown paths and
        malformed bodies included), so an unauthenticated client learns nothing but 401."""
        if request.method == "GET" and request.url.path == "/healthz":
            return await call_next(request)
        ctx: ApiContext | None = getattr(request.app.state, "ctx", None)
        if ctx is None:
            return _error(503, "misconfigured", "the API was started without its lifespan")
        presented = presented_token(request.headers.get("authorization"))
        if token_in_query(request.query_params.multi_items(), ctx.tokens):
            # Even with a valid header: a token in a URL has already leaked into logs and histories.
            return await run_in_threadpool(reject, ctx, request, presented, "token_in_query")
        if ctx.tokens.matches(presented):
            return await call_next(request)
        return await run_in_threadpool(reject, ctx, request, presented)

    @app.get("/healthz", response_model=Health, summary="Liveness (no authentication)")
    def healthz() -> Health:
        return Health()

    app.include_router(router)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = FastAPI.openapi(app)
            publish_spec_rules(schema["components"]["schemas"]["PopulateRequest"])
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/openapi.json", include_in_schema=False, dependencies=[Depends(require_admin)])
    def openapi_document() -> JSONResponse:
        return JSONResponse(app.openapi())

    return app


app = create_app()
