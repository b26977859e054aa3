"""Bundled JSON-LD contexts, the offline document loader and the well-known prefixes (kg.contexts)."""
import json
import socket

import pytest

from kg import contexts, jsonld, td


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test (and is counted)."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return attempts


def test_bundled_td_contexts_are_the_official_files(shared):
    w3c = shared / "w3c"
    assert (contexts.HERE / "td-context-1.1.jsonld").read_bytes() == (w3c / "td-1.1/context/td-context-1.1.jsonld").read_bytes()
    assert (contexts.HERE / "td-context-1.0.jsonld").read_bytes() == \
        (w3c / "td-1.0/context/td-context-1.1__2019-12-02_24a31f21.jsonld").read_bytes()


def test_every_bundled_url_resolves_to_a_context_document():
    for url in contexts.bundled_urls():
        assert "@context" in contexts.context_document(url)


def test_td_with_unknown_remote_context_is_refused_without_network(no_network):
    doc = {"@context": ["https://www.w3.org/2022/wot/td/v1.1", "https://vendor.example/ctx.jsonld"],
           "id": "urn:x", "title": "x", "securityDefinitions": {"n": {"scheme": "nosec"}}, "security": "n"}
    outcome = td.check_td(json.dumps(doc).encode())
    assert [(p.kind, p.field) for p in outcome.problems] == [("context", "@context.1")]
    assert "vendor.example" in outcome.problems[0].message and "never fetches" in outcome.problems[0].message
    with pytest.raises(contexts.RemoteContextRefused):
        jsonld.to_triples(doc, td.JSONLD_BASE)
    with pytest.raises(contexts.RemoteContextRefused):
        contexts.inline_contexts(doc)
    assert no_network == []


def test_general_processors_are_offline_too(no_network):
    from rdflib import Dataset
    from rdflib.plugins.parsers.jsonld import to_rdf

    doc = {"@context": ["https://www.w3.org/2022/wot/td/v1.1"], "id": "urn:x", "title": "x"}
    with contexts.rdflib_offline():
        dataset = Dataset()
        to_rdf(doc, dataset, base=td.JSONLD_BASE)
        assert len(dataset) > 0
        with pytest.raises(contexts.RemoteContextRefused):
            to_rdf({**doc, "@context": "https://vendor.example/ctx"}, Dataset())
    assert contexts.pyld_document_loader(contexts.TD_11)["document"]["@context"]
    with pytest.raises(contexts.RemoteContextRefused):
        contexts.pyld_document_loader("https://vendor.example/ctx")
    assert no_network == []


def test_undeclared_htv_and_saref_prefixes_expand(no_network):
    doc = {"@context": "https://www.w3.org/2019/wot/td/v1", "id": "urn:x", "title": "x", "@type": "saref:Sensor",
           "securityDefinitions": {"n": {"scheme": "nosec"}}, "security": "n",
           "properties": {"p": {"forms": [{"href": "http://x/p", "htv:methodName": "GET"}]}}}
    conv = jsonld.to_triples(doc, td.JSONLD_BASE, contexts.with_prefixes(doc["@context"]))
    predicates = {str(p) for _, p, _ in conv.triples}
    objects = {str(o) for _, _, o in conv.triples}
    assert "http://www.w3.org/2011/http#methodName" in predicates
    assert "https://w3id.org/saref#Sensor" in objects


def test_documents_own_prefixes_win_over_the_well_known_ones():
    doc = {"@context": ["https://www.w3.org/2022/wot/td/v1.1", {"saref": "https://example.org/my-saref#"}],
           "id": "urn:x", "@type": "saref:Sensor"}
    conv = jsonld.to_triples(doc, td.JSONLD_BASE, contexts.with_prefixes(doc["@context"]))
    assert "https://example.org/my-saref#Sensor" in {str(o) for _, _, o in conv.triples}


def test_inline_contexts_for_parsers_without_a_loader():
    doc = {"@context": ["https://www.w3.org/2022/wot/td/v1.1", {"x": "http://x/"}], "title": "t"}
    inlined = contexts.inline_contexts(doc, source="f.jsonld")
    assert inlined["@context"][0] == contexts.PREFIX_CONTEXT
    assert isinstance(inlined["@context"][1], dict) and "td" in inlined["@context"][1]
    assert inlined["@context"][2] == {"x": "http://x/"}
    assert doc["@context"][0] == "https://www.w3.org/2022/wot/td/v1.1"  # the input is not changed
