"""The graph store. One interface, two backends: embedded Oxigraph (`Store`, the
default) and any SPARQL 1.1 endpoint (`kg.sparql_store.SparqlStore`). Callers get
one from `open_store(location)` and only use the methods of `GraphStore`.

Every description (a Thing, a model, a benchmark table) lives in its own named
graph, so replacing or dropping it is one transaction. Queries see the union of
all graphs as their default graph, so users need no GRAPH clauses.

`GraphStore.put_graphs` is the one writer of whole graphs (rdflib Graphs or ready
N-Triples text); what must be written with them registers as a write hook
(`on_write`; the requirement index). Failures of the storage itself (disk, an
unreachable server) raise `StorageError`, a store another process holds
`StoreLocked`. kg/__init__.py registers the SPARQL server backend (URL_BACKENDS)
and the hooks, so this module imports neither (both build on it).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping, Union

import pyoxigraph as ox
from rdflib import BNode, Graph, Literal, URIRef

from kg.errors import StorageError, StoreError, StoreLocked  # noqa: F401  (re-exported: callers catch them from here)
from kg.sparql_guard import has_dataset

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


# A graph to write: an rdflib Graph, or N-Triples text (what the TD importers produce, ready made).
GraphData = Union[Graph, str]
# Write hooks see every put_graphs batch and return triples to ADD to named graphs in the same
# transaction (kg.requirements registers the requirement index this way).
WRITE_HOOKS: list[Callable[[Mapping[str, GraphData]], Mapping[str, GraphData]]] = []


def on_write(hook: Callable[[Mapping[str, GraphData]], Mapping[str, GraphData]]):
    """Register a write hook (see WRITE_HOOKS); returns it, so it works as a decorator."""
    if hook not in WRITE_HOOKS:
        WRITE_HOOKS.append(hook)
    return hook


def is_empty(graph: GraphData) -> bool:
    return not graph.strip() if isinstance(graph, str) else not len(graph)


def as_graph(graph: GraphData) -> Graph:
    """An rdflib Graph of a GraphData (N-Triples text is parsed)."""
    return Graph().parse(data=graph, format="nt") if isinstance(graph, str) else graph


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


def _nt_block(graph: GraphData) -> str:
    """N-Triples text of a graph, for INSERT DATA (works on every SPARQL 1.1 engine)."""
    if isinstance(graph, str):
        return graph
    return graph.serialize(format="nt", encoding="utf-8").decode("utf-8")


# -- shared by both backends: both turn their answers into pyoxigraph objects first ----
def answer_to_python(answer) -> Results | bool | Graph:
    """A pyoxigraph answer (boolean, solutions, or an iterable of triples) as Results, bool or Graph."""
    if isinstance(answer, ox.QueryBoolean):
        return bool(answer)
    if isinstance(answer, ox.QuerySolutions):
        names = [v.value for v in answer.variables]
        seen: dict = {}  # answers repeat terms (the bound device, booleans, units): convert each once

        def term(t):
            if t is None:
                return None
            got = seen.get(t)
            if got is None:
                got = seen[t] = _to_rdflib(t)
            return got
        rows = [tuple(term(sol[i]) for i in range(len(names))) for sol in answer]
        return Results(names, rows)
    graph = Graph()
    for t in answer:
        graph.add((_to_rdflib(t.subject), _to_rdflib(t.predicate), _to_rdflib(t.object)))
    return graph


def results_from_json(body: bytes) -> Results | bool:
    """SPARQL JSON results (query_serialized(..., "json"), an endpoint's answer) as Results or bool."""
    return answer_to_python(ox.parse_query_results(body, format=ox.QueryResultsFormat.JSON))


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

    # Moves after every write of a store that only this object writes (the embedded one), so a
    # reader may cache what it read until it moves (the fast feasibility path does); None where
    # other clients may write too (a SPARQL server): nothing read from it may be cached.
    write_generation: int | None = None

    # -- graphs -----------------------------------------------------------
    def put_graphs(self, graphs: Mapping[str, GraphData]) -> None:
        """Replace each named graph by the given triples (an rdflib Graph or N-Triples text), all
        in ONE transaction (one update request). The one writer of whole graphs: every importer
        goes through it, so each backend adapts the update once (see SparqlStore._insert_op).

        What the write hooks add (the requirement index of the models in them) is written in the
        same transaction, so the fast feasibility query never sees a model without its entry."""
        ops = []
        for name, graph in graphs.items():
            ops.append(f"DROP SILENT GRAPH <{name}>")
            if not is_empty(graph):
                ops.append(self._insert_op(name, graph))
        for hook in WRITE_HOOKS:
            for name, extra in hook(graphs).items():
                if not is_empty(extra):
                    ops.append(self._insert_op(name, extra))
        if ops:
            self.update(" ;\n".join(ops))

    def put_graph(self, name: str, graph: GraphData) -> None:
        """Replace the named graph `name` by `graph` in one transaction."""
        self.put_graphs({name: graph})

    def add_to_graph(self, name: str, graph: GraphData) -> None:
        """Add triples to a named graph (creating it), in one transaction."""
        if not is_empty(graph):
            self.update(self._insert_op(name, graph))

    def drop_graphs(self, names: Iterable[str]) -> None:
        """Drop named graphs in one transaction; missing ones are ignored."""
        ops = [f"DROP SILENT GRAPH <{n}>" for n in names]
        if ops:
            self.update(" ;\n".join(ops))

    def drop_graph(self, name: str) -> None:
        self.drop_graphs([name])

    def _insert_op(self, name: str, graph: GraphData) -> str:
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
        self.write_generation = 0  # a read-only open is a snapshot: nothing moves it
        self._broken = False  # a write failed on the disk: reopen before the next one
        try:
            if self.read_only:
                self._ox = _open_read_only(self.path)
            else:
                if self.path:
                    self.path.parent.mkdir(parents=True, exist_ok=True)  # RocksDB makes the last folder only
                self._ox = ox.Store(str(self.path)) if self.path else ox.Store()
        except OSError as exc:
            if "lock" in str(exc).lower() and self.path and (self.path / "LOCK").exists():
                raise StoreLocked(f"{path}: the store is in use by {lock_holder(self.path)}; reads can go "
                                  "beside it, writes must go through it (e.g. the HTTP API of `arachne "
                                  "serve`) or wait until it stops") from None
            if not StorageError(str(exc)).disk_full or not (self.path / "CURRENT").exists():
                raise StorageError(f"{path}: cannot open store: {exc}") from None
            # a full disk: serve reads from a read-only open; writes retry the real open (check_writable)
            self._ox, self._broken = _open_read_only(self.path), True

    def check_writable(self) -> None:
        """Raise StoreLocked when this store was opened read-only beside the process that holds it."""
        if self.read_only:
            raise StoreLocked(f"{self.path}: opened read-only (the store is in use by {lock_holder(self.path)}); "
                              "nothing was written: write through the process that holds it (e.g. the HTTP "
                              "API of `arachne serve`) or when it has stopped")
        if self._broken:
            self._reopen()

    def _reopen(self) -> None:
        """RocksDB refuses every write after one failed on the disk (ENOSPC) until it is reopened:
        reopen, so freeing space is enough to recover; while that fails, reads go on read-only."""
        self._ox = None  # the old handle holds the lock: drop it first
        try:
            self._ox, self._broken = ox.Store(str(self.path)), False
        except OSError as exc:
            self._ox = _open_read_only(self.path)
            raise StorageError(f"{self.path}: the store cannot be reopened for writing: {exc}") from None

    # -- graphs -----------------------------------------------------------
    def load_ntriples(self, name: str, data: bytes) -> None:
        """Bulk-load N-Triples into a named graph (large imports; not one transaction)."""
        self.check_writable()
        try:
            self._ox.bulk_load(data, format=ox.RdfFormat.N_TRIPLES, to_graph=ox.NamedNode(name))
        except SyntaxError as exc:
            raise StoreError(f"N-Triples for {name} do not parse: {exc}") from None
        except OSError as exc:
            raise StorageError(f"bulk load into {name} failed (part of it may be written): {exc}") from None
        finally:
            self.write_generation += 1  # after the write (failed ones too: part may be written)

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
        except (OSError, RuntimeError) as exc:  # e.g. a read-only snapshot whose files the writer compacted away
            raise StoreError(f"query failed: {exc}") from exc

    def _run(self, sparql: str):
        try:
            # A query's own FROM / FROM NAMED decides its dataset; without one, the union of all graphs.
            return self._ox.query(sparql, use_default_graph_as_union=not has_dataset(sparql))
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
        self.check_writable()
        try:
            self._ox.update(sparql)
        except SyntaxError as exc:
            raise StoreError(f"SPARQL update syntax error: {exc}") from None
        except OSError as exc:  # the disk: full, read-only, failing
            self._broken = self.path is not None
            raise StorageError(f"{self.path}: the update failed and nothing of it was written: {exc}") from None
        except RuntimeError as exc:  # an operation failed, e.g. DROP of a missing graph
            raise StoreError(f"update failed: {exc}") from None
        finally:
            self.write_generation += 1  # after the write: a reader that saw the old number re-reads

    # -- export -------------------------------------------------------------
    def export(self, fmt: str = "nquads", graph: str | None = None) -> bytes:
        """Serialise the store (or one named graph) as turtle, nquads, trig, jsonld or ntriples.

        Formats without named graphs (turtle, ntriples) get the union of all graphs."""
        return export_dataset(self._ox, fmt, graph)

    def flush(self) -> None:
        if self.path and not self.read_only:
            try:
                self.check_writable()
                self._ox.flush()
            except OSError as exc:
                self._broken = True
                raise StorageError(f"{self.path}: the writes are in the store's log but could not be saved "
                                   f"to its files (they are recovered on the next open if the log is intact): {exc}"
                                   ) from None


def raced_the_writer(exc: Exception) -> bool:
    """Whether an error of a read-only snapshot comes from racing the writer's compaction (a file
    the snapshot lists was deleted meanwhile): a new snapshot gets a consistent list."""
    text = str(exc)
    return "Corruption" in text or "No such file" in text or "IO error" in text


def _open_read_only(path: Path, attempts: int = 50) -> ox.Store:
    """A read-only snapshot of a store another process may be writing, retried while the open
    races that writer's compactions."""
    for attempt in range(attempts):
        try:
            return ox.Store.read_only(str(path))
        except (RuntimeError, OSError) as exc:
            if attempt == attempts - 1 or not raced_the_writer(exc):
                raise StorageError(f"{path}: cannot read the store beside the process that writes it: {exc}") from None
            time.sleep(0.02)
    raise AssertionError("unreachable")


def lock_holder(path: Path) -> str:
    """Who holds the store's LOCK file: 'process 123 (arachne serve ...)', from /proc/locks (Linux);
    'another process' where that cannot be told."""
    try:
        inode = os.stat(Path(path) / "LOCK").st_ino
        for line in Path("/proc/locks").read_text().splitlines():
            fields = line.split()
            if len(fields) > 5 and fields[5].rsplit(":", 1)[-1] == str(inode):
                pid = fields[4]
                try:
                    args = [a.decode(errors="replace") for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a]
                except OSError:
                    return f"process {pid}"
                if len(args) > 1 and Path(args[0]).name.startswith("python"):  # name the script, not python
                    args = args[2:] if args[1] == "-m" else args[1:]
                if args:
                    args[0] = Path(args[0]).name
                return f"process {pid} ({' '.join(' '.join(args).split())[:120]})"
    except OSError:
        pass
    return "another process"


# URL scheme -> the backend's opener; kg.sparql_store registers http(s) (kg/__init__.py imports it),
# so this module never imports a backend that builds on it.
URL_BACKENDS: dict[str, Callable[..., GraphStore]] = {}


def open_store(location: str | Path | None = None, **options) -> GraphStore:
    """Open the store a user configured: an http(s):// URL (a SPARQL server, see
    `SparqlStore.at`; `options` go to it), a directory path (embedded), or None for memory."""
    if isinstance(location, str) and "://" in location:
        scheme = location.split("://", 1)[0].lower()
        if scheme not in URL_BACKENDS:
            raise StoreError(f"{location}: no store backend for {scheme}:// URLs "
                             f"(expected {', '.join(f'{s}://' for s in sorted(URL_BACKENDS))} or a directory)")
        return URL_BACKENDS[scheme](location, **options)
    return Store(location)
