"""`recommend` latency on the demo registry: the (board, task) with the most feasible demo
candidates, Shadow method, warm process (the latency model trained once, then cached).

    python benchmarks/recommend.py [--store PATH] [--device ID --task TASK] [--runs 7] [--method shadow]

Without --store the demo registry (kg.demo_registry.build) is built into a temporary store.
If that demo holds no device yet (its board Thing Descriptions come with the TD importer),
the boards of kg/demo/data/boards.csv are added as plain device graphs, and stderr says so.
Prints recommend_p50_ms, feasibility_p50_ms (kg.feasibility.feasible_models alone, the
first step of every recommendation), first_call_ms (includes training the latency model),
candidates, board and task.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from rdflib import RDF, Graph, Literal, URIRef
from rdflib.namespace import XSD

from kg import demo
from kg.feasibility import Request, check_pairs, feasible_models
from kg.ids import AR, device_iri, runtime_iri, task_iri
from kg.store import Store


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def catalogue_devices(store: Store) -> int:
    """Device graphs for the demo's board catalogue (the fallback described above)."""
    graphs = {}
    for b in demo.boards():
        d = URIRef(device_iri(b["board_canonical"]))
        g = Graph()
        g.add((d, RDF.type, AR.Device))
        g.add((d, URIRef("https://schema.org/name"), Literal(b["name"])))
        for prop, key, dtype in ((AR.ramBytes, "ram_bytes", XSD.integer), (AR.flashBytes, "flash_bytes", XSD.integer),
                                 (AR.clockMHz, "clock_mhz", XSD.decimal)):
            if b[key] is not None:
                g.add((d, prop, Literal(b[key], datatype=dtype)))
        if b["core"]:
            g.add((d, AR.processorCore, Literal(b["core"])))
        if b["fpu"] is not None:
            g.add((d, AR.hasFPU, Literal(b["fpu"])))
        if b["accelerator"]:
            g.add((d, AR.accelerator, Literal(b["accelerator"])))
        for rt in b["frameworks"]:
            g.add((d, AR.supportsRuntime, URIRef(runtime_iri(rt))))
        for i, sensor in enumerate(b["sensors"]):
            node = URIRef(f"{d}#sensor-{i}")
            g.add((d, AR.hasSensor, node))
            g.add((node, RDF.type, AR[sensor]))
        graphs[str(d)] = g
    store.put_graphs(graphs)
    return len(graphs)


def busiest_pair(store: Store) -> tuple[str, str, int]:
    """(device, task, feasible candidates) with the most candidates over all pairs."""
    tasks = dict(store.select(f"SELECT ?m ?t WHERE {{ ?m <{AR.performsTask}> ?t }}").values())
    counts = Counter((p.device, tasks[p.model]) for p in check_pairs(store) if p.feasible and p.model in tasks)
    (dev, task), n = max(counts.items(), key=lambda kv: (kv[1], kv[0]))
    return dev, task, n


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", help="an existing store (default: build the demo registry in a temporary one)")
    ap.add_argument("--device", help="device IRI or name (default: the busiest board)")
    ap.add_argument("--task", help="task name or IRI (with --device)")
    ap.add_argument("--method", default="shadow")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--ranker", help="a trained ranker file (default: none, so the timing is reproducible)")
    args = ap.parse_args(argv)

    tmp = tempfile.TemporaryDirectory(prefix="arachne-bench-")
    os.environ.setdefault("ARACHNE_CACHE", str(Path(tmp.name) / "cache"))
    from ranker.recommend import recommend

    if args.store:
        store = Store(args.store)
    else:
        from kg.demo_registry import build

        store = Store(Path(tmp.name) / "demo")
        log("building the demo registry")
        build(store, progress=False)
    if not store.query(f"ASK {{ ?d a <{AR.Device}> }}"):
        log(f"the demo registry has no device yet: added {catalogue_devices(store)} boards from kg/demo/data/boards.csv")
    if args.device:
        dev = args.device if args.device.startswith("http") else device_iri(args.device)
        task = args.task if not args.task or args.task.startswith("http") else task_iri(args.task)
    else:
        log("finding the (board, task) with the most feasible candidates")
        dev, task, _ = busiest_pair(store)
    request = Request(device=dev, task=task)
    ranker = args.ranker or str(Path(tmp.name) / "no-ranker.pt")

    t0 = time.perf_counter()
    rec = recommend(store, request, method=args.method, ranker_path=ranker)
    first = time.perf_counter() - t0
    times, feas = [], []
    for i in range(args.runs):
        t0 = time.perf_counter()
        feasible_models(store, request)
        feas.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        rec = recommend(store, request, method=args.method, ranker_path=ranker)
        times.append(time.perf_counter() - t0)
        log(f"run {i + 1}/{args.runs}: {times[-1] * 1000:.0f} ms")
    print(f"recommend_p50_ms: {statistics.median(times) * 1000:.1f} ms")
    print(f"feasibility_p50_ms: {statistics.median(feas) * 1000:.1f} ms")
    print(f"first_call_ms: {first * 1000:.1f} ms")
    print(f"candidates: {rec.candidates}")
    print(f"board: {dev.rsplit('/', 1)[-1]}")
    print(f"task: {(task or '').rsplit('/', 1)[-1]}")
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
