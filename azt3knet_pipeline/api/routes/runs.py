"""`GET /api/runs/{run_id}`: one Dagster run, whoever launched it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from azt3knet_pipeline.api.auth import require_admin
from azt3knet_pipeline.api.context import Ctx
from azt3knet_pipeline.api.errors import declare
from azt3knet_pipeline.api.models import RUN_ID_PATTERN, RunDetail
from azt3knet_pipeline.errors import ApiProblem
from azt3knet_pipeline.orchestration.results import run_detail

router = APIRouter(prefix="/api", dependencies=[Depends(require_admin)], responses=declare(401, 503))


@router.get(
    "/runs/{run_id}",
    response_model=RunDetail,
    responses=declare(404, 422),
    summary="One Dagster run: state, what it materialized, why it failed",
)
def get_run(run_id: Annotated[str, Path(pattern=RUN_ID_PATTERN)], ctx: Ctx) -> RunDetail:
    detail = run_detail(ctx.instance(), run_id, queued_timeout=ctx.settings.queued_run_timeout)
    if detail is None:
        raise ApiProblem(404, "not_found", f"no run with id {run_id!r}")
    return RunDetail(**detail)
