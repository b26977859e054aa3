"""What the rankers need from the knowledge graph, read with a few SPARQL queries (never one
query per model): model facts, a device's hardware profile, the benchmark records joined with
both (the training rows of ranker.hardware.LatencyModel), and where a model's file lies.

Every row is a plain dict in canonical units (bytes, ms, uJ, MHz, percent).

Model files.  A model's description keeps ``ar:sourceFile`` as the file NAME only (a graph
must not carry one machine's paths) and ``schema:sha256`` of its bytes.  `model_file` looks
the name up, in order, in: the directories given by the caller, $ARACHNE_MODEL_PATH
(os.pathsep-separated), and the bundled demo models (kg/demo/models); an absolute
``ar:sourceFile`` that exists is used as is.  When the graph has a sha256, a file whose bytes
differ is skipped, so a same-named file of another model is never run.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Iterable, Sequence

from kg.ids import BASE

RUNTIME_BASE = BASE + "runtime/"
PREFIXES = """PREFIX ar: <https://w3id.org/arachne#>
PREFIX schema: <https://schema.org/>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
"""

# Operator families whose MAC share describes a model's compute mix (LatencyModel features).
_CONV, _DWCONV, _DENSE = ("CONV_2D", "Conv", "QLinearConv", "ConvInteger"), ("DEPTHWISE_CONV_2D",), \
    ("FULLY_CONNECTED", "Gemm", "MatMul", "QLinearMatMul", "BATCH_MATMUL")
# Metric names read as accuracy in percent, best first.
_ACCURACY_NAMES = ("top1", "acc", "auc", "map", "f1")

_MODEL_QUERY = PREFIXES + """
SELECT ?model ?name ?macs ?params ?arena ?modelBytes ?format ?quant ?file ?sha ?family ?task ?taskName
       ?dataset ?ops ?shape ?convMacs ?dwMacs ?denseMacs ?metrics ?accHere ?accElse ?accMetric
