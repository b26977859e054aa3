"""`recommend` latency, Shadow method, warm process (the latency model trained once, then cached).

    python benchmarks/recommend.py [--store PATH] [--device ID --task TASK] [--runs 7] [--method shadow]
    python benchmarks/recommend.py --models 100000 --devices 1000 [--queries 20] [--today-models 10000]

Demo mode (no --models): the (board, task) of the demo registry (kg.demo_registry.build, in a
temporary store unless --store) with the most feasible candidates. Prints recommend_p50_ms,
today_recommend_p50_ms (the same request through the reference path: the full check of every
model and the O(n^2) Copeland, `recommend(..., full_check=True)`), feasibility_p50_ms
(kg.feasibility.feasible_models alone), first_call_ms (includes training the latency model),
candidates, board and task; with --compare, compared_requests and different_answers (every
board x task through both paths).

Scale mode (--models N --devices D): a synthetic registry resampled from the demo registry's
real descriptions (`synthetic_registry`), then --queries requests (a random board; the task of a
random model, so popular tasks are asked as often as they are held) through the fast path:
recommend_p50_ms, recommend_p95_ms, candidates_median; then the same requests (the first
--today-queries of them) on a --today-models registry with the same boards, through today's
path and the fast path: today_recommend_p50_ms_10k and fast_recommend_p50_ms_10k (the suffix
names --today-models in thousands). Every board counts, also those with an unknown figure (no
RAM figure, no flash figure on a microcontroller, no catalogued runtime: 23 of the demo's 52),
whose candidates the index gives as "likely". --keep DIR keeps the built
stores (DIR/models-N-devices-D) and reuses them on the next run.
"""
from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

from kg import requirements
from kg.feasibility import Request, check_pairs, feasible_models
from kg.ids import AR, BASE, benchmark_iri, device_iri, model_iri, task_iri
from kg.loading import init_store
from kg.store import Store

RDF_TYPE = "<http://www.w3.org/1999/02/22-rdf-syntax-ns#type>"
SYNTHETIC_GRAPH = BASE + "graph/synthetic"
# Figures that scale with a model's size (one factor per synthetic model: a wider or narrower
# variant of the seed), and the record figures that scale with it.
SIZE = {f"<{AR[p]}>" for p in ("arenaBytes", "modelBytes", "macs", "parameterCount", "operatorMacs",
                               "operatorWeightBytes", "operatorOutputElements")}
