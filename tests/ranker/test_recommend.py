"""ranker.recommend over a small hand-built graph: the Shadow order and its explanations,
measured vs predicted provenance, exclusions with reasons, transferability from running real
.tflite files, the learned rankers, and `arachne recommend --json` in a subprocess."""
import gc
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from rdflib import RDF, Graph, Literal, Namespace, URIRef

from kg.feasibility import Request
from kg.ids import AR, benchmark_iri, device_iri, model_iri, runtime_iri, task_iri
from kg.loading import init_store
from kg.store import Store
from ranker import graph_rankers
from ranker import graph_facts
from ranker.aggregation import copeland
from ranker.recommend import recommend

SCHEMA = Namespace("https://schema.org/")
# Datatype IRIs spelled out: pytest probes module globals, and rdflib warns on every probe of XSD.
INTEGER, DECIMAL, DOUBLE = (URIRef("http://www.w3.org/2001/XMLSchema#" + t) for t in ("integer", "decimal", "double"))
KIB = 1024
BOARD = device_iri("test-board")
OTHER = device_iri("other-board")
KWS = task_iri("keyword_spotting")


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No user ranker file or cache leaks into a test."""
    monkeypatch.setenv("ARACHNE_RANKER", str(tmp_path / "no-ranker.pt"))
    monkeypatch.setenv("ARACHNE_CACHE", str(tmp_path / "cache"))


def device(iri, ram, clock, microphone=True):
    g = Graph()
    d = URIRef(iri)
    g.add((d, RDF.type, AR.Device))
    g.add((d, SCHEMA.name, Literal(iri.rsplit("/", 1)[1])))
    g.add((d, AR.ramBytes, Literal(ram, datatype=INTEGER)))
    g.add((d, AR.flashBytes, Literal(1024 * KIB, datatype=INTEGER)))
    g.add((d, AR.clockMHz, Literal(clock, datatype=DECIMAL)))
    g.add((d, AR.processorCore, Literal("Cortex-M4F")))
    g.add((d, AR.hasFPU, Literal(True)))
    g.add((d, AR.supportsRuntime, URIRef(runtime_iri("tflite-micro"))))
    if microphone:
        s = URIRef(iri + "#mic")
        g.add((d, AR.hasSensor, s))
        g.add((s, RDF.type, AR.Microphone))
    return g


def model(name, arena, macs, accuracy=None, task=KWS, ops=("CONV_2D", "FULLY_CONNECTED", "SOFTMAX")):
    g = Graph()
    m = URIRef(model_iri(name))
    g.add((m, RDF.type, AR.PretrainedModel))
    g.add((m, SCHEMA.name, Literal(name)))
    g.add((m, AR.hasFormat, AR.TFLite))
    g.add((m, AR.hasQuantization, AR.Int8))
    g.add((m, AR.performsTask, URIRef(task)))
    g.add((m, AR.arenaBytes, Literal(arena, datatype=INTEGER)))
    g.add((m, AR.modelBytes, Literal(macs // 100, datatype=INTEGER)))
    g.add((m, AR.macs, Literal(macs, datatype=INTEGER)))
    g.add((m, AR.parameterCount, Literal(macs // 100, datatype=INTEGER)))
    for op in ops:
        g.add((m, AR.usesOperator, Literal(op)))
    if accuracy is not None:
        metric = URIRef(str(m) + "#metric-0")
        g.add((m, AR.hasMetric, metric))
        g.add((metric, AR.metricName, Literal("top1_accuracy_pct")))
        g.add((metric, AR.metricValue, Literal(float(accuracy), datatype=DOUBLE)))
    return str(m), g


def records(rows):
    """rows: (model name, device IRI, latency ms, energy uJ or None, accuracy % or None)."""
    g = Graph()
    for i, (name, dev, lat, energy, acc) in enumerate(rows):
        b = URIRef(benchmark_iri(f"test-{i}"))
        g.add((b, RDF.type, AR.BenchmarkRecord))
        g.add((b, AR.ofModel, URIRef(model_iri(name))))
        g.add((b, AR.onDevice, URIRef(dev)))
        g.add((b, AR.latencyMs, Literal(float(lat), datatype=DOUBLE)))
        if energy is not None:
            g.add((b, AR.energyUJ, Literal(float(energy), datatype=DOUBLE)))
        if acc is not None:
            g.add((b, AR.accuracyPct, Literal(float(acc), datatype=DOUBLE)))
        g.add((b, AR.source, Literal("hand-picked test numbers")))
    return g


def build(path=None, extra=()):
    """Four feasible keyword spotters on test-board (a..d), two infeasible ones (e: RAM, f: an
    operator no runtime has), and eight image classifiers on other-board whose latency is
    proportional to their MACs: the latency model's training data."""
    store = Store(path)
    init_store(store)
    graphs = {BOARD: device(BOARD, 256 * KIB, 64.0), OTHER: device(OTHER, 256 * KIB, 64.0, microphone=False)}
    for spec in [("model-a", 20 * KIB, 2_000_000, 92.0), ("model-b", 10 * KIB, 1_000_000, None),
                 ("model-c", 100 * KIB, 8_000_000, 95.0), ("model-d", 8 * KIB, 50_000_000, 85.0),
                 ("model-e", 300 * KIB, 1_000_000, 99.0)] + list(extra):
        iri, g = model(*spec)
        graphs[iri] = g
    iri, g = model("model-f", 4 * KIB, 500_000, accuracy=97.0, ops=("CONV_2D", "FOO_OP"))
    graphs[iri] = g
    rows = [("model-a", BOARD, 10.0, 300.0, None), ("model-b", BOARD, 5.0, 200.0, 90.0),
            ("model-c", BOARD, 40.0, 900.0, None)]
    for i in range(8):
        macs = 1_000_000 * (i + 1) * 2
        iri, g = model(f"ic-{i}", 30 * KIB, macs, task=task_iri("image_classification"), accuracy=70 + i)
        graphs[iri] = g
        rows.append((f"ic-{i}", OTHER, macs / 100_000, None, 70.0 + i))
    graphs["https://w3id.org/arachne/graph/benchmarks/test"] = records(rows)
    store.put_graphs(graphs)
    return store


