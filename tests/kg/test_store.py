import json

import pytest
from rdflib import Dataset, Graph, Literal, URIRef

from kg.store import Results, Store, StoreError

EX = "http://example.org/"


def graph(*triples):
    g = Graph()
    for s, p, o in triples:
        g.add((URIRef(EX + s), URIRef(EX + p), o if isinstance(o, Literal) else URIRef(EX + o)))
    return g


@pytest.fixture(params=["memory", "disk"])
def store(request, tmp_path):
    return Store(None if request.param == "memory" else tmp_path / "db")


def test_put_replaces_a_named_graph_and_drop_removes_it(store):
    store.put_graph(EX + "g", graph(("a", "p", Literal(1)), ("a", "p", Literal(2))))
    assert store.count() == 2
    store.put_graph(EX + "g", graph(("a", "p", Literal(3))))
    assert store.select(f"SELECT ?o WHERE {{ <{EX}a> <{EX}p> ?o }}").values() == [(3,)]
    store.drop_graph(EX + "g")
    assert store.count() == 0
    assert not store.has_graph(EX + "g")


def test_a_failing_update_writes_nothing(store):
    store.put_graph(EX + "g", graph(("a", "p", Literal(1))))
    with pytest.raises(StoreError):
        store.update(f"INSERT DATA {{ GRAPH <{EX}h> {{ <{EX}b> <{EX}p> 1 }} }} ; INSERT DATA {{ broken")
    assert store.count() == 1 and store.graph_names() == [EX + "g"]


def test_query_kinds(store):
    store.put_graphs({EX + "g1": graph(("a", "p", "b")), EX + "g2": graph(("b", "p", Literal("x")))})
    res = store.query(f"SELECT ?s ?o WHERE {{ ?s <{EX}p> ?o }} ORDER BY ?s")
    assert isinstance(res, Results) and res.vars == ["s", "o"]
    assert res.values() == [(EX + "a", EX + "b"), (EX + "b", "x")]
    assert store.query(f"ASK {{ <{EX}a> <{EX}p> <{EX}b> }}") is True
    g = store.query(f"CONSTRUCT {{ ?s <{EX}q> ?o }} WHERE {{ ?s <{EX}p> ?o }}")
    assert len(g) == 2
    with pytest.raises(StoreError, match="syntax"):
        store.query("SELEC nonsense")


def test_exports_parse_back(store):
    store.put_graph(EX + "g", graph(("a", "p", Literal(1.5)), ("a", "q", "b")))
    assert len(Graph().parse(data=store.export("turtle"), format="turtle")) == 2
    assert store.export("nquads").decode().count(f"<{EX}g>") == 2
    dataset = Dataset()
    dataset.parse(data=store.export("jsonld"), format="json-ld")
    assert len(list(dataset.quads((None, None, None, URIRef(EX + "g"))))) == 2
    assert json.loads(store.export("jsonld"))
    with pytest.raises(StoreError):
        store.export("yaml")


def test_disk_store_persists(tmp_path):
    first = Store(tmp_path / "db")
    first.put_graph(EX + "g", graph(("a", "p", Literal(1))))
    first.flush()
    del first
    assert Store(tmp_path / "db").count() == 1
