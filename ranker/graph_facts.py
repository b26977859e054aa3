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
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

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

# The model facts as flat lists (each a simple join the store answers fast, read once per write
# of the store, see _cached): long-format properties, task names, input shapes, operator work,
# metrics and the benchmark accuracies the device-dependent accuracy is computed from.
_NAMESPACES = {"ar": "https://w3id.org/arachne#", "schema": "https://schema.org/",
               "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#"}
_MODEL_PROPERTIES = {"schema:name": "name", "ar:macs": "macs", "ar:parameterCount": "params",
                     "ar:arenaBytes": "arena_bytes", "ar:peakActivationBytes": "peak_activation_bytes",
                     "ar:modelBytes": "model_bytes", "ar:hasFormat": "format",
                     "ar:hasQuantization": "quantization", "ar:sourceFile": "source_file", "schema:sha256": "sha256",
                     "ar:family": "family", "ar:performsTask": "task", "ar:trainedOn": "dataset",
                     "ar:usesOperator": "operators", "ar:hasModality": "modalities", "rdf:type": None}
_MODELS_QUERY = PREFIXES + """PREFIX rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#>
SELECT ?model ?p ?o WHERE { VALUES ?p { #PROPERTIES# } ?model a ar:PretrainedModel ; ?p ?o }
""".replace("#PROPERTIES#", " ".join(_MODEL_PROPERTIES))
_TASK_NAMES_QUERY = PREFIXES + """SELECT DISTINCT ?task ?name WHERE {
  ?m ar:performsTask ?task . ?task schema:name ?name }"""
_SHAPES_QUERY = PREFIXES + "SELECT ?model ?shape WHERE { ?model ar:hasInput ?in . ?in ar:shape ?shape }"
_OPERATOR_MACS_QUERY = PREFIXES + """SELECT ?model ?on ?om WHERE {
  ?model ar:hasOperatorUse ?u . ?u ar:operatorName ?on ; ar:operatorMacs ?om }"""
_METRICS_QUERY = PREFIXES + """SELECT ?model ?mn ?mv WHERE {
  ?model ar:hasMetric ?m . ?m ar:metricName ?mn ; ar:metricValue ?mv }"""
_ACCURACY_QUERY = PREFIXES + """SELECT ?model ?b ?d ?a ?qm WHERE {
  ?b ar:ofModel ?model ; ar:onDevice ?d ; ar:accuracyPct ?a . OPTIONAL { ?b ar:qualityMetric ?qm } }"""
# What the full check reads of one device's benchmark records (kg/queries/feasibility_checks.rq).
_PAIR_FIGURES_QUERY = PREFIXES + """
SELECT ?model (COUNT(?b) AS ?records) (MIN(?r) AS ?mram) (MIN(?f) AS ?mflash) (MIN(?l) AS ?latency)
       (MIN(?e) AS ?energy) WHERE {
  ?b ar:ofModel ?model ; ar:onDevice #DEVICE# .
  OPTIONAL { ?b ar:measuredRamBytes ?r } OPTIONAL { ?b ar:measuredFlashBytes ?f }
  OPTIONAL { ?b ar:latencyMs ?l } OPTIONAL { ?b ar:energyUJ ?e } } GROUP BY ?model
"""
# The device's catalogued runtimes as the full check reads them: formats, code size, operators.
_RUNTIMES_QUERY = PREFIXES + """SELECT ?rt ?code ?fmt ?op WHERE {
  #DEVICE# ar:supportsRuntime ?rt . ?rt ar:runsFormat ?fmt ; ar:runtimeCodeBytes ?code .
  OPTIONAL { ?rt ar:supportsOperator ?op } }"""

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


_XSD = "http://www.w3.org/2001/XMLSchema#"
_INTEGERS = {_XSD + t for t in ("integer", "int", "long", "short", "byte", "nonNegativeInteger", "positiveInteger",
                                "unsignedInt", "unsignedLong", "unsignedShort", "unsignedByte")}
_FLOATS = {_XSD + t for t in ("decimal", "double", "float")}
_ESCAPE = re.compile(r"\\(u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|.)")
_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}


