"""The read-only SPARQL 1.1 Protocol endpoint (/sparql) and the directory's SPARQL search
(/search/sparql), both over the store's union graph (or the dataset a query names with FROM).

Safety, and its limits (docs/registry-service.md, "SPARQL endpoint"):
* Read-only: only `query_serialized` is ever called, and Oxigraph's *query* parser refuses every
  update operation; update requests are refused before that with 403 (400 on /search/sparql).
* Text checks before the parser (kg.sparql_guard): nesting depth and tree size (a deeper query
  would overflow Oxigraph's native stack), SERVICE calls unless the operator allows endpoints,
  invalid UTF-8.
* Row cap: the cap is put into the query itself (a top-level LIMIT), so the engine stops early.
* Timeout and slots: queries run in worker processes over an on-disk store and are killed at
  the timeout (registry.query_workers); at most SPARQL_MAX_PENDING wait or run, at most
  SPARQL_PER_CLIENT of them for one client address.
"""
from __future__ import annotations

import hashlib
import math
import threading
import time
import urllib.parse
from collections import Counter

from flask import Blueprint, Flask, Response, request

from kg.sparql_guard import QueryRefused, QueryShape, analyse, check, refuse_services
from kg.store import StorageError, Store, StoreError
from registry.problems import ProblemError
from registry.query_workers import (ClientBusy, ProcessExecutor, QueryBusy, QueryCrashed, QueryTimeout,
                                    ThreadExecutor)
from registry.state import registry

bp = Blueprint("sparql", __name__)

UPDATE_WORDS = {"INSERT", "DELETE", "LOAD", "CLEAR", "CREATE", "DROP", "COPY", "MOVE", "ADD", "WITH"}
# Settings of this module (app config keys) and their defaults.
SETTINGS = {
    "SPARQL_PER_CLIENT": 2,            # queries one client address may have waiting or running
    "SPARQL_PENALTY_S": None,          # a client whose query was stopped early waits this long (default: the timeout)
    "SPARQL_SLOW_S": 0.5,              # CPU seconds after which a query is "long": lowest priority, half the workers at most
    "SPARQL_FEDERATION_ALLOW": (),     # SERVICE endpoints queries may call; empty: SERVICE is refused
    "SPARQL_WORKER_PROCESSES": True,   # on-disk stores: run queries in worker processes (killable)
}

# Media types by result kind: (mime, store format). The first entry is the default.
RESULT_TYPES = [
    ("application/sparql-results+json", "json"),
    ("application/json", "json"),
    ("application/sparql-results+xml", "xml"),
    ("application/xml", "xml"),
    ("text/xml", "xml"),
    ("text/csv", "csv"),
    ("text/tab-separated-values", "tsv"),
]
GRAPH_TYPES = [
    ("text/turtle", "turtle"),
    ("application/ld+json", "jsonld"),
    ("application/n-triples", "ntriples"),
    ("application/rdf+xml", "rdfxml"),
    ("application/json", "jsonld"),
    ("text/plain", "ntriples"),
]
SPARQL_RESULT_TYPES = {"application/sparql-results+json", "application/sparql-results+xml"}
# `format=` / `output=` parameter values (what SPARQLWrapper and people type) -> (results fmt, graph fmt)
FORMAT_ALIASES = {
    "json": ("json", "jsonld"), "xml": ("xml", "rdfxml"), "csv": ("csv", None), "tsv": ("tsv", None),
    "turtle": (None, "turtle"), "ttl": (None, "turtle"), "n3": (None, "turtle"),
    "json-ld": (None, "jsonld"), "jsonld": (None, "jsonld"),
    "nt": (None, "ntriples"), "ntriples": (None, "ntriples"), "n-triples": (None, "ntriples"),
    "rdf+xml": (None, "rdfxml"), "rdfxml": (None, "rdfxml"),
}
MIME_OF = {
    ("results", "json"): "application/sparql-results+json",
    ("results", "xml"): "application/sparql-results+xml",
    ("results", "csv"): "text/csv",
    ("results", "tsv"): "text/tab-separated-values",
    ("graph", "turtle"): "text/turtle",
    ("graph", "jsonld"): "application/ld+json",
    ("graph", "ntriples"): "application/n-triples",
    ("graph", "rdfxml"): "application/rdf+xml",
}


def cap_rows(sparql: str, cap: int, shape: QueryShape | None = None) -> tuple[str, bool]:
    """The query with a top-level LIMIT of at most `cap`; (text, whether it was changed)."""
    shape = shape or analyse(sparql)
    if not cap or shape.form not in ("SELECT", "CONSTRUCT", "DESCRIBE"):
        return sparql, False
    if shape.limit is not None:
        value, start, end = shape.limit
        if value <= cap:
            return sparql, False
        return f"{sparql[:start]}{cap}{sparql[end:]}", True
    at = shape.values_at if shape.values_at is not None else len(sparql)
    return f"{sparql[:at]}\nLIMIT {cap}\n{sparql[at:]}", True


