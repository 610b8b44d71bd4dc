"""deSEC's cursor pagination (`desecapi/pagination.py`): 400 + `Link: rel="first"` above the page size without a
cursor, then pages linked by `rel="next"` / `rel="prev"`."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from azt3knet_pipeline.sandbox.desec.models import fail, json_response

Rows = list[tuple[int, dict[str, Any]]]


def _bounds(cursor: str, rows: Rows, size: int) -> tuple[int, int]:
    """(start, end) of the page a cursor names: "" is the first page; else a position and a direction."""
    if cursor == "":
        return 0, min(size, len(rows))
    try:
        decoded = json.loads(base64.urlsafe_b64decode(cursor.encode()).decode())
        position, reverse = int(decoded["p"]), bool(decoded["r"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise fail(404, "Invalid cursor") from None
    if reverse:
        end = sum(1 for seq, _ in rows if seq > position)
        return max(0, end - size), end
    start = next((i for i, (seq, _) in enumerate(rows) if seq < position), len(rows))
    return start, min(start + size, len(rows))


def paginate(request: Request, rows: Rows, size: int) -> Response:
    """deSEC cursor pagination over rows sorted newest first ((seq, object) pairs)."""
    params = request.query_params
    if "cursor" not in params:
        if len(rows) > size:
            first = str(request.url.include_query_params(cursor=""))
            detail = (
                f"Pagination required. You can query up to {size} items at a time ({len(rows)} total). "
                "Please use the `first` page link (see Link header)."
            )
            raise fail(400, detail, {"Link": f'<{first}>; rel="first"'})
        return json_response([obj for _, obj in rows])
    start, end = _bounds(params["cursor"], rows, size)
    page = rows[start:end]

    def link(p: int, r: int) -> str:
        token = base64.urlsafe_b64encode(json.dumps({"p": p, "r": r}).encode()).decode()
        return str(request.url.include_query_params(cursor=token))

    links = [f'<{request.url.include_query_params(cursor="")}>; rel="first"']
    if page and start > 0:
        links.append(f'<{link(page[0][0], 1)}>; rel="prev"')
    if page and end < len(rows):
        links.append(f'<{link(page[-1][0], 0)}>; rel="next"')
    return json_response([obj for _, obj in page], headers={"Link": ", ".join(links)})