def _unescape(m: re.Match) -> str:
    e = m.group(1)
    return chr(int(e[1:], 16)) if e[0] in "uU" and len(e) > 1 else _ESCAPES.get(e, e)


def _term(cell: str):
    """One cell of a SPARQL TSV answer as a Python value: IRI -> str, literal -> str / int /
    float / bool as its datatype says (what Results.values() gives), unbound -> None."""
    if not cell:
        return None
    first = cell[0]
    if first == "<":
        return cell[1:-1]
    if first == '"':
        end = cell.rindex('"')
        text = cell[1:end]
        if "\\" in text:
            text = _ESCAPE.sub(_unescape, text)
        if cell.startswith("^^<", end + 1):
            dtype = cell[end + 4:-1]
            try:
                if dtype in _INTEGERS:
                    return int(text)
                if dtype in _FLOATS:
                    return float(text)
            except ValueError:
                return text
            if dtype == _XSD + "boolean":
                return text in ("true", "1")
        return text
    if cell in ("true", "false"):
        return cell == "true"
    try:  # Turtle's bare numbers
        return int(cell)
    except ValueError:
        try:
            return float(cell)
        except ValueError:
            return cell  # a blank node


def _tsv(store, sparql: str) -> tuple[bytes, list[list]]:
    """(the answer's TSV bytes, its rows as Python values): the store serialises, so tens of
    thousands of rows cost milliseconds rather than Python objects per term."""
    body = store.query_serialized(sparql, "tsv")[1]
    lines = body.decode().split("\n")[1:]
    return body, [[_term(c) for c in line.split("\t")] for line in lines if line]


def cached(store, read):
    """read(store), kept until the store is written (kg.feasibility's per-generation cache)."""
    from kg.feasibility import per_generation

    return per_generation(store, read)


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


def _reported_accuracy(metrics: list[tuple[str, object]]) -> tuple[float | None, str | None]:
    """The model card's accuracy-like metric (percent, 0-100), preferring top-1 names."""
    found = []
    for name, value in metrics:
        v = _num(value)
        if v is None or not 0 <= v <= 100:
            continue
        low = str(name).lower()
        rank = next((i for i, key in enumerate(_ACCURACY_NAMES) if key in low), None)
        if rank is not None:
            found.append((rank, str(name), v))
    if not found:
        return None, None
    _, name, v = min(found)
    return v, name


@dataclass
class _Models:
    """Every model's facts that do not depend on a device, and the benchmark accuracies."""

    facts: dict[str, dict]
    accuracy: dict[str, list[tuple]]  # model -> [(record, device, accuracy, quality metric)]
    tasks: dict[str, list]  # task -> its models, sorted (a model's facts keep its first task)
    modalities: dict[str, list]  # modality -> its models, sorted
    digest: bytes


