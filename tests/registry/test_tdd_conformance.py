"""Black-box conformance of the Thing Description Directory against the WoT Discovery
assertions (the tdd-* ids of ../shared/data/w3c/wot-discovery-assertions.tsv).

Every test talks HTTP to a waitress server started on loopback and names the assertions it
checks; the module writes test-artifacts/tdd-conformance.csv in the W3C implementation-report
style: ID,Status,Comment with Status pass / fail / not-impl / n.a."""
from __future__ import annotations

import csv
import functools
import http.client
import json
import queue
import re
import threading
import urllib.parse
import uuid
from pathlib import Path

import pytest

from kg.store import Store
from registry.app import create_app
from registry.cli_serve import BackgroundServer

ROOT = Path(__file__).resolve().parents[2]
ARTIFACT = ROOT / "test-artifacts" / "tdd-conformance.csv"
TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TD_TYPE = {"Content-Type": "application/td+json"}

# Assertions no test here exercises, with why (the rest get pass/fail from the tests below).
STATIC = {
    "tdd-context-injection": ("n.a.", "the directory never enriches TDs (no registrationInfo); TDs are returned verbatim"),
    "tdd-absolute-time": ("n.a.", "the directory expresses no dateTime values (no registration information)"),
    "tdd-http-error-response-lang": ("not-impl", "problem details are in English only"),
    "tdd-things-representation-alternate-input": ("not-impl", "only JSON (application/td+json, application/json) is accepted"),
    "tdd-things-list-pagination-collection": ("not-impl", "the listing is a plain array (format=collection answers 501); "
                                              "paging is in Link headers"),
    "tdd-search-sparql-federation": ("not-impl", "SERVICE (federated query) is not offered"),
    "tdd-search-sparql-federation-version": ("n.a.", "federation is not implemented"),
}
# The tdd-* ids of the assertions file (ids only), so the report is complete without ../shared.
TDD_IDS = """tdd-context-injection tdd-absolute-time tdd-registrationinfo-expiry-purge tdd-anonymous-td-identifier
tdd-anonymous-td-local-uuid tdd-http-error-response tdd-http-error-response-utf-8 tdd-http-error-response-lang
tdd-http-head tdd-http-unsupported-feature tdd-things-list-only tdd-things-crud tdd-things-crudl
tdd-things-read-only-auth tdd-things-default-representation tdd-things-representation-alternate-input
tdd-http-representation-alternate-output tdd-things-create-known-vs-anonymous tdd-things-create-known-td
tdd-things-create-known-contenttype tdd-things-create-known-td-resp tdd-things-create-anonymous-td
tdd-things-create-anonymous-contenttype tdd-things-create-anonymous-id tdd-things-create-anonymous-td-resp
tdd-things-retrieve tdd-things-retrieve-resp tdd-things-retrieve-resp-content-type tdd-things-update
tdd-things-update-contenttype tdd-things-update-resp tdd-things-update-partial tdd-things-update-partial-mergepatch
tdd-things-update-partial-contenttype tdd-things-update-partial-partialtd tdd-things-update-partial-resp
tdd-things-delete tdd-things-delete-resp tdd-things-list-method tdd-things-list-resp
tdd-things-list-resp-content-type tdd-things-list-pagination tdd-things-list-pagination-limit
tdd-things-list-pagination-header-nextlink tdd-things-list-pagination-header-nextlink-attr
tdd-things-list-pagination-header-nextlink-base tdd-things-list-pagination-header-canonicallink
tdd-things-list-pagination-order-default tdd-things-list-pagination-collection tdd-validation-syntactic
tdd-validation-jsonschema tdd-validation-result tdd-validation-response tdd-validation-response-utf-8
tdd-notification tdd-notification-sse tdd-notification-event-id tdd-notification-event-types
tdd-notification-filter-type tdd-notification-data tdd-notification-data-td-id tdd-notification-data-create-full
tdd-notification-data-update-diff tdd-notification-data-update-id tdd-notification-data-delete-diff
tdd-search-sparql tdd-search-large-tdds tdd-search-sparql-version tdd-search-sparql-method-get
tdd-search-sparql-method-post tdd-search-sparql-resp-select-ask tdd-search-sparql-resp-describe-construct
tdd-search-sparql-error tdd-search-sparql-federation tdd-search-sparql-federation-version""".split()

RESULTS: dict[str, tuple[str, str]] = {}


def covers(*ids: str):
    """Record the outcome of a test for each assertion id it checks (a failure wins)."""

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            try:
                fn(*args, **kwargs)
            except pytest.skip.Exception as exc:
                for i in ids:
                    RESULTS.setdefault(i, ("not-impl", f"{fn.__name__} skipped: {exc}"))
                raise
            except BaseException as exc:
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
                for i in ids:
                    RESULTS[i] = ("fail", f"{fn.__name__}: {first}")
                raise
            for i in ids:
                if RESULTS.get(i, ("pass",))[0] != "fail":
                    RESULTS[i] = ("pass", fn.__name__)

        return wrapper

    return decorate


def td(thing_id: str | None = None, title: str = "Lamp", **extra) -> dict:
    doc = {
        "@context": "https://www.w3.org/2022/wot/td/v1.1",
        "title": title,
        "securityDefinitions": {"nosec_sc": {"scheme": "nosec"}},
        "security": "nosec_sc",
        "properties": {"status": {"type": "string", "readOnly": True,
                                  "forms": [{"href": "https://lamp.example.com/status"}]}},
        **extra,
    }
    if thing_id is not None:
        doc = {"id": thing_id, **doc}
    return doc


class Client:
    """Plain HTTP/1.1 to the server under test."""

    def __init__(self, base: str):
        parts = urllib.parse.urlsplit(base)
        self.host, self.port = parts.hostname, parts.port

    def request(self, method: str, path: str, body=None, headers=None):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp.status, resp.headers, data

    def put(self, thing_id, doc, headers=None, auth=True):
        h = {**TD_TYPE, **(AUTH if auth else {}), **(headers or {})}
        return self.request("PUT", "/things/" + urllib.parse.quote(thing_id, safe=":"), doc, h)


class SSE:
    """A server-sent events subscription read in a background thread."""

    def __init__(self, client: Client, path: str, headers=None):
        self.events: queue.Queue = queue.Queue()
        self.conn = http.client.HTTPConnection(client.host, client.port, timeout=30)
        self.conn.request("GET", path, headers={"Accept": "text/event-stream", **(headers or {})})
        self.sock = self.conn.sock
        self.resp = self.conn.getresponse()
        self.status, self.headers = self.resp.status, self.resp.headers
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        event = {}
        try:
            for raw in self.resp:
                line = raw.decode("utf-8").rstrip("\r\n")
                if not line:
                    if "data" in event:
                        self.events.put(event)
                    event = {}
                elif not line.startswith(":"):
                    key, _, value = line.partition(":")
                    event[key] = value[1:] if value.startswith(" ") else value
        except Exception:  # connection closed by close()
            pass

    def next(self, timeout: float = 10.0) -> dict:
        return self.events.get(timeout=timeout)

    def close(self):
        import socket

        sock = self.sock
        for step in (lambda: sock.shutdown(socket.SHUT_RDWR), lambda: self.resp.close(), sock.close):
            try:  # the response's file holds the socket open until it is closed too
                step()
            except Exception:
                pass


@pytest.fixture(scope="module")
def server():
    app = create_app(Store(), {"ARACHNE_TOKEN": TOKEN, "SSE_KEEPALIVE_S": 0.5, "THINGS_PAGE_LIMIT": 100})
    with BackgroundServer(app) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server):
    return Client(server.url)


@pytest.fixture(scope="module", autouse=True)
def report():
    yield
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    with ARTIFACT.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["ID", "Status", "Comment"])
        for aid in TDD_IDS:
            status, comment = RESULTS.get(aid) or STATIC.get(aid) or ("fail", "no test covers this assertion")
            out.writerow([aid, status, comment])


def problem_of(status, headers, body) -> dict:
    assert headers["Content-Type"].startswith("application/problem+json"), headers["Content-Type"]
    assert "charset=utf-8" in headers["Content-Type"].lower()
    doc = json.loads(body.decode("utf-8"))
    assert doc["status"] == status and doc["title"]
    return doc


# -- the tests -------------------------------------------------------------------------------------
def test_the_id_list_matches_the_assertions_file(shared):
    rows = (shared / "w3c" / "wot-discovery-assertions.tsv").read_text(encoding="utf-8").splitlines()
    ids = [r.split("\t")[0] for r in rows if r.startswith("tdd-")]
    assert ids == TDD_IDS


@covers("tdd-things-create-known-td", "tdd-things-create-known-td-resp", "tdd-things-create-known-contenttype",
        "tdd-things-retrieve", "tdd-things-retrieve-resp", "tdd-things-retrieve-resp-content-type",
        "tdd-things-crud", "tdd-things-default-representation")
def test_create_and_retrieve_known_td(client):
    doc = td("urn:example:lamp-create", "Lamp – création")
    raw = json.dumps(doc, ensure_ascii=False, indent=3).encode("utf-8")
    status, headers, _ = client.put("urn:example:lamp-create", raw)
    assert status == 201
    status, headers, body = client.request("GET", "/things/urn:example:lamp-create")
    assert status == 200
    assert headers["Content-Type"].split(";")[0] in ("application/td+json", "application/json")
    assert body == raw  # exactly what was given
    status, _, _ = client.put("urn:example:lamp-create", "title=x", headers={"Content-Type": "text/plain"})
    assert status == 415
    # ids that are URLs work too, percent-encoded or not
    url_id = "https://example.com/things/lamp-7"
    status, headers, _ = client.request("PUT", "/things/" + urllib.parse.quote(url_id, safe=""), td(url_id),
                                        {**TD_TYPE, **AUTH})
    assert status == 201
    assert json.loads(client.request("GET", "/things/" + url_id)[2])["id"] == url_id


@covers("tdd-things-update", "tdd-things-update-resp", "tdd-things-update-contenttype", "tdd-things-crud")
def test_update_with_put(client):
    assert client.put("urn:example:lamp-update", td("urn:example:lamp-update", "Before"))[0] == 201
    status, _, body = client.put("urn:example:lamp-update", td("urn:example:lamp-update", "After"))
    assert status == 204 and body == b""
    assert json.loads(client.request("GET", "/things/urn:example:lamp-update")[2])["title"] == "After"


@covers("tdd-things-create-anonymous-td", "tdd-things-create-anonymous-contenttype", "tdd-things-create-anonymous-id",
        "tdd-things-create-anonymous-td-resp", "tdd-anonymous-td-identifier", "tdd-anonymous-td-local-uuid",
        "tdd-things-create-known-vs-anonymous")
def test_anonymous_td(client):
    status, headers, _ = client.request("POST", "/things", td(None, "Anonymous sensor"), {**TD_TYPE, **AUTH})
    assert status == 201
    location = headers["Location"]
    local_id = urllib.parse.unquote(location.rsplit("/things/", 1)[1])
    assert re.fullmatch(r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", local_id)
    assert uuid.UUID(local_id[9:]).version == 4
    status, _, body = client.request("GET", urllib.parse.urlsplit(location).path)
    assert status == 200 and json.loads(body)["id"] == local_id
    listed = json.loads(client.request("GET", "/things?limit=1000")[2])
    assert any(t.get("id") == local_id for t in listed)
    # a TD with an id is not anonymous: POST refuses it, PUT takes it
    status, headers, body = client.request("POST", "/things", td("urn:example:has-id"), {**TD_TYPE, **AUTH})
    assert status == 400
    problem_of(status, headers, body)


@covers("tdd-things-update-partial", "tdd-things-update-partial-mergepatch", "tdd-things-update-partial-contenttype",
        "tdd-things-update-partial-resp", "tdd-things-update-partial-partialtd", "tdd-validation-result",
        "tdd-validation-response")
def test_partial_update_with_merge_patch(client):
    doc = td("urn:example:lamp-patch", "Patch me", description="to be removed",
             properties={"status": {"type": "string", "forms": [{"href": "https://lamp.example.com/status"}]},
                         "brightness": {"type": "integer", "forms": [{"href": "https://lamp.example.com/b"}]}})
    assert client.put("urn:example:lamp-patch", doc)[0] == 201
    patch = {"title": "Patched", "description": None, "properties": {"brightness": {"minimum": 0}}}
    status, _, body = client.request("PATCH", "/things/urn:example:lamp-patch", patch,
                                     {"Content-Type": "application/merge-patch+json", **AUTH})
    assert status == 204 and body == b""
    got = json.loads(client.request("GET", "/things/urn:example:lamp-patch")[2])
    assert got["title"] == "Patched" and "description" not in got
    assert got["properties"]["brightness"] == {"type": "integer", "minimum": 0,
                                               "forms": [{"href": "https://lamp.example.com/b"}]}
    assert "status" in got["properties"]
    status, _, _ = client.request("PATCH", "/things/urn:example:lamp-patch", patch, {"Content-Type": "application/json", **AUTH})
    assert status == 415
    # the merged TD is validated: a patch that breaks it is refused and changes nothing
    status, headers, body = client.request("PATCH", "/things/urn:example:lamp-patch", {"title": None, "security": None},
                                           {"Content-Type": "application/merge-patch+json", **AUTH})
    assert status == 400
    errors = problem_of(status, headers, body)["validationErrors"]
    assert errors and all(set(e) >= {"field", "description"} for e in errors)
    assert json.loads(client.request("GET", "/things/urn:example:lamp-patch")[2])["title"] == "Patched"
    status, _, _ = client.request("PATCH", "/things/urn:example:nobody", patch,
                                  {"Content-Type": "application/merge-patch+json", **AUTH})
    assert status == 404


@covers("tdd-things-delete", "tdd-things-delete-resp", "tdd-things-crud", "tdd-things-crudl")
def test_delete(client):
    assert client.put("urn:example:lamp-delete", td("urn:example:lamp-delete"))[0] == 201
    status, _, body = client.request("DELETE", "/things/urn:example:lamp-delete", headers=AUTH)
    assert status == 204 and body == b""
    assert client.request("GET", "/things/urn:example:lamp-delete")[0] == 404
    assert client.request("DELETE", "/things/urn:example:lamp-delete", headers=AUTH)[0] == 404


@covers("tdd-things-list-only", "tdd-things-list-method", "tdd-things-list-resp", "tdd-things-list-resp-content-type",
        "tdd-things-list-pagination", "tdd-things-list-pagination-limit", "tdd-things-list-pagination-header-nextlink",
        "tdd-things-list-pagination-header-nextlink-attr", "tdd-things-list-pagination-header-nextlink-base",
        "tdd-things-list-pagination-header-canonicallink", "tdd-things-list-pagination-order-default",
        "tdd-things-crudl")
def test_listing_and_paging(client):
    for name in ("urn:example:page-c", "urn:example:page-a", "urn:example:page-B", "urn:example:page-b"):
        assert client.put(name, td(name, name))[0] in (201, 204)
    status, headers, body = client.request("GET", "/things")
    assert status == 200
    assert headers["Content-Type"].split(";")[0] in ("application/json", "application/ld+json")
    everything = json.loads(body)
    assert isinstance(everything, list) and all(isinstance(t, dict) for t in everything)
    ids = [t["id"] for t in everything]
    assert ids == sorted(ids)  # Unicode code point order: 'B' before 'a'
    assert ids.index("urn:example:page-B") < ids.index("urn:example:page-a")
    seen, path, pages = [], "/things?limit=2", 0
    while path:
        status, headers, body = client.request("GET", path)
        assert status == 200
        page = json.loads(body)
        assert len(page) <= 2
        seen += [t["id"] for t in page]
        links = headers.get_all("Link") or []
        link_text = ", ".join(links)
        canonical = re.search(r'<([^>]+)>\s*;\s*rel="canonical"\s*;\s*etag="([^"]+)"', link_text)
        assert canonical and canonical.group(1) == "/things" and canonical.group(2)
        nxt = re.search(r'<([^>]+)>\s*;\s*rel="next"', link_text)
        path = nxt.group(1) if nxt else None
        if path:
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
            assert path.startswith("/things") and query["limit"] == ["2"]
            assert int(query["offset"][0]) == len(seen)
        pages += 1
    assert seen == ids and pages == (len(ids) + 1) // 2


@covers("tdd-validation-syntactic", "tdd-validation-jsonschema", "tdd-validation-result", "tdd-validation-response",
        "tdd-validation-response-utf-8", "tdd-http-error-response", "tdd-http-error-response-utf-8")
def test_invalid_tds_get_problem_details(client):
    status, headers, body = client.put("urn:example:broken", b'{"title": "no closing brace"')
    assert status == 400
    assert problem_of(status, headers, body)["validationErrors"]
    bad = td("urn:example:bad-schema", "Capteur ü")
    del bad["security"]
    bad["properties"]["status"]["forms"] = "not a list"
    status, headers, body = client.put("urn:example:bad-schema", bad)
    assert status == 400
    errors = problem_of(status, headers, body)["validationErrors"]
    assert all(isinstance(e["field"], str) and isinstance(e["description"], str) for e in errors)
    fields = " ".join(e["field"] for e in errors) + " " + " ".join(e["description"] for e in errors)
    assert "security" in fields and "forms" in fields
    assert client.request("GET", "/things/urn:example:bad-schema")[0] == 404
    status, headers, body = client.request("GET", "/things/urn:example:%C3%BCnknown")
    assert status == 404
    assert "ünknown" in problem_of(status, headers, body)["detail"]


@covers("tdd-things-read-only-auth")
def test_writes_need_the_token_reads_do_not(client):
    doc = td("urn:example:auth", "Auth")
    status, headers, body = client.put("urn:example:auth", doc, auth=False)
    assert status == 401 and "Bearer" in headers["WWW-Authenticate"]
    problem_of(status, headers, body)
    assert client.put("urn:example:auth", doc, headers={"Authorization": "Bearer wrong"}, auth=False)[0] == 401
    assert client.request("POST", "/things", td(None), TD_TYPE)[0] == 401
    assert client.request("DELETE", "/things/urn:example:auth")[0] == 401
    assert client.request("PATCH", "/things/urn:example:auth", {"title": "x"},
                          {"Content-Type": "application/merge-patch+json"})[0] == 401
    assert client.put("urn:example:auth", doc)[0] == 201
    assert client.request("GET", "/things/urn:example:auth")[0] == 200


@covers("tdd-http-head")
def test_head_on_every_get_endpoint(client):
    assert client.put("urn:example:head", td("urn:example:head"))[0] in (201, 204)
    for path in ("/things", "/things?limit=1", "/things/urn:example:head", "/.well-known/wot",
                 "/search/sparql?query=" + urllib.parse.quote("ASK { ?s ?p ?o }"), "/events"):
        get_status, get_headers, _ = client.request("GET", path) if path != "/events" else (200, None, None)
        status, headers, body = client.request("HEAD", path)
        assert status == get_status and body == b"", path
        assert headers["Content-Type"], path
    assert client.request("HEAD", "/things/urn:example:nothing-here")[0] == 404


@covers("tdd-http-unsupported-feature")
def test_unsupported_features_are_reported(client):
    for path in ("/search/jsonpath?query=$", "/search/xpath?query=/"):
        status, headers, body = client.request("GET", path)
        assert status == 501
        problem_of(status, headers, body)
    # listing options: optional features the directory lacks are 501, values the spec does not define 400
    for query, expected in (("format=collection", 501), ("format=bogus", 400), ("sort_by=title", 501),
                            ("sort_by=id&sort_order=desc", 501), ("sort_order=sideways", 400)):
        status, headers, body = client.request("GET", "/things?" + query)
        assert status == expected, (query, body[:200])
        problem_of(status, headers, body)
    for query in ("format=array", "sort_by=id&sort_order=asc"):  # what it does anyway
        assert client.request("GET", "/things?limit=1&" + query)[0] == 200


@covers("tdd-registrationinfo-expiry-purge")
def test_expired_registrations_are_hidden_and_purged(client):
    live = td("urn:example:live", registrationInfo={"expires": "2999-01-01T00:00:00Z"})
    expired = td("urn:example:expired", registrationInfo={"expires": "2020-01-01T00:00:00Z"})
    assert client.put("urn:example:live", live)[0] == 201
    events = SSE(client, "/events/thing_deleted")
    try:
        assert client.put("urn:example:expired", expired)[0] == 201
        assert client.request("GET", "/things/urn:example:expired")[0] == 404
        ids = [t["id"] for t in json.loads(client.request("GET", "/things?limit=1000")[2])]
        assert "urn:example:live" in ids and "urn:example:expired" not in ids
        assert json.loads(events.next()["data"]) == {"id": "urn:example:expired"}
    finally:
        events.close()
    ask = urllib.parse.quote("ASK { GRAPH <urn:example:expired> { ?s ?p ?o } }")
    body = client.request("GET", "/sparql?query=" + ask, headers={"Accept": "application/sparql-results+json"})[2]
    assert json.loads(body)["boolean"] is False  # purged from the store, not only hidden


@covers("tdd-search-sparql", "tdd-search-large-tdds", "tdd-search-sparql-version", "tdd-search-sparql-method-get",
        "tdd-search-sparql-method-post", "tdd-search-sparql-resp-select-ask", "tdd-search-sparql-resp-describe-construct",
        "tdd-search-sparql-error")
def test_sparql_search(client, server):
    from SPARQLWrapper import JSON, SPARQLWrapper

    assert client.put("urn:example:searchable", td("urn:example:searchable", "Findable lamp"))[0] in (201, 204)
    select = ('PREFIX td: <https://www.w3.org/2019/wot/td#> '
              'SELECT ?thing WHERE { ?thing td:title ?title FILTER(STR(?title) = "Findable lamp") }')
    status, headers, body = client.request("GET", "/search/sparql?query=" + urllib.parse.quote(select))
    assert status == 200 and headers["Content-Type"].split(";")[0] == "application/json"
    assert [b["thing"]["value"] for b in json.loads(body)["results"]["bindings"]] == ["urn:example:searchable"]
    status, headers, body = client.request("POST", "/search/sparql", select, {"Content-Type": "application/sparql-query"})
    assert status == 200 and json.loads(body)["results"]["bindings"]
    status, headers, body = client.request("GET", "/search/sparql?query=" + urllib.parse.quote("ASK { ?s ?p ?o }"))
    assert status == 200 and headers["Content-Type"].split(";")[0] == "application/json" and json.loads(body)["boolean"]
    construct = "CONSTRUCT { <urn:example:searchable> ?p ?o } WHERE { <urn:example:searchable> ?p ?o }"
    status, headers, body = client.request("GET", "/search/sparql?query=" + urllib.parse.quote(construct))
    assert status == 200 and headers["Content-Type"].split(";")[0] == "application/ld+json"
    assert isinstance(json.loads(body), (list, dict))
    status, headers, body = client.request("GET", "/search/sparql?query=" + urllib.parse.quote(
        "DESCRIBE <urn:example:searchable>"))
    assert status == 200 and headers["Content-Type"].split(";")[0] == "application/ld+json"
    for update in ("INSERT DATA { <urn:a> <urn:b> <urn:c> }", "DELETE WHERE { ?s ?p ?o }", "CLEAR ALL", "nonsense"):
        status, headers, body = client.request("GET", "/search/sparql?query=" + urllib.parse.quote(update))
        assert status == 400, update
        problem_of(status, headers, body)
    sw = SPARQLWrapper(server.url + "/search/sparql")  # a SPARQL 1.1 Protocol client
    sw.setQuery(select)
    sw.setReturnFormat(JSON)
    assert sw.query().convert()["results"]["bindings"]


@covers("tdd-notification", "tdd-notification-sse", "tdd-notification-event-types", "tdd-notification-data",
        "tdd-notification-data-td-id", "tdd-notification-event-id")
def test_events_for_the_lifecycle(client):
    stream = SSE(client, "/events")
    try:
        assert stream.status == 200 and stream.headers["Content-Type"].startswith("text/event-stream")
        client.put("urn:example:evented", td("urn:example:evented", "v1"))
        client.put("urn:example:evented", td("urn:example:evented", "v2"))
        client.request("DELETE", "/things/urn:example:evented", headers=AUTH)
        got = [stream.next() for _ in range(3)]
        assert [e["event"] for e in got] == ["thing_created", "thing_updated", "thing_deleted"]
        assert all(json.loads(e["data"]) == {"id": "urn:example:evented"} for e in got)
        ids = [int(e["id"]) for e in got]
        assert ids == sorted(ids) and len(set(ids)) == 3
    finally:
        stream.close()
    # a client that reconnects with Last-Event-ID gets what it missed
    again = SSE(client, "/events", {"Last-Event-ID": str(ids[0])})
    try:
        missed = [again.next() for _ in range(2)]
        assert [e["event"] for e in missed] == ["thing_updated", "thing_deleted"]
    finally:
        again.close()


@covers("tdd-notification-filter-type", "tdd-notification-data-create-full", "tdd-notification-data-update-diff",
        "tdd-notification-data-update-id", "tdd-notification-data-delete-diff")
def test_event_filtering_and_diffs(client):
    deleted = SSE(client, "/events/thing_deleted?diff=true")
    full = SSE(client, "/events?diff=true")
    try:
        doc = td("urn:example:diffed", "First", description="d")
        client.put("urn:example:diffed", doc)
        client.request("PATCH", "/things/urn:example:diffed", {"title": "Second", "description": None},
                       {"Content-Type": "application/merge-patch+json", **AUTH})
        client.request("DELETE", "/things/urn:example:diffed", headers=AUTH)
        created, updated, gone = (full.next() for _ in range(3))
        assert created["event"] == "thing_created" and json.loads(created["data"]) == doc
        assert updated["event"] == "thing_updated"
        assert json.loads(updated["data"]) == {"id": "urn:example:diffed", "title": "Second", "description": None}
        assert json.loads(gone["data"]) == {"id": "urn:example:diffed"}
        only = deleted.next()
        assert only["event"] == "thing_deleted" and json.loads(only["data"]) == {"id": "urn:example:diffed"}
        with pytest.raises(queue.Empty):
            deleted.next(timeout=0.5)
    finally:
        deleted.close()
        full.close()
    assert client.request("GET", "/events/thing_exploded")[0] == 404


def test_event_streams_are_capped_and_released():
    """Each open stream holds a server thread: past SSE_MAX_STREAMS the directory answers 503,
    and a stream whose client went away frees its slot."""
    import time

    app = create_app(Store(), {"SSE_KEEPALIVE_S": 0.2, "SSE_MAX_STREAMS": 2})
    with BackgroundServer(app) as srv:
        client = Client(srv.url)
        first, second = SSE(client, "/events"), SSE(client, "/events")
        assert first.status == second.status == 200
        status, headers, body = client.request("GET", "/events")
        assert status == 503 and "Retry-After" in headers
        first.close()
        deadline = time.monotonic() + 10
        while client.request("HEAD", "/.well-known/wot")[0] == 200:
            third = SSE(client, "/events")
            if third.status == 200:
                third.close()
                break
            assert time.monotonic() < deadline, "the closed stream's slot was never released"
            time.sleep(0.2)
        second.close()


@covers("tdd-http-representation-alternate-output")
def test_a_td_as_rdf_by_content_negotiation(client):
    from rdflib import Graph, URIRef

    assert client.put("urn:example:as-rdf", td("urn:example:as-rdf", "RDF lamp"))[0] in (201, 204)
    status, headers, body = client.request("GET", "/things/urn:example:as-rdf", headers={"Accept": "text/turtle"})
    assert status == 200 and headers["Content-Type"].startswith("text/turtle")
    g = Graph().parse(data=body.decode(), format="turtle")
    assert (URIRef("urn:example:as-rdf"), None, None) in g
    status, headers, body = client.request("GET", "/things/urn:example:as-rdf",
                                           headers={"Accept": "application/json, text/turtle;q=0.5"})
    assert headers["Content-Type"].startswith("application/td+json") and json.loads(body)["title"] == "RDF lamp"


def test_the_directory_describes_itself(client):
    status, headers, body = client.request("GET", "/.well-known/wot")
    assert status == 200 and headers["Content-Type"].startswith("application/td+json")
    doc = json.loads(body)
    assert doc["@type"] == "ThingDirectory" and "things" in doc["properties"]
    assert {"createThing", "retrieveThing", "deleteThing", "searchSPARQL"} <= set(doc["actions"])
