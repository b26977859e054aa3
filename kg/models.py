"""Describe a model file: dispatch on its bytes to the TFLite or ONNX extractor, add what
its model card (and the command line) says, and build its RDF in ar: terms.

    describe_model("kws.tflite", card="README.md", task="keyword_spotting") -> ModelDescription

The graph is meant for one named graph whose name is the model IRI.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from rdflib import RDF, XSD, Graph, Literal, Namespace, URIRef

from kg.boards import runtime_family
from kg.errors import InputError
from kg.ids import AR, dataset_iri, model_iri, runtime_iri, slug, task_iri
from kg.model_card import card_facts, card_modality, merge_overrides
from kg.model_facts import ModelFacts
from kg.vocab import MODALITY_TERMS

SCHEMA = Namespace("https://schema.org/")
FORMAT_TERMS = {"tflite": AR.TFLite, "onnx": AR.ONNX}
QUANT_TERMS = {"int8": AR.Int8, "uint8": AR.UInt8, "float32": AR.Float32, "float16": AR.Float16, "hybrid": AR.Hybrid}
EXPECTED = "expected a TFLite flatbuffer ('TFL3' at byte 4) or an ONNX protobuf"


@dataclass
class ModelDescription:
    """A described model: its IRI, name, plain facts and RDF graph."""

    iri: str
    name: str
    facts: dict
    graph: Graph = field(repr=False)


def read_model_bytes(data: bytes, file: str, measure_ram: bool = True) -> ModelFacts:
    """Facts of a model given as bytes, dispatching on its content (not its file name)."""
    from kg import onnx_model, tflite_model

    suffix = Path(file).suffix.lower()
    if not data:
        raise InputError(file, None, f"empty file; {EXPECTED}")
    if tflite_model.is_tflite(data):
        return tflite_model.read_tflite(data, file, measure_ram=measure_ram)
    if data[:4] == b"PK\x03\x04":
        raise InputError(file, "bytes 0-4", f"this is a ZIP archive (a .keras file, or a zipped model), not a model file; {EXPECTED}")
    if data[:8] == b"\x89HDF\r\n\x1a\n":
        raise InputError(file, "bytes 0-8", f"this is an HDF5 file (Keras .h5), which is not supported; {EXPECTED}")
    if suffix == ".tflite":
        found = data[4:8] if len(data) >= 8 else data
        raise InputError(file, "bytes 4-8", f"not a TFLite flatbuffer: expected the identifier 'TFL3' at byte 4, found {found!r}")
    if onnx_model.looks_like_onnx(data) or suffix == ".onnx":
        return onnx_model.read_onnx(data, file)
    raise InputError(file, "bytes 0-8", f"unrecognised file (starts with {data[:8]!r}); {EXPECTED}")


def describe_model(path: str | Path, card: str | Path | dict | None = None, task: str | None = None,
                   dataset: str | None = None, name: str | None = None, sensors=None, modality: str | None = None,
                   measure_ram: bool = True) -> ModelDescription:
    """Describe the model file at `path`; card (README.md path or parsed mapping) and flags add facts (flags win)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise InputError(str(path), None, "file not found") from exc
    except IsADirectoryError as exc:
        raise InputError(str(path), None, f"is a directory; {EXPECTED}") from exc
    except OSError as exc:
        raise InputError(str(path), None, f"cannot read: {exc.strerror}") from exc
    facts = read_model_bytes(data, str(path), measure_ram=measure_ram)
    cfacts = card_facts(card) if card is not None else {"metrics": [], "tags": [], "datasets": [], "base_model": [], "sensors": []}
    cfacts = merge_overrides(cfacts, task=task, dataset=dataset, name=name, sensors=sensors, modality=modality)
    return build_description(facts, cfacts, path.name)


def build_description(facts: ModelFacts, card: dict, file_name: str) -> ModelDescription:
    """Combine extracted facts and card facts into a ModelDescription."""
    name = card.get("name") or Path(file_name).stem
    iri = model_iri(name)
    mod, basis = card_modality(card)
    if mod is None:
        mod, basis = facts.modality, facts.modality_basis
    merged = facts.as_dict()
    merged.update({
        "name": name, "iri": iri, "file_name": file_name, "modality": mod, "modality_basis": basis,
        "task": card.get("task"), "datasets": card.get("datasets", []), "license": card.get("license"),
        "tags": card.get("tags", []), "metrics": card.get("metrics", []), "base_model": card.get("base_model", []),
        "sensors": card.get("sensors", []), "description": card.get("description"), "creator": card.get("creator"),
        "runtime": card.get("runtime"), "category": card.get("category"),
    })
    return ModelDescription(iri=iri, name=name, facts=merged, graph=model_graph(merged))


