"""Mail domains: add/domain (with its DKIM key), edit/domain, delete/domain, get/domain."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from azt3knet_pipeline.sandbox.mailcow.config import DOMAIN_DEFAULTS, MIB
from azt3knet_pipeline.sandbox.mailcow.dkim import create_dkim
from azt3knet_pipeline.sandbox.mailcow.php import (
    flag,
    idn_to_ascii,
    idn_to_unicode,
    is_valid_domain_name,
    like_tags,
    log_head,
    now,
    php_empty,
    php_intval,
    php_is_numeric,
    strip_angles,
    tag_list,
)
from azt3knet_pipeline.sandbox.mailcow.state import done, refused

if TYPE_CHECKING:
    from azt3knet_pipeline.sandbox.mailcow.state import Entries, ItemAnswer, LogHead, MailcowSandbox

SWITCHES = ("active", "backupmx", "gal", "relay_all_recipients", "relay_unknown_only")


def _pick(data: dict[str, Any], key: str) -> Any:
    value = data.get(key)
    return DOMAIN_DEFAULTS[key] if value is None else value


def _new_domain_problem(sb: MailcowSandbox, data: dict[str, Any]) -> Any:
    """Why add/domain refuses `data` (in Mailcow's order of checks), else None."""
    defquota, maxquota, quota = (php_intval(_pick(data, k)) for k in ("defquota", "maxquota", "quota"))
    if defquota > maxquota:
        return "mailbox_defquota_exceeds_mailbox_maxquota"
    if maxquota > quota:
        return "mailbox_quota_exceeds_domain_quota"
    if defquota <= 0:
        return "defquota_empty"
    if maxquota <= 0:
        return "maxquota_empty"
    domain = idn_to_ascii(str(data.get("domain") or ""))
    if not is_valid_domain_name(domain):
        return "domain_invalid"
    for value in (_pick(data, k) for k in ("aliases", "mailboxes", "maxquota", "quota")):
        if not php_is_numeric(value):
            return ["object_is_not_numeric", str(value)]
    if domain in sb.domains:
        return ["domain_exists", domain]
    if domain == sb.config.mailcow_hostname.lower():
        return "domain_cannot_match_hostname"
    return None


def _domain_record(domain: str, data: dict[str, Any]) -> dict[str, Any]:
    created = now()
    description = data.get("description")
    return {
        "domain_name": domain,
        "description": domain if description in (None, "") else strip_angles(description),
        **{k: php_intval(_pick(data, k)) for k in ("aliases", "mailboxes", "defquota", "maxquota", "quota")},
        **{k: flag(_pick(data, k)) for k in SWITCHES},
        "relayhost": "0",
        "tags": tag_list(data.get("tags")),
        "rl": None,
        "created": created,
        "modified": created,
    }


def _domain_dkim(sb: MailcowSandbox, domain: str, data: dict[str, Any], log: LogHead) -> Entries:
    """The DKIM key add/domain creates (skipped for an empty key size or selector; an old key is reused)."""
    key_size = data.get("key_size", DOMAIN_DEFAULTS["key_size"])
    selector = data.get("dkim_selector", DOMAIN_DEFAULTS["dkim_selector"])
    key_size = DOMAIN_DEFAULTS["key_size"] if key_size is None else key_size
    selector = DOMAIN_DEFAULTS["dkim_selector"] if selector is None else selector
    if php_empty(key_size) or php_empty(selector):
        return []
    if domain in sb.dkim:
        return [sb.entry("success", log, ["domain_add_dkim_available", domain])]
    return create_dkim(sb, [domain], str(selector), key_size, log_fn="dkim")


def add_domain(sb: MailcowSandbox, data: dict[str, Any], admin: bool) -> Entries:
    log = log_head("mailbox", "add", "domain", data)
    if not admin:
        return [sb.entry("danger", log, "access_denied")]
    problem = _new_domain_problem(sb, data)
    if problem is not None:
        return [sb.entry("danger", log, problem)]
    domain = idn_to_ascii(str(data.get("domain") or ""))
    sb.domains[domain] = _domain_record(domain, data)
    entries = _domain_dkim(sb, domain, data, log)
    rl_value = data.get("rl_value")
    if not php_empty(rl_value):
        sb.domains[domain]["rl"] = {"value": php_intval(rl_value), "frame": str(data.get("rl_frame") or "s")}
        entries.append(sb.entry("success", log, ["rl_saved", domain]))
    entries.append(sb.entry("success", log, ["domain_added", domain]))
    sb.mutated()
    return entries


def _limits_problem(sb: MailcowSandbox, domain: str, limits: dict[str, int]) -> Any:
    """Why edit/domain refuses the new limits (in Mailcow's order of checks), else None."""
    count, quota_all = sb.domain_usage(domain)
    biggest = sb.biggest_mailbox(domain)
    if limits["defquota"] > limits["maxquota"]:
        return "mailbox_defquota_exceeds_mailbox_maxquota"
    if limits["maxquota"] > limits["quota"]:
        return "mailbox_quota_exceeds_domain_quota"
    if biggest > limits["maxquota"]:
        return ["max_quota_in_use", biggest]
    if quota_all > limits["quota"]:
        return ["domain_quota_m_in_use", quota_all]
    if count > limits["mailboxes"]:
        return ["mailboxes_in_use", count]
    if sb.alias_count(domain) > limits["aliases"]:
        return ["aliases_in_use", sb.alias_count(domain)]
    return None


def _apply_domain_attr(dom: dict[str, Any], attr: dict[str, Any], limits: dict[str, int]) -> None:
    dom.update(limits)
    for k in SWITCHES:
        if attr.get(k) is not None:
            dom[k] = flag(attr[k])
    if attr.get("description") is not None:
        dom["description"] = strip_angles(attr["description"])
    tags = attr.get("tags")
    if isinstance(tags, str):
        tags = [tags]
    if isinstance(tags, list):  # tags are ADDED, existing ones are kept
        for tag in tags:
            if str(tag) and str(tag) not in dom["tags"]:
                dom["tags"].append(str(tag))
    dom["modified"] = now()


def _edit_one_domain(sb: MailcowSandbox, item: Any, attr: dict[str, Any], admin: bool) -> ItemAnswer:
    """The answer of edit/domain for one item."""
    domain = idn_to_ascii(str(item))
    if not is_valid_domain_name(domain):
        return refused("domain_invalid")
    dom = sb.domains.get(domain)
    if admin and dom is None and sb.config.quirk_edit_missing_domain_invalid:
        return refused(["domain_invalid", domain])
    if not admin or dom is None:
        return refused("access_denied")
    limits = {
        k: php_intval(attr[k]) if attr.get(k) is not None else int(dom[k])
        for k in ("defquota", "maxquota", "quota", "mailboxes", "aliases")
    }
    problem = _limits_problem(sb, domain, limits)
    if problem is not None:
        return refused(problem)
    _apply_domain_attr(dom, attr, limits)
    return done(["domain_modified", domain])


def edit_domain(sb: MailcowSandbox, items: list[Any], attr: dict[str, Any], admin: bool) -> Entries:
    log = log_head("mailbox", "edit", "domain", {**attr, "domain": items})
    return sb.answer_each(log, items, lambda item: _edit_one_domain(sb, item, attr, admin))


def _delete_one_domain(sb: MailcowSandbox, item: Any) -> ItemAnswer:
    """The answer of delete/domain for one item (the caller is an admin)."""
    domain = idn_to_ascii(str(item))
    if not is_valid_domain_name(domain):
        return refused("domain_invalid")
    if sb.by_domain.get(domain):
        return refused(["domain_not_empty", domain])
    # Like Mailcow, deleting a domain that does not exist still reports domain_removed (derived).
    existed = sb.domains.pop(domain, None) is not None
    if not sb.config.quirk_delete_domain_keeps_dkim:
        sb.dkim.pop(domain, None)  # the real code leaves the key in Redis (contract §7)
    for address, alias in list(sb.aliases.items()):
        if alias["domain"] == domain:
            del sb.aliases[address]
    return done(["domain_removed", domain], changed=existed)


def delete_domains(sb: MailcowSandbox, items: list[Any], admin: bool) -> Entries:
    log = log_head("mailbox", "delete", "domain", {"domain": items})
    if not admin:
        return [sb.entry("danger", log, "access_denied")]
    return sb.answer_each(log, items, lambda item: _delete_one_domain(sb, item))


def domain_details(sb: MailcowSandbox, domain: str) -> dict[str, Any]:
    d = sb.domains[domain]
    count, quota_all = sb.domain_usage(domain)
    aliases_in = sb.alias_count(domain)
    left_mib = max(0, d["quota"] - quota_all)
    details: dict[str, Any] = {
        "max_new_mailbox_quota": min(d["maxquota"], left_mib) * MIB,
        "def_new_mailbox_quota": min(d["defquota"], left_mib) * MIB,
        "quota_used_in_domain": str(quota_all * MIB),
        "bytes_total": 0,  # no mail is ever delivered here
        "msgs_total": 0,
        "mboxes_in_domain": count,
        "mboxes_left": max(0, d["mailboxes"] - count),
        "domain_name": domain,
        "domain_h_name": idn_to_unicode(domain),
        "description": d["description"],
        "max_num_aliases_for_domain": d["aliases"],
        "max_num_mboxes_for_domain": d["mailboxes"],
        "def_quota_for_mbox": d["defquota"] * MIB,
        "max_quota_for_mbox": d["maxquota"] * MIB,
        "max_quota_for_domain": d["quota"] * MIB,
        "relayhost": d.get("relayhost", "0"),
    }
    for k in ("backupmx", "gal", "active", "relay_all_recipients", "relay_unknown_only"):  # Mailcow's key order
        details[k] = details[f"{k}_int"] = d[k]
    details.update(
        {
            "aliases_in_domain": aliases_in,
            "aliases_left": max(0, d["aliases"] - aliases_in),
            "domain_admins": "\u2014",
            "rl": d.get("rl") or False,
            "tags": list(d["tags"]),
            "created": d["created"],
            "modified": d["modified"],
        }
    )
    if not d["tags"] and sb.config.quirk_untagged_domain_has_no_tags_key:
        del details["tags"]
    return details


def get_domains(sb: MailcowSandbox, obj: str, tags: list[str] | None) -> Any:
    if obj == "all":
        names = sorted(sb.domains)
        if tags:
            names = [n for n in names if like_tags(sb.domains[n]["tags"], tags)]
        return [domain_details(sb, n) for n in names] or {}
    domain = idn_to_ascii(obj)
    return domain_details(sb, domain) if domain in sb.domains else {}
