"""`/api/populate` and `/api/populations/...`: preview, register and run, status, recreate, teardown, credentials.

Handlers are sync functions: FastAPI runs them in its thread pool, so the blocking store and Dagster calls never
stall the event loop. They call the same use cases as the CLI (`services.populations`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from azt3knet_pipeline.api.auth import client_ip, require_admin
from azt3knet_pipeline.api.context import ApiContext, Ctx
from azt3knet_pipeline.api.errors import declare, issues
from azt3knet_pipeline.api.models import (
    POPULATION_KEY_PATTERN,
    CredentialBundle,
    EncryptedCredentials,
    PlaintextCredentials,
    PopulateRequest,
    PopulationDetail,
    PopulationPage,
    PopulationSummary,
    PreviewResponse,
    RunInfo,
    RunSubmitted,
    SpecOut,
    TeardownAccepted,
)
from azt3knet_pipeline.clients.factory import secret_box
from azt3knet_pipeline.domain.models import Population
from azt3knet_pipeline.orchestration.launch import SubmittedRun
from azt3knet_pipeline.orchestration.results import last_run
from azt3knet_pipeline.services import populations
from azt3knet_pipeline.services.credentials import build_bundle, encrypted_bundle

MAX_PAGE = 500
MAX_OFFSET = 1_000_000_000

PopulationKey = Annotated[
    str,
    Path(
        pattern=POPULATION_KEY_PATTERN, max_length=63, description="Population key (a DNS label)", examples=["seed-42"]
    ),
]

router = APIRouter(prefix="/api", dependencies=[Depends(require_admin)], responses=declare(401, 503))


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


@router.post(
    "/populate",
    status_code=202,
    response_model=RunSubmitted,
    responses={
        200: {"model": PreviewResponse, "description": "Preview: the profiles, nothing written"},
        **declare(409, 422),
    },
    summary="Preview a population, or register it and submit a run of its partition",
)
def populate(body: PopulateRequest, ctx: Ctx) -> Any:
    try:  # the request model already ran the spec's validators; this only guards the conversion
        spec = body.spec()
        key = body.key or spec.default_key()
    except ValidationError as exc:
        raise RequestValidationError(issues(exc.errors(), ("body",))) from None
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
        raise RequestValidationError(issues(exc.errors(), ("body",))) from None
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
    responses=declare(422),
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
    responses=declare(404, 422),
    summary="One population: spec, status, counts, last run and its state, DNS drift",
)
def get_population(key: PopulationKey, ctx: Ctx) -> PopulationDetail:
    population = ctx.store().require_population(key)
    desired = ctx.desired_rrsets(key)
    return PopulationDetail(
        key=key,
        status=population.status,
        dns_pending_until=population.dns_pending_until,
        spec_hash=population.spec_hash,
        spec=_summary(population).spec,
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
    responses=declare(404, 422),
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
    responses=declare(404, 422),
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
        **declare(404, 422),
    },
    summary="The population's credential bundle: encrypted, or plaintext with ?plaintext=true (audit-logged)",
)
def get_credentials(
    key: PopulationKey,
    request: Request,
    ctx: Ctx,
    plaintext: Annotated[bool, Query(description="Return plaintext passwords (audit-logged)")] = False,
) -> Any:
    store = ctx.store()
    store.require_population(key)
    box = secret_box(ctx.settings)
    headers = {"Cache-Control": "no-store"}
    detail = {"plaintext": plaintext, "via": "api", "client": client_ip(request)}
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
