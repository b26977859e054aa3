"""The SPARQL endpoint as a client meets it: a running waitress server on loopback, asked with
SPARQLWrapper and plain HTTP."""
import csv
import io
import json
import urllib.error
import urllib.parse
import urllib.request

import pytest
from rdflib import Graph
from SPARQLWrapper import CSV, JSON, JSONLD, N3, TSV, TURTLE, XML, SPARQLWrapper

from kg.store import Store
from registry.app import create_app
from registry.cli_serve import BackgroundServer
from registry.sparql_endpoint import analyse, cap_rows

DATA = """
PREFIX ex: <http://example.org/>
INSERT DATA { GRAPH <http://example.org/g1> {
  ex:a ex:name "alpha" ; ex:n 1 . ex:b ex:name "beta" ; ex:n 2 . ex:c ex:name "gamma, with a comma" ; ex:n 3 .
} GRAPH <http://example.org/g2> { ex:d ex:name "delta" ; ex:n 4 . ex:e ex:name "epsilon" ; ex:n 5 . } }
"""
SELECT = "PREFIX ex: <http://example.org/> SELECT ?s ?name WHERE { ?s ex:name ?name } ORDER BY ?name"
# ~30 million joined rows: seconds of work, to exceed a short timeout
SLOW = ("SELECT (COUNT(*) AS ?n) WHERE { " + " ".join(
    f"VALUES ?v{i} {{ {' '.join(str(j) for j in range(30))} }}" for i in range(5)) + " }")


@pytest.fixture(scope="module")
def server():
    store = Store()
    store.update(DATA)
    app = create_app(store, {"SPARQL_ROW_CAP": 4, "SPARQL_TIMEOUT_S": 0.3, "SPARQL_WORKERS": 2})
    with BackgroundServer(app) as srv:
        srv.store = store
        yield srv


def wrapper(server, query, fmt=JSON, method="GET"):
    sw = SPARQLWrapper(server.url + "/sparql")
    sw.setQuery(query)
    sw.setReturnFormat(fmt)
    sw.setMethod(method)
    return sw.query()


