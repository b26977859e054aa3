"""Loading RDF files into the store: parse, lift aligned vocabularies, validate, then write
every file's graph in one transaction, so a bad file changes nothing."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rdflib import Graph

import ontology
from kg.alignment import lift
from kg.errors import InputError
from kg.ids import BASE, ONTOLOGY_GRAPH
from kg.rdffiles import read_graph
from kg.store import Store
from kg.validation import validate


def file_graph_name(path: str | Path) -> str:
    """Named graph of a loaded file: one per file name, so loading it again replaces it."""
    from urllib.parse import quote

    return f"{BASE}graph/file/{quote(Path(path).name)}"


def check_file(path: str | Path) -> Graph:
    """Parse, lift and SHACL-validate one file; return its graph or raise InputError with every problem."""
    graph = lift(read_graph(path))
    violations = validate(graph)
    if violations:
        first = violations[0]
        more = f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""
        raise InputError(
            str(path),
            f"{first.node} {first.path or ''}".strip(),
            f"{first.message}; found {first.found}{more}",
            problems=[(f"{v.node} {v.path or ''}".strip(), f"{v.message}; found {v.found}") for v in violations],
        )
    return graph


@dataclass
class LoadReport:
    files: int
    triples: int
    graphs: list[str]


def load_files(store: Store, paths: list[str | Path]) -> LoadReport:
    """Validate every file first, then write them all in one transaction (all or nothing)."""
    graphs = {}
    for path in paths:
        graphs[file_graph_name(path)] = check_file(path)
    store.put_graphs(graphs)
    return LoadReport(len(paths), sum(len(g) for g in graphs.values()), list(graphs))


RUNTIMES_FILE = Path(__file__).resolve().parent / "catalogue" / "runtimes.ttl"
RUNTIMES_GRAPH = f"{BASE}graph/runtimes"


def init_store(store: Store) -> None:
    """Put (or refresh) the ontology and the runtime catalogue in their own graphs, so queries
    can use the classes, units, sensor modalities and operator lists."""
    store.put_graphs({
        ONTOLOGY_GRAPH: ontology.ontology_graph(),
        RUNTIMES_GRAPH: Graph().parse(RUNTIMES_FILE, format="turtle"),
    })


STATS_QUERY = """
PREFIX ar: <https://w3id.org/arachne#>
SELECT
  (COUNT(DISTINCT ?model) AS ?models) (COUNT(DISTINCT ?device) AS ?devices)
  (COUNT(DISTINCT ?bench) AS ?benchmarks) (COUNT(DISTINCT ?task) AS ?tasks)
  (COUNT(DISTINCT ?tm) AS ?thing_models)
WHERE {
  { ?model a ar:PretrainedModel } UNION { ?device a ar:Device } UNION
  { ?bench a ar:BenchmarkRecord } UNION { ?x ar:performsTask ?task } UNION { ?tm a ar:DeviceModel }
}
"""


def stats(store: Store) -> dict[str, int]:
    """Counts a user wants to see first: models, devices, benchmarks, tasks, graphs, quads."""
    row = store.select(STATS_QUERY).dicts()[0]
    row["graphs"] = len(store.graph_names())
    row["quads"] = store.count()
    return {k: int(v) for k, v in row.items()}


__all__ = ["InputError", "LoadReport", "check_file", "init_store", "load_files", "stats"]