def _setting(cfg: dict, name: str):
    return cfg.get(name, SETTINGS[name])


class QueryRunner:
    """Checks a query, admits it (at most `max_pending` at once, `per_client` per client) and runs
    it on the executor that fits the store; answers are cached per store generation by `answer`."""

    def __init__(self, store, cfg: dict):
        self.row_cap, self.max_pending = cfg["SPARQL_ROW_CAP"], cfg["SPARQL_MAX_PENDING"]
        self.per_client = _setting(cfg, "SPARQL_PER_CLIENT")
        self.allowed = frozenset(_setting(cfg, "SPARQL_FEDERATION_ALLOW") or ())
        on_disk = isinstance(store, Store) and store.path is not None and not store.read_only
        if on_disk and _setting(cfg, "SPARQL_WORKER_PROCESSES"):
            self.executor = ProcessExecutor(store, cfg["SPARQL_WORKERS"], cfg["SPARQL_TIMEOUT_S"],
                                            _setting(cfg, "SPARQL_SLOW_S"))
        else:
            self.executor = ThreadExecutor(store, cfg["SPARQL_WORKERS"], cfg["SPARQL_TIMEOUT_S"],
                                           cfg["SPARQL_MAX_PENDING"])
        penalty = _setting(cfg, "SPARQL_PENALTY_S")
        self.penalty_s = cfg["SPARQL_TIMEOUT_S"] if penalty is None else penalty
        self._lock = threading.Lock()
        self._pending = 0
        self._clients: Counter = Counter()
        self._waits: dict[str, float] = {}  # client -> until when it is refused (its query ran out of time)

    def run(self, sparql: str, results_fmt: str, graph_fmt: str, update_status: int = 403,
            generation: int | None = None, client: str | None = None) -> tuple[str, str, bytes, bool]:
        """(kind, fmt, body, capped). Raises ProblemError for refused queries, QueryTimeout,
        QueryBusy / ClientBusy, QueryCrashed, StoreError."""
        try:
            shape = check(sparql)
            refuse_services(sparql, self.allowed)
        except QueryRefused as exc:
            raise ProblemError(400, "Bad Request", str(exc)) from None
        if shape.form is None and shape.first_word in UPDATE_WORDS:
            raise ProblemError(update_status, "Forbidden" if update_status == 403 else "Bad Request",
                               "this endpoint is read-only: SPARQL updates are refused")
        if generation is None:
            generation = registry().generation
        if client is None:
            client = request.remote_addr if request else None
        text, capped = cap_rows(sparql, self.row_cap, shape)
        fmt = graph_fmt if shape.form in ("CONSTRUCT", "DESCRIBE") else results_fmt
        with self._lock:
            now = time.monotonic()
            until = self._waits.get(client, 0.0)
            if until > now:
                raise ClientBusy("a query of this client was stopped early (too many long queries were running); "
                                 f"it may query again in {until - now:.0f} s", math.ceil(until - now))
            if len(self._waits) > 10000:  # forget the expired ones
                self._waits = {c: t for c, t in self._waits.items() if t > now}
            if self._pending >= self.max_pending:
                raise QueryBusy()
            if self.per_client and self._clients[client] >= self.per_client:
                raise ClientBusy(f"this client already runs {self.per_client} queries, as many as one client may")
            self._pending += 1
            self._clients[client] += 1
        try:
            try:
                kind, body = self.executor.execute(text, fmt, generation)
            except StoreError as exc:
                if not capped or isinstance(exc, QueryCrashed):
                    raise
                # The cap made a valid query invalid (a tokenizer blind spot): report the user's
                # own error if their query is broken, else run it as given.
                kind, body = self.executor.execute(sparql, fmt, generation)
            if kind == "graph" and fmt != graph_fmt:  # the form guess was wrong: serialise again
                fmt = graph_fmt
                kind, body = self.executor.execute(sparql, fmt, generation)
            elif kind == "results" and fmt != results_fmt:
                fmt = results_fmt
                kind, body = self.executor.execute(sparql, fmt, generation)
        except QueryTimeout as exc:
            # Stopped early: retrying at once would only start the same work again (a fresh worker
            # and another slow_s of CPU), so this client waits a while.
            if exc.stopped_early and self.penalty_s:
                with self._lock:
                    self._waits[client] = time.monotonic() + self.penalty_s
            raise
        finally:
            with self._lock:
                self._pending -= 1
                self._clients[client] -= 1
                if self._clients[client] <= 0:
                    del self._clients[client]
        return kind, fmt, body, capped

    def shutdown(self) -> None:
        self.executor.shutdown()


