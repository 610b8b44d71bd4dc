"""Mailcow endpoints for domains and their DKIM keys (contract sections 2, 4 and 7)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from azt3knet_pipeline.clients.mailcow.envelope import (
    MailcowResult,
    ambiguous,
    confirmed,
    describe,
    failure_entries,
    msg_key,
    raise_for,
    result_of,
)
from azt3knet_pipeline.clients.mailcow.models import DkimKey, DomainSpec, MailcowDomain
from azt3knet_pipeline.clients.mailcow.transport import MailcowTransport, normalise_attr
from azt3knet_pipeline.errors import MailcowConflict, MailcowDkimExists, MailcowDomainMissing


class DomainEndpoints(MailcowTransport):
    """list/get/add/edit/delete domain and get/add/delete DKIM."""

    def list_domains(self) -> list[MailcowDomain]:
        reply = self._call("get", "domain", "all")
        raise_for(reply)
        return [MailcowDomain.from_api(e) for e in reply.entries if e.get("domain_name")]

    def get_domain(self, name: str) -> MailcowDomain | None:
        name = name.strip().lower()
        reply = self._call("get", "domain", name)
        raise_for(reply)
        for entry in reply.entries:
            if str(entry.get("domain_name", "")).lower() == name:
                return MailcowDomain.from_api(entry)
        return None

    def add_domain(self, spec: DomainSpec) -> MailcowResult:
        """Create a domain (Mailcow also generates its DKIM key). `domain_exists` -> MailcowConflict."""
        reply = self._call("add", "domain", body=spec.to_body())
        raise_for(reply)
        if confirmed(reply, ("domain_added",), spec.domain):
            return result_of(reply)
        existing = self.get_domain(spec.domain)  # outcome unknown: Mailcow's own list decides
        if existing is None:
            raise ambiguous(reply, spec.domain, "the domain does not exist: not created")
        if not set(spec.tags) <= set(existing.tags):
            raise MailcowConflict(
                f"{reply.what}: {spec.domain} exists without the tags this request set", key="domain_exists"
            )
        return result_of(reply, verified_by_read=True)

    def edit_domain(self, name: str, attr: Mapping[str, Any]) -> MailcowResult:
        """Edit domain attributes (e.g. `mailboxes`, `quota`, `maxquota` in MiB). Missing -> DomainMissing."""
        name = name.strip().lower()
        body = {"items": [name], "attr": normalise_attr(attr)}
        reply = self._call("edit", "domain", body=body)
        failures = failure_entries(reply)
        if failures and msg_key(failures[0])[0] == "domain_invalid":  # §7: how the real code says "missing"
            raise MailcowDomainMissing(
                f"{reply.what}: {describe(failures)}", status=reply.status, key="domain_invalid", entries=reply.entries
            )
        raise_for(reply, access_denied=MailcowDomainMissing)
        if not confirmed(reply, ("domain_modified",), name):
            # An edit cannot be confirmed by a read (the next plan reads it again): unknown counts as failed.
            raise ambiguous(reply, name, "counted as not applied")
        return result_of(reply)

    def delete_domain(self, name: str) -> str:
        """Delete an empty domain: "removed", or "missing" when the server says it does not exist.

        `domain_not_empty` (mailboxes left) raises MailcowRequestError with that key.
        """
        name = name.strip().lower()
        reply = self._call("delete", "domain", body=[name])
        failures = failure_entries(reply)
        if failures and all(msg_key(e)[0] in ("access_denied", "domain_not_found") for e in failures):
            return "missing"
        raise_for(reply)
        if not confirmed(reply, ("domain_removed",), name) and self.get_domain(name) is not None:
            raise ambiguous(reply, name, "the domain still exists")
        return "removed"

    # -- DKIM: Mailcow generates a key with the domain; add_dkim only fills a gap

    def get_dkim(self, domain: str) -> DkimKey | None:
        domain = domain.strip().lower()
        reply = self._call("get", "dkim", domain)
        raise_for(reply)
        for entry in reply.entries:
            if entry.get("dkim_txt") or entry.get("pubkey"):
                data = dict(entry)
                data.setdefault("dkim_txt", "")
                data["domain"] = domain
                return DkimKey.model_validate(data)
        return None

    def add_dkim(self, domain: str, selector: str = "dkim", key_size: int = 2048) -> MailcowResult:
        """Generate a DKIM key. An existing key -> MailcowConflict (Mailcow reports it as
        `dkim_domain_or_sel_invalid`, which we disambiguate with one read); a missing domain ->
        MailcowDomainMissing."""
        domain = domain.strip().lower()
        body = {"domains": domain, "dkim_selector": selector, "key_size": key_size}
        reply = self._call("add", "dkim", body=body)
        failures = failure_entries(reply)
        if failures and msg_key(failures[0])[0] == "dkim_domain_or_sel_invalid" and self.get_dkim(domain):
            raise reply.error(
                MailcowDkimExists, f"a DKIM key already exists for {domain}", key="dkim_domain_or_sel_invalid"
            )
        raise_for(reply, access_denied=MailcowDomainMissing)
        if confirmed(reply, ("dkim_added",), domain):
            return result_of(reply)
        if self.get_dkim(domain) is None:
            raise ambiguous(reply, domain, "no DKIM key exists: not created")
        return result_of(reply, verified_by_read=True)

    def delete_dkim(self, domain: str) -> MailcowResult:
        """Remove a domain's DKIM key (idempotent on the server)."""
        domain = domain.strip().lower()
        reply = self._call("delete", "dkim", body=[domain])
        raise_for(reply)
        if confirmed(reply, ("dkim_removed",), domain):
            return result_of(reply)
        if self.get_dkim(domain) is not None:
            raise ambiguous(reply, domain, "the DKIM key still exists")
        return result_of(reply, verified_by_read=True)
