"""`MailcowClient`: the Mailcow admin API in one object (transport + the endpoint groups)."""

from __future__ import annotations

from azt3knet_pipeline.clients.mailcow.domains import DomainEndpoints
from azt3knet_pipeline.clients.mailcow.mailboxes import MailboxEndpoints


class MailcowClient(DomainEndpoints, MailboxEndpoints):
    """Client of the Mailcow admin API. One instance is safe to share between threads (a pool of 8).

    `base_url` is the server (`https://mail.example.org`); `/api/v1/` is appended (a URL already ending in
    `/api/v1` is accepted). Every request goes through `policy` (the shared `RetryPolicy`). `transport`
    replaces httpx's network transport (tests, proxies). Bulk edits/deletes are sent `batch_size` items per
    request. `request_count` / `write_count` count HTTP attempts, retries included.
    """
