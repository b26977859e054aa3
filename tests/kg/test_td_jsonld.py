"""kg.jsonld (the focused JSON-LD -> RDF converter for TDs) against a general JSON-LD processor
(rdflib's) fed with the OFFICIAL W3C context files from ../shared: equal graphs mean both the
converter and the bundled context copies are faithful.

The comparison normalises what the JSON-LD specification leaves to the RDF layer or where rdflib
deviates from JSON-LD 1.1, each on purpose:
- numbers are compared by value: JSON-LD 1.1 writes 100.0 as "100"^^xsd:integer, rdflib as a
  double, because it follows the Python type;
- xsd:string literals equal plain literals, language tags compare case-insensitively (RDF 1.1);
- IRIs with characters RDF forbids (URI templates `{?x}`, spaces): kg.jsonld percent-encodes
  them, rdflib keeps or drops them, so statements with such IRIs are left out on both sides;
- documents that declare a prefix whose IRI does not end in '/', '#', ... are skipped: JSON-LD 1.1
  does not use such a term as a prefix (`xsd:boolean` stays a compact IRI), rdflib concatenates.
"""
import csv
import json
import logging
import re

import pytest
from rdflib import Dataset, Graph, Literal, URIRef
from rdflib.compare import graph_diff, to_isomorphic
from rdflib.namespace import XSD

from kg import contexts, jsonld
from kg.td import JSONLD_BASE

logging.getLogger("rdflib").setLevel(logging.CRITICAL)
NUMERIC = {XSD.integer, XSD.double, XSD.decimal, XSD.float}
OFFICIAL = {contexts.TD_11: "td-1.1/context/td-context-1.1.jsonld",
            contexts.TD_10: "td-1.0/context/td-context-1.1__2019-12-02_24a31f21.jsonld"}
GEN_DELIMS = (":", "/", "?", "#", "[", "]", "@")


@pytest.fixture(scope="module")
def official_loader(shared):
    """rdflib resolves the two TD context URLs to the official W3C files, the others to the bundled ones."""
    import rdflib.plugins.shared.jsonld.context as rdflib_context

    official = {url: json.loads((shared / "w3c" / path).read_text()) for url, path in OFFICIAL.items()}
    original = rdflib_context.source_to_json

    def source_to_json(source, *args, **kwargs):
        if isinstance(source, str):
            return official.get(source) or contexts.context_document(source), None
        return original(source, *args, **kwargs)

    rdflib_context.source_to_json = source_to_json
    yield
    rdflib_context.source_to_json = original


def normalise(triples, skip_iris):
    graph = Graph()
    for s, p, o in triples:
        terms = [URIRef(jsonld.safe_iri(str(t))) if isinstance(t, URIRef) else t for t in (s, p, o)]
        if any(isinstance(t, URIRef) and (str(t) in skip_iris or "%" in str(t)) for t in terms):
            continue
        s, p, o = terms
        if isinstance(o, Literal):
            if o.language:
                o = Literal(str(o), lang=o.language.lower())
            elif o.datatype == XSD.string:
                o = Literal(str(o))
            elif o.datatype in NUMERIC:
                try:
                    o = Literal(repr(float(str(o))), datatype=XSD.double)
                except ValueError:
                    pass
        graph.add((s, p, o))
    return graph


def declares_non_prefix_terms(doc) -> bool:
    text = json.dumps(doc)
    for item in doc.get("@context") if isinstance(doc.get("@context"), list) else [doc.get("@context")]:
        if isinstance(item, dict):
            for key, value in item.items():
                if isinstance(value, str) and not value.endswith(GEN_DELIMS) and f'"{key}:' in text:
                    return True
    return False


