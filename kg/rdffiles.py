"""Reading RDF files (Turtle, N-Triples, N-Quads, RDF/XML, JSON-LD) into rdflib graphs,
with errors that name the file and the line, and no network access."""
from __future__ import annotations

import json
from pathlib import Path

import pyoxigraph as ox
from rdflib import Graph

from kg.errors import InputError

FORMATS = {
    ".ttl": ox.RdfFormat.TURTLE,
    ".turtle": ox.RdfFormat.TURTLE,
    ".nt": ox.RdfFormat.N_TRIPLES,
    ".nq": ox.RdfFormat.N_QUADS,
    ".rdf": ox.RdfFormat.RDF_XML,
    ".owl": ox.RdfFormat.RDF_XML,
    ".xml": ox.RdfFormat.RDF_XML,
    ".jsonld": ox.RdfFormat.JSON_LD,
    ".json": ox.RdfFormat.JSON_LD,
}


def _jsonld_offline(path: Path, raw: bytes) -> bytes:
    """Inline bundled contexts so the parser never needs the network; refuse other remote contexts."""
    from kg import contexts  # the offline context registry (TD contexts and the prefixes TDs use)

    try:
        doc = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        line = getattr(exc, "lineno", None)
        col = getattr(exc, "colno", None)
        where = f"line {line}, column {col}" if line else None
        raise InputError(str(path), where, f"not valid JSON: {getattr(exc, 'msg', exc)}") from exc
    return json.dumps(contexts.inline_contexts(doc, source=str(path))).encode()


def read_graph(path: str | Path, data: bytes | None = None) -> Graph:
    """Parse one RDF file into an rdflib Graph (named graphs in N-Quads are merged).

    Raises InputError naming the file, the line/column and what was wrong."""
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(str(path), None, f"unknown RDF file type {path.suffix!r}; expected one of {', '.join(sorted(FORMATS))}")
    try:
        raw = data if data is not None else path.read_bytes()
    except OSError as exc:
        raise InputError(str(path), None, f"cannot read file: {exc.strerror}") from exc
    if fmt == ox.RdfFormat.JSON_LD:
        raw = _jsonld_offline(path, raw)
    base = path.resolve().as_uri()
    try:
        quads = list(ox.parse(input=raw, format=fmt, base_iri=base))
    except SyntaxError as exc:
        where = f"line {exc.lineno}, column {exc.offset}" if getattr(exc, "lineno", None) else None
        msg = str(exc.msg if hasattr(exc, "msg") else exc)
        raise InputError(str(path), where, f"invalid {fmt.name}: {msg}") from exc
    # Round-trip through N-Triples: the cheapest faithful bridge from Oxigraph terms to rdflib.
    scratch = ox.Store()
    scratch.extend(ox.Quad(q.subject, q.predicate, q.object, ox.DefaultGraph()) for q in quads)
    nt = scratch.dump(format=ox.RdfFormat.N_TRIPLES, from_graph=ox.DefaultGraph())
    return Graph().parse(data=nt, format="nt")
