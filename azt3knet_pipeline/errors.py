"""Turning validation errors into the one-line messages users see (CLI exit 2, API 422, Dagster failures)."""

from __future__ import annotations

from pydantic import ValidationError


def describe_validation_error(exc: ValidationError) -> str:
    """`field: rule; field: rule` — one line, naming each field and the rule it broke."""
    parts = []
    for error in exc.errors():
        location = ".".join(str(part) for part in error.get("loc", ()) if part != "__root__") or "spec"
        message = error.get("msg", "invalid").removeprefix("Value error, ")
        parts.append(f"{location}: {message}")
    return "; ".join(parts)
