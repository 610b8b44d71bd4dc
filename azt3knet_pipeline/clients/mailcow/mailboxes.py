"""Mailcow endpoints for mailboxes and the password policy (contract sections 2, 5 and 7).

Mailcow's mailbox delete is not idempotent and every entry of a bulk answer repeats the whole request in its
`log`: bulk edits and deletes go in batches, and a missing address counts as already gone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from azt3knet_pipeline.clients.mailcow.envelope import (
    MailcowResult,
    ambiguous,
    confirmed,
    describe,
    is_failure,
    msg_key,
    raise_for,
    result_of,
)
from azt3knet_pipeline.clients.mailcow.models import MailboxSpec, MailcowMailbox
from azt3knet_pipeline.clients.mailcow.transport import MailcowTransport, as_list, batches, dedupe, normalise_attr
from azt3knet_pipeline.errors import (
    MailcowConflict,
    MailcowDomainMissing,
    MailcowError,
    MailcowNotFound,
    MailcowRequestError,
    MailcowUnavailable,
)


class MailboxEndpoints(MailcowTransport):
    """list/get/add/edit/delete mailboxes and get the password policy."""

    def list_mailboxes(self, domain: str, *, tags: Sequence[str] | None = None) -> list[MailcowMailbox]:
        """Mailboxes of one domain. With `tags`, only those carrying at least one of them (exact match;
        the server's own filter is a substring match and is re-checked here)."""
        domain = domain.strip().lower()
        params = {"tags": ",".join(tags)} if tags else None
        reply = self._call("get", "mailbox", "all", domain, params=params)
        raise_for(reply)
        boxes = [MailcowMailbox.from_api(e) for e in reply.entries if e.get("username")]
        boxes = [b for b in boxes if b.domain.lower() == domain]
        if tags:
            wanted = set(tags)
            boxes = [b for b in boxes if wanted.intersection(b.tags)]
        return boxes

    def get_mailbox(self, address: str) -> MailcowMailbox | None:
        address = address.strip().lower()
        reply = self._call("get", "mailbox", address)
        raise_for(reply)
        for entry in reply.entries:
            if str(entry.get("username", "")).lower() == address:
                return MailcowMailbox.from_api(entry)
        return None

    def add_mailbox(self, spec: MailboxSpec) -> MailcowResult:
        """Create a mailbox. `object_exists` -> MailcowConflict (`.retried` tells whether it may be our own
        earlier attempt); `access_denied` -> MailcowDomainMissing."""
        try:
            reply = self._call("add", "mailbox", body=spec.to_body())
        except MailcowError as exc:
            if type(exc) not in (MailcowError, MailcowUnavailable):
                raise
            # No reply at all (connection lost, retries spent): the create may have been applied. Ours if
            # Mailcow now lists it with the tags this request set; anything else stays a failure.
            found = self.get_mailbox(spec.address)
            if found is None or not set(spec.tags) <= set(found.tags):
                raise
            return MailcowResult(entries=[], attempts=0, verified_by_read=True)
        raise_for(reply, access_denied=MailcowDomainMissing)
        if confirmed(reply, ("mailbox_added",), spec.address):
            return result_of(reply)
        existing = self.get_mailbox(spec.address)  # outcome unknown: Mailcow's own list decides
        if existing is None:
            raise ambiguous(reply, spec.address, "the mailbox does not exist: not created")
        if not set(spec.tags) <= set(existing.tags):
            # Not the mailbox this request would have made: someone else's (the caller decides).
            raise MailcowConflict(
                f"{reply.what}: {spec.address} exists without the tags this request set",
                key="object_exists",
                entries=reply.entries,
                retried=True,
            )
        return result_of(reply, verified_by_read=True)

    def edit_mailbox(self, addresses: Sequence[str], attr: Mapping[str, Any]) -> MailcowResult:
        """Edit mailboxes: `quota` in MiB, `tags` are ADDED (never cleared), `password` + `password2`,
        `active`, ... Any missing address -> MailcowNotFound (`access_denied` per missing item).

        Sent in batches of `batch_size` items: every entry of Mailcow's answer repeats the whole request in
        its `log`, so one request for n items answers O(n^2) bytes.
        """
        items = dedupe(a.strip().lower() for a in as_list(addresses))
        attr = normalise_attr(attr)
        result = MailcowResult(entries=[], attempts=0)
        for batch in batches(items, self.batch_size):
            reply = self._call("edit", "mailbox", body={"items": batch, "attr": attr})
            raise_for(reply, access_denied=MailcowNotFound)
            unconfirmed = [a for a in batch if not confirmed(reply, ("mailbox_modified",), a)]
            if unconfirmed:
                # An edit cannot be confirmed by a read (passwords are not readable): unknown counts as failed.
                raise ambiguous(reply, ", ".join(unconfirmed[:3]), "counted as not applied")
            result.entries.extend(reply.entries)
            result.attempts += reply.attempts
        return result

    def delete_mailboxes(self, addresses: Sequence[str]) -> dict[str, str]:
        """Delete mailboxes; maps each address to "removed" or "missing".

        Mailcow's delete is not idempotent: a missing (or invalid) address answers a bare `access_denied`.
        That is reported as "missing" (converge logic treats it as already gone), as is an address whose
        removal was applied by an earlier attempt whose response was lost. Other failures raise. Sent in
        batches of `batch_size` (see `edit_mailbox`).
        """
        items = dedupe(a.strip().lower() for a in as_list(addresses))
        outcome: dict[str, str] = {}
        for batch in batches(items, self.batch_size):
            outcome.update(self._delete_batch(batch))
        return {a: outcome[a] for a in items}

    def _delete_batch(self, items: list[str]) -> dict[str, str]:
        reply = self._call("delete", "mailbox", body=items)
        wanted = set(items)
        outcome: dict[str, str] = {}
        cursor = 0  # entries come in request order: an unnamed entry belongs to the next unaccounted address

        def next_unaccounted() -> str | None:
            nonlocal cursor
            while cursor < len(items) and items[cursor] in outcome:
                cursor += 1
            return items[cursor] if cursor < len(items) else None

        other_failures: list[dict[str, Any]] = []
        for entry in reply.entries:
            key, args = msg_key(entry)
            named = str(args[0]).lower() if args else None
            target = named if named in wanted else None
            if is_failure(entry):
                if key == "access_denied":
                    target = target or next_unaccounted()
                    if target is not None:
                        outcome.setdefault(target, "missing")
                else:
                    other_failures.append(entry)
            elif key == "mailbox_removed":
                target = target or next_unaccounted()
                if target is not None:
                    outcome[target] = "removed"
        if other_failures:
            raise reply.error(MailcowRequestError, describe(other_failures), key=msg_key(other_failures[0])[0])
        for a in items:  # no entry for this address (empty body, "Task completed"): Mailcow's list decides
            if a not in outcome:
                if self.get_mailbox(a) is not None:
                    raise ambiguous(reply, a, "the mailbox still exists")
                outcome[a] = "removed"
        return outcome

    # -- policy

    def get_password_policy(self) -> dict[str, Any]:
        reply = self._call("get", "passwordpolicy")
        raise_for(reply)
        if not reply.entries:
            return {}
        policy: dict[str, Any] = {}
        for k, v in reply.entries[0].items():
            if isinstance(v, str) and v.strip().lstrip("-").isdigit():
                policy[k] = int(v)
            else:
                policy[k] = v
        return policy
