"""Request and response bodies of the REST API (pydantic; FastAPI derives the OpenAPI document from them)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StrictBool, StrictInt, StrictStr, field_validator

from azt3knet_pipeline.domain.models import (
    DEFAULT_REFERENCE_YEAR,
    AgentProfile,
    PopulationSpec,
    validate_population_key,
)

POPULATION_KEY_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"
RUN_ID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


class PopulateRequest(PopulationSpec):
    """A PopulationSpec (same fields, same validation) plus what to do with it.

    Strict JSON types: `count: true`, `count: "5"`, `count: 5.0` and `seed: 4.2` are 422, not coerced (the
    spec's own validators still run). A seed string of digits stays the same seed as that integer, as on the CLI.
    """

    count: StrictInt = Field(ge=1, description="Number of agents, 1..AZT3KNET_MAX_POPULATION")
    seed: Annotated[StrictInt | StrictStr, Field(description="An integer or a short string (letters, digits, _ . -)")]
    reference_year: StrictInt = Field(default=DEFAULT_REFERENCE_YEAR, ge=1900, le=2200)

    key: str | None = Field(
        default=None,
        description="Population key, a DNS label (default: seed-<seed>)",
        json_schema_extra={"pattern": POPULATION_KEY_PATTERN, "maxLength": 63},
    )
    create_mailboxes: StrictBool = Field(
        default=False, description="Also provision mailboxes, DKIM, DNS and the credential export"
    )
    preview: StrictBool = Field(default=False, description="Return profiles only; register nothing, run nothing")
    adopt_domain: StrictBool = Field(
        default=False,
        description="With create_mailboxes: provision into an existing mail domain azt3knet did not create, tagging "
        "it as this population's (without it such a domain fails the run before any Mailcow write)",
    )

    @field_validator("key")
    @classmethod
    def _key_is_label(cls, value: str | None) -> str | None:
        return None if value is None else validate_population_key(value)

    def spec(self) -> PopulationSpec:
        """The PopulationSpec part of the request (validated again, so it is exactly what the CLI would build)."""
        return PopulationSpec.model_validate(
            self.model_dump(exclude={"key", "create_mailboxes", "preview", "adopt_domain"})
        )


class ErrorBody(BaseModel):
    """Every error but 422: a machine-readable `error` code and a human-readable `detail`."""

    error: str = Field(description="unauthorized | not_found | conflict | misconfigured | upstream_error | internal")
    detail: str


class ValidationIssue(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorBody(BaseModel):
    """422: one entry per invalid field (`loc` names it, e.g. ["body", "age_range"])."""

    detail: list[ValidationIssue]


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class PreviewResponse(BaseModel):
    """Profiles generated in memory (capped at AZT3KNET_PREVIEW_LIMIT); nothing was written anywhere."""

    key: str
    preview: Literal[True] = True
    count: int = Field(description="Agents in the requested population")
    returned: int = Field(description="Profiles in this response (count capped by AZT3KNET_PREVIEW_LIMIT)")
    truncated: bool
    content_hash: str | None = Field(
        default=None, description="sha256 of the whole population's canonical JSON (absent when truncated)"
    )
    profiles: list[AgentProfile]


class RunSubmitted(BaseModel):
    """A Dagster run of the population's partition was created and handed to the executor."""

    key: str
    run_id: str
    job: str
    executor: Literal["embedded", "daemon"] = Field(
        description="embedded: executed by the API process; daemon: queued for dagster-daemon"
    )
    registered: bool = Field(default=False, description="Whether this request registered the population")
    status_url: str = Field(description="GET it for the population's status and its last run")
    run_url: str = Field(description="GET it for this run's state and what it materialized")


class TeardownAccepted(BaseModel):
    """Teardown was accepted; the population's status moves tearing_down → torn_down (or teardown_failed)."""

    key: str
    status: str
    status_url: str


class AgeRangeOut(BaseModel):
    lo: int
    hi: int


class SpecOut(BaseModel):
    """A registered spec as stored (canonical form, every field explicit)."""

    count: int
    seed: int | str
    country: str
    gender: str | None = None
    city: str | None = None
    age_range: AgeRangeOut
    interests: list[str] | None = None
    locale: str | None = None
    reference_year: int
    generator_version: int = Field(default=1, description="Generator version (absent in the stored spec = 1)")


class PopulationSummary(BaseModel):
    key: str
    status: str
    spec_hash: str
    spec: SpecOut


class PopulationPage(BaseModel):
    items: list[PopulationSummary]
    total: int
    offset: int
    limit: int


class RunInfo(BaseModel):
    """One Dagster run (status is Dagster's: QUEUED, NOT_STARTED, STARTED, SUCCESS, FAILURE, CANCELED, ...)."""

    run_id: str
    job: str
    status: str
    partition: str | None = None
    executor: str | None = None
    created_at: float | None = Field(default=None, description="Unix timestamp")
    started_at: float | None = None
    ended_at: float | None = None


class RunDetail(RunInfo):
    finished: bool
    success: bool
    assets: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Per asset materialized by this run: its scalar metadata (no secrets)"
    )
    error: str | None = None
    queued_reason: str | None = Field(
        default=None,
        description="Set when the run has been QUEUED longer than AZT3KNET_QUEUED_RUN_TIMEOUT: why, and what to do",
    )


class Counts(BaseModel):
    agents: int
    mailboxes: int = Field(description="Mailbox rows of this population in the store, any state")
    mailboxes_by_state: dict[str, int]
    dns_rrsets_desired: int


class DnsState(BaseModel):
    state: Literal["in_sync", "drifted", "not_provisioned", "unknown"]
    zone: str
    drift_hash: str | None = None
    reason: str | None = None


class TeardownInfo(BaseModel):
    outcome: str
    at: float
    detail: dict[str, Any] | None = None


class PopulationDetail(BaseModel):
    key: str
    status: str = Field(
        description="registered | provisioned | dns_pending | tearing_down | torn_down | teardown_failed"
    )
    dns_pending_until: datetime | None = Field(
        default=None, description="With dns_pending: when deSEC allows the deferred DNS write (UTC)"
    )
    spec_hash: str
    spec: SpecOut
    mail_domain: str
    counts: Counts
    last_run: RunInfo | None = None
    dns: DnsState
    last_teardown: TeardownInfo | None = None


class EncryptedCredentials(BaseModel):
    """The Fernet token of the credential bundle (decrypt with SECRET_KEY_FOR_KV_ENC)."""

    key: str
    encrypted: Literal[True] = True
    format: Literal["fernet"] = "fernet"
    mailboxes: int
    bundle: str


class MailboxCredential(BaseModel):
    address: str
    agent_id: str
    password: str


class Endpoint(BaseModel):
    host: str
    port: int
    security: str


class CredentialBundle(BaseModel):
    population_key: str
    mail_domain: str
    synthetic: Literal[True] = True
    imap: Endpoint
    smtp: Endpoint
    submission: Endpoint
    mailboxes: list[MailboxCredential]


class PlaintextCredentials(BaseModel):
    """Only with `?plaintext=true`; every such request is audit-logged."""

    key: str
    encrypted: Literal[False] = False
    mailboxes: int
    bundle: CredentialBundle
