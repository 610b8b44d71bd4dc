"""DNS for populations and the mail host, pure: rrsets and their canonical form, TXT presentation, desired
rrsets, and the diff against what deSEC holds.

Modules: `rrset` (the RRset and normalisation), `txt` (TXT quoting and parsing), `desired` (desired rrsets of a
population and of the zone, DKIM records, a population's scope) and `diff` (plans of upserts/deletes, drift).
"""

from azt3knet_pipeline.domain.dns.desired import (
    MAILCOW_SRV_PORTS,
    MX_PRIORITY,
    DkimRecord,
    desired_base_rrsets,
    desired_population_rrsets,
    population_scope,
    validate_dkim_selector,
)
from azt3knet_pipeline.domain.dns.diff import RRsetDiff, diff_rrsets, drift_for_populations, drift_hash
from azt3knet_pipeline.domain.dns.rrset import (
    AUTOMATIC_TYPES,
    MAX_TTL,
    SUBNAME_RE,
    RRset,
    effective_ttl,
    normalise_record,
    normalise_rrset,
    sorted_rrsets,
)
from azt3knet_pipeline.domain.dns.txt import (
    TXT_STRING_MAX_BYTES,
    parse_txt_strings,
    present_txt,
    quote_txt,
    txt_content,
)

__all__ = [
    "AUTOMATIC_TYPES",
    "MAILCOW_SRV_PORTS",
    "MAX_TTL",
    "MX_PRIORITY",
    "SUBNAME_RE",
    "TXT_STRING_MAX_BYTES",
    "DkimRecord",
    "RRset",
    "RRsetDiff",
    "desired_base_rrsets",
    "desired_population_rrsets",
    "diff_rrsets",
    "drift_for_populations",
    "drift_hash",
    "effective_ttl",
    "normalise_record",
    "normalise_rrset",
    "parse_txt_strings",
    "population_scope",
    "present_txt",
    "quote_txt",
    "sorted_rrsets",
    "txt_content",
    "validate_dkim_selector",
]
