"""The HTTP service: one Flask app holding the SPARQL endpoint, the WoT Thing Description
Directory, the model/recommend JSON API and the web explorer, all over one `Store`.

This module only assembles the app: configuration, the views, and one app-wide handler that turns
input and store errors into problem details. Shared state lives in `registry.state`, problem
details in `registry.problems`; views import those, never this module."""
from __future__ import annotations

import os
from typing import Any

from flask import Flask, current_app, request
from werkzeug.exceptions import HTTPException

from kg.errors import InputError
from kg.store import Store, StorageError
from registry.problems import ProblemError, problem
from registry.state import Registry

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
API_PREFIXES = ("/sparql", "/things", "/search", "/events", "/models", "/feasible", "/recommend", "/predict",
                "/.well-known", "/api")


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

    @app.errorhandler(InputError)
    def _input_error(exc: InputError):  # bad input anywhere below a view: 400 naming the field
        errors = [{"field": f or "", "description": m} for f, m in exc.problems]
        return _problem_error(ProblemError(400, "Invalid input", exc.one_line(), validationErrors=errors))

    @app.errorhandler(StorageError)
    def _storage_error(exc: StorageError):  # the disk or the SPARQL server failed: not the client's fault
        # str(exc): a kept log record must not pin the store through the exception's traceback
        app.logger.error("storage failure on %s %s: %s", request.method, request.path, str(exc))
        status = 507 if exc.disk_full else 503
        return _problem_error(ProblemError(status, "Insufficient Storage" if status == 507 else "Service Unavailable",
                                           f"the store could not complete the request: {exc}",
                                           headers={"Retry-After": "30"}))

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        if _wants_problem():
            return problem(500, "Internal Server Error", f"{type(exc).__name__}: {exc}")
        return explorer.error_page(500, "Internal Server Error", f"{type(exc).__name__}: {exc}")

    return app
