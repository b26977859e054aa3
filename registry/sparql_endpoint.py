"""The read-only SPARQL 1.1 Protocol endpoint (/sparql) and the directory's SPARQL search
(/search/sparql), both over the store's union graph.

Safety, and its limits:
* Read-only: only `Store.query_serialized` is ever called, and Oxigraph's *query* parser
  refuses every update operation; update requests (the `update` parameter or an
  application/sparql-update body) are refused before that with 403.
* Row cap: Oxigraph cannot cancel a query that is running, so the cap is put into the query
  itself: a top-level LIMIT is injected into SELECT/CONSTRUCT/DESCRIBE (a larger one is
  lowered), which lets the engine stop early instead of materialising everything.
* Timeout: each query runs in a bounded thread pool and the request waits at most
  SPARQL_TIMEOUT_S for it; past that the client gets 503 (with Retry-After). The query
  itself keeps its worker thread until it finishes, which is why the pool is small and why
  requests beyond SPARQL_MAX_PENDING are refused at once instead of queueing without end.
"""
from __future__ import annotations

import hashlib
import re
from functools import lru_cache
import threading
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from flask import Blueprint, Flask, Response, request

from kg.store import Store, StoreError
from registry.problems import ProblemError
from registry.state import registry

bp = Blueprint("sparql", __name__)

QUERY_FORMS = ("SELECT", "CONSTRUCT", "DESCRIBE", "ASK")
UPDATE_WORDS = {"INSERT", "DELETE", "LOAD", "CLEAR", "CREATE", "DROP", "COPY", "MOVE", "ADD", "WITH"}

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

# -- a light SPARQL tokenizer: enough to find the query form and the top-level LIMIT ------------
_TOKENS = re.compile(
    r'''(?P<comment>\#[^\n]*)
      | (?P<string>"""(?:[^"\\]|\\.|"(?!""))*"""|\'\'\'(?:[^'\\]|\\.|'(?!''))*\'\'\'
                   |"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
      | (?P<iri><[^<>"{}|^`\\\x00-\x20]*>)
      | (?P<var>[?$]\w+)
      | (?P<pname>[A-Za-z_][\w\-.]*:[\w\-.:%]*|:[\w\-.:%]*)
      | (?P<word>[A-Za-z_]\w*)
      | (?P<num>\d+)
      | (?P<open>[{(\[])
      | (?P<close>[})\]])
      | (?P<space>\s+)
      | (?P<other>.)''',
    re.X | re.S,
)


@dataclass(frozen=True)
class QueryShape:
    """What the endpoint needs to know about a query before running it."""

    form: str | None          # SELECT / CONSTRUCT / DESCRIBE / ASK, or None
    first_word: str | None    # the first keyword after the prologue (to name an update)
    limit: tuple[int, int, int] | None  # top-level LIMIT: (value, start, end of the number)
    values_at: int | None     # start of a trailing top-level VALUES clause


@lru_cache(maxsize=1024)
def analyse(sparql: str) -> QueryShape:
    """Query form, top-level LIMIT and trailing VALUES position, ignoring strings, IRIs and comments."""
    depth = 0
    form = first = None
    limit = values_at = None
    tokens = [(m.lastgroup, m.group(), m.start(), m.end()) for m in _TOKENS.finditer(sparql)]
    tokens = [t for t in tokens if t[0] not in ("space", "comment")]
    for i, (kind, text, start, end) in enumerate(tokens):
        if kind == "open":
            depth += 1
        elif kind == "close":
            depth = max(0, depth - 1)
        elif kind == "word" and depth == 0:
            word = text.upper()
            if first is None and word not in ("PREFIX", "BASE"):
                first = word
                form = word if word in QUERY_FORMS else None
            elif word == "LIMIT" and i + 1 < len(tokens) and tokens[i + 1][0] == "num":
                nxt = tokens[i + 1]
                limit = (int(nxt[1]), nxt[2], nxt[3])
            elif word == "VALUES" and form is not None:
                values_at = start
    return QueryShape(form, first, limit, values_at)


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


class QueryTimeout(Exception):
    pass


class QueryBusy(Exception):
    pass


