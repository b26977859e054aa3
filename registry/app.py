"""The HTTP service: one Flask app holding the SPARQL endpoint, the WoT Thing Description
Directory, the model/recommend JSON API and the web explorer, all over one `Store`.

Shared here: configuration, the per-app `Registry` state (store, write lock, a generation
counter that read caches key on), RFC 7807 problem details and the write-access check."""
from __future__ import annotations

import functools
import hmac
import json
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException

from kg.store import Store

MB = 1024 * 1024

DEFAULT_CONFIG: dict[str, Any] = {
    "STORE_PATH": None,            # None: an in-memory store
    "ARACHNE_TOKEN": None,         # writes need `Authorization: Bearer <token>` when set (env ARACHNE_TOKEN)
    "SPARQL_TIMEOUT_S": 10.0,      # a query still running after this answers 503
    "SPARQL_ROW_CAP": 10000,       # LIMIT injected into SELECT/CONSTRUCT/DESCRIBE
    "SPARQL_WORKERS": 4,           # threads that run queries (bounds runaway queries)
    "SPARQL_MAX_PENDING": 32,      # queries queued or running beyond this answer 503 at once
    "MAX_TD_BYTES": 5 * MB,
    "MAX_MODEL_BYTES": 50 * MB,
    "MAX_CONTENT_LENGTH": 50 * MB,  # Flask's global ceiling; routes lower it
    "THINGS_PAGE_LIMIT": 100,       # default page size of GET /things when no limit is given
    "SSE_KEEPALIVE_S": 15.0,
    "SSE_MAX_STREAM_S": 600.0,      # a stream ends after this; EventSource clients reconnect with Last-Event-ID
    "SSE_MAX_STREAMS": 6,           # open event streams (each holds a server thread); more get 503
    "EVENT_HISTORY": 1000,          # events kept for replay to re-connecting clients
}

# Path prefixes whose errors are RFC 7807 problem details (the rest are explorer pages).
API_PREFIXES = ("/sparql", "/things", "/search", "/events", "/models", "/feasible", "/recommend",
                "/.well-known", "/api")


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


class LRU:
    """A small thread-safe LRU map for cached read answers."""

    def __init__(self, size: int = 256):
        self.size, self._data, self._lock = size, OrderedDict(), threading.Lock()

    def get(self, key):
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
        return None

    def put(self, key, value) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)


@dataclass
class Registry:
    """What every view shares: the store, one lock that serialises writes, and a generation
    number bumped by every write so cached reads know when they are stale."""

    store: Store
    config: dict
    write_lock: threading.RLock = field(default_factory=threading.RLock)
    generation: int = 0
    cache: LRU = field(default_factory=lambda: LRU(512))
    services: dict = field(default_factory=dict)  # per-module state (query runner, event bus)

    def changed(self) -> None:
        """Call after every write: invalidates the read caches."""
        self.generation += 1

    def service(self, name: str, make: Callable[[], Any]):
        """The per-app object `name` (query runner, event bus, Thing index), made once on first use."""
        found = self.services.get(name)
        if found is None:
            with self.write_lock:  # double-checked: two first requests must not make two
                found = self.services.get(name)
                if found is None:
                    found = self.services[name] = make()
        return found

    def cached(self, key, compute: Callable[[], Any], max_age: float = 0.0):
        """`compute()` once per store generation (reads are cheap when nothing changed); with
        `max_age`, an answer up to that many seconds old is also good (pages under write load)."""
        generation, now = self.generation, time.monotonic()
        hit = self.cache.get(key)
        if hit is not None and (hit[0] == generation or now - hit[1] < max_age):
            return hit[2]
        value = compute()
        self.cache.put(key, (generation, now, value))
        return value


def registry() -> Registry:
    return current_app.extensions["arachne"]


def require_write_access(view):
    """Writes need `Authorization: Bearer <ARACHNE_TOKEN>` when a token is configured; reads stay open."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        token = current_app.config.get("ARACHNE_TOKEN")
        if token:
            given = request.headers.get("Authorization", "")
            scheme, _, value = given.partition(" ")
            is_form = request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded")
            if not value and is_form and request.form.get("token"):  # the explorer's upload form
                scheme, value = "bearer", request.form["token"]
            if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.encode()):
                return problem(401, "Unauthorized", "this directory is read-only without a valid bearer token",
                               headers={"WWW-Authenticate": 'Bearer realm="arachne"'})
        return view(*args, **kwargs)

    return wrapper


def _wants_problem() -> bool:
    if request.path.startswith(API_PREFIXES):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json", "application/problem+json"])
    return best in ("application/json", "application/problem+json")


def _limit_body() -> None:
    """Per-route request size limits: model uploads may be large, everything else is TD-sized."""
    cfg = current_app.config
    big = request.path.startswith(("/models", "/ui/models/upload"))
    request.max_content_length = cfg["MAX_MODEL_BYTES"] if big else cfg["MAX_TD_BYTES"]


def create_app(store: Store | None = None, config: dict | None = None) -> Flask:
    """The registry service over `store` (default: the store at config STORE_PATH, or memory)."""
    app = Flask(__name__)
    app.config.update(DEFAULT_CONFIG)
    app.config["ARACHNE_TOKEN"] = os.environ.get("ARACHNE_TOKEN") or None
    app.config.update(config or {})
    app.json.sort_keys = False
    app.url_map.merge_slashes = False  # TD ids are often URLs: /things/https://example.com/lamp
    if store is None:
        store = Store(app.config["STORE_PATH"])
    from kg.ids import ONTOLOGY_GRAPH

    if not store.has_graph(ONTOLOGY_GRAPH):  # class labels and units for the explorer
        from kg.loading import init_store

        init_store(store)
    app.extensions["arachne"] = Registry(store, app.config)

    from registry import api, explorer, sparql_endpoint, things

    for module in (sparql_endpoint, things, api, explorer):
        module.init_app(app)

    app.before_request(_limit_body)

    @app.errorhandler(ProblemError)
    def _problem_error(exc: ProblemError):
        if _wants_problem():
            return problem(exc.status, exc.title, exc.detail, headers=exc.headers, **exc.extra)
        return explorer.error_page(exc.status, exc.title, exc.detail)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        if exc.code == 413:
            limit = request.max_content_length
            return problem(413, "Payload Too Large", f"the request body is larger than this endpoint accepts ({limit} bytes)")
        if _wants_problem():
            resp = problem(exc.code or 500, exc.name, exc.description)
            if exc.code == 405 and exc.valid_methods:
                resp.headers["Allow"] = ", ".join(exc.valid_methods)
            return resp
        return explorer.error_page(exc.code or 500, exc.name, exc.description)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        if _wants_problem():
            return problem(500, "Internal Server Error", f"{type(exc).__name__}: {exc}")
        return explorer.error_page(500, "Internal Server Error", f"{type(exc).__name__}: {exc}")

    return app