def add_metric(g: Graph, model: URIRef, node: URIRef, name: str, value, dataset: str | None = None) -> None:
    """A reported metric of a model (ar:Metric: name, value, and the dataset it was measured on)."""
    g.add((model, AR.hasMetric, node))
    g.add((node, RDF.type, AR.Metric))
    g.add((node, AR.metricName, Literal(name)))
    g.add((node, AR.metricValue, Literal(float(value), datatype=XSD.double)))
    if dataset:
        g.add((node, AR.onDataset, URIRef(dataset_iri(dataset))))


def model_graph(f: dict) -> Graph:
    """RDF of one described model (the dict of ModelDescription.facts)."""
    g = Graph()
    g.bind("ar", AR)
    g.bind("schema", SCHEMA)
    m = URIRef(f["iri"])

    def lit_int(v):
        return Literal(int(v), datatype=XSD.integer)

    g.add((m, RDF.type, AR.PretrainedModel))
    g.add((m, SCHEMA.name, Literal(f["name"])))
    g.add((m, AR.hasFormat, FORMAT_TERMS[f["format"]]))
    if f.get("quantization") in QUANT_TERMS:
        q = QUANT_TERMS[f["quantization"]]
        g.add((m, AR.hasQuantization, q))
        g.add((q, RDF.type, AR.Quantization))  # so shapes checking sh:class see it in this graph
    g.add((m, AR.parameterCount, lit_int(f["parameter_count"])))
    g.add((m, AR.macs, lit_int(f["macs"])))
    g.add((m, AR.modelBytes, lit_int(f["model_bytes"])))
    if f.get("arena_bytes") is not None:
        g.add((m, AR.arenaBytes, lit_int(f["arena_bytes"])))
        g.add((m, AR.arenaMethod, Literal(f["arena_method"])))
    if f.get("tflm_refusal"):
        g.add((m, AR.tflmRefusal, Literal(f["tflm_refusal"])))
    g.add((m, AR.sourceFile, Literal(f["file_name"])))
    g.add((m, SCHEMA.sha256, Literal(f["sha256"])))

    for op in f["operators"]:
        g.add((m, AR.usesOperator, Literal(op["name"])))
        # ONNX Conv nodes split into conv and depthwise uses: the class keeps their IRIs apart.
        dw = "-depthwise" if op.get("op_class") == "depthwise" and op["name"] != "DEPTHWISE_CONV_2D" else ""
        node = URIRef(f"{f['iri']}#op-{slug(op['domain'])}-{slug(op['name'])}-v{op['version']}{dw}")
        g.add((m, AR.hasOperatorUse, node))
        g.add((node, RDF.type, AR.OperatorUse))
        g.add((node, AR.operatorName, Literal(op["name"])))
        g.add((node, AR.operatorVersion, lit_int(op["version"])))
        g.add((node, AR.operatorCount, lit_int(op["count"])))
        g.add((node, AR.operatorDomain, Literal(op["domain"])))
        g.add((node, AR.operatorMacs, lit_int(op["macs"])))
        if "op_class" in op:  # cost-model features (ranker/cost_model.py)
            g.add((node, AR.operatorClass, Literal(op["op_class"])))
            g.add((node, AR.operatorWeightBytes, lit_int(op["weight_bytes"])))
            g.add((node, AR.operatorOutputElements, lit_int(op["output_elements"])))
    for key, prop in (("peak_activation_bytes", AR.peakActivationBytes), ("input_bytes", AR.inputBytes)):
        if f.get(key) is not None:
            g.add((m, prop, lit_int(f[key])))
    for dtype, n in (f.get("tensor_types") or {}).items():
        node = URIRef(f"{f['iri']}#tensors-{slug(dtype)}")
        g.add((m, AR.hasTensorTypeCount, node))
        g.add((node, RDF.type, AR.TensorTypeCount))
        g.add((node, AR.countedDtype, Literal(dtype)))
        g.add((node, AR.tensorCount, lit_int(n)))

    modality = MODALITY_TERMS.get(f.get("modality") or "")
    if modality is not None:
        g.add((m, AR.hasModality, modality))
    for kind, prop, cls in (("inputs", AR.hasInput, AR.InputTensor), ("outputs", AR.hasOutput, AR.OutputTensor)):
        for i, t in enumerate(f[kind]):
            node = URIRef(f"{f['iri']}#{kind[:-1]}-{i}")
            g.add((m, prop, node))
            g.add((node, RDF.type, cls))
            g.add((node, AR.tensorName, Literal(t["name"])))
            g.add((node, AR.shape, Literal(json.dumps(t["shape"], separators=(",", ":")))))
            g.add((node, AR.dtype, Literal(t["dtype"])))
            if kind == "inputs" and i == 0 and modality is not None:
                g.add((node, AR.hasModality, modality))

    if f.get("task"):
        t = URIRef(task_iri(f["task"]))
        g.add((m, AR.performsTask, t))
        g.add((t, RDF.type, AR.Task))
        g.add((t, SCHEMA.name, Literal(f["task"])))
    for d in f.get("datasets", []):
        node = URIRef(dataset_iri(d))
        g.add((m, AR.trainedOn, node))
        g.add((node, RDF.type, AR.Dataset))
        g.add((node, SCHEMA.name, Literal(d)))
    for i, metric in enumerate(f.get("metrics", [])):
        add_metric(g, m, URIRef(f"{f['iri']}#metric-{i}"), metric["name"], metric["value"], metric.get("dataset"))
    if f.get("license"):
        g.add((m, AR.license, Literal(f["license"])))
    for b in f.get("base_model", []):
        g.add((m, AR.baseModel, URIRef(b) if b.startswith(("http://", "https://")) else URIRef(model_iri(b))))
    for tag in f.get("tags", []):
        g.add((m, SCHEMA.keywords, Literal(tag)))
    for s in f.get("sensors", []):
        g.add((m, AR.requiresSensor, AR[s]))
    if f.get("description"):
        g.add((m, SCHEMA.description, Literal(f["description"])))
    if f.get("creator"):
        g.add((m, SCHEMA.creator, Literal(f["creator"])))
    if f.get("runtime"):
        rt = runtime_family(f["runtime"])
        if rt:
            node = URIRef(runtime_iri(rt[0]))
            g.add((m, AR.runtime, node))
            g.add((node, RDF.type, AR.Runtime))
    return g


