"""Fake Mailcow and deSEC clients for the use-case unit tests: the reads and writes the services make, recorded
in order, with no HTTP (the contract and integration tests hold the real clients to the contracts)."""

from __future__ import annotations

from types import SimpleNamespace

from azt3knet_pipeline.clients.mailcow import DkimKey, MailcowDomain, MailcowMailbox
from azt3knet_pipeline.domain.dns import RRset, RRsetDiff
from azt3knet_pipeline.domain.mailbox_plan import population_tags

KEY = "pop-a"
ZONE = "example.test"
MAIL_DOMAIN = f"{KEY}.{ZONE}"
OURS = list(population_tags(KEY))


class FakeMailcow:
    """The reads and writes teardown uses, recorded in order."""

    def __init__(self, *, domain_tags: list[str] | None, mailboxes: dict[str, list[str]], dkim: bool = True) -> None:
        self.domain = None if domain_tags is None else MailcowDomain(name=MAIL_DOMAIN, tags=domain_tags)
        self.mailboxes = {a: MailcowMailbox(address=a, tags=t) for a, t in mailboxes.items()}
        self.dkim = DkimKey(domain=MAIL_DOMAIN, selector="dkim", txt="v=DKIM1;k=rsa;p=AAAA") if dkim else None
        self.calls: list[tuple] = []

    def get_domain(self, domain: str) -> MailcowDomain | None:
        self.calls.append(("get_domain", domain))
        return self.domain

    def list_mailboxes(self, domain: str) -> list[MailcowMailbox]:
        self.calls.append(("list_mailboxes", domain))
        return list(self.mailboxes.values())

    def get_dkim(self, domain: str) -> DkimKey | None:
        self.calls.append(("get_dkim", domain))
        return self.dkim

    def delete_mailboxes(self, addresses: list[str]) -> dict[str, str]:
        self.calls.append(("delete_mailboxes", tuple(addresses)))
        return {a: "removed" if self.mailboxes.pop(a, None) else "missing" for a in addresses}

    def delete_dkim(self, domain: str) -> None:
        self.calls.append(("delete_dkim", domain))

    def delete_domain(self, domain: str) -> None:
        self.calls.append(("delete_domain", domain))

    def writes(self) -> list[str]:
        return [c[0] for c in self.calls if c[0].startswith("delete")]


class FakeDesec:
    """A zone with `rrsets` and a minimum TTL; PATCHes are recorded, never applied."""

    def __init__(self, rrsets: list[RRset], minimum_ttl: int = 3600) -> None:
        self.rrsets = rrsets
        self.minimum_ttl = minimum_ttl
        self.patches: list[tuple[str, RRsetDiff]] = []

    def get_domain(self, zone: str) -> SimpleNamespace:
        return SimpleNamespace(name=zone, minimum_ttl=self.minimum_ttl)

    def list_rrsets(self, zone: str) -> list[RRset]:
        return list(self.rrsets)

    def patch_rrsets(self, zone: str, diff: RRsetDiff) -> int:
        self.patches.append((zone, diff))
        return len(diff.deletes)


def population_rrsets() -> list[RRset]:
    return [
        RRset(subname=KEY, type="MX", ttl=3600, records=(f"10 mail.{ZONE}.",)),
        RRset(subname=f"_dmarc.{KEY}", type="TXT", ttl=3600, records=('"v=DMARC1; p=reject"',)),
        RRset(subname="other", type="MX", ttl=3600, records=(f"10 mail.{ZONE}.",)),  # not the population's
    ]
