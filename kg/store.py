"""The graph store. One interface, two backends: embedded Oxigraph (`Store`, the
default) and any SPARQL 1.1 endpoint (`kg.sparql_store.SparqlStore`). Callers get
one from `open_store(location)` and only use the methods of `GraphStore`.

Every description (a Thing, a model, a benchmark table) lives in its own named
graph, so replacing or dropping it is one transaction. Queries see the union of
all graphs as their default graph, so users need no GRAPH clauses.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

import pyoxigraph as ox
from rdflib import BNode, Graph, Literal, URIRef

EXPORT_FORMATS = {
    "turtle": ox.RdfFormat.TURTLE,
    "nquads": ox.RdfFormat.N_QUADS,
    "trig": ox.RdfFormat.TRIG,
    "jsonld": ox.RdfFormat.JSON_LD,
    "ntriples": ox.RdfFormat.N_TRIPLES,
}
RESULT_FORMATS = {
    "json": ox.QueryResultsFormat.JSON,
    "xml": ox.QueryResultsFormat.XML,
    "csv": ox.QueryResultsFormat.CSV,
    "tsv": ox.QueryResultsFormat.TSV,
}
GRAPH_FORMATS = {
    "turtle": ox.RdfFormat.TURTLE,
    "ntriples": ox.RdfFormat.N_TRIPLES,
    "jsonld": ox.RdfFormat.JSON_LD,
    "rdfxml": ox.RdfFormat.RDF_XML,
}


class StoreError(Exception):
    """A query or update the store could not run (syntax, I/O)."""


class StorageError(StoreError):
    """The storage itself failed (disk full, I/O error, SPARQL server unreachable): the request
    was fine and may succeed later. `disk_full` tells a full disk from other failures."""

    def __init__(self, message: str):
        super().__init__(message)
        self.disk_full = "no space left" in message.lower() or "enospc" in message.lower()


@dataclass
class Results:
    """SELECT results: variable names and rows of rdflib terms (None where unbound)."""

    vars: list[str]
    rows: list[tuple] = field(default_factory=list)

    def values(self) -> list[tuple]:
        """Rows as plain Python values (str for IRIs, int/float/bool/str for literals)."""
        return [tuple(None if t is None else t.toPython() for t in row) for row in self.rows]

    def column(self, name: str) -> list:
        i = self.vars.index(name)
        return [None if row[i] is None else row[i].toPython() for row in self.rows]

    def dicts(self) -> list[dict]:
        return [dict(zip(self.vars, row)) for row in self.values()]

    def __len__(self) -> int:
        return len(self.rows)


def _to_rdflib(term):
    if term is None:
        return None
    if isinstance(term, ox.NamedNode):
        return URIRef(term.value)
    if isinstance(term, ox.BlankNode):
        return BNode(term.value)
    if isinstance(term, ox.Literal):
        if term.language:
            return Literal(term.value, lang=term.language)
        return Literal(term.value, datatype=URIRef(term.datatype.value))
    raise TypeError(f"unsupported term {term!r}")


def _nt_block(graph: Graph) -> str:
    """N-Triples text of an rdflib graph, for INSERT DATA (works on every SPARQL 1.1 engine)."""
    return graph.serialize(format="nt", encoding="utf-8").decode("utf-8")


# -- shared by both backends: both turn their answers into pyoxigraph objects first ----
def answer_to_python(answer) -> Results | bool | Graph:
    """A pyoxigraph answer (boolean, solutions, or an iterable of triples) as Results, bool or Graph."""
    if isinstance(answer, ox.QueryBoolean):
        return bool(answer)
    if isinstance(answer, ox.QuerySolutions):
        names = [v.value for v in answer.variables]
        rows = [tuple(_to_rdflib(sol[i]) for i in range(len(names))) for sol in answer]
        return Results(names, rows)
    graph = Graph()
    for t in answer:
        graph.add((_to_rdflib(t.subject), _to_rdflib(t.predicate), _to_rdflib(t.object)))
    return graph


def serialize_answer(answer, fmt: str) -> tuple[str, bytes]:
    """A pyoxigraph answer serialised in `fmt`: ('results', bytes) for SELECT/ASK, ('graph', bytes) otherwise."""
    if isinstance(answer, (ox.QueryBoolean, ox.QuerySolutions)):
        return "results", answer.serialize(format=RESULT_FORMATS.get(fmt, ox.QueryResultsFormat.JSON))
    return "graph", ox.serialize(answer, format=GRAPH_FORMATS.get(fmt, ox.RdfFormat.TURTLE))


def graph_from_ntriples(data: bytes) -> Graph:
    """An rdflib Graph from N-Triples bytes (how every backend hands out one named graph)."""
    return Graph().parse(data=data, format="nt")


def export_dataset(dataset: ox.Store, fmt: str, graph: str | None = None) -> bytes:
    """Serialise a pyoxigraph dataset (or one named graph of it) as one of EXPORT_FORMATS.

    Formats without named graphs (turtle, ntriples) get the union of all graphs."""
    if fmt not in EXPORT_FORMATS:
        raise StoreError(f"unknown export format {fmt!r}; expected one of {', '.join(EXPORT_FORMATS)}")
    rdf_format = EXPORT_FORMATS[fmt]
    if graph is not None:
        return dataset.dump(format=rdf_format, from_graph=ox.NamedNode(graph))
    if rdf_format.supports_datasets:
        return dataset.dump(format=rdf_format)
    merged = ox.Store()
    merged.extend(ox.Quad(q.subject, q.predicate, q.object, ox.DefaultGraph()) for q in dataset)
    return merged.dump(format=rdf_format, from_graph=ox.DefaultGraph())


class GraphStore:
    """The store interface. Graph writes are built here as SPARQL Update text, so every
    backend replaces graphs the same way; a backend supplies the rest."""

    # -- graphs -----------------------------------------------------------
    def put_graphs(self, graphs: Mapping[str, Graph]) -> None:
        """Replace each named graph by the given triples, all in ONE transaction (one update request).

        The requirement index (kg/requirements.py) of the models in them is written in the same
        transaction, so the fast feasibility query never sees a model without its index entry."""
        from kg.requirements import INDEX_GRAPH, annotate

        links, index = annotate(graphs)
        ops = []
        for name, graph in graphs.items():
            ops.append(f"DROP SILENT GRAPH <{name}>")
            if len(graph):
                ops.append(self._insert_op(name, graph))
            if name in links:
                ops.append(self._insert_op(name, links[name]))
        if len(index):
            ops.append(self._insert_op(INDEX_GRAPH, index))
        if ops:
            self.update(" ;\n".join(ops))

    def put_graph(self, name: str, graph: Graph) -> None:
        """Replace the named graph `name` by `graph` in one transaction."""
        self.put_graphs({name: graph})

    def add_to_graph(self, name: str, graph: Graph) -> None:
        """Add triples to a named graph (creating it), in one transaction."""
        if len(graph):
            self.update(self._insert_op(name, graph))

    def drop_graphs(self, names: Iterable[str]) -> None:
        """Drop named graphs in one transaction; missing ones are ignored."""
        ops = [f"DROP SILENT GRAPH <{n}>" for n in names]
        if ops:
            self.update(" ;\n".join(ops))

    def drop_graph(self, name: str) -> None:
        self.drop_graphs([name])

    def _insert_op(self, name: str, graph: Graph) -> str:
        """The update operation that adds `graph` to the named graph `name` (a backend may adapt it)."""
        return f"INSERT DATA {{ GRAPH <{name}> {{\n{_nt_block(graph)}\n}} }}"

    def select(self, sparql: str) -> Results:
        answer = self.query(sparql)
        if not isinstance(answer, Results):
            raise StoreError("expected a SELECT query")
        return answer

    # -- what each backend implements ---------------------------------------
    def load_ntriples(self, name: str, data: bytes) -> None:
        raise NotImplementedError

    def has_graph(self, name: str) -> bool:
        raise NotImplementedError

    def graph_names(self) -> list[str]:
        raise NotImplementedError

    def get_graph(self, name: str) -> Graph:
        raise NotImplementedError

    def count(self) -> int:
        raise NotImplementedError

    def query(self, sparql: str) -> Results | bool | Graph:
        raise NotImplementedError

    def query_serialized(self, sparql: str, fmt: str) -> tuple[str, bytes]:
        raise NotImplementedError

    def update(self, sparql: str) -> None:
        raise NotImplementedError

    def export(self, fmt: str = "nquads", graph: str | None = None) -> bytes:
        raise NotImplementedError

    def flush(self) -> None:
        """Make every write durable (a no-op where each request already is)."""


class Store(GraphStore):
    """Embedded Oxigraph store, on disk at `path` or in memory when `path` is None."""

    def __init__(self, path: str | Path | None = None, read_only: bool = False):
        """`read_only`: open a snapshot of the on-disk store without its write lock, so readers
        can run beside the process that writes (a later write is seen after reopening)."""
        self.path = Path(path) if path else None
        self.read_only = read_only and self.path is not None
        try:
            if self.read_only:
                self._ox = ox.Store.read_only(str(self.path))
            else:
                self._ox = ox.Store(str(self.path)) if self.path else ox.Store()
        except OSError as exc:
            raise StoreError(f"{path}: cannot open store: {exc}") from exc

    # -- graphs -----------------------------------------------------------
    def load_ntriples(self, name: str, data: bytes) -> None:
        """Bulk-load N-Triples into a named graph (large imports; not one transaction)."""
        self._ox.bulk_load(data, format=ox.RdfFormat.N_TRIPLES, to_graph=ox.NamedNode(name))

    def has_graph(self, name: str) -> bool:
        return self._ox.contains_named_graph(ox.NamedNode(name))

    def graph_names(self) -> list[str]:
        return sorted(g.value for g in self._ox.named_graphs() if isinstance(g, ox.NamedNode))

    def get_graph(self, name: str) -> Graph:
        """The triples of one named graph as an rdflib Graph."""
        return graph_from_ntriples(self._ox.dump(format=ox.RdfFormat.N_TRIPLES, from_graph=ox.NamedNode(name)))

    def count(self) -> int:
        """Number of quads in the store."""
        return int(self._ox_select("SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }")[0][0].value) + int(
            self._ox_select("SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }", union=False)[0][0].value
        )

    # -- SPARQL -------------------------------------------------------------
    def _ox_select(self, sparql: str, union: bool = True):
        try:
            return list(self._ox.query(sparql, use_default_graph_as_union=union))
        except SyntaxError as exc:
            raise StoreError(f"SPARQL syntax error: {exc}") from exc

    def _run(self, sparql: str):
        try:
            return self._ox.query(sparql, use_default_graph_as_union=True)
        except SyntaxError as exc:
            raise StoreError(f"SPARQL syntax error: {exc}") from exc
        except (OSError, RuntimeError) as exc:  # RuntimeError: evaluation failed (e.g. a SERVICE call)
            raise StoreError(f"query failed: {exc}") from exc

    def query(self, sparql: str) -> Results | bool | Graph:
        """Run a SPARQL query: SELECT -> Results, ASK -> bool, CONSTRUCT/DESCRIBE -> rdflib Graph."""
        return answer_to_python(self._run(sparql))

    def query_serialized(self, sparql: str, fmt: str) -> tuple[str, bytes]:
        """Run a query and serialise the answer natively (for the SPARQL endpoint).

        `fmt` is a results format (json, xml, csv, tsv) for SELECT/ASK or a graph
        format (turtle, ntriples, jsonld, rdfxml) for CONSTRUCT/DESCRIBE; returns (kind, bytes)
        with kind 'results' or 'graph'."""
        return serialize_answer(self._run(sparql), fmt)

    def update(self, sparql: str) -> None:
        """Run a SPARQL 1.1 Update request; it is applied entirely or not at all."""
        try:
            self._ox.update(sparql)
        except SyntaxError as exc:
            raise StoreError(f"SPARQL update syntax error: {exc}") from exc
        except (OSError, RuntimeError) as exc:  # RuntimeError: an operation failed, e.g. DROP of a missing graph
            raise StoreError(f"update failed: {exc}") from exc

    # -- export -------------------------------------------------------------
    def export(self, fmt: str = "nquads", graph: str | None = None) -> bytes:
        """Serialise the store (or one named graph) as turtle, nquads, trig, jsonld or ntriples.

        Formats without named graphs (turtle, ntriples) get the union of all graphs."""
        return export_dataset(self._ox, fmt, graph)

    def flush(self) -> None:
        if self.path:
            self._ox.flush()


def open_store(location: str | Path | None = None, **options) -> GraphStore:
    """Open the store a user configured: an http(s):// URL (a SPARQL server, see
    `SparqlStore.at`; `options` go to it), a directory path (embedded), or None for memory."""
    if isinstance(location, str) and location.startswith(("http://", "https://")):
        from kg.sparql_store import SparqlStore  # only when asked: it pulls in SPARQLWrapper

        return SparqlStore.at(location, **options)
    return Store(location)
