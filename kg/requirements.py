"""The requirement index: what every model needs from a device, grouped so that the
one-device feasibility query does not have to visit each model.

A model's *requirement profile* is what it needs qualitatively: its format, operator set,
required sensor classes and input modalities. Registries hold many models but few profiles
(models come from a handful of architectures and converters). Its *requirement class* adds
its RAM (tensor arena) and size (file bytes), each rounded into a geometric bucket of ratio
2^(1/8). RAM and flash are separate limits, so a class lies in one *arena band* (the profile's
arena bucket) and one *size band* (its size bucket), and the bands carry the buckets' exact
bounds. Then, for one device, kg/queries/device_requirement_profiles.rq checks format,
operators, sensors and modalities once per profile, and device_requirement_classes.rq RAM
(flash) once per arena (size) band of the profiles that pass: a few
hundred bands instead of thousands of classes. A class whose two bands fit whole fits whole,
and its models are listed without looking at them; models_in_requirement_classes.rq checks
the exact figures only for the models of classes that straddle the device's limits.

Buckets have fixed bounds, so a model's class depends on the model alone: writing or
dropping one model never changes another's class. Each model's `ar:requirementClass` link
lives in the model's own named graph (it goes when the model is replaced or dropped); the
profile, class and band nodes live in INDEX_GRAPH, shared, and are only ever added to.
`annotate` is a write hook of the store (kg.store.on_write), so `GraphStore.put_graphs` keeps
the index in step with every write; `reindex` rebuilds it for a store other tools wrote to,
or one indexed before the bands existed (the fast query sends the models of a class without
bands to the full check, so such a store gets exact answers, only slower).
"""
from __future__ import annotations

import hashlib
import math
from typing import Iterable, Mapping

import pyoxigraph as ox
from rdflib import Graph, URIRef
from rdflib.namespace import RDF, XSD

from kg.ids import AR, BASE
from kg.store import GraphData, as_graph, on_write

INDEX_GRAPH = BASE + "graph/requirement-index"
# The class of the models without a format or RAM figure: no bounds, so the one-device query
# finds them by this link alone and hands them to the full check (their answer is "likely" or,
# for a known violation, "does not fit").
UNINDEXED = BASE + "requirements/unindexed"
STEPS_PER_DOUBLING = 8  # bucket ratio 2^(1/8) ~ 1.09: few boundary models, few thousand classes


def bucket_low(k: int) -> int:
    """Smallest byte count in bucket k (bucket k holds [bucket_low(k), bucket_low(k+1)))."""
    return math.ceil(2 ** (k / STEPS_PER_DOUBLING)) if k > 0 else 0


def bucket(n: int) -> int:
    """The bucket holding a byte count (exact integer bounds; float rounding corrected)."""
    if n < 2:
        return 0  # bucket 0 is [0, 2); buckets 1-7 are empty, as ceil() makes them start at 2
    k = int(math.floor(STEPS_PER_DOUBLING * math.log2(n)))
    while bucket_low(k) > n:
        k -= 1
    while bucket_low(k + 1) <= n:
        k += 1
    return k


def _digest(*parts) -> str:
    return hashlib.sha1(repr(parts).encode()).hexdigest()[:20]


def _string_term(text: str) -> str:
    """N-Triples form of a plain string literal (pyoxigraph's serialiser does the escaping)."""
    return str(ox.Literal(text))


_INT = f"^^<{XSD.integer}>"


def index_entry(fmt: str, arena: int, size: int | None, ops: Iterable[str], sensors: Iterable[str],
                modalities: Iterable[str]) -> tuple[str, list[str]]:
    """(requirement class IRI, N-Triples lines of its profile, class and band nodes) for one model."""
    ops, sensors, modalities = sorted(set(ops)), sorted(set(sensors)), sorted(set(modalities))
    profile = f"{BASE}requirements/{_digest(fmt, ops, sensors, modalities)}"
    ka = bucket(arena)
    # Unknown size: the full check skips the flash test then, so the size band claims 0 bytes.
    kb = bucket(size) if size is not None else None
    size_key = "none" if kb is None else kb
    cls = f"{profile}/{ka}/{size_key}"
    p, c = f"<{profile}>", f"<{cls}>"
    arena_band, size_band = f"<{profile}/arena/{ka}>", f"<{profile}/size/{size_key}>"
    lines = [f"{p} <{RDF.type}> <{AR.RequirementProfile}> .", f"{p} <{AR.profileFormat}> <{fmt}> ."]
    lines += [f"{p} <{AR.profileOperator}> {_string_term(op)} ." for op in ops]
    lines += [f"{p} <{AR.profileSensor}> <{x}> ." for x in sensors]
    lines += [f"{p} <{AR.profileModality}> <{x}> ." for x in modalities]
    lines += [f"{c} <{RDF.type}> <{AR.RequirementClass}> .", f"{c} <{AR.requirementProfile}> {p} .",
              f"{c} <{AR.arenaBand}> {arena_band} .", f"{c} <{AR.sizeBand}> {size_band} ."]
    size_low, size_high = (0, 0) if kb is None else (bucket_low(kb), bucket_low(kb + 1) - 1)
    for band, bounds in ((arena_band, {AR.minArenaBytes: bucket_low(ka), AR.maxArenaBytes: bucket_low(ka + 1) - 1}),
                         (size_band, {AR.minModelBytes: size_low, AR.maxModelBytes: size_high})):
        lines += [f"{band} <{RDF.type}> <{AR.RequirementBand}> .", f"{band} <{AR.bandOf}> {p} ."]
        lines += [f'{band} <{prop}> "{value}"{_INT} .' for prop, value in bounds.items()]
    return cls, lines