@pytest.fixture(scope="module")
def store():
    return build()


def by_name(rec):
    return {r.name: r for r in rec.rows}


def test_shadow_order_and_explanations(store):
    rec = recommend(store, Request(device=BOARD, task=KWS), k=10)
    assert rec.method == "shadow" and rec.candidates == 4
    assert rec.voters == ["task", "latency", "energy", "headroom"]
    assert rec.directions == {"latency": "min", "energy": "min"}
    assert rec.task_voter == "accuracy"
    # b beats everyone on hardware; a beats c and d; c beats d (d is slowest, least accurate).
    assert [r.name for r in rec.rows] == ["model-b", "model-a", "model-c", "model-d"]
    assert [r.score for r in rec.rows] == [3.0, 1.0, -1.0, -3.0]
    assert rec.rows[0].why == ("model-b is above model-a: beats model-a on 3 of 4 voters (latency, energy, headroom); "
                               "loses on task; copeland score 3 vs 1")
    assert rec.rows[2].why == ("model-c is above model-d: beats model-d on 2 of 4 voters (task, latency); "
                               "loses on headroom; no vote from energy; copeland score -1 vs -3")
    assert rec.rows[-1].why == "last of the 4 feasible candidates"
    # The same order as Copeland on the figures shown, so the table explains itself.
    rows = rec.rows
    check = copeland({"task": [r.accuracy_pct for r in rows], "latency": [r.latency_ms for r in rows],
                      "energy": [r.energy_uj for r in rows], "headroom": [r.ram_headroom for r in rows]},
                     [r.name for r in rows], directions={"latency": "min", "energy": "min"})
    assert check.order == [r.name for r in rows]
    assert rows[0].voter_ranks == {"task": 3.0, "latency": 1.0, "energy": 1.0, "headroom": 2.0}
    assert rows[0].scores["headroom"] == pytest.approx((256 - 10) / 256)


