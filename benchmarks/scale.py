"""Import and query times of the store at 1x, 10x and 100x a synthetic registry sized like
the demo (1x: 100 models, 50 devices, 5 benchmark records per model), on the embedded
store (on disk) and on an Oxigraph server (loopback, on disk), through the same
kg.store interface. One named graph per model, per device and per model's benchmark
table, imported with put_graphs in batches (one transaction each), as loaders do.

Prints `name: value unit` lines; progress goes to stderr. The default run takes 2-3 minutes on
2 cores, mostly building rdflib graphs and writing them (Oxigraph's transactional write path).
"""
from __future__ import annotations

import argparse
import gc
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import RDF, XSD

from kg.ids import AR, benchmark_iri, device_iri, model_iri, runtime_iri, task_iri
from kg.store import GraphStore, open_store

TD = Namespace("https://www.w3.org/2019/wot/td#")
SCHEMA = Namespace("https://schema.org/")
SENSORS = [AR.Microphone, AR.Camera, AR.Accelerometer, AR.Gyroscope, AR.Thermometer]
TASKS = ["keyword-spotting", "visual-wake-words", "image-classification", "anomaly-detection", "gesture-recognition"]
OPERATORS = ["CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "SOFTMAX", "RESHAPE", "AVERAGE_POOL_2D", "ADD", "MAX_POOL_2D"]
RUNTIMES = [runtime_iri("tflite-micro"), runtime_iri("onnx-runtime"), runtime_iri("stm32cube-ai")]
MODELS, DEVICES, RECORDS = 100, 50, 5  # the 1x registry
BATCH = 200  # graphs per put_graphs (one update request / transaction)


def model(i: int, rng: random.Random) -> tuple[str, Graph]:
    m = URIRef(model_iri(f"synthetic-model-{i}"))
    g = Graph()
    g.add((m, RDF.type, AR.PretrainedModel))
    g.add((m, SCHEMA.name, Literal(f"synthetic model {i}")))
    g.add((m, AR.family, Literal(rng.choice(["mobilenet", "ds-cnn", "resnet", "autoencoder"]))))
    g.add((m, AR.hasFormat, AR.TFLite))
    g.add((m, AR.hasQuantization, AR.Int8))
    g.add((m, AR.arenaBytes, Literal(rng.randrange(2_000, 400_000))))
    g.add((m, AR.modelBytes, Literal(rng.randrange(10_000, 2_000_000))))
    g.add((m, AR.parameterCount, Literal(rng.randrange(5_000, 2_000_000))))
    g.add((m, AR.macs, Literal(rng.randrange(100_000, 60_000_000))))
    g.add((m, AR.performsTask, URIRef(task_iri(rng.choice(TASKS)))))
    g.add((m, AR.requiresSensor, rng.choice(SENSORS)))
    for op in rng.sample(OPERATORS, 4):
        g.add((m, AR.usesOperator, Literal(op)))
    metric = BNode()
    g.add((m, AR.hasMetric, metric))
    g.add((metric, AR.metricName, Literal("top1_accuracy")))
    g.add((metric, AR.metricValue, Literal(round(rng.uniform(60, 98), 2), datatype=XSD.double)))
    return str(m), g


def device(j: int, rng: random.Random) -> tuple[str, Graph]:
    d = URIRef(device_iri(f"synthetic-board-{j}"))
    g = Graph()
    g.add((d, RDF.type, AR.Device))
    g.add((d, TD.title, Literal(f"Synthetic board {j}")))
    g.add((d, AR.ramBytes, Literal(rng.choice([64, 128, 256, 320, 512, 1024]) * 1024)))
    g.add((d, AR.flashBytes, Literal(rng.choice([256, 512, 1024, 2048, 4096]) * 1024)))
    g.add((d, AR.clockMHz, Literal(str(rng.choice([48, 64, 80, 120, 240, 480])), datatype=XSD.decimal)))
    g.add((d, AR.processorCore, Literal(rng.choice(["Cortex-M4F", "Cortex-M7", "Cortex-M33", "Xtensa LX7"]))))
    g.add((d, AR.hasFPU, Literal(True)))
    for runtime in rng.sample(RUNTIMES, 2):
        g.add((d, AR.supportsRuntime, URIRef(runtime)))
    for sensor in rng.sample(SENSORS, 2):
        node = BNode()
        g.add((d, AR.hasSensor, node))
        g.add((node, RDF.type, sensor))
    return str(d), g


def benchmarks(i: int, devices: int, rng: random.Random) -> tuple[str, Graph]:
    """One model's benchmark table: RECORDS measurements on random boards."""
    name = benchmark_iri(f"synthetic-model-{i}")
    g = Graph()
    for k in range(RECORDS):
        r = URIRef(f"{name}/{k}")
        g.add((r, RDF.type, AR.BenchmarkRecord))
        g.add((r, AR.ofModel, URIRef(model_iri(f"synthetic-model-{i}"))))
        g.add((r, AR.onDevice, URIRef(device_iri(f"synthetic-board-{rng.randrange(devices)}"))))
        g.add((r, AR.withRuntime, URIRef(RUNTIMES[0])))
        g.add((r, AR.latencyMs, Literal(round(rng.uniform(1, 900), 3), datatype=XSD.double)))
        g.add((r, AR.energyUJ, Literal(round(rng.uniform(10, 90_000), 1), datatype=XSD.double)))
        g.add((r, AR.measuredRamBytes, Literal(rng.randrange(2_000, 400_000))))
        g.add((r, AR.accuracyPct, Literal(round(rng.uniform(60, 98), 2), datatype=XSD.double)))
        g.add((r, AR.source, Literal("synthetic")))
    return name, g


def registry(scale: int) -> dict[str, Graph]:
    rng = random.Random(scale)
    models, devices = MODELS * scale, DEVICES * scale
    graphs = dict(device(j, rng) for j in range(devices))
    for i in range(models):
        graphs.update([model(i, rng), benchmarks(i, devices, rng)])
    return graphs


QUERIES = {
    # Models that fit one board's RAM and flash and whose sensor it has (the feasibility core).
    "feasible": """PREFIX ar: <https://w3id.org/arachne#>
SELECT ?model ?arena ?flash WHERE {
  <DEVICE> ar:ramBytes ?ram ; ar:flashBytes ?rom ; ar:hasSensor/a ?sensor .
  ?model a ar:PretrainedModel ; ar:requiresSensor ?sensor ; ar:arenaBytes ?arena ; ar:modelBytes ?flash .
  FILTER(?arena <= ?ram && ?flash <= ?rom)
} ORDER BY ?arena""",
    # The fastest measured models on one board.
    "benchmarks": """PREFIX ar: <https://w3id.org/arachne#>
SELECT ?model ?latency ?accuracy WHERE {
  ?r a ar:BenchmarkRecord ; ar:onDevice <DEVICE> ; ar:ofModel ?model ; ar:latencyMs ?latency ; ar:accuracyPct ?accuracy .
} ORDER BY ?latency LIMIT 10""",
    # A whole-registry aggregate: models per task.
    "per_task": """PREFIX ar: <https://w3id.org/arachne#>
SELECT ?task (COUNT(?model) AS ?models) WHERE { ?model a ar:PretrainedModel ; ar:performsTask ?task } GROUP BY ?task""",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_oxigraph(location: Path) -> tuple[subprocess.Popen, str]:
    """`oxigraph serve` on a free loopback port (the binary of the oxigraph pip package)."""
    binary = Path(sys.executable).parent / "oxigraph"
    binary = str(binary) if binary.exists() else shutil.which("oxigraph")
    if not binary:
        raise SystemExit("the `oxigraph` server binary is missing (pip install oxigraph)")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "serve", "--location", str(location), "--bind", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/query?query=ASK%7B%7D", timeout=1).close()
            return proc, url
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("the oxigraph server did not start")


def measure(store: GraphStore, graphs: dict[str, Graph], devices: int, queries: int) -> dict[str, float]:
    names = list(graphs)
    t = time.perf_counter()
    for start in range(0, len(names), BATCH):
        store.put_graphs({n: graphs[n] for n in names[start : start + BATCH]})
    store.flush()
    import_s = time.perf_counter() - t
    triples = store.count()
    rng = random.Random(0)
    times = {name: [] for name in QUERIES}
    for _ in range(queries):
        board = device_iri(f"synthetic-board-{rng.randrange(devices)}")
        for name, text in QUERIES.items():
            t = time.perf_counter()
            store.select(text.replace("DEVICE", board))
            times[name].append((time.perf_counter() - t) * 1000)
    every = sorted(x for xs in times.values() for x in xs)
    out = {
        "triples": triples,
        "import_s": import_s,
        "import_triples_per_s": triples / import_s,
        "query_p50_ms": statistics.median(every),
        "query_p95_ms": every[min(len(every) - 1, round(0.95 * (len(every) - 1)))],
    }
    out.update({f"{name}_p50_ms": statistics.median(xs) for name, xs in times.items()})
    return out


UNITS = {"triples": "triples", "import_s": "s", "import_triples_per_s": "triples/s"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scales", default="1,10,100", help="comma-separated multiples of the demo-sized registry")
    ap.add_argument("--queries", type=int, default=10, help="rounds of the query mix per store (half at 100x and up)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="arachne-scale-"))
    try:
        for scale in (int(s) for s in args.scales.split(",")):
            t = time.perf_counter()
            gc.collect()
            gc.disable()  # building ~10^6 rdflib objects: the cyclic collector would rescan them all, again and again
            graphs = registry(scale)
            gc.enable()
            gc.freeze()  # ...and later during the import and the queries
            print(f"{scale}x: {len(graphs)} graphs built in {time.perf_counter() - t:.1f}s", file=sys.stderr)
            for backend in ("embedded", "server"):
                location = work / f"{backend}-{scale}x"
                proc = None
                if backend == "server":
                    proc, url = start_oxigraph(location)
                    store = open_store(url)
                else:
                    store = open_store(location)
                try:
                    rounds = args.queries if scale < 100 else max(3, args.queries // 2)  # keeps the run under 3 minutes
                    results = measure(store, graphs, DEVICES * scale, rounds)
                finally:
                    if proc:
                        proc.terminate()
                        proc.wait(10)
                for key, value in results.items():
                    unit = UNITS.get(key, "ms")
                    text = f"{value:.0f}" if unit in ("triples", "triples/s") else f"{value:.3g}" if unit == "ms" else f"{value:.2f}"
                    print(f"{backend}_{scale}x_{key}: {text} {unit}", flush=True)
                print(f"{backend} {scale}x done", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
