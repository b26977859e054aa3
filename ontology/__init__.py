"""The Arachne OWL ontology (Turtle) and a loader."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from rdflib import Graph

HERE = Path(__file__).resolve().parent
ONTOLOGY_FILE = HERE / "arachne.ttl"
NAMESPACE = "https://w3id.org/arachne#"


@lru_cache(maxsize=1)
def ontology_graph() -> Graph:
    """The ontology as an rdflib graph (parsed once; treat as read-only)."""
    return Graph().parse(ONTOLOGY_FILE, format="turtle")


def unit_of(prop: str) -> str | None:
    """Canonical unit of an ontology property ('ramBytes' -> 'byte'), from its ar:unit annotation."""
    from rdflib import URIRef

    iri = URIRef(prop if prop.startswith("http") else NAMESPACE + prop)
    value = ontology_graph().value(iri, URIRef(NAMESPACE + "unit"))
    return str(value) if value is not None else None