def describe_models(paths, progress: bool = True, **kwargs) -> list[ModelDescription | InputError]:
    """Describe several files; a bad file gives its InputError in its place, the rest go on."""
    out: list = []
    items = list(paths)
    bar = None
    if progress and len(items) > 1:
        from rich.console import Console
        from rich.progress import Progress

        bar = Progress(console=Console(stderr=True), transient=True)  # progress on stderr
        bar.start()
        task = bar.add_task("describing models", total=len(items))
    try:
        for p in items:
            try:
                out.append(describe_model(p, **kwargs))
            except InputError as exc:
                out.append(exc)
            if bar is not None:
                bar.advance(task)
    finally:
        if bar is not None:
            bar.stop()
    return out


def describe_for_import(paths, **kwargs) -> list[ModelDescription]:
    """Describe model files (describe_models' keyword arguments) and check them for the store:
    every file read, no two files the same model, every graph conforming to the shapes. One
    InputError lists every problem, so a face writes all of them (`store_models`) or none."""
    from kg.validation import validate

    paths = list(paths)
    results = describe_models(paths, **kwargs)
    errors = [r for r in results if isinstance(r, InputError)]
    if len(paths) == 1 and errors:
        raise errors[0]
    if errors:
        raise InputError(None, None, f"{len(errors)} of {len(paths)} file(s) could not be read; nothing written",
                         problems=[(None, e.one_line()) for e in errors])
    seen: dict[str, str] = {}
    for d in results:
        if d.iri in seen:
            raise InputError(d.facts["file"], None, f"it and {seen[d.iri]} would both be {d.iri}; give them "
                             "different names (--name, or a card)")
        seen[d.iri] = d.facts["file"]
    problems = [(f"{v.node} {v.path or ''}".strip(), f"{v.message}; found {v.found}")
                for d in results for v in validate(d.graph)]
    if problems:
        raise InputError(None, problems[0][0], f"the description does not conform to the shapes "
                         f"({problems[0][1]}); nothing written", problems=problems)
    return results


def store_models(store, descriptions: list[ModelDescription]) -> list[str]:
    """Write described models, one named graph each, in one transaction; the IRIs it replaced."""
    replaced = [d.iri for d in descriptions if store.has_graph(d.iri)]
    store.put_graphs({d.iri: d.graph for d in descriptions})
    return replaced
