"""The one error tree (`azt3knet_pipeline.errors`): every exception of shipped code lives there, descends from
`Azt3knetError` and states the exit code and HTTP status the CLI and the API answer with (as before the tree)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest
import typer
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, ValidationError
from typer.testing import CliRunner

import azt3knet_pipeline
from azt3knet_pipeline import errors
from azt3knet_pipeline.api.errors import install_error_handlers
from azt3knet_pipeline.cli.common import handle_errors
from azt3knet_pipeline.errors import (
    AdminTokenError,
    ApiError,
    ApiProblem,
    Azt3knetError,
    ConfigurationError,
    DecryptionError,
    DesecThrottled,
    DesecUnavailable,
    DomainNotOwned,
    KeyConfigError,
    KeyRotationError,
    MailboxReconcileError,
    MailcowConflict,
    MailcowDkimExists,
    MailcowRequestError,
    MailcowUnavailable,
    MailProbeError,
    NothingToVerify,
    PopulationConflict,
    PopulationNotFound,
    ReconcileError,
    RetriesExhausted,
    StoreError,
    TeardownFailed,
    UnsafePathError,
    UsageError,
)

TREE = [cls for cls in vars(errors).values() if inspect.isclass(cls) and issubclass(cls, BaseException)]

# (exit code, HTTP status, `error` word): what the CLI and the API answered for these before the tree existed.
PINNED = {
    ConfigurationError: (2, 503, "misconfigured"),
    KeyConfigError: (2, 503, "misconfigured"),
    DecryptionError: (2, 503, "misconfigured"),
    PopulationNotFound: (2, 404, "not_found"),
    PopulationConflict: (2, 409, "conflict"),
    UnsafePathError: (2, 422, "invalid"),
    NothingToVerify: (2, 422, "invalid"),
    KeyRotationError: (2, 503, "misconfigured"),
    AdminTokenError: (2, 503, "misconfigured"),
    ApiError: (1, 502, "upstream_error"),
    MailcowConflict: (1, 502, "upstream_error"),
    DesecThrottled: (1, 502, "upstream_error"),
    StoreError: (1, 500, "internal"),
    MailboxReconcileError: (1, 500, "internal"),
    TeardownFailed: (1, 500, "internal"),
}


def shipped_exception_classes() -> set[type[BaseException]]:
    """Every exception class defined anywhere in the package except the stand-ins (`sandbox`)."""
    found: set[type[BaseException]] = set()
    for info in pkgutil.walk_packages(azt3knet_pipeline.__path__, "azt3knet_pipeline."):
        if info.name.startswith("azt3knet_pipeline.sandbox") or info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__.startswith("azt3knet_pipeline")
                and not value.__module__.startswith("azt3knet_pipeline.sandbox")
            ):
                found.add(value)
    return found


def test_every_exception_of_shipped_code_is_defined_in_errors_and_descends_from_the_root() -> None:
    shipped = shipped_exception_classes()
    assert len(shipped) >= 35
    assert {cls for cls in shipped if cls.__module__ != "azt3knet_pipeline.errors"} == set()
    assert {cls for cls in shipped if not issubclass(cls, Azt3knetError)} == set()
    assert shipped == set(TREE)


def test_every_class_is_drawn_in_the_docstring() -> None:
    drawn = errors.__doc__ or ""
    assert [cls.__name__ for cls in TREE if cls.__name__ not in drawn] == []


@pytest.mark.parametrize("cls", list(PINNED), ids=lambda cls: cls.__name__)
def test_exit_codes_and_statuses_are_the_ones_the_cli_and_api_answered(cls: type[Azt3knetError]) -> None:
    assert (cls.exit_code, cls.http_status, cls.http_error) == PINNED[cls]


def test_former_value_errors_stay_value_errors_and_others_do_not_become_one() -> None:
    value_errors = {cls for cls in TREE if issubclass(cls, ValueError)}
    assert value_errors == {
        ConfigurationError,
        KeyConfigError,
        AdminTokenError,
        UsageError,
        UnsafePathError,
        NothingToVerify,
        DecryptionError,
        KeyRotationError,
    }
    assert all(cls.exit_code == 2 for cls in value_errors)


def test_the_shape_of_the_tree() -> None:
    assert issubclass(DomainNotOwned, MailboxReconcileError) and issubclass(MailboxReconcileError, ReconcileError)
    assert not issubclass(ReconcileError, ApiError)  # a partial reconcile is not an upstream failure
    assert issubclass(KeyConfigError, ConfigurationError) and issubclass(DecryptionError, StoreError)
    for cls in (MailcowUnavailable, DesecThrottled, DesecUnavailable):
        assert issubclass(cls, RetriesExhausted)
    assert issubclass(MailcowDkimExists, MailcowConflict) and issubclass(MailcowDkimExists, MailcowRequestError)
    assert issubclass(MailProbeError, ApiError)
    assert issubclass(TeardownFailed, ReconcileError) and issubclass(TeardownFailed, RuntimeError)


def test_exit_code_of_exceptions_outside_the_tree() -> None:
    class Spec(BaseModel):
        count: int

    with pytest.raises(ValidationError) as invalid:
        Spec(count="many")
    assert errors.exit_code(invalid.value) == 2
    assert errors.exit_code(ValueError("bad input")) == 2
    assert errors.exit_code(RuntimeError("boom")) == 1
    assert errors.exit_code(PopulationNotFound("no population seed-1")) == 2


def test_attributes_keep_what_callers_read() -> None:
    throttled = DesecThrottled("throttled", retry_after=30.0, key="example.test")
    assert (throttled.status, throttled.retry_after, throttled.key, throttled.message) == (
        429,
        30.0,
        "example.test",
        "throttled",
    )
    probe = MailProbeError("auth refused", "535 5.7.8")
    assert (str(probe), probe.reason, probe.detail) == ("auth refused: 535 5.7.8", "auth refused", "535 5.7.8")
    problem = ApiProblem(404, "not_found", "no run with id 'x'")
    assert (problem.http_status, problem.http_error, str(problem)) == (404, "not_found", "no run with id 'x'")


RAISED = [
    ValueError("count: must be positive"),
    PopulationNotFound("no population registered under seed-9"),
    PopulationConflict("seed-9 is registered with a different spec"),
    KeyConfigError("SECRET_KEY_FOR_KV_ENC is not set"),
    ConfigurationError("MAILCOW_API_KEY is not set"),
    DecryptionError("no configured key decrypts it"),
    UnsafePathError("refusing to write through a link"),
    MailcowConflict("POST add/mailbox: object_exists", key="object_exists"),
    DesecThrottled("throttled (HTTP 429)", retry_after=3600.0),
    MailboxReconcileError("2 mailbox operation(s) failed"),
    StoreError("the store is unreachable"),
    RuntimeError("something unexpected"),
]


@pytest.mark.parametrize("exc", RAISED, ids=lambda exc: type(exc).__name__)
def test_the_cli_exits_with_the_code_of_the_class(exc: Exception) -> None:
    app = typer.Typer()

    @app.command()
    @handle_errors
    def boom() -> None:
        raise exc

    result = CliRunner().invoke(app, [])
    assert result.exit_code == errors.exit_code(exc)
    line = result.output.strip()
    if result.exit_code == 2:
        assert line == f"error: {exc}"
    elif isinstance(exc, Azt3knetError):
        assert line == f"error: {type(exc).__name__}: {exc}"
    else:
        assert line == f"error: {type(exc).__name__}: {exc} (run with --verbose for the stack trace)"


@pytest.mark.parametrize("exc", [e for e in RAISED if isinstance(e, Azt3knetError)], ids=lambda e: type(e).__name__)
def test_the_api_answers_with_the_status_of_the_class(exc: Azt3knetError) -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    def boom() -> None:
        raise exc

    response = TestClient(app, raise_server_exceptions=False).get("/boom")
    assert response.status_code == exc.http_status
    body = response.json()
    if exc.http_status == 422:
        assert body == {"detail": [{"loc": [], "msg": str(exc), "type": "value_error"}]}
        return
    assert body["error"] == exc.http_error
    expected = {
        500: "internal error; see the server log",
        503: f"server misconfigured: {exc}",
    }.get(exc.http_status, f"{type(exc).__name__}: {exc}" if isinstance(exc, ApiError) else str(exc))
    assert body["detail"] == expected


def test_the_api_answers_an_api_problem_as_raised() -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/problem")
    def problem() -> None:
        raise ApiProblem(503, "misconfigured", "started without its lifespan", headers={"X-Why": "test"})

    response = TestClient(app).get("/problem")
    assert (response.status_code, response.json()) == (
        503,
        {"error": "misconfigured", "detail": "started without its lifespan"},
    )
    assert response.headers["X-Why"] == "test"