def _read_models(store) -> _Models:
    h = hashlib.sha256()

    def rows(sparql):
        body, out = _tsv(store, sparql)
        h.update(body)
        return out

    keys = {_NAMESPACES[p.split(":")[0]] + p.split(":")[1]: k for p, k in _MODEL_PROPERTIES.items()}
    facts: dict[str, dict] = {}
    lists: dict[str, dict[str, list]] = {}
    for model, prop, value in rows(_MODELS_QUERY):
        f = facts.get(model)
        if f is None:
            f = facts[model] = {"model": model}
        key = keys[prop]
        if key in ("operators", "modalities", "format", "task"):
            lists.setdefault(key, {}).setdefault(model, []).append(value)
        # A property given twice: keep the smallest value (the store's answer order varies).
        if key is not None and key not in ("operators", "modalities") and value is not None \
                and (f.get(key) is None or str(value) < str(f[key])):
            f[key] = value
    task_names: dict[str, str] = {}
    for task, name in rows(_TASK_NAMES_QUERY):
        task_names[task] = min(task_names.get(task, name), name)
    shapes: dict[str, str] = {}
    for model, shape in rows(_SHAPES_QUERY):
        shapes[model] = min(shapes.get(model, shape), shape)
    work: dict[str, list[float]] = {}
    for model, op, macs in rows(_OPERATOR_MACS_QUERY):
        w = work.setdefault(model, [0, 0, 0])
        for i, family in enumerate((_CONV, _DWCONV, _DENSE)):
            if op in family and _num(macs) is not None:
                w[i] += macs
    metrics: dict[str, list] = {}
    for model, name, value in rows(_METRICS_QUERY):
        metrics.setdefault(model, []).append((name, value))
    accuracy: dict[str, list[tuple]] = {}
    for model, record, dev, acc, metric in rows(_ACCURACY_QUERY):
        if model in facts:
            accuracy.setdefault(model, []).append((record, dev, _num(acc), metric))
    for model, f in facts.items():
        f.setdefault("name", local_name(model))
        for key in ("format", "quantization"):
            if f.get(key) is not None:
                f[key] = local_name(f[key])
        f["formats"] = sorted(set(lists.get("format", {}).get(model, ())))
        f["task_name"] = task_names.get(f.get("task")) or local_name(f.get("task"))
        f["operators"] = sorted(set(str(o) for o in lists.get("operators", {}).get(model, ())))
        f["input_size"] = _input_size(shapes.get(model))
        macs = _num(f.get("macs"))
        w = work.get(model)
        for i, key in enumerate(("frac_conv", "frac_dwconv", "frac_dense")):
            f[key] = w[i] / macs if w is not None and macs else None
        f["reported"] = _reported_accuracy(metrics.get(model, ()))
    def members(key):
        out: dict[str, set] = {}
        for model, values in lists.get(key, {}).items():
            for v in values:
                out.setdefault(v, set()).add(model)
        return {v: sorted(ms) for v, ms in out.items()}
    return _Models(facts, accuracy, members("task"), members("modalities"), h.digest())


def _accuracy(reported: tuple, rows, device: str | None) -> tuple:
    """(accuracy, provenance, metric) of a model for `device`: the benchmark accuracy on it
    ("measured"), else the model's reported metric ("reported"), else the mean benchmark
    accuracy on other devices ("measured-other-device"); Nones when there is none."""
    here = {(r, a) for r, d, a, _ in rows if d == device and a is not None}
    other = [(a, q) for _, d, a, q in rows if d != device and a is not None]
    # fsum and min: the same figure whatever order the store answers in.
    other_metric = min((str(q) for _, q in other if q is not None), default=None)
    if here:
        return math.fsum(a for _, a in here) / len(here), "measured", other_metric
    if reported[0] is not None:
        return reported[0], "reported", reported[1]
    if other:
        return math.fsum(a for a, _ in other) / len(other), "measured-other-device", other_metric
    return None, None, None


def _with_accuracy(m: _Models, model: str, device: str | None) -> dict:
    """A copy of the model's facts with its accuracy for `device` (see _accuracy)."""
    f = dict(m.facts[model])
    f["accuracy_pct"], f["accuracy_provenance"], f["accuracy_metric"] = _accuracy(
        f.pop("reported"), m.accuracy.get(model, ()), device)
    return f


def model_facts(store, models: Sequence[str] | None = None, device: str | None = None) -> dict[str, dict]:
    """{model IRI: facts} for `models` (all models when None); the store is read once per write.

    Facts: name, macs, params, arena_bytes, peak_activation_bytes, model_bytes, format, quantization (local names),
    formats (IRIs), source_file, sha256, family, task (IRI), task_name, dataset, operators
    (sorted list), input_size, frac_conv/frac_dwconv/frac_dense (share of MACs), and accuracy:
    the benchmark accuracy on `device` ("measured"), else the model's reported metric
    ("reported"), else the mean benchmark accuracy on other devices ("measured-other-device").
    """
    m = cached(store, _read_models)
    wanted = m.facts if models is None else dict.fromkeys(x for x in models if x in m.facts)
    return {x: _with_accuracy(m, x, device) for x in wanted}


