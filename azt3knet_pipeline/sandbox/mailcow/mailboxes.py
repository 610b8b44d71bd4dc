"""Mailboxes: add/mailbox (with its self-alias), edit/mailbox, delete/mailbox (not idempotent), get/mailbox, and
the "someone else created it first" race."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from azt3knet_pipeline.sandbox.mailcow.config import ACCESS_FLAGS, MAILBOX_ATTRIBUTE_DEFAULTS, MIB
from azt3knet_pipeline.sandbox.mailcow.passwords import hash_password
from azt3knet_pipeline.sandbox.mailcow.php import (
    idn_to_ascii,
    is_valid_domain_name,
    is_valid_email,
    like_tags,
    log_head,
    now,
    php_intval,
    strip_angles,
    tag_list,
)
from azt3knet_pipeline.sandbox.mailcow.state import done, refused

if TYPE_CHECKING:
    from azt3knet_pipeline.sandbox.mailcow.state import Entries, ItemAnswer, MailcowSandbox

ADD_SWITCHES = ("force_pw_update", "force_tfa", "tls_enforce_in", "tls_enforce_out", *ACCESS_FLAGS)
# edit/mailbox ignores tls_enforce_* (it answers mailbox_modified and changes nothing, contract §7).
EDIT_SWITCHES = ("force_pw_update", "force_tfa", *ACCESS_FLAGS)


def _address(data: dict[str, Any]) -> tuple[str, str]:
    return str(data.get("local_part") or "").strip().lower(), idn_to_ascii(str(data.get("domain") or ""))


def _new_mailbox_problem(sb: MailcowSandbox, data: dict[str, Any], admin: bool) -> Any:
    """Why add/mailbox refuses `data` (in Mailcow's order of checks), else None."""
    local_part, domain = _address(data)
    username = f"{local_part}@{domain}"
    if not local_part or not is_valid_email(username):
        return "mailbox_invalid"
    category = data.get("quarantine_category")
    if category not in (None, "") and category not in ("add_header", "reject", "all"):
        return "quarantine_category_invalid"
    if not is_valid_domain_name(domain):
        return "domain_invalid"
    if not admin or domain not in sb.domains:
        return "access_denied"
    if username in sb.mailboxes:
        return ["object_exists", username]
    if username in sb.aliases:
        return ["is_alias", username]
    if str(data.get("authsource") or "mailcow") == "mailcow":
        problem = sb.password_check(data.get("password"), data.get("password2"))
        if problem:
            return problem
    dom = sb.domains[domain]
    count, quota_all = sb.domain_usage(domain)
    quota_m = _quota(data)
    if count >= dom["mailboxes"]:
        return ["max_mailbox_exceeded", count, dom["mailboxes"]]
    if quota_m > dom["maxquota"]:
        return ["mailbox_quota_exceeded", dom["maxquota"]]
    if quota_all + quota_m > dom["quota"]:
        return ["mailbox_quota_left_exceeded", dom["quota"] - quota_all]
    return None


def _quota(data: dict[str, Any]) -> int:
    return php_intval(data.get("quota")) if data.get("quota") is not None else 0


def _set_switches(attributes: dict[str, str], source: dict[str, Any], keys: tuple[str, ...]) -> None:
    for k in keys:
        if source.get(k) is not None:
            attributes[k] = "1" if php_intval(source[k]) else "0"
    if isinstance(source.get("protocol_access"), list):
        granted = {str(p) for p in source["protocol_access"]}
        for access in ACCESS_FLAGS:
            attributes[access] = "1" if access.removesuffix("_access") in granted else "0"


def _new_attributes(data: dict[str, Any]) -> dict[str, str]:
    attributes = dict(MAILBOX_ATTRIBUTE_DEFAULTS)
    _set_switches(attributes, data, ADD_SWITCHES)
    for k in ("quarantine_notification", "quarantine_category", "attribute_hash"):
        if data.get(k) not in (None, ""):
            attributes[k] = str(data[k])
    if data.get("relayhost") is not None:
        attributes["relayhost"] = str(php_intval(data["relayhost"]))
    return attributes


def add_mailbox(sb: MailcowSandbox, data: dict[str, Any], admin: bool) -> Entries:
    log = log_head("mailbox", "add", "mailbox", data)
    problem = _new_mailbox_problem(sb, data, admin)
    if problem is not None:
        return [sb.entry("danger", log, problem)]
    local_part, domain = _address(data)
    username = f"{local_part}@{domain}"
    entries: Entries = []
    tags = tag_list(data.get("tags"))
    if len(tags) > sb.config.tagging_limit:
        tags = tags[: sb.config.tagging_limit]
        entries.append(sb.entry("warning", log, ["tag_limit_exceeded", sb.config.tagging_limit]))
    created = now()
    name = data.get("name")
    sb.mailboxes[username] = {
        "username": username,
        "local_part": local_part,
        "domain": domain,
        "name": local_part if name in (None, "") else strip_angles(name),
        "password_hash": hash_password(str(data.get("password") or "")),
        "quota_mib": _quota(data),
        "active": 1 if php_intval(data.get("active", 1)) else 0,
        "authsource": str(data.get("authsource") or "mailcow"),
        "attributes": _new_attributes(data),
        "tags": tags,
        "created": created,
        "modified": created,
    }
    sb.index_add(sb.mailboxes[username])
    sb.aliases[username] = {"address": username, "goto": username, "domain": domain, "active": 1}
    if sb.config.quirk_rl_saved_entry:  # the real code appends it first, even without a rate limit
        entries.append(sb.entry("success", log, ["rl_saved", username]))
    entries.append(sb.entry("success", log, ["mailbox_added", username]))
    sb.mutated()
    return entries


def race_foreign_mailbox(sb: MailcowSandbox, data: Any) -> None:
    """If this add/mailbox targets a `foreign_race_addresses` entry, someone else creates it first."""
    if not isinstance(data, dict):
        return
    local, domain = _address(data)
    address = f"{local}@{domain}"
    with sb.lock:
        if address not in sb.config.foreign_race_addresses:
            return
        sb.config.foreign_race_addresses = [a for a in sb.config.foreign_race_addresses if a != address]
        password = "Someone-elses-1"
        add_mailbox(sb, {"local_part": local, "domain": domain, "password": password, "password2": password}, True)


def _quota_problem(sb: MailcowSandbox, box: dict[str, Any], quota_m: int) -> Any:
    dom = sb.domains[box["domain"]]
    _count, quota_all = sb.domain_usage(box["domain"])
    left = dom["quota"] - (quota_all - box["quota_mib"])
    if quota_m > left:
        return ["mailbox_quota_left_exceeded", left]
    if quota_m > dom["maxquota"]:
        return ["mailbox_quota_exceeded", dom["maxquota"]]
    return None


def _apply_mailbox_attr(sb: MailcowSandbox, box: dict[str, Any], attr: dict[str, Any]) -> None:
    if attr.get("active") is not None:
        box["active"] = 1 if php_intval(attr["active"]) else 0
    if attr.get("name") is not None:
        box["name"] = strip_angles(attr["name"])
    if attr.get("authsource") not in (None, ""):
        box["authsource"] = str(attr["authsource"])
    _set_switches(box["attributes"], attr, EDIT_SWITCHES)
    if attr.get("relayhost") is not None:
        box["attributes"]["relayhost"] = str(php_intval(attr["relayhost"]))
    if attr.get("attribute_hash") is not None:
        box["attributes"]["attribute_hash"] = str(attr["attribute_hash"])
    tags = attr.get("tags")
    if isinstance(tags, str):
        tags = [tags]
    if isinstance(tags, list):  # tags are ADDED, existing ones are kept
        for tag in (str(t) for t in tags):
            if tag and tag not in box["tags"] and len(box["tags"]) < sb.config.tagging_limit:
                box["tags"].append(tag)
    box["modified"] = now()


def _edit_one_mailbox(sb: MailcowSandbox, item: Any, attr: dict[str, Any], admin: bool) -> ItemAnswer:
    """The answer of edit/mailbox for one item."""
    username = str(item).strip().lower()
    if not is_valid_email(username):
        return refused(["username_invalid", str(item)])
    box = sb.mailboxes.get(username)
    if not admin or box is None:
        return refused("access_denied")
    quota_m = box["quota_mib"] if attr.get("quota") is None else php_intval(attr["quota"])
    problem = None if attr.get("quota") is None else _quota_problem(sb, box, quota_m)
    if problem is None and attr.get("password") not in (None, ""):
        problem = sb.password_check(attr.get("password"), attr.get("password2"))
    if problem:
        return refused(problem)
    if attr.get("password") not in (None, ""):
        box["password_hash"] = hash_password(str(attr["password"]))
        box["attributes"]["passwd_update"] = now()
    sb.set_quota(box, quota_m)
    _apply_mailbox_attr(sb, box, attr)
    return done(["mailbox_modified", username])


def edit_mailbox(sb: MailcowSandbox, items: list[Any], attr: dict[str, Any], admin: bool) -> Entries:
    log = log_head("mailbox", "edit", "mailbox", {**attr, "username": items})
    return sb.answer_each(log, items, lambda item: _edit_one_mailbox(sb, item, attr, admin))


def _delete_one_mailbox(sb: MailcowSandbox, item: Any, admin: bool) -> ItemAnswer:
    """The answer of delete/mailbox for one item."""
    username = str(item).strip().lower()
    if not admin or not is_valid_email(username) or username not in sb.mailboxes:
        return refused("access_denied")  # not idempotent
    sb.index_remove(sb.mailboxes.pop(username))
    sb.aliases.pop(username, None)  # the self-alias
    return done(["mailbox_removed", username])


def delete_mailboxes(sb: MailcowSandbox, items: list[Any], admin: bool) -> Entries:
    log = log_head("mailbox", "delete", "mailbox", {"username": items})
    return sb.answer_each(log, items, lambda item: _delete_one_mailbox(sb, item, admin))


def mailbox_details(sb: MailcowSandbox, username: str, reduced: bool = False) -> dict[str, Any]:
    m = sb.mailboxes[username]
    as_int = sb.config.quirk_int_fields
    details: dict[str, Any] = {
        "username": username,
        "active": m["active"] if as_int else str(m["active"]),
        "active_int": m["active"],
        "domain": m["domain"],
        "name": m["name"],
        "local_part": m["local_part"],
        "quota": m["quota_mib"] * MIB if as_int else str(m["quota_mib"] * MIB),
        "quota_used": 0,
        "messages": 0,
        "percent_in_use": "- " if m["quota_mib"] == 0 else 0,
        "percent_class": "success",
        "attributes": dict(m["attributes"]),
        "custom_attributes": {},
        "created": m["created"],
        "modified": m["modified"],
        "authsource": m["authsource"],
        "last_imap_login": 0,
        "last_smtp_login": 0,
        "last_pop3_login": 0,
        "last_sso_login": 0,
        "tags": list(m["tags"]),
    }
    if not reduced:
        dom = sb.domains.get(m["domain"], {})
        _count, quota_all = sb.domain_usage(m["domain"])
        left = dom.get("quota", 0) - quota_all + m["quota_mib"]
        details.update(
            {
                "max_new_quota": min(dom.get("maxquota", 0), left) * MIB,
                "spam_aliases": 0,
                "pushover_active": 0,
                "rl": False,
                "rl_scope": "domain",
                "is_relayed": 0,
                "sender_acl": 0,
            }
        )
    return details


def _listed_domains(sb: MailcowSandbox, extra: str) -> list[str]:
    domains = [idn_to_ascii(d) for d in extra.split(",") if d.strip()] if extra else sorted(sb.domains)
    if sb.config.quirk_mailbox_all_missing_domain_lists_all and any(d not in sb.domains for d in domains):
        return sorted(sb.domains)  # the real code then answers every mailbox on the server
    return domains


def _tagged(sb: MailcowSandbox, suffix: str, tags: list[str]) -> list[str]:
    """With tags Mailcow matches `username LIKE '%<domain>'` (so sub-domains match too)."""
    return [u for u in sorted(sb.mailboxes) if u.endswith(suffix) and like_tags(sb.mailboxes[u]["tags"], tags)]


def get_mailboxes(sb: MailcowSandbox, obj: str, extra: str, tags: list[str] | None) -> Any:
    if obj in ("all", "reduced"):
        out = []
        for domain in _listed_domains(sb, extra):
            if not is_valid_domain_name(domain):
                continue
            names = sorted(sb.by_domain.get(domain, {})) if tags is None else _tagged(sb, domain, tags)
            out.extend(mailbox_details(sb, u, obj == "reduced") for u in names)
        return out or {}
    if tags is not None:
        return [mailbox_details(sb, u) for u in _tagged(sb, obj.lower(), tags)] or {}
    username = obj.strip().lower()
    return mailbox_details(sb, username) if username in sb.mailboxes else {}
