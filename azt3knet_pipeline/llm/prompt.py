"""The prompt of one persona field: deterministic text the Ollama backend sends and the offline backend reads back.

`build_prompt` writes persona context as canonical JSON (sorted keys, builtins only), so the same persona gives the
same prompt -- and the same cache key -- in every process, whatever container types the caller used.
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Mapping, Sequence, Set
from typing import Any

from azt3knet_pipeline.domain.models import canonical_json

FIELD_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")  # fits `llm_cache.field` (String(64))

_PROMPT_HEADER = (
    "You write one field of a synthetic social-media persona. The persona is fictional test data "
    "and does not describe a real person."
)
_FIELD_LINE = "Field: "
_PERSONA_LINE = "Persona (JSON): "
_FIELD_HINTS = {
    "bio": "a third-person profile bio of one or two sentences, under 200 characters",
    "headline": "a profile headline of at most ten words",
    "motto": "a personal motto of at most twelve words",
    "tone": "one or two words describing how this persona writes",
    "posting_cadence": "a short phrase saying how often this persona posts",
}


def check_field(field: str) -> str:
    """`field` if it is an identifier that fits the cache's field column, else ValueError."""
    if not isinstance(field, str) or not FIELD_RE.fullmatch(field):
        raise ValueError(f"field must be an identifier of at most 64 characters (letters, digits, _), got {field!r}")
    return field


def check_seed(seed: int) -> int:
    """`seed` as a plain int; TypeError for anything that is not an integer."""
    # numpy integers are accepted (they implement __index__); bools and floats are almost certainly mistakes.
    if isinstance(seed, bool) or not hasattr(seed, "__index__"):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    return operator.index(seed)


def plain(value: Any) -> Any:
    """`value` as JSON-able builtins, so the prompt is identical for numpy/pandas/tuple/set inputs."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if type(value).__module__ == "numpy" and hasattr(value, "tolist"):
        return plain(value.tolist())  # numpy scalars and arrays
    if isinstance(value, Set):
        return sorted((plain(v) for v in value), key=canonical_json)
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        return [plain(v) for v in value]
    return str(value)


def build_prompt(field: str, context: Mapping[str, Any]) -> str:
    """The prompt for one field: deterministic (canonical JSON, sorted keys), one short plain-text answer.

    The `Field:` and `Persona (JSON):` lines are also what `OfflineBackend.generate` reads back.
    """
    check_field(field)
    persona = canonical_json(plain(dict(context)))
    hint = _FIELD_HINTS.get(field, f"a short value for {field.replace('_', ' ')}, at most one sentence")
    return "\n".join(
        (
            _PROMPT_HEADER,
            f"Write {hint}, consistent with the persona below.",
            "Answer with the value only: a single short line of plain text, no quotes, labels, markdown or "
            "explanations.",
            f"{_FIELD_LINE}{field}",
            f"{_PERSONA_LINE}{persona}",
        )
    )


def parse_prompt(prompt: str) -> tuple[str, dict[str, Any]] | None:
    """(field, persona) read back from a `build_prompt` prompt; None for any other text."""
    field: str | None = None
    persona: Any = None
    for line in prompt.splitlines():
        if line.startswith(_FIELD_LINE):
            field = line[len(_FIELD_LINE) :].strip()
        elif line.startswith(_PERSONA_LINE):
            try:
                persona = json.loads(line[len(_PERSONA_LINE) :])
            except ValueError:
                return None
    if field is None or not FIELD_RE.fullmatch(field) or not isinstance(persona, dict):
        return None
    return field, persona