def test_provenance_measured_vs_predicted(store):
    rows = by_name(recommend(store, Request(device=BOARD, task=KWS)))
    for name, lat in (("model-a", 10.0), ("model-b", 5.0), ("model-c", 40.0)):
        assert (rows[name].latency_ms, rows[name].latency_provenance) == (lat, "measured")
        assert rows[name].energy_provenance == "measured"
    d = rows["model-d"]
    assert d.latency_provenance == "predicted" and d.latency_ms > 40.0   # 50 M MACs: the slowest
    assert d.energy_uj is None and d.energy_provenance is None           # too few energy records to predict
    assert (rows["model-a"].accuracy_pct, rows["model-a"].accuracy_provenance) == (92.0, "reported")
    assert (rows["model-b"].accuracy_pct, rows["model-b"].accuracy_provenance) == (90.0, "measured")
    assert rows["model-b"].ram_need_bytes == 10 * KIB and rows["model-b"].macs == 1_000_000


def test_excluded_models_come_with_reasons(store):
    rec = recommend(store, Request(device=BOARD, task=KWS))
    excluded = {e.name: e.reasons for e in rec.excluded}
    assert set(excluded) == {"model-e", "model-f"}
    assert excluded["model-e"] == ["RAM: needs 300.0 KiB, device has 256.0 KiB: 44.0 KiB short (45056 bytes)"]
    assert any("FOO_OP" in r for r in excluded["model-f"])
    assert not {"model-e", "model-f"} & {r.name for r in rec.rows}


def test_k_budgets_and_other_methods(store):
    rec = recommend(store, Request(device=BOARD, task=KWS, max_latency_ms=20.0), k=1)
    assert [r.name for r in rec.rows] == ["model-b"] and rec.candidates == 3      # c: measured 40 ms > 20
    assert "latency: measured 40.0 ms, budget 20 ms: 20.0 ms over" in {e.name: e for e in rec.excluded}["model-c"].reasons
    assert rec.rows[0].why.startswith("model-b is above model-a")                # the next one, beyond k
    for method in ("borda", "rrf", "weighted", "lexicographic"):
        rec = recommend(store, Request(device=BOARD, task=KWS), method=method)
        assert rec.method == method and len(rec.rows) == 4
    lexi = recommend(store, Request(device=BOARD, task=KWS), method="lexicographic")
    assert lexi.rows[0].name == "model-c"                                      # task first: the most accurate


def test_copeland_tie_is_broken_as_documented():
    twins = [("twin-1", 12 * KIB, 3_000_000, 88.0), ("twin-2", 12 * KIB, 3_000_000, 88.0)]
    rec = recommend(build(extra=twins), Request(device=BOARD, task=KWS))
    names = [r.name for r in rec.rows]
    i = names.index("twin-1")
    assert names[i + 1] == "twin-2"                                             # equal on every voter: by id
    assert rec.rows[i].why.endswith(
        "copeland score tied at " + f"{rec.rows[i].score:g}" + ", decided by Borda points, then first voter's rank, "
        "then candidate id")


def test_bad_requests(store, tmp_path):
    from kg.errors import InputError

    with pytest.raises(InputError, match="unknown method"):
        recommend(store, Request(device=BOARD, task=KWS), method="magic")
    with pytest.raises(InputError, match="no device"):
        recommend(store, Request(device=device_iri("nowhere"), task=KWS))
    with pytest.raises(InputError, match="train-ranker"):
        recommend(store, Request(device=BOARD, task=KWS), method="fusion")
    bad = tmp_path / "bad.npz"
    np.savez(bad, X=np.zeros((4, 3), np.float32))
    with pytest.raises(InputError, match="missing array 'y'"):
        recommend(store, Request(device=BOARD, task=KWS), data=bad)
    empty = recommend(store, Request(device=BOARD, task=task_iri("no_such_task")))
    assert empty.rows == [] and empty.candidates == 0