def sample(shared, every=7, max_triples=250):
    """Every `every`-th strictly-JSON corpus document the converter handles (TDs and TMs)."""
    rows = [r for r in csv.DictReader(open(shared / "tds" / "manifest.csv", encoding="utf-8"))
            if r["json_valid"] == "yes" and r["category"] in ("td", "tm")]
    for row in rows[::every]:
        doc = json.loads((shared / "tds" / row["path"]).read_bytes().decode("utf-8-sig"))
        if not isinstance(doc, dict) or declares_non_prefix_terms(doc):
            continue
        try:
            conv = jsonld.to_triples(doc, JSONLD_BASE, contexts.with_prefixes(doc.get("@context")))
        except (contexts.RemoteContextRefused, jsonld.JsonLdError, jsonld.Unsupported):
            continue
        if len(conv.triples) <= max_triples and not conv.warnings:
            yield row["path"], doc, conv


def test_converter_equals_rdflib_with_official_contexts(shared, official_loader):
    from rdflib.plugins.parsers.jsonld import to_rdf

    compared, different = 0, []
    for path, doc, conv in sample(shared):
        body = {**doc, "@context": contexts.with_prefixes(doc.get("@context"))}
        dataset = Dataset()
        to_rdf(body, dataset, base=JSONLD_BASE)
        skip = {jsonld.safe_iri(i) for i in conv.repaired}
        ours = normalise(conv.triples, skip)
        theirs = normalise(dataset.triples((None, None, None)), skip)
        compared += 1
        if to_isomorphic(ours) != to_isomorphic(theirs):
            _, only_ours, only_theirs = graph_diff(to_isomorphic(ours), to_isomorphic(theirs))
            different.append((path, len(only_ours), len(only_theirs)))
    assert compared >= 100
    assert different == []


def test_constructs_beyond_the_subset_fall_back(shared):
    with pytest.raises(jsonld.Unsupported):
        jsonld.to_triples({"@context": {"@vocab": "http://x/"}, "@reverse": {"p": {"@id": "http://y"}}}, JSONLD_BASE)
    with pytest.raises(jsonld.Unsupported):
        jsonld.to_triples({"@context": {"@vocab": "http://x/", "j": {"@type": "@json"}}, "j": {"a": 1}}, JSONLD_BASE)


def test_language_maps_lists_indexes_and_values():
    doc = {"@context": {"@vocab": "http://x/", "titles": {"@id": "http://x/t", "@container": "@language"},
                        "seq": {"@id": "http://x/s", "@container": "@list"},
                        "props": {"@id": "http://x/p", "@container": "@index", "@index": "name"},
                        "when": {"@id": "http://x/w", "@type": "http://www.w3.org/2001/XMLSchema#dateTime"}},
           "@id": "http://x/thing", "titles": {"de": "Lampe", "en": "Lamp"}, "seq": [1, 2.5, True],
           "props": {"status": {"type": "string"}}, "when": "2024-01-01T00:00:00Z",
           "n": {"@value": "7", "@type": "http://www.w3.org/2001/XMLSchema#integer"}}
    triples = jsonld.to_triples(doc, JSONLD_BASE).triples
    lexical = {(re.split(r"[/#]", str(p))[-1], str(o), o.language) for _, p, o in triples if isinstance(o, Literal)}
    assert ("t", "Lampe", "de") in lexical and ("t", "Lamp", "en") in lexical
    assert {float(o) for _, p, o in triples if isinstance(o, Literal) and o.datatype == XSD.double} == {2.5}
    assert ("first", "1", None) in lexical and ("first", "true", None) in lexical
    assert ("name", "status", None) in lexical  # property-valued index
    assert ("n", "7", None) in lexical
    when = [o for _, p, o in triples if str(p) == "http://x/w"]
    assert when[0].datatype == XSD.dateTime and when[0].toPython().year == 2024


def test_uri_templates_become_valid_iris():
    doc = {"@context": {"href": {"@id": "http://x/href", "@type": "@id"}}, "@id": "http://x/t",
           "href": "http://dev/api{?x,y}"}
    conv = jsonld.to_triples(doc, JSONLD_BASE)
    assert [str(o) for _, _, o in conv.triples] == ["http://dev/api%7B?x,y%7D"]
    assert re.fullmatch(r"[^{}<> ]+", str(conv.triples[0][2]))
