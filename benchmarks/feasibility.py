"""Feasibility at scale: a synthetic registry (sizes as arguments, distributions drawn from the
demo data's real models and boards), the one-device query (kg.feasibility.fast_feasible_models,
on the requirement index) on the embedded store and on rdflib's in-memory engine, the same
constraints as one straightforward query without the index, and all feasible pairs.

    python benchmarks/feasibility.py --models 100000 --devices 1000
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import time

from rdflib import Graph

from kg import feasibility, requirements
from kg.ids import AR, device_iri, model_iri
from kg.loading import init_store
from kg.store import Results, Store

TFLM = "https://w3id.org/arachne/runtime/tflite-micro"
# Real figures of the demo registry (the 23 TinyML models' arena/file bytes and operator sets,
# the boards' RAM/flash/sensors); the generator resamples them with jitter.
MODEL_SEEDS = [  # (arena bytes, file bytes, ops, modality)
    (12864, 76752, ["CONV_2D", "FULLY_CONNECTED", "RESHAPE", "SOFTMAX"], "Audio"),
    (24432, 47616, ["CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "RESHAPE", "SOFTMAX"], "Audio"),
    (115664, 252848, ["CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "FULLY_CONNECTED", "RESHAPE", "SOFTMAX"], "Audio"),
    (140144, 542400, ["CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "AVERAGE_POOL_2D", "RESHAPE", "SOFTMAX"], "Image"),
    (2300, 19000, ["FULLY_CONNECTED", "QUANTIZE", "DEQUANTIZE"], "Inertial"),
    (8000, 18712, ["CONV_2D", "FULLY_CONNECTED", "RESHAPE", "SOFTMAX"], "Audio"),
    (30000, 60000, ["CONV_2D", "MAX_POOL_2D", "FULLY_CONNECTED", "SOFTMAX", "MEAN"], "Inertial"),
    (90000, 300000, ["CONV_2D", "DEPTHWISE_CONV_2D", "PAD", "RESIZE_NEAREST_NEIGHBOR", "SOFTMAX"], "Image"),
    (4000, 12000, ["FULLY_CONNECTED", "RELU", "CUSTOM_OP"], "TimeSeries"),
]
BOARD_SEEDS = [  # (RAM bytes, flash bytes, sensors)
    (262144, 1048576, ["Microphone", "Accelerometer", "Gyroscope", "Magnetometer", "Thermometer"]),
    (196608, 2097152, ["Microphone", "Accelerometer"]),
    (655360, 2097152, ["Camera", "Microphone"]),
    (131072, 524288, ["Accelerometer", "Gyroscope"]),
    (1048576, 2097152, ["Camera"]),
    (25000, 1883000, ["Microphone", "Accelerometer", "Gyroscope"]),
    (786432, 4194304, ["Camera", "Microphone", "Accelerometer"]),
]


def synthetic(models: int, devices: int, seed: int = 7) -> bytes:
    """N-Triples of a registry of the given size."""
    rng = random.Random(seed)
    a = str(AR)
    lines = []
    for i in range(models):
        arena, size, ops, modality = rng.choice(MODEL_SEEDS)
        m = f"<{model_iri(f'synthetic-{i}')}>"
        lines += [
            f"{m} <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <{a}PretrainedModel> .",
            f"{m} <https://schema.org/name> \"synthetic-{i}\" .",
            f"{m} <{a}hasFormat> <{a}TFLite> .",
            f"{m} <{a}arenaBytes> \"{int(arena * rng.uniform(0.5, 2.0))}\"^^<http://www.w3.org/2001/XMLSchema#integer> .",
            f"{m} <{a}modelBytes> \"{int(size * rng.uniform(0.5, 2.0))}\"^^<http://www.w3.org/2001/XMLSchema#integer> .",
            f"{m} <{a}hasModality> <{a}{modality}> .",
        ]
        lines += [f"{m} <{a}usesOperator> \"{op}\" ." for op in ops]
    for j in range(devices):
        ram, flash, sensors = rng.choice(BOARD_SEEDS)
        d = f"<{device_iri(f'synthetic-board-{j}')}>"
        lines += [
            f"{d} <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <{a}Device> .",
            f"{d} <{a}ramBytes> \"{int(ram * rng.choice([0.5, 1, 2]))}\"^^<http://www.w3.org/2001/XMLSchema#integer> .",
            f"{d} <{a}flashBytes> \"{int(flash * rng.choice([0.5, 1, 2]))}\"^^<http://www.w3.org/2001/XMLSchema#integer> .",
            f"{d} <{a}supportsRuntime> <{TFLM}> .",
        ]
        for k, s in enumerate(sensors):
            node = f"<{device_iri(f'synthetic-board-{j}')}/sensor/{k}>"
            lines += [f"{d} <{a}hasSensor> {node} .", f"{node} <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <{a}{s}> ."]
    return ("\n".join(lines) + "\n").encode()


# The same constraints as one query straight over the models, without the requirement index:
# what the index is measured against (this was the fast path before the index existed).
STRAIGHTFORWARD = """
PREFIX ar: <https://w3id.org/arachne#>
SELECT ?model WHERE {
  VALUES (?fmt ?code) { #FORMATS# }
  ?model ar:hasFormat ?fmt ; ar:arenaBytes ?arenaBytes ; ar:modelBytes ?modelBytes .
  FILTER(?arenaBytes <= #RAM# && ?modelBytes + ?code <= #FLASH#)
  FILTER NOT EXISTS { ?model ar:usesOperator ?op . FILTER(?op NOT IN (#OPS#)) }
  FILTER NOT EXISTS { ?model ar:requiresSensor ?sensor . FILTER(?sensor NOT IN (#SENSORS#)) }
  FILTER NOT EXISTS { ?model ar:hasModality ?modality . FILTER(?modality NOT IN (#MODALITIES#))
                      FILTER EXISTS { ?someSensorClass ar:providesModality ?modality } }
}
"""


ONBOARD = dict(onboard_sensors=True)  # STRAIGHTFORWARD checks on-board sensors, as requests asking for them do


def straightforward(store: Store, device: str) -> set[str]:
    """The device's feasible models by STRAIGHTFORWARD (no measurements on synthetic boards)."""
    constants = feasibility.device_placeholders(store, feasibility.Request(device=device, **ONBOARD))
    return set(store.select(feasibility.inline(STRAIGHTFORWARD, constants)).column("model"))


class RdflibStore(Store):
    """The same queries on rdflib's in-memory SPARQL engine (the obvious alternative)."""

    def __init__(self, graph: Graph):
        self.graph = graph

    def select(self, sparql):
        res = self.graph.query(sparql)
        return Results([str(v) for v in res.vars], [tuple(row) for row in res])

    def query_serialized(self, sparql, fmt):
        assert fmt == "tsv"
        res = self.select(sparql)
        cell = lambda t: "" if t is None else t.n3() if hasattr(t, "n3") else str(t)
        lines = ["\t".join("?" + v for v in res.vars)] + ["\t".join(cell(t) for t in row) for row in res.rows]
        return "results", ("\n".join(lines) + "\n").encode()


def percentile(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", type=int, default=100_000)
    ap.add_argument("--devices", type=int, default=1_000)
    ap.add_argument("--queries", type=int, default=30, help="device queries timed on the embedded store")
    ap.add_argument("--rdflib-queries", type=int, default=3)
    ap.add_argument("--baseline-queries", type=int, default=3,
                    help="device queries timed with the straightforward, unindexed query")
    ap.add_argument("--full-queries", type=int, default=1,
                    help="devices checked in full (every pair's figures and reasons)")
    ap.add_argument("--onboard-sensors", action="store_true",
                    help="time requests that ask for on-board sensors (the sensor filter of earlier versions)")
    ap.add_argument("--pairs-devices", type=int, default=None,
                    help="devices the all-pairs pass covers (default: all; all_pairs_devices says how many)")
    args = ap.parse_args()

    t = time.perf_counter()
    data = synthetic(args.models, args.devices)
    store = Store()
    init_store(store)
    store.load_ntriples("https://w3id.org/arachne/graph/synthetic", data)
    print(f"built {args.models} models x {args.devices} devices in {time.perf_counter() - t:.1f}s", file=sys.stderr)
    print(f"models: {args.models}")
    print(f"devices: {args.devices}")
    # The synthetic triples bypass put_graphs (which indexes what it writes): index them in bulk.
    t = time.perf_counter()
    requirements.reindex(store, progress=True)
    print(f"index_build_s: {time.perf_counter() - t:.1f} s")

    rng = random.Random(1)
    devices = [device_iri(f"synthetic-board-{rng.randrange(args.devices)}") for _ in range(args.queries)]
    times, sizes = [], []
    for d in devices:
        t = time.perf_counter()
        sizes.append(len(feasibility.fast_feasible_models(
            store, feasibility.Request(device=d, onboard_sensors=args.onboard_sensors))))
        times.append((time.perf_counter() - t) * 1000)
    p50 = statistics.median(times)
    print(f"device_query_p50_ms: {p50:.1f} ms")
    print(f"device_query_p95_ms: {percentile(times, 0.95):.1f} ms")
    print(f"feasible_models_per_device_median: {statistics.median(sizes):.0f}")

    t = time.perf_counter()
    pairs = 0
    covered = min(args.devices, args.pairs_devices or args.devices)
    for j in range(covered):
        pairs += len(feasibility.fast_feasible_models(store, feasibility.Request(device=device_iri(f"synthetic-board-{j}"))))
    print(f"all_pairs_s: {time.perf_counter() - t:.1f} s")
    print(f"all_pairs_devices: {covered}")
    print(f"feasible_pairs: {pairs}")

    btimes = []
    for d in devices[: args.baseline_queries]:
        t = time.perf_counter()
        got = straightforward(store, d)
        btimes.append((time.perf_counter() - t) * 1000)
        assert got == feasibility.fast_feasible_models(store, feasibility.Request(device=d, **ONBOARD)), \
            "queries disagree"
    if btimes:
        print(f"unindexed_device_query_p50_ms: {statistics.median(btimes):.1f} ms")
        print(f"speedup_vs_unindexed: {statistics.median(btimes) / p50:.1f} x")
    # The full check with every pair's figures and reasons (what `arachne feasible --why` prints).
    ftimes = []
    for d in devices[: args.full_queries]:
        t = time.perf_counter()
        checks = feasibility.check_pairs(store, device=d)
        ftimes.append((time.perf_counter() - t) * 1000)
        assert {c.model for c in checks if c.feasible} == feasibility.fast_feasible_models(
            store, feasibility.Request(device=d)), "full check and index disagree"
    if ftimes:
        print(f"full_check_device_p50_ms: {statistics.median(ftimes):.1f} ms")

    t = time.perf_counter()
    graph = Graph()  # everything the embedded store holds: data, index, ontology, runtimes
    graph.parse(data=store.export("ntriples"), format="nt")
    print(f"rdflib load {time.perf_counter() - t:.1f}s", file=sys.stderr)
    alt = RdflibStore(graph)
    rtimes = []
    for d in devices[: args.rdflib_queries]:
        t = time.perf_counter()
        got = feasibility.fast_feasible_models(alt, feasibility.Request(device=d))
        rtimes.append((time.perf_counter() - t) * 1000)
        assert got == feasibility.fast_feasible_models(store, feasibility.Request(device=d)), "engines disagree"
    rp50 = statistics.median(rtimes)
    print(f"rdflib_device_query_p50_ms: {rp50:.1f} ms")
    print(f"speedup_vs_rdflib: {rp50 / p50:.1f} x")


if __name__ == "__main__":
    main()