def models_of(store, task: str | None = None, modality: str | None = None) -> list[str]:
    """The models performing `task` and having input `modality` (an IRI; either may be None),
    sorted."""
    m = cached(store, _read_models)
    found = sorted(m.facts) if task is None else m.tasks.get(task, [])
    if modality is not None:
        having = set(m.modalities.get(modality, ()))
        found = [x for x in found if x in having]
    return list(found)


# The numbers of a model the table holds as columns (what ranking and prediction read).
TABLE_NUMBERS = ("macs", "params", "input_size", "model_bytes", "arena_bytes", "peak_activation_bytes", "frac_conv",
                 "frac_dwconv", "frac_dense")


@dataclass
class ModelTable:
    """Every model's facts as columns, one row per model (`row[iri]`) and a last, blank row for
    models the graph does not describe: what recommend reads of tens of thousands of candidates
    without a dict each. Accuracy is the figure for a device with no record of the model
    (_accuracy); `accuracy_on` lists, per device, the models whose figure differs there."""

    source: _Models
    models: list[str]
    row: dict[str, int]
    name: list[str]
    numbers: dict[str, np.ndarray]
    quantization: list
    task_name: list
    needs: list[tuple[tuple, tuple]]  # the distinct (formats, operators) a runtime is chosen by
    need: np.ndarray  # row -> index into needs
    accuracy: np.ndarray
    accuracy_provenance: list
    accuracy_on: dict[str, set[str]]

    def rows(self, models: Sequence[str]) -> np.ndarray:
        blank = len(self.models)
        return np.fromiter((self.row.get(m, blank) for m in models), dtype=np.int64, count=len(models))

    def accuracy_for(self, models: Sequence[str], rows: np.ndarray, device: str) -> tuple[np.ndarray, list]:
        """(accuracy per model, provenance per model) on `device`, as model_facts gives them."""
        values, provenance = self.accuracy[rows], [self.accuracy_provenance[r] for r in rows]
        own = self.accuracy_on.get(device, ())
        for i, m in enumerate(models):
            if m in own:
                values[i], provenance[i], _ = _accuracy(self.source.facts[m]["reported"],
                                                         self.source.accuracy.get(m, ()), device)
        return values, provenance


def _model_table(store) -> ModelTable:
    m = cached(store, _read_models)
    models = sorted(m.facts)
    facts = [m.facts[x] for x in models] + [{}]

    def num(v):
        x = _num(v)
        return np.nan if x is None else x
    numbers = {k: np.array([num(f.get(k)) for f in facts], dtype=np.float64) for k in TABLE_NUMBERS}
    needs: dict[tuple, int] = {}
    need = np.array([needs.setdefault((tuple(f.get("formats") or ()), tuple(f.get("operators") or ())), len(needs))
                     for f in facts], dtype=np.int64)
    accuracy = [_accuracy(f["reported"], m.accuracy.get(x, ()), None) for x, f in zip(models, facts)] + [(None,) * 3]
    on: dict[str, set[str]] = {}
    for x, rows in m.accuracy.items():
        for _, d, a, _ in rows:
            if a is not None:
                on.setdefault(d, set()).add(x)
    return ModelTable(m, models, {x: i for i, x in enumerate(models)}, [f.get("name") for f in facts], numbers,
                      [f.get("quantization") for f in facts], [f.get("task_name") for f in facts],
                      list(needs), need, np.array([num(a[0]) for a in accuracy]), [a[1] for a in accuracy], on)


def model_table(store) -> ModelTable:
    """Every model's facts as columns (ModelTable); the store is read once per write."""
    return cached(store, _model_table)


def _read_devices(store) -> tuple[dict[str, dict], bytes]:
    body, rows = _tsv(store, _DEVICE_QUERY.replace("#VALUES#", ""))
    out: dict[str, dict] = {}
    for device, name, ram, flash, clock, core, fpu, accel, runtimes in rows:
        if device in out:  # a second name or core: keep the first
            continue
        out[device] = {
            "device": device, "name": name or local_name(device),
            "ram_bytes": _num(ram), "flash_bytes": _num(flash), "clock_mhz": _num(clock),
            "core": core, "fpu": fpu, "accelerator": accel or "", "runtimes": sorted((runtimes or "").split()),
        }
    return out, hashlib.sha256(body).digest()