def test_transferability_runs_the_tflite_files(tmp_path):
    from kg import demo
    from kg.models import describe_model

    cards = {r["file"]: r for r in demo.models_table()}
    store = build()
    graphs = {}
    for name in ("Micro_Speech_Yes_No_1", "Micro_Speech_Yes_No_2", "Micro_Speech_Up_Down_Go", "ARM_DS_CNN_Small_"):
        d = describe_model(demo.MODELS / f"{name}.tflite", card=demo.model_card(cards[f"{name}.tflite"]))
        graphs[d.iri] = d.graph
    store.put_graphs(graphs)
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 12)
    X = (rng.normal(size=(24, 1960)) + 3.0 * y[:, None]).astype(np.float32)   # 49x40 spectrogram-sized inputs
    np.savez(tmp_path / "samples.npz", X=X, y=y)
    rec = recommend(store, Request(device=BOARD, task=KWS), data=tmp_path / "samples.npz")
    rows = by_name(rec)
    for name in ("Micro_Speech_Yes_No_1", "Micro_Speech_Yes_No_2", "Micro_Speech_Up_Down_Go"):
        s = rows[name].task_signals
        assert s["logme"] is not None and s["leep"] is not None and s["nce"] is not None
        assert s["leep"] <= 1e-9 and s["nce"] <= 1e-9
        assert "transferability from penultimate features" in rows[name].notes
    ds = rows["ARM_DS_CNN_Small_"]
    assert ds.task_signals["logme"] is None
    assert any("1960 values per sample, the model takes 490" in n for n in ds.notes)
    assert any("graph names no file" in n for n in rows["model-a"].notes)        # hand-made: no file
    assert rec.task_voter == "Borda over accuracy, logme, leep"


def test_cli_recommend_json(tmp_path):
    path = tmp_path / "db"
    store = build(path)
    store.flush()
    del store
    gc.collect()  # release the store's lock before the subprocess opens it
    env = {**os.environ, "COLUMNS": "200"}
    cmd = [sys.executable, "-m", "registry.cli", "--store", str(path), "recommend", "--device", "test-board",
           "--task", "keyword_spotting", "-k", "3", "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert [r["name"] for r in out["rows"]] == ["model-b", "model-a", "model-c"]
    assert out["candidates"] == 4 and out["voters"] == ["task", "latency", "energy", "headroom"]
    assert out["rows"][0]["latency_provenance"] == "measured"
    assert out["rows"][0]["why"].startswith("model-b is above model-a: beats model-a on 3 of 4 voters")
    assert {e["name"] for e in out["excluded"]} == {"model-e", "model-f"}
    table = subprocess.run(cmd[:-1] + ["--why-not"], capture_output=True, text=True, env=env)
    assert table.returncode == 0 and "model-b" in table.stdout and "FOO_OP" in table.stdout
    bad = subprocess.run(cmd[:-1] + ["--method", "fusion"], capture_output=True, text=True, env=env)
    assert bad.returncode == 1 and "train-ranker" in bad.stderr and "Traceback" not in bad.stderr


def test_train_ranker_then_learned_signal_and_fusion(tmp_path):
    path = tmp_path / "db"
    store = build(path)
    store.flush()
    del store
    gc.collect()
    base = [sys.executable, "-m", "registry.cli", "--store", str(path)]
    ranker = tmp_path / "r.pt"
    proc = subprocess.run(base + ["train-ranker", "--out", str(ranker), "--epochs", "5"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "trained on 2 (task, dataset, device) group(s)" in proc.stdout and graph_rankers.fusion_path(ranker).is_file()
    proc = subprocess.run(base + ["recommend", "--device", "test-board", "--task", "keyword_spotting", "--method",
                                  "fusion", "--ranker", str(ranker), "--json"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["method"] == "fusion" and out["voters"][0] == "fusion" and len(out["rows"]) == 4
    assert [r["score"] for r in out["rows"]] == sorted((r["score"] for r in out["rows"]), reverse=True)
    assert "fusion score" in out["rows"][0]["why"]
    # In process: the task ranker's score joins accuracy in the task voter.
    rec = recommend(Store(path), Request(device=BOARD, task=KWS), ranker_path=ranker)
    assert rec.task_voter == "Borda over accuracy, learned"
    assert all(r.task_signals["learned"] is not None for r in rec.rows)
    assert f"learned task ranker: {ranker}" in rec.notes


def test_cli_eval_without_data_fails_clearly(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "registry.cli", "eval", "--data-dir", str(tmp_path / "none")],
                          capture_output=True, text=True)
    assert proc.returncode == 1 and "benchmark data not found" in proc.stderr and "Traceback" not in proc.stderr


def test_demo_registry_keyword_spotting_on_the_nano(tmp_path, shared):
    try:
        from kg import demo_registry, td  # noqa: F401 - the demo needs the TD importer
    except ImportError as exc:
        pytest.skip(f"the demo registry cannot be built yet: {exc}")
    store = Store(tmp_path / "demo")
    try:
        demo_registry.build(store, progress=False)
    except (AttributeError, ImportError) as exc:
        pytest.skip(f"the demo registry cannot be built yet: {exc}")
    nano = device_iri("Arduino-Nano-33-BLE-Sense")
    if not store.query(f"ASK {{ <{nano}> a <{AR.Device}> }}"):
        pytest.skip("the demo registry has no Thing Description of the Arduino Nano 33 BLE Sense yet")
    rec = recommend(store, Request(device=nano, task=KWS))
    assert rec.candidates >= 5 and len(rec.rows) == min(10, rec.candidates)
    assert "ARM_DS_CNN_Small_" in {r.name for r in rec.rows}
    assert "Micro_Speech_Yes_No_1" in {r.name for r in recommend(store, Request(device=nano, task=KWS), k=50).rows}
    assert all(r.latency_ms is not None for r in rec.rows) and all(r.why for r in rec.rows)
    # Fitting rows have every figure; "likely" ones name what is unknown (the MLPerf KWS
    # reference has no RAM figure for the Nano) and have no headroom.
    assert all(r.ram_headroom is not None and not r.unknowns for r in rec.rows if r.outcome == "fits")
    assert all(r.unknowns and r.ram_headroom is None for r in rec.rows if r.outcome == "likely")
    # Unknown accuracy never wins by abstention: on the task voter, every candidate without a
    # figure (Voice_Turn, ...) ranks below every candidate with one, and shows no task score.
    rec = recommend(store, Request(device=nano, task=KWS), k=50)
    known = [r for r in rec.rows if r.accuracy_pct is not None]
    unknown = [r for r in rec.rows if r.accuracy_pct is None]
    assert known and unknown and "Voice_Turn" in {r.name for r in unknown}
    assert min(r.voter_ranks["task"] for r in unknown) > max(r.voter_ranks["task"] for r in known)
    assert all(r.scores["task"] is None and any("no task figure" in n for n in r.notes) for r in unknown)
    assert rec.rows[0].accuracy_pct is not None
    # DISCO-F746NG, visual wake words: the MLPerf VWW reference model fits on its measured
    # 34 ms, and ARM_MicroNet_VWW_3 fits, needing an external camera.
    disco = recommend(store, Request(device=device_iri("DISCO-F746NG"), task="https://w3id.org/arachne/task/visual_wake_words"))
    rows = {r.name: r for r in disco.rows}
    ref = rows["MobileNetV1 0.25x 96x96 (MLPerf Tiny reference)"]
    assert ref.outcome == "fits" and ref.latency_provenance == "measured" and 30 < ref.latency_ms < 40
    assert ref.provenance["runs_here"] == "measured"
    assert rows["ARM_MicroNet_VWW_3"].outcome == "fits" and "needs an external camera" in rows["ARM_MicroNet_VWW_3"].notes
    strict = recommend(store, Request(device=device_iri("DISCO-F746NG"), verified_only=True, onboard_sensors=True,
                                      task="https://w3id.org/arachne/task/visual_wake_words"))
    # Its file says it takes images, and the board has no camera: asking for on-board sensing
    # excludes it, the record proving only that it computes there.
    assert strict.rows == [] and strict.excluded_count >= 1
    assert any("Image" in " ".join(e.reasons) for e in strict.excluded)
    # The MLPerf Tiny KWS reference file, imported with its task, is a keyword-spotting
    # candidate on the NUCLEO-L4R5ZI (its arena and size from the file: fits).
    from kg.models import describe_model, store_models

    desc = describe_model(shared / "mlperf-tiny-models" / "kws_ref_model.tflite", task="keyword_spotting")
    store_models(store, [desc])
    l4 = recommend(store, Request(device=device_iri("NUCLEO-L4R5ZI"), task=KWS), k=50)
    row = {r.model: r for r in l4.rows}[desc.iri]
    assert row.outcome == "fits" and row.provenance["ram_need"] == "file"
    # Its 49 x 10 x 1 input is read as audio features (basis "shape", when no task says so):
    # asked by modality, it is there too.
    bare = describe_model(shared / "mlperf-tiny-models" / "kws_ref_model.tflite", measure_ram=False)
    assert (bare.facts["modality"], bare.facts["modality_basis"]) == ("audio", "shape")
    by_modality = recommend(store, Request(device=device_iri("NUCLEO-L4R5ZI"), modality="audio"), k=200)
    assert desc.iri in {r.model for r in by_modality.rows}
    # Raspberry Pi 4 (a Linux-class board, RAM unknown) gets image-classification candidates.
    pi = recommend(store, Request(device=device_iri("Raspberry-Pi-4B"), task="https://w3id.org/arachne/task/image_classification"))
    assert pi.rows and {r.outcome for r in pi.rows} <= {"fits", "likely"}


# -- The fast path (index candidates, full check for the rows shown, Copeland's first places)
#    against the reference path (full check of every model, Copeland over every pair) ----------


def same_answer(store, request, **options):
    fast = recommend(store, request, **options)
    full = recommend(store, request, full_check=True, **options)
    assert fast.to_dict() == full.to_dict()
    return fast


def test_fast_path_equals_the_full_check_on_the_demo(tmp_path):
    """Every demo board for the task with the most models and keyword spotting; a modality,
    budgets, on-board sensing and the strict answer on some: the fast path answers exactly
    what the full check does (benchmarks/recommend.py compares more: every board x task)."""
    try:
        from kg import demo_registry
    except ImportError as exc:
        pytest.skip(f"the demo registry cannot be built yet: {exc}")
    store = Store(tmp_path / "demo")
    demo_registry.build(store, progress=False)
    devices = sorted(graph_facts.device_facts(store))
    tasks = [task_iri(t) for t in ("image_classification", "keyword_spotting", "visual_wake_words")]
    answered = 0
    for i, dev in enumerate(devices):
        for task in tasks[:2]:
            answered += bool(same_answer(store, Request(device=dev, task=task), k=5).rows)
        if i % 5 == 0:
            same_answer(store, Request(device=dev, modality="audio"), k=5)
            same_answer(store, Request(device=dev, task=tasks[0], max_latency_ms=100.0, onboard_sensors=True), k=3)
            same_answer(store, Request(device=dev, task=tasks[2], verified_only=True), k=3)
    assert answered >= len(devices)  # most boards have candidates for both tasks


def spotters(n, seed=5):
    """n keyword spotters on test-board whose size drives RAM, MACs and (to a point) accuracy,
    some without accuracy, some too big for the board."""
    rng = np.random.default_rng(seed)
    graphs = {}
    for i in range(n):
        scale = float(rng.lognormal(0, 0.8))
        acc = None if i % 7 == 0 else round(80 + 4 * np.log(scale) + rng.normal(0, 1), 1)
        iri, g = model(f"spotter-{i:03d}", int(20 * KIB * scale), int(2_000_000 * scale), accuracy=acc)
        graphs[iri] = g
    return graphs


def test_fast_path_on_many_candidates_and_after_writes(tmp_path):
    store = build(tmp_path / "db")
    store.put_graphs(spotters(400))
    request = Request(device=BOARD, task=KWS)
    rec = same_answer(store, request, k=8)
    assert rec.candidates > 300 and len(rec.rows) == 8 and rec.excluded_count == len(rec.excluded) > 0
    brief = recommend(store, request, k=8, why_not=False)
    assert brief.excluded == [] and brief.excluded_count == rec.excluded_count
    assert brief.rows == rec.rows
    # What is cached between requests follows every write: a new model, a dropped one, a board
    # with less RAM.
    iri, g = model("tiny-and-accurate", 1 * KIB, 100_000, accuracy=99.0)
    store.put_graphs({iri: g})
    assert same_answer(store, request, k=8).rows[0].model == iri
    store.drop_graph(iri)
    assert iri not in {r.model for r in same_answer(store, request, k=8).rows}
    store.put_graphs({BOARD: device(BOARD, 64 * KIB, 64.0)})
    smaller = same_answer(store, request, k=8)
    assert smaller.candidates < rec.candidates and smaller.excluded_count > rec.excluded_count


def test_model_facts_read_names_as_written(tmp_path):
    # The facts come from the store's TSV answers: escapes, non-ASCII and language tags survive.
    store = build(tmp_path / "db")
    iri, g = model("odd", 8 * KIB, 1_000_000, accuracy=90.0)
    g.set((URIRef(iri), SCHEMA.name, Literal('Tab\there "quoted"\nnew line, café ✓')))
    store.put_graphs({iri: g})
    assert graph_facts.model_facts(store, [iri])[iri]["name"] == 'Tab\there "quoted"\nnew line, café ✓'
    rows = store.select(f"SELECT ?n WHERE {{ <{iri}> <https://schema.org/name> ?n }}").values()
    assert rows == [('Tab\there "quoted"\nnew line, café ✓',)]


@pytest.mark.parametrize("backend", ["oxigraph-server", "virtuoso"])
def test_recommend_reads_sparql_servers_as_the_embedded_store(backend, request, tmp_path):
    """The facts come from the servers' own TSV answers (graph_facts._tsv), which nothing is
    cached from (they have no write generation): same answer as the embedded store."""
    from kg.sparql_store import SparqlStore
    from kg.store import open_store

    url = request.getfixturevalue("oxigraph_server").url if backend == "oxigraph-server" \
        else request.getfixturevalue("virtuoso_server")
    local = build(tmp_path / "db")
    remote = open_store(url)
    assert isinstance(remote, SparqlStore) and remote.write_generation is None
    remote.drop_graphs(remote.graph_names())
    remote.put_graphs({g: local.export("ntriples", graph=g).decode() for g in local.graph_names()})
    req = Request(device=BOARD, task=KWS)
    here = recommend(local, req, full_check=True).to_dict()
    there = recommend(remote, req, full_check=True).to_dict()
    assert there == here and [r["name"] for r in there["rows"]] == ["model-b", "model-a", "model-c", "model-d"]
    assert recommend(remote, req).to_dict() == here  # the fast path: the index on the server
    remote.drop_graphs(remote.graph_names())