def http(server, path, data=None, headers=None, method=None):
    req = urllib.request.Request(server.url + path, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def test_select_in_every_results_format(server):
    data = wrapper(server, SELECT, JSON).convert()
    assert [b["name"]["value"] for b in data["results"]["bindings"]] == ["alpha", "beta", "delta", "epsilon"]
    xml = wrapper(server, SELECT, XML).convert()  # a DOM document
    assert len(xml.getElementsByTagName("result")) == 4
    rows = list(csv.reader(io.StringIO(wrapper(server, SELECT, CSV).convert().decode())))
    assert rows[0] == ["s", "name"] and rows[1] == ["http://example.org/a", "alpha"]
    tsv = wrapper(server, SELECT, TSV).convert().decode().splitlines()
    assert tsv[0].split("\t") == ["?s", "?name"] and tsv[1].endswith('"alpha"')


def test_ask_and_post_forms(server):
    assert wrapper(server, "ASK { ?s ?p 3 }", JSON).convert()["boolean"] is True
    assert wrapper(server, "ASK { ?s ?p 99 }", JSON, method="POST").convert()["boolean"] is False
    status, headers, body = http(server, "/sparql", data=SELECT.encode(),
                                 headers={"Content-Type": "application/sparql-query", "Accept": "text/csv"})
    assert status == 200 and headers["Content-Type"].startswith("text/csv") and b"alpha" in body
    form = urllib.parse.urlencode({"query": "SELECT ?n WHERE { ?s <http://example.org/n> ?n } ORDER BY ?n"}).encode()
    status, headers, body = http(server, "/sparql", data=form,
                                 headers={"Content-Type": "application/x-www-form-urlencoded",
                                          "Accept": "application/sparql-results+json"})
    assert status == 200 and [b["n"]["value"] for b in json.loads(body)["results"]["bindings"]] == ["1", "2", "3", "4"]


def test_construct_and_describe_as_turtle_jsonld_ntriples(server):
    construct = "PREFIX ex: <http://example.org/> CONSTRUCT { ?s ex:name ?n } WHERE { ?s ex:name ?n FILTER(?n = 'alpha') }"
    ttl = wrapper(server, construct, TURTLE).convert()
    g = Graph().parse(data=ttl, format="turtle")
    assert len(g) == 1
    jsonld = wrapper(server, construct, JSONLD).convert()  # SPARQLWrapper parses it into an rdflib Graph
    assert len(jsonld) == 1
    status, headers, body = http(server, "/sparql?" + urllib.parse.urlencode({"query": "DESCRIBE <http://example.org/a>"}),
                                 headers={"Accept": "application/n-triples"})
    assert status == 200 and headers["Content-Type"].startswith("application/n-triples")
    assert len(Graph().parse(data=body.decode(), format="nt")) == 2
    assert len(Graph().parse(data=wrapper(server, construct, N3).convert(), format="turtle")) == 1


def test_updates_are_refused_and_change_nothing(server):
    before = server.store.count()
    update = "INSERT DATA { <http://x/a> <http://x/b> <http://x/c> }"
    for query_param in ("query", "update"):
        status, headers, body = http(server, "/sparql?" + urllib.parse.urlencode({query_param: update}))
        assert status in (400, 403) and headers["Content-Type"].startswith("application/problem+json")
    status, _, _ = http(server, "/sparql", data=update.encode(), headers={"Content-Type": "application/sparql-update"})
    assert status == 403
    status, _, _ = http(server, "/sparql", data=b"DROP ALL", headers={"Content-Type": "application/sparql-query"})
    assert status == 403
    sw = SPARQLWrapper(server.url + "/sparql", updateEndpoint=server.url + "/sparql")
    sw.setMethod("POST")
    sw.setQuery("DELETE WHERE { ?s ?p ?o }")
    with pytest.raises(Exception):
        sw.query()
    assert server.store.count() == before


def test_syntax_errors_are_problem_details(server):
    status, headers, body = http(server, "/sparql?" + urllib.parse.urlencode({"query": "SELEC ?x WHERE {}"}))
    assert status == 400 and headers["Content-Type"].startswith("application/problem+json")
    assert json.loads(body)["status"] == 400
    status, _, _ = http(server, "/sparql")
    assert status in (400, 302)  # no query: browsers are sent to the explorer's SPARQL page


def test_row_cap_is_injected_as_a_limit(server):
    everything = "SELECT ?s ?p ?o WHERE { ?s ?p ?o }"
    status, headers, body = http(server, "/sparql?" + urllib.parse.urlencode({"query": everything}),
                                 headers={"Accept": "application/sparql-results+json"})
    assert status == 200 and len(json.loads(body)["results"]["bindings"]) == 4
    assert headers["Arachne-Row-Cap"] == "4"
    three = wrapper(server, SELECT + " LIMIT 3").convert()
    assert len(three["results"]["bindings"]) == 3
    hundred = wrapper(server, SELECT + " LIMIT 100 OFFSET 1").convert()
    assert [b["name"]["value"] for b in hundred["results"]["bindings"]] == ["beta", "delta", "epsilon", "gamma, with a comma"]


def test_timeout_answers_503_and_the_server_stays_up(server):
    status, headers, body = http(server, "/sparql?" + urllib.parse.urlencode({"query": SLOW}))
    assert status == 503 and "Retry-After" in headers
    assert json.loads(body)["title"] == "Service Unavailable"
    assert wrapper(server, "ASK { ?s ?p ?o }").convert()["boolean"] is True


def test_head_etag_and_negotiation(server):
    path = "/sparql?" + urllib.parse.urlencode({"query": SELECT})
    status, headers, body = http(server, path, method="HEAD")
    assert status == 200 and body == b"" and headers["Content-Type"].startswith("application/sparql-results+json")
    status, headers, _ = http(server, path)
    status2, _, body2 = http(server, path, headers={"If-None-Match": headers["ETag"]})
    assert status2 == 304 and body2 == b""
    status, _, _ = http(server, path, headers={"Accept": "image/png"})
    assert status == 406


def test_tokenizer_finds_the_outer_limit_only():
    q = '''PREFIX ex: <http://ex.org/#limit>
    # LIMIT 5 in a comment
    SELECT ?x WHERE { { SELECT ?x WHERE { ?x ex:p "LIMIT 7" } LIMIT 9 } } VALUES ?x { ex:a }'''
    shape = analyse(q)
    assert shape.form == "SELECT" and shape.limit is None and shape.values_at is not None
    capped, changed = cap_rows(q, 100, shape)
    assert changed and capped.endswith("} } \nLIMIT 100\nVALUES ?x { ex:a }")
    store = Store()
    store.query(capped)  # still a valid query
    assert cap_rows("SELECT * WHERE { ?s ?p ?o } limit 5000", 100)[0].endswith("limit 100")
    assert cap_rows("SELECT * WHERE { ?s ?p ?o } LIMIT 5", 100) == ("SELECT * WHERE { ?s ?p ?o } LIMIT 5", False)
    assert cap_rows("ASK { ?s ?p ?o }", 100)[1] is False
    assert analyse("PREFIX a: <x:> INSERT DATA { }").first_word == "INSERT"
    assert analyse("CONSTRUCT WHERE { ?s ?p ?o }").form == "CONSTRUCT"