def device_facts(store, devices: Sequence[str] | None = None) -> dict[str, dict]:
    """{device IRI: hardware profile} (name, ram_bytes, flash_bytes, clock_mhz, core, fpu,
    accelerator, runtimes) for `devices` (all when None); the store is read once per write."""
    known = cached(store, _read_devices)[0]
    wanted = known if devices is None else [d for d in devices if d in known]
    return {d: dict(known[d]) for d in wanted}


def pair_figures(store, device: str) -> dict[str, dict]:
    """{model: figures} of the models measured on `device`, as the full check reads them:
    records (count), mram, mflash (measured RAM and flash), latency, energy (each the minimum
    over the pair's records; None where no record gives it)."""
    _, rows = _tsv(store, _PAIR_FIGURES_QUERY.replace("#DEVICE#", f"<{device}>"))
    return {model: {"records": n, "mram": ram, "mflash": flash, "latency": lat, "energy": en}
            for model, n, ram, flash, lat, en in rows}


def device_runtimes(store, device: str) -> list[tuple[float, str, set, set]]:
    """(code bytes, runtime IRI, formats, operators) of the device's catalogued runtimes, in the
    order `runtime_for` prefers them: smallest code first, then IRI."""
    _, rows = _tsv(store, _RUNTIMES_QUERY.replace("#DEVICE#", f"<{device}>"))
    found: dict[str, tuple[float, set, set]] = {}
    for rt, code, fmt, op in rows:
        c, fmts, ops = found.get(rt, (math.inf, set(), set()))
        fmts.add(fmt)
        if op is not None:
            ops.add(str(op))
        found[rt] = (min(c, _num(code) if _num(code) is not None else math.inf), fmts, ops)
    return sorted((c, rt, fmts, ops) for rt, (c, fmts, ops) in found.items())


def runtime_for(model: dict, runtimes: list[tuple[float, str, set, set]]) -> str | None:
    """The runtime the full check finds for a model on a device (one of `device_runtimes` that
    runs one of its formats and every operator it uses; the first, i.e. smallest code)."""
    ops = model.get("operators") or ()
    for _, rt, fmts, supported in runtimes:
        if not fmts.isdisjoint(model.get("formats") or ()) and supported.issuperset(ops):
            return rt
    return None


@lru_cache(maxsize=None)
def runtime_text(runtime: str | None) -> str:
    """A runtime IRI as its catalogue label ('.../runtime/st-edge-ai' -> 'STM32Cube.AI / ST Edge AI'),
    so that training records and predicted pairs name a runtime family the same way."""
    if not runtime:
        return ""
    if runtime.startswith(RUNTIME_BASE):
        from kg.benchmarks import runtime_label

        return runtime_label(runtime[len(RUNTIME_BASE):])
    return runtime


# What a prediction row takes from the model (fact, divisor) and from the device; the
# categorical fields: quantization and task from the model, core, runtime, accelerator.
_ROW_MODEL = {"macs": ("macs", 1), "params": ("params", 1), "input_size": ("input_size", 1),
              "model_kib": ("model_bytes", 1024.0), "act_kib": ("arena_bytes", 1024.0),
              "frac_conv": ("frac_conv", 1), "frac_dwconv": ("frac_dwconv", 1), "frac_dense": ("frac_dense", 1)}
_ROW_DEVICE = {"clock_mhz": ("clock_mhz", 1), "ram_kib": ("ram_bytes", 1024.0), "flash_kib": ("flash_bytes", 1024.0)}


