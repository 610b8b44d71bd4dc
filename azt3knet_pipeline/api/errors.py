"""How the API answers errors: one `{"error", "detail"}` body (422: one `{loc, msg, type}` entry per field), the
status each exception of the project maps to, and the error responses each route declares in the OpenAPI
document.

401 missing or wrong token; 404 unknown population or run; 409 a key registered with a different spec; 422
invalid input; 502 Mailcow/deSEC failed; 503 the server is misconfigured (never the client's fault); 500 anything
else, logged with its stack trace and answered without it.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from azt3knet_pipeline.api.models import ErrorBody, ValidationErrorBody
from azt3knet_pipeline.errors import ApiError, ApiProblem, Azt3knetError

log = logging.getLogger("azt3knet_pipeline.api")

DESCRIBED = {
    401: "Missing or wrong bearer token",
    404: "Unknown population or run",
    409: "The key is registered with a different spec",
    422: "Invalid input: one entry per field",
    502: "Mailcow or deSEC answered with an error",
    503: "The server is misconfigured (a required setting is missing)",
}


def error_response(status: int, error: str, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": error, "detail": detail}, headers=headers)


def issues(errors: list[Any], prefix: tuple[str | int, ...] = ()) -> list[dict[str, Any]]:
    """Validation errors as `{loc, msg, type}` (no echo of the input, no exception objects)."""
    found = []
    for error in errors:
        loc = [part if isinstance(part, int) else str(part) for part in (*prefix, *error.get("loc", ()))]
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        found.append({"loc": loc, "msg": message, "type": str(error.get("type", "value_error"))})
    return found


def declare(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The error responses a route declares in the OpenAPI document."""
    return {
        status: {"model": ValidationErrorBody if status == 422 else ErrorBody, "description": DESCRIBED[status]}
        for status in statuses
    }


def install_error_handlers(app: FastAPI) -> None:
    """Map the project's exceptions (and FastAPI's own) to the statuses above."""

    @app.exception_handler(ApiProblem)
    async def _problem(_request: Request, exc: ApiProblem) -> JSONResponse:
        return error_response(exc.status, exc.error, exc.detail, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _request_invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": issues(list(exc.errors()))})

    @app.exception_handler(Azt3knetError)
    async def _known(_request: Request, exc: Azt3knetError) -> JSONResponse:
        """The error tree, answered with the status and `error` word each class states (azt3knet_pipeline.errors)."""
        status = exc.http_status
        if status == 500:
            raise exc  # the catch-all below: logged with its stack, never shown to the client
        if status == 422:
            issue = {"loc": [], "msg": str(exc), "type": "value_error"}
            return JSONResponse(status_code=422, content={"detail": [issue]})
        if status == 503:
            log.error("server misconfigured: %s", exc)
            return error_response(503, exc.http_error, f"server misconfigured: {exc}")
        # An upstream error names its API through its class (MailcowConflict, DesecThrottled, ...).
        detail = f"{type(exc).__name__}: {exc}" if isinstance(exc, ApiError) else str(exc)
        return error_response(status, exc.http_error, detail)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # FastAPI's "error parsing the body" (undecodable bytes): invalid input
            issue = {"loc": ["body"], "msg": str(exc.detail), "type": "body_unparsable"}
            return JSONResponse(status_code=422, content={"detail": [issue]})
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _internal(_request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled %s", type(exc).__name__, exc_info=exc)
        return error_response(500, "internal", "internal error; see the server log")
