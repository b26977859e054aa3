"""Feasibility at scale: a synthetic registry (sizes as arguments, distributions drawn from the
demo data's real models and boards), the one-device query (kg.feasibility.fast_feasible_models,
on the requirement index) on the embedded store and on rdflib's in-memory engine, the same
constraints as one straightforward query without the index, a numpy scan of the requirement
table (the floor the query is measured against), and all feasible pairs.

    python benchmarks/feasibility.py --models 100000 --devices 1000
"""
from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import threading
import time

import numpy as np
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


class VectorisedScan:
    """The requirement table in numpy arrays (one row per indexed model: its profile, arena bytes,
    file bytes) and the profiles' facts: a device's feasible models are one boolean mask. The
    same constraints as device_requirement_profiles.rq and device_requirement_classes.rq, for the models of this benchmark
    (none measured, all indexed); what the fast path's time is measured against."""

    def __init__(self, store: Store):
        rows = store.select(f"""SELECT ?m ?p ?arena ?bytes WHERE {{
            ?m <{AR.requirementClass}> ?c ; <{AR.arenaBytes}> ?arena . ?c <{AR.requirementProfile}> ?p
            OPTIONAL {{ ?m <{AR.modelBytes}> ?bytes }} }}""").values()
        self.profiles = sorted({p for _, p, _, _ in rows})
        number = {p: i for i, p in enumerate(self.profiles)}
        self.models = np.array([m for m, _, _, _ in rows], dtype=object)
        self.profile = np.array([number[p] for _, p, _, _ in rows])
        self.arena = np.array([a for _, _, a, _ in rows], dtype=np.int64)
        self.bytes = np.array([-1 if b is None else b for _, _, _, b in rows], dtype=np.int64)  # -1: unknown
        self.facts = {p: {"format": None, "ops": set(), "sensors": set(), "modalities": set()} for p in self.profiles}
        for prop, key in ((AR.profileFormat, "format"), (AR.profileOperator, "ops"),
                          (AR.profileSensor, "sensors"), (AR.profileModality, "modalities")):
            for p, value in store.select(f"SELECT ?p ?v WHERE {{ ?p <{prop}> ?v }}").values():
                if p in self.facts:
                    if key == "format":
                        self.facts[p][key] = value
                    else:
                        self.facts[p][key].add(value)
        self.sensed = set(store.select(f"SELECT DISTINCT ?m WHERE {{ ?s <{AR.providesModality}> ?m }}").column("m"))

    @staticmethod
    def device(store: Store, request: feasibility.Request) -> dict:
        """The device's limits and capabilities, read as the fast path reads them (not timed)."""
        c = feasibility.device_placeholders(store, request)
        return {"ram": int(c["#RAM#"]), "flash": int(c["#FLASH#"]), "onboard": c["#ONBOARD#"] == "true",
                "code": {f: int(b) for f, b in re.findall(r"\(<([^>]*)> (\d+)\)", c["#FORMATS#"])},
                "ops": set(re.findall(r'"((?:[^"\\]|\\.)*)"', c["#OPS#"])),
                "sensors": set(re.findall(r"<([^>]*)>", c["#SENSORS#"])),
                "modalities": set(re.findall(r"<([^>]*)>", c["#MODALITIES#"]))}

    def feasible(self, d: dict) -> list[str]:
        ok, code = [], []
        for p in self.profiles:
            f = self.facts[p]
            ok.append(f["format"] in d["code"] and f["ops"] <= d["ops"] and not (d["onboard"] and (
                f["sensors"] - d["sensors"] or (f["modalities"] & self.sensed) - d["modalities"])))
            code.append(d["code"].get(f["format"], 0))
        mask = (np.array(ok)[self.profile] & (self.arena <= d["ram"])
                & ((self.bytes < 0) | (self.bytes + np.array(code)[self.profile] <= d["flash"])))
        return self.models[mask].tolist()


class RdflibStore(Store):
    """The same queries on rdflib's in-memory SPARQL engine (the obvious alternative)."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.lock = threading.Lock()  # rdflib's query parser (pyparsing) is not thread-safe

    def select(self, sparql):
        with self.lock:
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
    requests = [feasibility.Request(device=d, onboard_sensors=args.onboard_sensors) for d in devices]
    # The first query after a write reads what the index holds per class again (kg.feasibility.per_generation).
    t = time.perf_counter()
    feasibility.fast_feasible_models(store, requests[-1])
    print(f"device_query_first_after_write_ms: {(time.perf_counter() - t) * 1000:.1f} ms")
    times, sizes = [], []
    for request in requests:
        t = time.perf_counter()
        sizes.append(len(feasibility.fast_feasible_models(store, request)))
        times.append((time.perf_counter() - t) * 1000)
    p50 = statistics.median(times)
    print(f"device_query_p50_ms: {p50:.1f} ms")
    print(f"device_query_p95_ms: {percentile(times, 0.95):.1f} ms")
    print(f"feasible_models_per_device_median: {statistics.median(sizes):.0f}")

    scan = VectorisedScan(store)
    stimes = []
    for request in requests:
        d = scan.device(store, request)
        t = time.perf_counter()
        got = scan.feasible(d)
        stimes.append((time.perf_counter() - t) * 1000)
        assert set(got) == feasibility.fast_feasible_models(store, request), "scan and index disagree"
    print(f"vectorised_scan_p50_ms: {statistics.median(stimes):.2f} ms")
    print(f"device_query_vs_vectorised_scan: {p50 / statistics.median(stimes):.1f} x")

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

    if not args.rdflib_queries:
        return
    t = time.perf_counter()
    graph = Graph()  # everything the embedded store holds: data, index, ontology, runtimes
    graph.parse(data=store.export("ntriples"), format="nt")
    print(f"rdflib load {time.perf_counter() - t:.1f}s", file=sys.stderr)
    alt = RdflibStore(graph)
    rtimes = []
    for request in requests[: args.rdflib_queries]:  # the requests timed above
        t = time.perf_counter()
        got = feasibility.fast_feasible_models(alt, request)
        rtimes.append((time.perf_counter() - t) * 1000)
        assert got == feasibility.fast_feasible_models(store, request), "engines disagree"
    rp50 = statistics.median(rtimes)
    print(f"rdflib_device_query_p50_ms: {rp50:.1f} ms")
    print(f"speedup_vs_rdflib: {rp50 / p50:.1f} x")


if __name__ == "__main__":
    main()