def prediction_row(model: dict, device: dict, runtime: str | None = None, clock_mhz: float | None = None) -> dict:
    """The flat row ranker.hardware.LatencyModel reads for one (model, device) pair.

    Model size enters as model_kib (file, else a measured flash figure) and act_kib (tensor
    arena, else a measured RAM figure); the device as clock, RAM, flash, core, accelerator."""
    row = {"model": model["model"], "device": device["device"]}
    for key, (fact, divisor) in _ROW_MODEL.items():
        v = _num(model.get(fact))
        row[key] = v / divisor if v is not None else None
    for key, (fact, divisor) in _ROW_DEVICE.items():
        v = _num(clock_mhz if key == "clock_mhz" and clock_mhz is not None else device.get(fact))
        row[key] = v / divisor if v is not None else None
    row.update(quantization=model.get("quantization"), core=device.get("core"), runtime=runtime_text(runtime),
               accelerator=device.get("accelerator"), task=model.get("task_name"))
    return row


def prediction_columns(table: ModelTable, rows: np.ndarray, device: dict, runtimes: Sequence[str | None],
                       arena_bytes: np.ndarray, model_bytes: np.ndarray) -> dict[str, Sequence]:
    """prediction_row of many models (table rows) on one device, as columns ({field: values},
    NaN = unknown), the arena and file bytes given per model and the runtime per model: what
    HardwarePredictor.predict takes without a dict per model."""
    n = len(rows)
    cols: dict[str, Sequence] = {"model": [table.models[r] if r < len(table.models) else None for r in rows.tolist()]}
    given = {"arena_bytes": arena_bytes, "model_bytes": model_bytes}
    for key, (fact, divisor) in _ROW_MODEL.items():
        cols[key] = (given[fact] if fact in given else table.numbers[fact][rows]) / divisor
    one = prediction_row({"model": None}, device)  # the device's own fields, the same on every row
    for key in ("device", *_ROW_DEVICE, "core", "accelerator"):
        cols[key] = [one[key]] * n
    cols["quantization"] = [table.quantization[r] for r in rows.tolist()]
    cols["runtime"] = [runtime_text(r) for r in runtimes]
    cols["task"] = [table.task_name[r] for r in rows.tolist()]
    return cols


# LatencyModel feature set for graph rows (log = sizes and clocks, raw = fractions).
LATENCY_NUMERIC = {"macs": True, "params": True, "input_size": True, "model_kib": True, "act_kib": True,
                   "clock_mhz": True, "ram_kib": True, "flash_kib": True,
                   "frac_conv": False, "frac_dwconv": False, "frac_dense": False}
LATENCY_CATEGORICAL = ("quantization", "core", "runtime", "accelerator", "task")


def _read_records(store) -> tuple[list[dict], bytes]:
    body, rows = _tsv(store, _RECORDS_QUERY)
    out = []
    for b, model, device, lat, en, ram, flash, acc, clock, runtime, version in rows:
        out.append({"record": b, "model": model, "device": device,
                    "latency_ms": _num(lat), "energy_uj": _num(en),
                    "ram_bytes": _num(ram), "flash_bytes": _num(flash),
                    "accuracy_pct": _num(acc), "clock_mhz": _num(clock),
                    "runtime": runtime, "runtime_version": version})
    out.sort(key=lambda r: r["record"])
    return out, hashlib.sha256(body).digest()


def benchmark_records(store) -> list[dict]:
    """Every benchmark record, one dict each: record, model, device, latency_ms, energy_uj,
    ram_bytes, flash_bytes, accuracy_pct, clock_mhz, runtime (IRI), runtime_version."""
    return [dict(r) for r in cached(store, _read_records)[0]]


def latency_training_rows(store) -> list[dict]:
    """Benchmark records with a latency, joined with their model's and device's facts, as
    LatencyModel rows carrying latency_ms and energy_uj."""
    records = [r for r in benchmark_records(store) if r["latency_ms"]]
    if not records:
        return []
    models = model_facts(store, sorted({r["model"] for r in records}))
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
    from the store's own serialisation of what it answered: the cache key of the hardware predictor.
    Without ORDER BY (which costs more than the rest): the store answers the same content in
    the same order, and a different order would only cost a retraining."""
    h = hashlib.sha256()
    for digest in (cached(store, _read_records)[1], cached(store, _read_models).digest,
                   cached(store, _read_devices)[1]):
        h.update(digest)
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
