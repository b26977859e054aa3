"""Import the W3C TD corpus (../shared/data/tds/corpus, 1,073 files) with full validation
(JSON Schema + TD assertions + JSON-LD + SHACL) into a fresh in-memory store, and compare with
a naive single-process pipeline (jsonschema error listing for every file, rdflib's JSON-LD
parser, pyshacl on each TD's whole graph, one store write per TD).

Prints one `name: value unit` per line on stdout; progress goes to stderr.
Usage: python benchmarks/import_tds.py [--corpus DIR] [--workers N] [--naive-every K]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kg import contexts, td, td_checks  # noqa: E402
from kg.store import Store  # noqa: E402

DEFAULT_CORPUS = ROOT.parent / "shared" / "data" / "tds" / "corpus"


def naive(files: list[str]) -> tuple[int, int]:
    """The straightforward pipeline, one file after the other: (imported, rejected)."""
    import logging

    from jsonschema import validators
    from pyshacl import validate
    from rdflib import Dataset, Graph, Literal, URIRef
    from rdflib.namespace import RDF
    from rdflib.plugins.parsers.jsonld import to_rdf

    from kg.ids import AR

    logging.getLogger("rdflib").setLevel(logging.CRITICAL)
    schemas = {}
    for name, path in (("td", td_checks.TD_SCHEMA), ("tm", td_checks.TM_SCHEMA)):
        schema = json.loads(path.read_text())
        schemas[name] = validators.validator_for(schema)(schema)
    shapes = Graph().parse(td.SHAPES_FILE)
    store = Store()
    imported = rejected = 0
    for path in files:
        raw = Path(path).read_bytes()
        try:
            doc = json.loads(raw.decode("utf-8-sig"))
        except (UnicodeDecodeError, ValueError):
            rejected += 1
            continue
        if not isinstance(doc, dict):
            rejected += 1
            continue
        kind = "tm" if td_checks.is_thing_model(doc) else "td"
        if list(schemas[kind].iter_errors(doc)):
            rejected += 1
            continue
        if not isinstance(doc.get("id"), str):  # name the Thing, so the shapes find it
            doc = {**doc, "id": td._minted_iri(doc, raw, kind == "tm")}
        dataset = Dataset()
        try:
            with contexts.rdflib_offline():
                to_rdf({**doc, "@context": contexts.with_prefixes(doc.get("@context"))}, dataset, base=td.JSONLD_BASE)
        except Exception:
            rejected += 1
            continue
        graph = Graph()
        for s, p, o in dataset.triples((None, None, None)):
            graph.add(tuple(URIRef(td.jsonld.safe_iri(str(t))) if isinstance(t, URIRef) else t for t in (s, p, o)))
        thing = URIRef(td.jsonld.safe_iri(td.jsonld.resolve(td.JSONLD_BASE, doc["id"])))
        source = URIRef(thing + "#source")
        graph.add((thing, RDF.type, AR.DeviceModel if kind == "tm" else AR.Device))
        graph.add((source, AR.describes, thing))
        graph.add((source, AR.verbatim, Literal(raw.decode("utf-8"))))
        conforms, _, _ = validate(graph, shacl_graph=shapes, inference="none")
        if not conforms:
            rejected += 1
            continue
        store.put_graph(str(thing), graph)
        imported += 1
    return imported, rejected


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--workers", type=int, default=None, help="default: CPU count")
    parser.add_argument("--naive-every", type=int, default=2,
                        help="time the naive pipeline on every K-th file (it is slow)")
    args = parser.parse_args(argv)
    if not args.corpus.is_dir():
        sys.exit(f"corpus not found at {args.corpus}")
    files = td.expand_paths([args.corpus])

    print(f"full pipeline on {len(files)} files ...", file=sys.stderr)
    store = Store()
    started = time.perf_counter()
    report = td.import_paths(store, files, workers=args.workers)
    seconds = time.perf_counter() - started
    print(f"tds_per_second: {len(files) / seconds:.1f} TD/s")
    print(f"imported: {len(report.imported)} TD")
    print(f"rejected: {len(report.rejected)} TD")
    print(f"seconds: {seconds:.2f} s")
    print(f"graphs: {len(store.graph_names())} graphs")

    subset = files[:: args.naive_every]
    print(f"naive pipeline on {len(subset)} files ...", file=sys.stderr)
    started = time.perf_counter()
    naive_imported, naive_rejected = naive(subset)
    naive_seconds = time.perf_counter() - started
    print(f"naive_tds_per_second: {len(subset) / naive_seconds:.1f} TD/s")
    print(f"naive_imported: {naive_imported} TD")
    print(f"naive_files: {len(subset)} files")


if __name__ == "__main__":
    main()
