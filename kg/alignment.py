"""Lift descriptions written in aligned vocabularies (the TinyML nnet schema, S3N boards) into
Arachne terms, so they can be asked with one vocabulary. The rules are the SPARQL CONSTRUCT
queries in kg/alignment/*.rq; the OWL alignment axioms live in the ontology."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pyoxigraph as ox
from rdflib import Graph

RULES_DIR = Path(__file__).resolve().parent / "alignment"
_TRIGGERS = ("http://tinyml-schema.org/", "http://w3id.org/s3n/")


@lru_cache(maxsize=None)
def rules() -> tuple[str, ...]:
    return tuple(p.read_text() for p in sorted(RULES_DIR.glob("*.rq")))


def lift(graph: Graph) -> Graph:
    """Return `graph` plus the Arachne triples its aligned vocabularies imply (a new graph)."""
    nt = graph.serialize(format="nt", encoding="utf-8")
    if not any(t.encode() in nt for t in _TRIGGERS):
        return graph
    scratch = ox.Store()
    scratch.load(nt, format=ox.RdfFormat.N_TRIPLES)
    derived = ox.Store()
    for rule in rules():
        derived.extend(ox.Quad(t.subject, t.predicate, t.object, ox.DefaultGraph()) for t in scratch.query(rule))
    out = Graph()
    out += graph
    out.parse(data=derived.dump(format=ox.RdfFormat.N_TRIPLES, from_graph=ox.DefaultGraph()), format="nt")
    return out
