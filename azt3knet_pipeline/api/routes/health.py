"""`GET /healthz`: liveness, the one route without authentication."""

from __future__ import annotations

from fastapi import APIRouter

from azt3knet_pipeline.api.models import Health

router = APIRouter()


@router.get("/healthz", response_model=Health, summary="Liveness (no authentication)")
def healthz() -> Health:
    return Health()
