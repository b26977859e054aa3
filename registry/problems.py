"""RFC 7807 problem details: what every HTTP error of the service answers with."""
from __future__ import annotations

import json

from flask import Response


class ProblemError(Exception):
    """Raise from a view to answer RFC 7807 problem details."""

    def __init__(self, status: int, title: str, detail: str | None = None, headers: dict | None = None, **extra):
        super().__init__(detail or title)
        self.status, self.title, self.detail, self.extra = status, title, detail, extra
        self.headers = headers or {}


def problem(status: int, title: str, detail: str | None = None, headers: dict | None = None, **extra) -> Response:
    """An RFC 7807 problem details response (UTF-8 JSON)."""
    body = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    resp = Response(json.dumps(body, ensure_ascii=False).encode("utf-8"), status,
                    content_type="application/problem+json; charset=utf-8")
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp
