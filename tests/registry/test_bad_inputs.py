"""Hostile and broken requests against a real registry server (waitress on loopback, started
here): each gets a 4xx (or 503 for a query past its deadline), nothing is fetched from the
network, a refused write changes nothing, and the server still answers a health read after."""
from __future__ import annotations

import json
import socket
import urllib.error
import urllib.parse
import urllib.request

import pytest

from kg.store import Store
from registry.app import create_app
from registry.cli_serve import BackgroundServer

TOKEN = "bad-inputs-token"
HEALTH = "/sparql?query=" + urllib.parse.quote("ASK{}")
BIG_GRAPH = "http://example.org/bad-inputs/big"
# 3,000 generated triples; the 3-way cartesian product below has ~15.6 million solutions (seconds
# of work in Oxigraph, far past the 0.3 s deadline, yet finite: the pool thread cannot be cancelled
# and must end before the interpreter can exit)
SLOW_QUERY = ("SELECT (COUNT(*) AS ?n) WHERE { GRAPH <%s> { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i } "
              "FILTER(?c < 250 && ?f < 250 && ?i < 250) }" % BIG_GRAPH)
LOOPBACK = {"127.0.0.1", "::1", "localhost"}
OUTBOUND: list = []

VALID_TD = {
    "@context": "https://www.w3.org/2022/wot/td/v1.1",
    "id": "urn:dev:bad-inputs:lamp",
    "title": "Bad-inputs lamp",
    "securityDefinitions": {"nosec_sc": {"scheme": "nosec"}},
    "security": "nosec_sc",
    "properties": {"status": {"type": "string", "forms": [{"href": "https://lamp.example/status"}]}},
}


def _host(address) -> str:
    return address[0] if isinstance(address, tuple) else str(address)


@pytest.fixture(scope="module", autouse=True)
def loopback_only():
    """Record (and refuse) every connection or name lookup that would leave this machine."""
    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and _host(address) not in LOOPBACK:
            OUTBOUND.append(address)
            raise OSError(f"outbound connection to {address!r} refused by the test")
        return real_connect(sock, address)

    def getaddrinfo(host, *args, **kwargs):
        if host not in LOOPBACK and host is not None:
            OUTBOUND.append(host)
            raise socket.gaierror(f"name lookup of {host!r} refused by the test")
        return real_getaddrinfo(host, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", connect)
        mp.setattr(socket, "getaddrinfo", getaddrinfo)
        yield
    assert not OUTBOUND, f"the server tried to reach the network: {OUTBOUND}"


@pytest.fixture(scope="module")
def server(loopback_only):
    store = Store()
    store.update("INSERT DATA { GRAPH <%s> { %s } }" % (BIG_GRAPH, " ".join(
        f"<http://example.org/s{i}> <http://example.org/p> {i} ." for i in range(3000))))
    app = create_app(store, {"ARACHNE_TOKEN": TOKEN, "SPARQL_TIMEOUT_S": 0.3, "SPARQL_WORKERS": 2})
    with BackgroundServer(app) as srv:
        yield srv


def http(server, path, data=None, method="GET", content_type=None, timeout=30):
    headers = {"Authorization": f"Bearer {TOKEN}"}
    if content_type:
        headers["Content-Type"] = content_type
    req = urllib.request.Request(server.url + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def problem(status_headers_body):
    status, headers, body = status_headers_body
    assert headers["Content-Type"].startswith("application/problem+json"), (status, headers["Content-Type"], body[:300])
    doc = json.loads(body)
    assert doc["status"] == status
    return doc


def assert_healthy(server):
    status, _, body = http(server, HEALTH, timeout=10)
    assert status == 200 and json.loads(body)["boolean"] is True


def put_td(server, thing_id, raw: bytes):
    return http(server, "/things/" + thing_id, raw, "PUT", "application/td+json")


def test_ten_megabyte_td_is_413(server):
    raw = b'{"title": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    answer = put_td(server, "urn:dev:bad-inputs:huge", raw)
    assert answer[0] == 413, answer[2][:300]
    problem(answer)
    assert http(server, "/things/urn:dev:bad-inputs:huge")[0] == 404
    assert_healthy(server)


@pytest.mark.parametrize("where", ["root", "member"])
def test_json_nested_ten_thousand_deep_is_400(server, where):
    deep = b"[" * 10_000 + b"]" * 10_000
    raw = deep if where == "root" else \
        json.dumps({**VALID_TD, "id": "urn:dev:bad-inputs:deep", "x": 0}).encode().replace(b"0}", deep + b"}")
    answer = put_td(server, "urn:dev:bad-inputs:deep", raw)
    assert answer[0] == 400, answer[2][:500]
    assert "Recursion" not in answer[2].decode("utf-8", "replace")
    problem(answer)
    assert http(server, "/things/urn:dev:bad-inputs:deep")[0] == 404
    assert_healthy(server)


def test_external_context_is_400_naming_context_and_nothing_is_fetched(server):
    # a loopback "context server" that must never see a connection, plus a public URL (guarded above)
    trap = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    trap.bind(("127.0.0.1", 0))
    trap.listen(8)
    trap.setblocking(False)
    try:
        urls = [f"http://127.0.0.1:{trap.getsockname()[1]}/ctx.jsonld", "https://contexts.example.org/td.jsonld"]
        for context in (urls[0], [VALID_TD["@context"], urls[1]], [VALID_TD["@context"], {"ex": "x:", "@context": urls[0]}]):
            doc = {**VALID_TD, "id": "urn:dev:bad-inputs:remote", "@context": context}
            answer = put_td(server, "urn:dev:bad-inputs:remote", json.dumps(doc).encode())
            assert answer[0] == 400, answer[2][:500]
            errors = problem(answer)["validationErrors"]
            assert any(e["field"].startswith("@context") for e in errors), errors
        with pytest.raises(BlockingIOError):
            trap.accept()  # nobody connected to the context server
    finally:
        trap.close()
    assert not OUTBOUND
    assert http(server, "/things/urn:dev:bad-inputs:remote")[0] == 404
    assert_healthy(server)


def test_endless_sparql_query_gets_503_and_the_server_keeps_answering(server):
    # the bound: urlopen's timeout; a 503 comes after SPARQL_TIMEOUT_S (0.3 s), not after the query
    answer = http(server, "/sparql?query=" + urllib.parse.quote(SLOW_QUERY), timeout=15)
    assert answer[0] in (503, 408), answer[2][:300]
    problem(answer)
    if answer[0] == 503:
        assert answer[1]["Retry-After"]
    assert_healthy(server)


def test_bad_merge_patches_are_400_and_change_nothing(server):
    thing = "urn:dev:bad-inputs:patched"
    original = json.dumps({**VALID_TD, "id": thing}, indent=1).encode()
    assert put_td(server, thing, original)[0] == 201
    patch = lambda body: http(server, "/things/" + thing, body, "PATCH", "application/merge-patch+json")  # noqa: E731

    for body in (b'{"title": ', b"{'title': 'x'}", b"\xff\xfe", b""):
        answer = patch(body)
        assert answer[0] == 400, (body, answer[2][:300])
        problem(answer)
    for body in ({"securityDefinitions": None},            # removes a required member
                 {"title": 42},                            # wrong type
                 {"properties": {"status": {"forms": "nope"}}},
                 {"@context": "https://contexts.example.org/td.jsonld"}):
        answer = patch(json.dumps(body).encode())
        assert answer[0] == 400, (body, answer[2][:300])
        assert problem(answer)["validationErrors"], body
    status, _, stored = http(server, "/things/" + thing)
    assert status == 200 and stored == original
    assert_healthy(server)