def runner() -> QueryRunner:
    reg = registry()
    return reg.service("sparql", lambda: QueryRunner(reg.store, reg.config))


def _strict_utf8(raw: bytes, what: str) -> None:
    """Refuse percent-encoded or raw bytes that are not UTF-8 (Werkzeug would silently replace them)."""
    try:
        urllib.parse.unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProblemError(400, "Bad Request", f"the {what} is not valid UTF-8 (byte {exc.start}): "
                           "percent-encode the query's UTF-8 bytes") from None


# -- the protocol -----------------------------------------------------------------------------
def query_from_request(update_status: int = 403) -> str:
    """The query string of a SPARQL Protocol request (GET ?query=, urlencoded POST, or a
    application/sparql-query body); refuses updates and malformed requests."""
    req = request._get_current_object()  # one proxy lookup, not dozens (hot path)
    args, mimetype = req.args, req.mimetype
    posted_form = req.method == "POST" and mimetype in ("application/x-www-form-urlencoded", "multipart/form-data")
    if posted_form and mimetype == "application/x-www-form-urlencoded":
        req.get_data()  # cached: the form is parsed from these bytes, and they are checked below
    form = req.form if posted_form else {}
    if "update" in args or "update" in form or mimetype == "application/sparql-update":
        raise ProblemError(update_status, "Forbidden" if update_status == 403 else "Bad Request",
                           "this endpoint is read-only: SPARQL updates are refused")
    for param in ("default-graph-uri", "named-graph-uri", "using-graph-uri", "using-named-graph-uri"):
        if param in args or param in form:
            raise ProblemError(400, "Bad Request", f"the {param} parameter is not supported: the dataset is the union of all graphs, "
                               "or what the query names with FROM / FROM NAMED")
    found = []
    if req.method == "POST":
        if mimetype == "application/sparql-query":
            body = req.get_data()
            try:
                found.append(body.decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise ProblemError(400, "Bad Request", f"the query body is not valid UTF-8 (byte {exc.start})") from None
        elif posted_form:
            found += form.getlist("query")
        else:
            raise ProblemError(415, "Unsupported Media Type",
                               "POST the query as application/x-www-form-urlencoded (query=...) or application/sparql-query")
    found += args.getlist("query")
    if not found:
        raise ProblemError(400, "Bad Request", "no query: give the `query` parameter or an application/sparql-query body")
    if len(found) > 1:
        raise ProblemError(400, "Bad Request", "more than one query in the request")
    if not found[0].strip():
        raise ProblemError(400, "Bad Request", "the query is empty")
    if "%" in found[0] or "\ufffd" in found[0]:  # how Werkzeug leaves invalid UTF-8: check the bytes
        _strict_utf8(req.query_string, "query string")
        if posted_form and mimetype == "application/x-www-form-urlencoded":
            _strict_utf8(req.get_data(), "form body")
    return found[0]


def negotiate(default_results: str, default_graph: str) -> dict:
    """{'results': (fmt, mime) or None, 'graph': (fmt, mime) or None}: from a `format`/`output`
    parameter, else the Accept header; None where nothing acceptable exists for that kind."""
    alias = (request.values.get("format") or request.values.get("output") or "").strip().lower()
    if alias:
        pair = FORMAT_ALIASES.get(alias)
        if pair is None:
            raise ProblemError(400, "Bad Request", f"unknown format {alias!r}; expected one of {', '.join(FORMAT_ALIASES)}")
        r, g = pair[0] or default_results, pair[1] or default_graph
        return {"results": (r, MIME_OF[("results", r)]), "graph": (g, MIME_OF[("graph", g)])}
    accept = request.accept_mimetypes

    def pick(kind, table, default):
        if not accept:
            return default, MIME_OF[(kind, default)]
        ordered = sorted(table, key=lambda pair: pair[1] != default)  # the default wins ties (*/*)
        best = accept.best_match([m for m, _ in ordered])
        if best is None:
            return None
        fmt = dict(ordered)[best]
        # a wildcard match answers with the format's own media type
        return fmt, best if accept.quality(best) > accept.quality("*/*") or not accept["*/*"] else MIME_OF[(kind, fmt)]

    return {"results": pick("results", RESULT_TYPES, default_results), "graph": pick("graph", GRAPH_TYPES, default_graph)}


def answer(default_results: str = "json", default_graph: str = "turtle", plain_json: bool = False,
           update_status: int = 403) -> Response:
    """Run the request's query and answer it in the negotiated format."""
    sparql = query_from_request(update_status)
    reg = registry()
    req = request._get_current_object()
    # The whole answer is cached per store generation, keyed by what decides it.
    generation = reg.generation
    values = req.values
    response_key = ("sparql-response", sparql, req.headers.get("Accept", ""), values.get("format"),
                    values.get("output"), default_results, default_graph, plain_json)
    ready = reg.cache.get(response_key)
    if ready is not None and ready[0] == generation:
        return _finish(*ready[1:])
    chosen = negotiate(default_results, default_graph)
    form = analyse(sparql).form
    kind_wanted = "graph" if form in ("CONSTRUCT", "DESCRIBE") else "results"
    if chosen[kind_wanted] is None:
        raise ProblemError(406, "Not Acceptable", "no serialisation of this query's answer matches the Accept header")
    results = chosen["results"] or (default_results, MIME_OF[("results", default_results)])
    graph = chosen["graph"] or (default_graph, MIME_OF[("graph", default_graph)])
    if plain_json and results[0] == "json" and results[1] == MIME_OF[("results", "json")] and \
            not SPARQL_RESULT_TYPES & {mime.lower() for mime, q in req.accept_mimetypes if q > 0}:
        results = ("json", "application/json")  # WoT Discovery's default, unless the client named a results type
    key = ("sparql", sparql, results[0], graph[0])
    hit = reg.cache.get((generation, key))
    if hit is None:
        try:
            kind, fmt, body, capped = runner().run(sparql, results[0], graph[0], update_status, generation,
                                                   req.remote_addr)
        except Exception as exc:
            raise run_problem(exc) from None
        hit = (kind, body, capped, hashlib.sha1(body).hexdigest())
        if len(body) <= 1024 * 1024:
            reg.cache.put((generation, key), hit)
    kind, body, capped, etag = hit
    mime = results[1] if kind == "results" else graph[1]
    textual = mime.startswith("text/") or mime.endswith("xml")
    content_type = f"{mime}; charset=utf-8" if textual else mime
    if len(body) <= 1024 * 1024:
        reg.cache.put(response_key, (generation, body, content_type, etag, capped))
    return _finish(body, content_type, etag, capped)


def run_problem(exc: Exception) -> Exception:
    """The problem (or the exception itself, when it is none of these) for a failed QueryRunner.run."""
    if isinstance(exc, QueryCrashed):
        return ProblemError(400, "Bad Request", str(exc))
    if isinstance(exc, StorageError):  # the disk or the SPARQL server failed: the app's 507/503, not the query's fault
        return exc
    if isinstance(exc, StoreError):
        return ProblemError(400, "Bad Request", f"the query could not be run: {exc}")
    if isinstance(exc, QueryTimeout):
        detail = str(exc) or (f"the query did not finish within {registry().config['SPARQL_TIMEOUT_S']:g} s "
                              "and was stopped; narrow it or add a LIMIT")
        return ProblemError(503, "Service Unavailable", detail, headers={"Retry-After": "5"})
    if isinstance(exc, ClientBusy):
        return ProblemError(429, "Too Many Requests", str(exc), headers={"Retry-After": str(exc.retry_after)})
    if isinstance(exc, QueryBusy):
        return ProblemError(503, "Service Unavailable", "too many queries are running; retry shortly",
                            headers={"Retry-After": "1"})
    return exc


def _finish(body: bytes, content_type: str, etag: str, capped: bool) -> Response:
    resp = Response(body, 200, content_type=content_type)
    resp.headers["Vary"] = "Accept"
    resp.headers["ETag"] = f'"{etag}"'
    if capped:
        resp.headers["Arachne-Row-Cap"] = str(registry().config["SPARQL_ROW_CAP"])
    if "If-None-Match" in request.headers:
        return resp.make_conditional(request)
    return resp


@bp.route("/sparql", methods=["GET", "POST"])
def sparql():
    """SPARQL 1.1 Protocol: SELECT/ASK as SPARQL JSON/XML/CSV/TSV, CONSTRUCT/DESCRIBE as Turtle/JSON-LD/N-Triples."""
    if request.method == "GET" and not request.args.get("query") and "update" not in request.args \
            and request.accept_mimetypes.best_match(["text/html", "application/sparql-results+json"]) == "text/html":
        from flask import redirect, url_for

        return redirect(url_for("explorer.sparql_page"))
    return answer()


@bp.route("/search/sparql", methods=["GET", "POST"])
def search_sparql():
    """WoT Discovery SPARQL search: application/json for SELECT/ASK and JSON-LD for graphs by default."""
    # WoT Discovery: anything but SELECT / ASK / CONSTRUCT / DESCRIBE is a 400 here
    return answer("json", "jsonld", plain_json=True, update_status=400)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
