"""DKIM keys: add/dkim (and the key add/domain creates), delete/dkim (idempotent), get/dkim with a real RSA key
generated lazily on first read."""

from __future__ import annotations

import base64
import re
import threading
from typing import TYPE_CHECKING, Any

import anyio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from azt3knet_pipeline.sandbox.mailcow.config import DKIM_KEY_SIZES
from azt3knet_pipeline.sandbox.mailcow.php import (
    idn_to_ascii,
    is_valid_domain_name,
    log_head,
    php_intval,
    php_is_numeric,
)
from azt3knet_pipeline.sandbox.mailcow.state import done, refused

if TYPE_CHECKING:
    from azt3knet_pipeline.sandbox.mailcow.state import Entries, ItemAnswer, MailcowSandbox

_RSA_CACHE: dict[int, tuple[str, str]] = {}
_RSA_LOCK = threading.Lock()
_SELECTOR_RE = re.compile(r"[A-Za-z0-9._-]+")


def generate_dkim_key(bits: int, reuse: bool = False) -> tuple[str, str]:
    """(private key PEM, base64 SPKI DER public key). `reuse` shares one key per size (fast, unrealistic)."""
    if reuse:
        with _RSA_LOCK:
            if bits in _RSA_CACHE:
                return _RSA_CACHE[bits]
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    priv = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    pub = base64.b64encode(
        key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    ).decode()
    if reuse:
        with _RSA_LOCK:
            _RSA_CACHE.setdefault(bits, (priv, pub))
            return _RSA_CACHE[bits]
    return priv, pub


def dkim_length(pubkey: str) -> str:
    """Mailcow estimates the key size from the base64 length of the public key."""
    n = len(pubkey)
    if n < 391:
        return "1024"
    if n < 564:
        return "2048"
    if n < 736:
        return "3072"
    if n < 1416:
        return "4096"
    return ">= 8192"


def _refusal(sb: MailcowSandbox, domain: str, selector: str, key_size: Any) -> list[str] | None:
    """Why no key is created for `domain` (Mailcow's order of checks), else None."""
    if not is_valid_domain_name(domain) or not php_is_numeric(key_size) or domain in sb.dkim:
        return ["dkim_domain_or_sel_invalid", domain]
    if not selector or not _SELECTOR_RE.fullmatch(selector):
        return ["dkim_domain_or_sel_invalid", domain]
    if domain not in sb.domains:
        return ["access_denied", domain]
    if php_intval(key_size) not in DKIM_KEY_SIZES:  # openssl would fail or take minutes
        return ["dkim_domain_or_sel_invalid", domain]
    return None


def create_dkim(sb: MailcowSandbox, domains: list[str], selector: str, key_size: Any, log_fn: str = "dkim") -> Entries:
    """Create DKIM records (the keys come later, on first read: RSA generation is slow)."""
    data = {"domains": " ".join(domains), "dkim_selector": selector, "key_size": key_size}
    log = log_head(log_fn, "add", "dkim", data)
    entries: Entries = []
    for raw in domains:
        domain = idn_to_ascii(raw)
        if not domain:
            continue
        refusal = _refusal(sb, domain, selector, key_size)
        if refusal is not None:
            entries.append(sb.entry("danger", log, refusal))
            continue
        sb.dkim[domain] = {"selector": selector, "key_size": php_intval(key_size), "privkey": None, "pubkey": None}
        entries.append(sb.entry("success", log, ["dkim_added", domain]))
    return entries


def add_dkim(sb: MailcowSandbox, data: dict[str, Any], admin: bool) -> Entries:
    log = log_head("dkim", "add", "dkim", data)
    if not admin:
        return [sb.entry("danger", log, "access_denied")]
    domains = re.split(r"[ ,;\n]+", str(data.get("domains") or "").strip())
    selector = data.get("dkim_selector")
    selector = "dkim" if selector in (None, "") else str(selector)
    entries = create_dkim(sb, [d for d in domains if d], selector, data.get("key_size", 2048))
    if any(e["type"] == "success" for e in entries):
        sb.mutated()
    return entries


def _delete_one_dkim(sb: MailcowSandbox, item: Any) -> ItemAnswer:
    """The answer of delete/dkim for one item (the caller is an admin)."""
    domain = idn_to_ascii(str(item))
    if not is_valid_domain_name(domain):
        return refused(["dkim_domain_or_sel_invalid", domain])
    existed = sb.dkim.pop(domain, None) is not None
    return done(["dkim_removed", domain], changed=existed)  # success even when none existed


def delete_dkim(sb: MailcowSandbox, items: list[Any], admin: bool) -> Entries:
    log = log_head("dkim", "delete", "dkim", {"domains": items})
    if not admin:
        return [sb.entry("danger", log, "access_denied")]
    return sb.answer_each(log, items, lambda item: _delete_one_dkim(sb, item))


def get_dkim(sb: MailcowSandbox, domain: str) -> Any:
    record = sb.dkim.get(idn_to_ascii(domain))
    if record is None:
        return {}
    pubkey = record["pubkey"]
    txt = f"v=DKIM1;k=rsa;t=s;s=email;p={pubkey}"
    if sb.config.split_dkim_255:
        txt = " ".join(f'"{txt[i : i + 255]}"' for i in range(0, len(txt), 255))
    privkey = ""
    if sb.config.show_dkim_priv_keys:
        privkey = base64.b64encode(record["privkey"].encode()).decode()
    return {
        "pubkey": pubkey,
        "length": dkim_length(pubkey),
        "dkim_txt": txt,
        "dkim_selector": record["selector"],
        "privkey": privkey,
    }


async def ensure_dkim_key(sb: MailcowSandbox, domain: str) -> None:
    """Generate the RSA key of a DKIM record on first read (off the event loop)."""
    domain = idn_to_ascii(domain)
    with sb.lock:
        record = sb.dkim.get(domain)
        if record is None or record.get("pubkey"):
            return
        bits = int(record["key_size"])
    priv, pub = await anyio.to_thread.run_sync(generate_dkim_key, bits, sb.config.dkim_reuse_keys)
    with sb.lock:
        record = sb.dkim.get(domain)
        if record is not None and not record.get("pubkey") and int(record["key_size"]) == bits:
            record["privkey"], record["pubkey"] = priv, pub
            sb.persist()