class QueryRunner:
    """Runs queries on a small thread pool with a deadline, so a slow query costs one worker,
    not the server; answers are cached per store generation."""

    def __init__(self, store: Store, workers: int, timeout_s: float, max_pending: int, row_cap: int):
        self.store, self.timeout_s, self.row_cap = store, timeout_s, row_cap
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sparql")
        self._slots = threading.BoundedSemaphore(max_pending)

    def run(self, sparql: str, results_fmt: str, graph_fmt: str, update_status: int = 403) -> tuple[str, str, bytes, bool]:
        """(kind, fmt, body, capped). Raises ProblemError for refused queries, QueryTimeout, QueryBusy."""
        shape = analyse(sparql)
        if shape.form is None:
            if shape.first_word in UPDATE_WORDS:
                raise ProblemError(update_status, "Forbidden" if update_status == 403 else "Bad Request",
                                   "this endpoint is read-only: SPARQL updates are refused")
        text, capped = cap_rows(sparql, self.row_cap, shape)
        fmt = graph_fmt if shape.form in ("CONSTRUCT", "DESCRIBE") else results_fmt
        if not self._slots.acquire(blocking=False):
            raise QueryBusy()
        try:
            future = self.pool.submit(self._execute, text, sparql if capped else None, fmt)
        except RuntimeError:  # pool shut down
            self._slots.release()
            raise QueryBusy()
        future.add_done_callback(lambda _f: self._slots.release())
        try:
            kind, body = future.result(timeout=self.timeout_s)
        except FutureTimeout:
            raise QueryTimeout() from None
        if kind == "graph" and fmt != graph_fmt:  # the form guess was wrong: serialise again
            kind, body = self.pool.submit(self.store.query_serialized, sparql, graph_fmt).result(self.timeout_s)
            fmt = graph_fmt
        elif kind == "results" and fmt != results_fmt:
            kind, body = self.pool.submit(self.store.query_serialized, sparql, results_fmt).result(self.timeout_s)
            fmt = results_fmt
        return kind, fmt, body, capped

    def _execute(self, text: str, original: str | None, fmt: str) -> tuple[str, bytes]:
        try:
            return self.store.query_serialized(text, fmt)
        except StoreError:
            if original is None:
                raise
            # The cap made a valid query invalid (a tokenizer blind spot): report the user's own
            # error if their query is broken, else run it as given.
            return self.store.query_serialized(original, fmt)

    def shutdown(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def runner() -> QueryRunner:
    reg = registry()
    cfg = reg.config
    return reg.service("sparql", lambda: QueryRunner(reg.store, cfg["SPARQL_WORKERS"], cfg["SPARQL_TIMEOUT_S"],
                                                     cfg["SPARQL_MAX_PENDING"], cfg["SPARQL_ROW_CAP"]))


# -- the protocol -----------------------------------------------------------------------------
def query_from_request(update_status: int = 403) -> str:
    """The query string of a SPARQL Protocol request (GET ?query=, urlencoded POST, or a
    application/sparql-query body); refuses updates and malformed requests."""
    req = request._get_current_object()  # one proxy lookup, not dozens (hot path)
    args, mimetype = req.args, req.mimetype
    posted_form = req.method == "POST" and mimetype in ("application/x-www-form-urlencoded", "multipart/form-data")
    form = req.form if posted_form else {}
    if "update" in args or "update" in form or mimetype == "application/sparql-update":
        raise ProblemError(update_status, "Forbidden" if update_status == 403 else "Bad Request",
                           "this endpoint is read-only: SPARQL updates are refused")
    for param in ("default-graph-uri", "named-graph-uri", "using-graph-uri", "using-named-graph-uri"):
        if param in args or param in form:
            raise ProblemError(400, "Bad Request", f"the {param} parameter is not supported; the dataset is the union of all graphs")
    found = []
    if req.method == "POST":
        if mimetype == "application/sparql-query":
            found.append(req.get_data(as_text=True))
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
            not request.accept_mimetypes["application/sparql-results+json"] > request.accept_mimetypes["*/*"]:
        results = ("json", "application/json")
    key = ("sparql", sparql, results[0], graph[0])
    hit = reg.cache.get((generation, key))
    if hit is None:
        try:
            kind, fmt, body, capped = runner().run(sparql, results[0], graph[0], update_status)
        except StoreError as exc:
            raise ProblemError(400, "Bad Request", f"the query could not be run: {exc}") from None
        except QueryTimeout:
            raise ProblemError(503, "Service Unavailable",
                               f"the query did not finish within {reg.config['SPARQL_TIMEOUT_S']:g} s; "
                               "narrow it or add a LIMIT", headers={"Retry-After": "5"}) from None
        except QueryBusy:
            raise ProblemError(503, "Service Unavailable", "too many queries are running; retry shortly",
                               headers={"Retry-After": "1"}) from None
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