RECORD_SIZE = {f"<{AR[p]}>" for p in ("latencyMs", "energyUJ", "measuredRamBytes", "measuredFlashBytes")}
ACCURACY = {f"<{AR[p]}>" for p in ("accuracyPct", "metricValue")}
SKIP = {f"<{AR.requirementClass}>"}  # the index is rebuilt for the synthetic registry


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def percentile(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def busiest_pair(store: Store) -> tuple[str, str, int]:
    """(device, task, feasible candidates) with the most candidates over all pairs."""
    tasks = dict(store.select(f"SELECT ?m ?t WHERE {{ ?m <{AR.performsTask}> ?t }}").values())
    counts = Counter((p.device, tasks[p.model]) for p in check_pairs(store) if p.feasible and p.model in tasks)
    (dev, task), n = max(counts.items(), key=lambda kv: (kv[1], kv[0]))
    return dev, task, n


# ---------------------------------------------------------------------------
# The synthetic registry
# ---------------------------------------------------------------------------
def _literal(o: str) -> tuple[float, str] | None:
    """('"12"^^<...integer>') -> (12.0, '^^<...integer>'); None for anything but a number."""
    m = re.fullmatch(r'"([-+0-9.eE]+)"(\^\^<[^>]+>)', o)
    return (float(m.group(1)), m.group(2)) if m else None


def _scaled(o: str, factor: float, clip: tuple[float, float] | None = None, shift: float = 0.0) -> str:
    lit = _literal(o)
    if lit is None:
        return o
    value, dtype = lit
    value = value * factor + shift
    if clip:
        value = min(clip[1], max(clip[0], value))
    text = str(int(round(value))) if dtype.endswith("integer>") else f"{value:.4g}"
    return f'"{text}"{dtype}'


class Demo:
    """The demo registry's descriptions, cut into what the generator copies: each model with
    its own nodes (metrics, tensors, operator uses), each benchmark record, each board's graph."""

    def __init__(self, store: Store):
        self.lines: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
        skip = {BASE + "graph/ontology", BASE + "graph/runtimes", requirements.INDEX_GRAPH}
        for g in store.graph_names():
            if g in skip or g.startswith(BASE + "device/"):
                continue
            for line in store.export("ntriples", graph=g).decode().splitlines():
                s, p, o = line[:-2].split(" ", 2)
                if p not in SKIP:
                    self.lines[s].append((s, p, o))
        typed = defaultdict(set)
        for s, rows in self.lines.items():
            for _, p, o in rows:
                if p == RDF_TYPE:
                    typed[o].add(s)
        model_nodes = sorted(typed[f"<{AR.PretrainedModel}>"])
        self.records = sorted(typed[f"<{AR.BenchmarkRecord}>"])
        own = defaultdict(list)  # model -> its nodes' subjects ('<model#...>')
        for s in self.lines:
            head = s.split("#", 1)[0] + ">"
            if "#" in s and head in self.lines:
                own[head].append(s)
        self.model_lines = {m: self.lines[m] + [t for s in sorted(own[m]) for t in self.lines[s]] for m in model_nodes}
        self.record_of = defaultdict(list)
        for r in self.records:
            fields = {p: o for _, p, o in self.lines[r]}
            self.record_of[fields[f"<{AR.ofModel}>"]].append(r)
        used = set(self.records) | {s for m in model_nodes for s in [m] + own[m]}
        self.other = [t for s, rows in self.lines.items() if s not in used for t in rows]
        self.devices = {}
        for g in store.graph_names():
            if g.startswith(BASE + "device/"):
                text = store.export("ntriples", graph=g).decode()
                self.devices[f"<{g}>"] = [tuple(line[:-2].split(" ", 2)) for line in text.splitlines()
                                          if not line.startswith(f"<{BASE}td-source/")]
        self.seeds = self._seeds(model_nodes)

    def _fact(self, m: str, prop: str) -> str | None:
        return next((o for _, p, o in self.model_lines[m] if p == f"<{AR[prop]}>"), None)

    def _measured(self, m: str, prop: str) -> float | None:
        vals = sorted(v[0] for r in self.record_of[m] for _, p, o in self.lines[r]
                      if p == f"<{AR[prop]}>" and (v := _literal(o)) is not None)
        return vals[len(vals) // 2] if vals else None

    def _seeds(self, models: list[str]) -> list[tuple[str, list[tuple[str, str, str]]]]:
        """(model, lines) of each demo model with a format, every one with file figures: its own
        (arena, file bytes), else the RAM and flash its records measured, else a same-task
        model's. Models without a format are left out: the index cannot hold them, and a
        registry of files knows every file's format."""
        figures = {}
        for m in models:
            arena, size = self._fact(m, "arenaBytes"), self._fact(m, "modelBytes")
            if arena is None:
                ram, flash = self._measured(m, "measuredRamBytes"), self._measured(m, "measuredFlashBytes")
                if ram is not None:
                    arena = f'"{int(ram)}"^^<http://www.w3.org/2001/XMLSchema#integer>'
                    size = size or (f'"{int(flash)}"^^<http://www.w3.org/2001/XMLSchema#integer>' if flash else None)
            figures[m] = (arena, size)
        seeds = []
        for m in models:
            if self._fact(m, "hasFormat") is None:
                continue
            arena, size = figures[m]
            extra = []
            if self._fact(m, "arenaBytes") is None:
                if arena is None:  # borrow a same-task model's figures (models sorted: reproducible)
                    task = self._fact(m, "performsTask")
                    sized = [d for d in models if figures[d][0] is not None]
                    donors = [d for d in sized if self._fact(d, "performsTask") == task] or sized
                    arena, size = figures[donors[len(m) % len(donors)]]
                extra.append((m, f"<{AR.arenaBytes}>", arena))
                if size is not None and self._fact(m, "modelBytes") is None:
                    extra.append((m, f"<{AR.modelBytes}>", size))
            accuracy = self._measured(m, "accuracyPct")
            if self._fact(m, "hasMetric") is None and accuracy is not None:
                # What its records measured, reported as a model card would (metric name kept).
                metric, name = f"{m[:-1]}#metric-card>", self._fact(m, "qualityMetric") or '"accuracy_pct"'
                extra += [(m, f"<{AR.hasMetric}>", metric), (metric, f"<{AR.metricName}>", name),
                          (metric, f"<{AR.metricValue}>", f'"{accuracy}"^^<http://www.w3.org/2001/XMLSchema#double>')]
            seeds.append((m, self.model_lines[m] + extra))
        return seeds


def _rename(term: str, old: str, new: str) -> str:
    """`old` (an IRI without brackets) -> `new` in an IRI term, also as the prefix of its own nodes."""
    if term == f"<{old}>":
        return f"<{new}>"
    if term.startswith(f"<{old}#"):
        return f"<{new}#{term[len(old) + 2:]}"
    return term


def synthetic_registry(demo: Demo, models: int, devices: int, records_share: float,
                       seed: int = 7) -> tuple[bytes, dict]:
    """N-Triples of a registry of `models` models and `devices` boards, and its counts.

    Boards: board j is a copy of demo board j mod 52 (its whole Thing Description graph under a
    new IRI), so every demo board class is there in the same proportion. Models: each a copy of
    a random demo model (uniformly: tasks, formats, quantizations, accuracies and metrics in the
    demo's proportions; see Demo._seeds for the file figures), scaled as one wider or narrower
    variant (a factor 2^U(-1, 1) on arena, file bytes, MACs, parameters and operator work),
    accuracy shifted by N(0, 1.5) points (clipped to 0..100). A share `records_share` of them also
    copies its seed's benchmark records, each onto a random copy of the record's board, with the
    latency, energy and measured memory scaled by the same factor times noise."""
    rng = random.Random(seed)
    boards = sorted(demo.devices)
    copies = defaultdict(list)  # demo board -> its synthetic copies
    out: list[str] = []
    for j in range(devices):
        board = boards[j % len(boards)]
        old, new = board[1:-1], device_iri(f"synthetic-board-{j}")
        copies[board].append(new)
        for s, p, o in demo.devices[board]:
            s, o = _rename(s, old, new), _rename(o, old, new)
            s = f"_:d{j}{s[2:]}" if s.startswith("_:") else s
            o = f"_:d{j}{o[2:]}" if o.startswith("_:") else o
            out.append(f"{s} {p} {o} .")
    out += [f"{s} {p} {o} ." for s, p, o in demo.other]
    n_records = 0
    tasks = Counter()
    for i in range(models):
        m, lines = demo.seeds[rng.randrange(len(demo.seeds))]
        old, new = m[1:-1], model_iri(f"synthetic-{i}")
        factor = 2 ** rng.uniform(-1, 1)
        shift = rng.gauss(0, 1.5)
        for s, p, o in lines:
            s, o = _rename(s, old, new), _rename(o, old, new)
            if p in SIZE:
                o = _scaled(o, factor)
            elif p in ACCURACY:
                o = _scaled(o, 1.0, (0.0, 100.0), shift)
            elif p == "<https://schema.org/name>" and s == f"<{new}>":
                o = o[:-1] + f' #{i}"' if o.endswith('"') else o
            elif p == f"<{AR.performsTask}>":
                tasks[o[1:-1]] += 1
            out.append(f"{s} {p} {o} .")
        if rng.random() >= records_share:
            continue
        for k, r in enumerate(demo.record_of[m]):
            rec = f"<{benchmark_iri(f'synthetic-{i}-{k}')}>"
            noise = factor * 2 ** rng.gauss(0, 0.2)
            for _, p, o in demo.lines[r]:
                if p == f"<{AR.ofModel}>":
                    o = f"<{new}>"
                elif p == f"<{AR.onDevice}>" and copies.get(o):
                    o = f"<{rng.choice(copies[o])}>"
                elif p in RECORD_SIZE:
                    o = _scaled(o, noise)
                elif p in ACCURACY:
                    o = _scaled(o, 1.0, (0.0, 100.0), shift)
                out.append(f"{rec} {p} {o} .")
            n_records += 1
    return ("\n".join(out) + "\n").encode(), {"records": n_records, "tasks": tasks}


def synthetic_store(demo: Demo, models: int, devices: int, records_share: float, keep: str | None) -> Store:
    """The synthetic registry in a store (in memory, or kept under `keep` and reused)."""
    path = Path(keep) / f"models-{models}-devices-{devices}-records-{records_share:g}" if keep else None
    if path is not None and (path / "CURRENT").exists():
        log(f"reusing {path}")
        return Store(path)
    t = time.perf_counter()
    data, info = synthetic_registry(demo, models, devices, records_share)
    store = Store(path)
    init_store(store)
    store.load_ntriples(SYNTHETIC_GRAPH, data)
    requirements.reindex(store)  # the bulk load bypasses put_graphs, which indexes what it writes
    store.flush()
    log(f"built {models} models x {devices} boards ({info['records']} benchmark records, "
        f"{len(data) / 1e6:.0f} MB of N-Triples) in {time.perf_counter() - t:.1f} s")
    return store


def requests(store: Store, devices: int, n: int, seed: int = 1) -> list[Request]:
    """n requests: a random board, and the task of a random model (popular tasks asked as often
    as they are held)."""
    tasks = store.select(f"SELECT ?t (COUNT(?m) AS ?n) WHERE {{ ?m <{AR.performsTask}> ?t }} "
                         "GROUP BY ?t ORDER BY ?t").values()
    rng = random.Random(seed)
    names, weights = [t for t, _ in tasks], [int(c) for _, c in tasks]
    return [Request(device=device_iri(f"synthetic-board-{rng.randrange(devices)}"), task=rng.choices(names, weights)[0])
            for _ in range(n)]


def timed(store: Store, reqs: list[Request], **options) -> tuple[list[float], list[int]]:
    """Per request: milliseconds and candidates."""
    from ranker.recommend import recommend

    times, sizes = [], []
    for i, req in enumerate(reqs):
        t = time.perf_counter()
        rec = recommend(store, req, **options)
        times.append((time.perf_counter() - t) * 1000)
        sizes.append(rec.candidates)
        log(f"  {i + 1}/{len(reqs)} {req.device.rsplit('/', 1)[-1]} {req.task.rsplit('/', 1)[-1]}: "
            f"{times[-1]:.0f} ms, {rec.candidates} candidates")
    return times, sizes


def report(prefix: str, times, sizes) -> None:
    print(f"{prefix}recommend_p50_ms: {statistics.median(times):.1f} ms")
    print(f"{prefix}recommend_p95_ms: {percentile(times, 0.95):.1f} ms")
    print(f"{prefix}candidates_median: {statistics.median(sizes):.0f}")
    print(f"{prefix}requests: {len(times)}")


def scale(args, ranker: str) -> None:
    from kg.demo_registry import build

    tmp = tempfile.TemporaryDirectory(prefix="arachne-bench-")
    source = Store(Path(tmp.name) / "demo")
    build(source, progress=False)
    demo = Demo(source)
    log(f"demo: {len(demo.seeds)} model seeds, {len(demo.records)} records, {len(demo.devices)} boards")
    options = dict(method=args.method, ranker_path=ranker, why_not=False)

    store = synthetic_store(demo, args.models, args.devices, args.records_share, args.keep)
    reqs = requests(store, args.devices, args.queries)
    print(f"models: {args.models}")
    print(f"devices: {args.devices}")
    records = store.select(f"SELECT (COUNT(?b) AS ?n) WHERE {{ ?b a <{AR.BenchmarkRecord}> }}").values()[0][0]
    print(f"benchmark_records: {records}")
    t = time.perf_counter()
    from ranker.recommend import recommend

    recommend(store, reqs[0], **options)  # trains (or loads) the latency model
    print(f"first_call_ms: {(time.perf_counter() - t) * 1000:.1f} ms")
    report("", *timed(store, reqs, **options))
    del store

    if args.today_queries:
        small = synthetic_store(demo, args.today_models, args.devices, args.records_share, args.keep)
        few = reqs[:args.today_queries]
        recommend(small, few[0], **options)
        suffix = f"_{args.today_models // 1000}k"
        times, sizes = timed(small, few, **options)
        print(f"fast_recommend_p50_ms{suffix}: {statistics.median(times):.1f} ms")
        times, sizes = timed(small, few, full_check=True, **options)
        print(f"today_recommend_p50_ms{suffix}: {statistics.median(times):.1f} ms")
        print(f"today_candidates_median{suffix}: {statistics.median(sizes):.0f}")
        print(f"today_requests{suffix}: {len(few)}")
    tmp.cleanup()


def demo_mode(args, ranker: str) -> None:
    from ranker.recommend import recommend

    tmp = tempfile.TemporaryDirectory(prefix="arachne-bench-")
    if args.store:
        store = Store(args.store)
    else:
        from kg.demo_registry import build

        store = Store(Path(tmp.name) / "demo")
        log("building the demo registry")
        build(store, progress=False)
    if args.device:
        dev = args.device if args.device.startswith("http") else device_iri(args.device)
        task = args.task if not args.task or args.task.startswith("http") else task_iri(args.task)
    else:
        log("finding the (board, task) with the most feasible candidates")
        dev, task, _ = busiest_pair(store)
    request = Request(device=dev, task=task)

    t0 = time.perf_counter()
    rec = recommend(store, request, method=args.method, ranker_path=ranker)
    first = time.perf_counter() - t0
    times, today, feas = [], [], []
    for i in range(args.runs):
        t0 = time.perf_counter()
        feasible_models(store, request)
        feas.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        recommend(store, request, method=args.method, ranker_path=ranker, full_check=True)
        today.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        rec = recommend(store, request, method=args.method, ranker_path=ranker)
        times.append(time.perf_counter() - t0)
        log(f"run {i + 1}/{args.runs}: {times[-1] * 1000:.0f} ms (today's path {today[-1] * 1000:.0f} ms)")
    print(f"recommend_p50_ms: {statistics.median(times) * 1000:.1f} ms")
    print(f"today_recommend_p50_ms: {statistics.median(today) * 1000:.1f} ms")
    print(f"feasibility_p50_ms: {statistics.median(feas) * 1000:.1f} ms")
    print(f"first_call_ms: {first * 1000:.1f} ms")
    print(f"candidates: {rec.candidates}")
    print(f"board: {dev.rsplit('/', 1)[-1]}")
    print(f"task: {(task or '').rsplit('/', 1)[-1]}")
    if args.compare:
        # Every (board, task) of the registry through both paths: the answers must be the same.
        devices = sorted(store.select(f"SELECT ?d WHERE {{ ?d a <{AR.Device}> }}").column("d"))
        tasks = sorted(set(store.select(f"SELECT ?t WHERE {{ ?m <{AR.performsTask}> ?t }}").column("t")))
        different = 0
        for d in devices:
            for t in tasks:
                req = Request(device=d, task=t)
                fast = recommend(store, req, method=args.method, ranker_path=ranker).to_dict()
                full = recommend(store, req, method=args.method, ranker_path=ranker, full_check=True).to_dict()
                different += fast != full
        print(f"compared_requests: {len(devices) * len(tasks)}")
        print(f"different_answers: {different}")
    tmp.cleanup()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store",
                    help="demo mode: an existing store (default: build the demo registry in a temporary one)")
    ap.add_argument("--device", help="demo mode: device IRI or name (default: the busiest board)")
    ap.add_argument("--task", help="demo mode: task name or IRI (with --device)")
    ap.add_argument("--method", default="shadow")
    ap.add_argument("--runs", type=int, default=7, help="demo mode: timed runs")
    ap.add_argument("--compare", action="store_true",
                    help="demo mode: also run every (board, task) through both paths and count differing answers")
    ap.add_argument("--ranker", help="a trained ranker file (default: none, so the timing is reproducible)")
    ap.add_argument("--models", type=int, help="scale mode: models in the synthetic registry")
    ap.add_argument("--devices", type=int, default=1000, help="scale mode: boards")
    ap.add_argument("--records-share", type=float, default=0.1,
                    help="scale mode: share of the models that copy their seed's benchmark records")
    ap.add_argument("--queries", type=int, default=20, help="scale mode: timed requests")
    ap.add_argument("--today-models", type=int, default=10_000, help="scale mode: registry size for today's path")
    ap.add_argument("--today-queries", type=int, default=3, help="scale mode: requests through today's path (0: none)")
    ap.add_argument("--keep", help="scale mode: keep the synthetic stores under this folder and reuse them")
    args = ap.parse_args(argv)

    tmp = tempfile.TemporaryDirectory(prefix="arachne-bench-cache-")
    os.environ.setdefault("ARACHNE_CACHE", str(Path(tmp.name) / "cache"))
    ranker = args.ranker or str(Path(tmp.name) / "no-ranker.pt")
    if args.models:
        scale(args, ranker)
    else:
        demo_mode(args, ranker)
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