WHERE {
  #VALUES#
  ?model a ar:PretrainedModel .
  OPTIONAL { ?model schema:name ?name }
  OPTIONAL { ?model ar:macs ?macs }
  OPTIONAL { ?model ar:parameterCount ?params }
  OPTIONAL { ?model ar:arenaBytes ?arena }
  OPTIONAL { ?model ar:modelBytes ?modelBytes }
  OPTIONAL { ?model ar:hasFormat ?format }
  OPTIONAL { ?model ar:hasQuantization ?quant }
  OPTIONAL { ?model ar:sourceFile ?file }
  OPTIONAL { ?model schema:sha256 ?sha }
  OPTIONAL { ?model ar:family ?family }
  OPTIONAL { ?model ar:performsTask ?task . OPTIONAL { ?task schema:name ?taskName } }
  OPTIONAL { ?model ar:trainedOn ?dataset }
  OPTIONAL { SELECT ?model (GROUP_CONCAT(DISTINCT ?op; separator=" ") AS ?ops) WHERE {
      #VALUES# ?model ar:usesOperator ?op } GROUP BY ?model }
  OPTIONAL { SELECT ?model (MIN(?s) AS ?shape) WHERE {
      #VALUES# ?model ar:hasInput ?in . ?in ar:shape ?s } GROUP BY ?model }
  OPTIONAL { SELECT ?model (SUM(IF(?on IN (#CONV#), ?om, 0)) AS ?convMacs)
                           (SUM(IF(?on IN (#DWCONV#), ?om, 0)) AS ?dwMacs)
                           (SUM(IF(?on IN (#DENSE#), ?om, 0)) AS ?denseMacs) WHERE {
      #VALUES# ?model ar:hasOperatorUse ?u . ?u ar:operatorName ?on ; ar:operatorMacs ?om } GROUP BY ?model }
  OPTIONAL { SELECT ?model (GROUP_CONCAT(CONCAT(?mn, "=", STR(?mv)); separator="\\n") AS ?metrics) WHERE {
      #VALUES# ?model ar:hasMetric ?m . ?m ar:metricName ?mn ; ar:metricValue ?mv } GROUP BY ?model }
  OPTIONAL { SELECT ?model (AVG(?a) AS ?accHere) WHERE {
      #VALUES# ?b ar:ofModel ?model ; ar:onDevice #DEVICE# ; ar:accuracyPct ?a } GROUP BY ?model }
  OPTIONAL { SELECT ?model (AVG(?a) AS ?accElse) (SAMPLE(?qm) AS ?accMetric) WHERE {
      #VALUES# ?b ar:ofModel ?model ; ar:onDevice ?d ; ar:accuracyPct ?a .
      OPTIONAL { ?b ar:qualityMetric ?qm } FILTER(?d != #DEVICE#) } GROUP BY ?model }
}
"""

_DEVICE_QUERY = PREFIXES + """
SELECT ?device ?name ?ram ?flash ?clock ?core ?fpu ?accel
       (GROUP_CONCAT(DISTINCT STR(?rt); separator=" ") AS ?runtimes) WHERE {
  #VALUES#
  ?device a ar:Device .
  OPTIONAL { ?device schema:name ?n1 } OPTIONAL { ?device rdfs:label ?n2 }
  OPTIONAL { ?device <https://www.w3.org/2019/wot/td#title> ?n3 }
  BIND(COALESCE(?n1, ?n2, ?n3) AS ?name)
  OPTIONAL { ?device ar:ramBytes ?ram }
  OPTIONAL { ?device ar:flashBytes ?flash }
  OPTIONAL { ?device ar:clockMHz ?clock }
  OPTIONAL { ?device ar:processorCore ?core }
  OPTIONAL { ?device ar:hasFPU ?fpu }
  OPTIONAL { ?device ar:accelerator ?accel }
  OPTIONAL { ?device ar:supportsRuntime ?rt }
} GROUP BY ?device ?name ?ram ?flash ?clock ?core ?fpu ?accel
"""

_RECORDS_QUERY = PREFIXES + """
SELECT ?b ?model ?device ?latency ?energy ?ram ?flash ?acc ?clock ?runtime ?runtimeVersion WHERE {
  ?b a ar:BenchmarkRecord ; ar:ofModel ?model ; ar:onDevice ?device .
  OPTIONAL { ?b ar:latencyMs ?latency }
  OPTIONAL { ?b ar:energyUJ ?energy }
  OPTIONAL { ?b ar:measuredRamBytes ?ram }
  OPTIONAL { ?b ar:measuredFlashBytes ?flash }
  OPTIONAL { ?b ar:accuracyPct ?acc }
  OPTIONAL { ?b ar:atClockMHz ?clock }
  OPTIONAL { ?b ar:withRuntime ?runtime }
  OPTIONAL { ?b ar:runtimeVersion ?runtimeVersion }
}
"""


def _iri_list(values: Iterable[str]) -> str:
    return " ".join(f"<{v}>" for v in values)


def _str_list(values: Sequence[str]) -> str:
    return ", ".join(json.dumps(v) for v in values)


def local_name(iri: str | None) -> str | None:
    """'https://w3id.org/arachne#Int8' -> 'Int8'; '.../task/keyword_spotting' -> 'keyword_spotting'."""
    if not iri:
        return None
    return iri.rsplit("#", 1)[-1].rsplit("/", 1)[-1]


def _num(v) -> float | None:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _input_size(shape: str | None) -> float | None:
    """Elements per sample of a JSON shape ('[1,49,10,1]' -> 490); the batch dim is dropped."""
    if not shape:
        return None
    try:
        dims = [int(d) for d in json.loads(shape)]
    except (ValueError, TypeError):
        return None
    dims = dims[1:] if len(dims) > 1 else dims
    n = 1
    for d in dims:
        n *= d if d > 0 else 1
    return float(n)


def _reported_accuracy(metrics: str | None) -> tuple[float | None, str | None]:
    """The model card's accuracy-like metric (percent, 0-100), preferring top-1 names."""
    if not metrics:
        return None, None
    found = []
    for line in metrics.split("\n"):
        name, _, value = line.partition("=")
        v = _num(value)
        if v is None or not 0 <= v <= 100:
            continue
        low = name.lower()
        rank = next((i for i, key in enumerate(_ACCURACY_NAMES) if key in low), None)
        if rank is not None:
            found.append((rank, name, v))
    if not found:
        return None, None
    _, name, v = min(found)
    return v, name


def _model_query(values: str, device: str | None) -> str:
    dev = f"<{device}>" if device else "<urn:arachne:no-device>"
    return (_MODEL_QUERY.replace("#VALUES#", values).replace("#DEVICE#", dev)
            .replace("#CONV#", _str_list(_CONV)).replace("#DWCONV#", _str_list(_DWCONV))
            .replace("#DENSE#", _str_list(_DENSE)))


def model_facts(store, models: Sequence[str] | None = None, device: str | None = None) -> dict[str, dict]:
    """{model IRI: facts} for `models` (all models when None), in one query.

    Facts: name, macs, params, arena_bytes, model_bytes, format, quantization (local names),
    source_file, sha256, family, task (IRI), task_name, dataset, operators (sorted list),
    input_size, frac_conv/frac_dwconv/frac_dense (share of MACs), and accuracy: the
    benchmark accuracy on `device` ("measured"), else the model's reported metric
    ("reported"), else the mean benchmark accuracy on other devices ("measured-other-device").
    """
    if models is not None and not models:
        return {}
    values = f"VALUES ?model {{ {_iri_list(models)} }}" if models is not None else ""
    out: dict[str, dict] = {}
    for r in store.select(_model_query(values, device)).dicts():
        f = out.get(r["model"])
        if f is None:
            f = out[r["model"]] = {"model": r["model"]}
        # Multi-valued optional properties give several rows: keep the first value seen.
        for key, col in (("name", "name"), ("macs", "macs"), ("params", "params"), ("arena_bytes", "arena"),
                         ("model_bytes", "modelBytes"), ("source_file", "file"), ("sha256", "sha"),
                         ("family", "family"), ("task", "task"), ("task_name", "taskName"),
                         ("dataset", "dataset"), ("shape", "shape"), ("ops", "ops"), ("metrics", "metrics"),
                         ("conv", "convMacs"), ("dw", "dwMacs"), ("dense", "denseMacs"),
                         ("acc_here", "accHere"), ("acc_else", "accElse"), ("acc_metric", "accMetric")):
            if f.get(key) is None and r.get(col) is not None:
                f[key] = r[col]
        for key, col in (("format", "format"), ("quantization", "quant")):
            if f.get(key) is None and r.get(col) is not None:
                f[key] = local_name(r[col])
    for f in out.values():
        f.setdefault("name", local_name(f["model"]))
        f["task_name"] = f.get("task_name") or local_name(f.get("task"))
        f["operators"] = sorted((f.pop("ops", None) or "").split())
        f["input_size"] = _input_size(f.pop("shape", None))
        macs = _num(f.get("macs"))
        for key, col in (("frac_conv", "conv"), ("frac_dwconv", "dw"), ("frac_dense", "dense")):
            v = _num(f.pop(col, None))
            f[key] = v / macs if v is not None and macs else None
        reported, metric = _reported_accuracy(f.pop("metrics", None))
        here, other = _num(f.pop("acc_here", None)), _num(f.pop("acc_else", None))
        acc_metric = f.pop("acc_metric", None)
        if here is not None:
            f["accuracy_pct"], f["accuracy_provenance"], f["accuracy_metric"] = here, "measured", acc_metric
        elif reported is not None:
            f["accuracy_pct"], f["accuracy_provenance"], f["accuracy_metric"] = reported, "reported", metric
        elif other is not None:
            f["accuracy_pct"], f["accuracy_provenance"], f["accuracy_metric"] = \
                other, "measured-other-device", acc_metric
        else:
            f["accuracy_pct"] = f["accuracy_provenance"] = f["accuracy_metric"] = None
    return out


def device_facts(store, devices: Sequence[str] | None = None) -> dict[str, dict]:
    """{device IRI: hardware profile} (name, ram_bytes, flash_bytes, clock_mhz, core, fpu,
    accelerator, runtimes) for `devices` (all when None), in one query."""
    if devices is not None and not devices:
        return {}
    values = f"VALUES ?device {{ {_iri_list(devices)} }}" if devices is not None else ""
    out: dict[str, dict] = {}
    for r in store.select(_DEVICE_QUERY.replace("#VALUES#", values)).dicts():
        if r["device"] in out:  # a second name or core: keep the first
            continue
        out[r["device"]] = {
            "device": r["device"], "name": r["name"] or local_name(r["device"]),
            "ram_bytes": _num(r["ram"]), "flash_bytes": _num(r["flash"]), "clock_mhz": _num(r["clock"]),
            "core": r["core"], "fpu": r["fpu"], "accelerator": r["accel"] or "",
            "runtimes": sorted((r["runtimes"] or "").split()),
        }
    return out


def _kib(v) -> float | None:
    v = _num(v)
    return v / 1024.0 if v is not None else None


def runtime_text(runtime: str | None) -> str:
    """A runtime IRI as its catalogue label ('.../runtime/st-edge-ai' -> 'STM32Cube.AI / ST Edge AI'),
    so that training records and predicted pairs name a runtime family the same way."""
    if not runtime:
        return ""
    if runtime.startswith(RUNTIME_BASE):
        from kg.benchmarks import runtime_label

        return runtime_label(runtime[len(RUNTIME_BASE):])
    return runtime


def prediction_row(model: dict, device: dict, runtime: str | None = None, clock_mhz: float | None = None) -> dict:
    """The flat row ranker.hardware.LatencyModel reads for one (model, device) pair.

    Model size enters as model_kib (file, else a measured flash figure) and act_kib (tensor
    arena, else a measured RAM figure); the device as clock, RAM, flash, core, accelerator."""
    return {
        "model": model["model"], "device": device["device"],
        "macs": _num(model.get("macs")), "params": _num(model.get("params")),
        "input_size": model.get("input_size"),
        "model_kib": _kib(model.get("model_bytes")), "act_kib": _kib(model.get("arena_bytes")),
        "clock_mhz": clock_mhz if clock_mhz is not None else device.get("clock_mhz"),
        "ram_kib": _kib(device.get("ram_bytes")), "flash_kib": _kib(device.get("flash_bytes")),
        "frac_conv": model.get("frac_conv"), "frac_dwconv": model.get("frac_dwconv"),
        "frac_dense": model.get("frac_dense"),
        "quantization": model.get("quantization"), "core": device.get("core"),
        "runtime": runtime_text(runtime),
        "accelerator": device.get("accelerator"), "task": model.get("task_name"),
    }


# LatencyModel feature set for graph rows (log = sizes and clocks, raw = fractions).
LATENCY_NUMERIC = {"macs": True, "params": True, "input_size": True, "model_kib": True, "act_kib": True,
                   "clock_mhz": True, "ram_kib": True, "flash_kib": True,
                   "frac_conv": False, "frac_dwconv": False, "frac_dense": False}
LATENCY_CATEGORICAL = ("quantization", "core", "runtime", "accelerator", "task")


def benchmark_records(store) -> list[dict]:
    """Every benchmark record, one dict each: record, model, device, latency_ms, energy_uj,
    ram_bytes, flash_bytes, accuracy_pct, clock_mhz, runtime (IRI), runtime_version."""
    out = []
    for r in store.select(_RECORDS_QUERY).dicts():
        out.append({"record": r["b"], "model": r["model"], "device": r["device"],
                    "latency_ms": _num(r["latency"]), "energy_uj": _num(r["energy"]),
                    "ram_bytes": _num(r["ram"]), "flash_bytes": _num(r["flash"]),
                    "accuracy_pct": _num(r["acc"]), "clock_mhz": _num(r["clock"]),
                    "runtime": r["runtime"], "runtime_version": r["runtimeVersion"]})
    out.sort(key=lambda r: r["record"])
    return out


def latency_training_rows(store) -> list[dict]:
    """Benchmark records with a latency, joined with their model's and device's facts (three
    queries in all), as LatencyModel rows carrying latency_ms and energy_uj."""
    records = [r for r in benchmark_records(store) if r["latency_ms"]]
    if not records:
        return []
    models = model_facts(store)
    devices = device_facts(store)
    rows = []
    for rec in records:
        m = dict(models.get(rec["model"]) or {"model": rec["model"]})
        # A model known only from benchmark tables has no file facts: the record's own
        # measured memory stands in for the arena and the file size.
        if m.get("arena_bytes") is None:
            m["arena_bytes"] = rec["ram_bytes"]
        if m.get("model_bytes") is None:
            m["model_bytes"] = rec["flash_bytes"]
        d = devices.get(rec["device"]) or {"device": rec["device"]}
        row = prediction_row(m, d, rec["runtime"] or rec["runtime_version"], rec["clock_mhz"])
        row["latency_ms"] = rec["latency_ms"]
        row["energy_uj"] = rec["energy_uj"]
        rows.append(row)
    return rows


def training_fingerprint(store) -> str:
    """A hash of everything latency_training_rows reads (records, model facts, device facts),
    from the store's own serialisation of the three queries: the cache key of a LatencyModel.
    Cheaper than building the rows (no per-term conversion), and without ORDER BY (which
    costs more than the rest): the store answers the same content in the same order, and a
    different order would only cost a retraining."""
    h = hashlib.sha256()
    for sparql in (_RECORDS_QUERY, _model_query("", None), _DEVICE_QUERY.replace("#VALUES#", "")):
        h.update(store.query_serialized(sparql, "tsv")[1])
    return h.hexdigest()


# ---------------------------------------------------------------------------
# Model files
# ---------------------------------------------------------------------------
def model_search_path(extra: Iterable[str | Path] = ()) -> list[Path]:
    """Where model files are looked up: `extra`, then $ARACHNE_MODEL_PATH, then the demo models."""
    dirs = [Path(p) for p in extra]
    env = os.environ.get("ARACHNE_MODEL_PATH")
    if env:
        dirs += [Path(p) for p in env.split(os.pathsep) if p]
    from kg import demo

    dirs.append(demo.MODELS)
    return dirs


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def model_file(facts: dict, search: Iterable[str | Path] = ()) -> tuple[Path | None, str | None]:
    """(path, None) of the model's file, or (None, why not). See the module docstring."""
    name = facts.get("source_file")
    if not name:
        return None, "the graph names no file for this model (ar:sourceFile)"
    want = facts.get("sha256")
    candidates = [Path(name)] if Path(name).is_absolute() else []
    candidates += [d / Path(name).name for d in model_search_path(search)]
    mismatched = False
    for path in candidates:
        if path.is_file():
            if want and _sha256(path) != want:
                mismatched = True
                continue
            return path, None
    if mismatched:
        return None, f"{name}: the files found differ from the registered bytes (sha256)"
    return None, f"{name} not found (add its folder to --model-dir or ARACHNE_MODEL_PATH)"