def _int(graph: Graph, node, prop) -> int | None:
    v = graph.value(node, prop)
    try:
        return int(v.toPython()) if v is not None else None
    except (TypeError, ValueError):
        return None


_ARENA = f"<{AR.arenaBytes}>"
_MODEL = f"<{AR.PretrainedModel}>"


@on_write
def annotate(graphs: Mapping[str, GraphData]) -> dict[str, Graph]:
    """Index entries for the models described in graphs about to be written.

    Returns {graph name: link triples to add to it}, and under INDEX_GRAPH the triples to add to
    the index. A model is indexed when its graph gives its format and arena bytes; any other
    model is linked to UNINDEXED (the full check decides it)."""
    links: dict[str, Graph] = {}
    lines: set[str] = set()
    for name, graph in graphs.items():
        if name == INDEX_GRAPH or (isinstance(graph, str) and _ARENA not in graph and _MODEL not in graph):
            continue  # N-Triples without a model (Thing Descriptions): not parsed, imports stay fast
        graph = as_graph(graph)
        for model in set(graph.subjects(AR.arenaBytes, None)) | set(graph.subjects(RDF.type, AR.PretrainedModel)):
            if not isinstance(model, URIRef):
                continue
            fmt, arena = graph.value(model, AR.hasFormat), _int(graph, model, AR.arenaBytes)
            if fmt is None or arena is None:
                links.setdefault(name, Graph()).add((model, AR.requirementClass, URIRef(UNINDEXED)))
                continue
            cls, entry = index_entry(str(fmt), arena, _int(graph, model, AR.modelBytes),
                                     (str(o) for o in graph.objects(model, AR.usesOperator)),
                                     (str(o) for o in graph.objects(model, AR.requiresSensor)),
                                     (str(o) for o in graph.objects(model, AR.hasModality)))
            links.setdefault(name, Graph()).add((model, AR.requirementClass, URIRef(cls)))
            lines.update(entry)
    if lines:
        links[INDEX_GRAPH] = Graph().parse(data="\n".join(sorted(lines)), format="nt")
    return links


_FACTS = """
PREFIX ar: <https://w3id.org/arachne#>
SELECT ?g ?model ?fmt ?arena (SAMPLE(?size) AS ?bytes)
       (GROUP_CONCAT(DISTINCT ?op; separator=" ") AS ?ops)
       (GROUP_CONCAT(DISTINCT STR(?sensor); separator=" ") AS ?sensors)
       (GROUP_CONCAT(DISTINCT STR(?modality); separator=" ") AS ?modalities)
WHERE {
  GRAPH ?g { ?model ar:arenaBytes ?arena ; ar:hasFormat ?fmt }
  OPTIONAL { ?model ar:modelBytes ?size }
  OPTIONAL { ?model ar:usesOperator ?op }
  OPTIONAL { ?model ar:requiresSensor ?sensor }
  OPTIONAL { ?model ar:hasModality ?modality }
} GROUP BY ?g ?model ?fmt ?arena
"""


def reindex(store, progress: bool = False) -> int:
    """Rebuild the whole index from the models in the store (for stores written by other
    tools, or after the bucket layout changes); returns the number of models indexed."""
    rows = store.select(_FACTS).values()
    store.update(f"DELETE WHERE {{ GRAPH ?g {{ ?m <{AR.requirementClass}> ?c }} }} ; "
                 f"DROP SILENT GRAPH <{INDEX_GRAPH}>")
    links: dict[str, list[str]] = {}
    lines: set[str] = set()
    items = rows
    if progress:
        from rich.console import Console
        from rich.progress import track

        items = track(rows, description="indexing models", console=Console(stderr=True), transient=True)
    for g, model, fmt, arena, size, ops, sensors, modalities in items:
        cls, entry = index_entry(str(fmt), int(arena), None if size is None else int(size),
                                 (ops or "").split(), (sensors or "").split(), (modalities or "").split())
        links.setdefault(str(g), []).append(f"<{model}> <{AR.requirementClass}> <{cls}> .")
        lines.update(entry)
    names = list(links)
    for start in range(0, len(names), 500):  # bounded update requests for remote stores
        store.update(" ;\n".join(f"INSERT DATA {{ GRAPH <{n}> {{\n" + "\n".join(links[n]) + "\n} }"
                                  for n in names[start:start + 500]))
    if lines:
        store.load_ntriples(INDEX_GRAPH, ("\n".join(sorted(lines)) + "\n").encode())
    store.update(f"""INSERT {{ GRAPH ?g {{ ?m <{AR.requirementClass}> <{UNINDEXED}> }} }}
                     WHERE {{ GRAPH ?g {{ ?m a <{AR.PretrainedModel}> }}
                              FILTER NOT EXISTS {{ GRAPH ?any {{ ?m <{AR.requirementClass}> ?c }} }} }}""")
    return len(rows)


__all__ = ["INDEX_GRAPH", "UNINDEXED", "annotate", "bucket", "bucket_low", "index_entry", "reindex"]
