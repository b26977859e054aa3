"""Describe a model file: dispatch on its bytes to the TFLite or ONNX extractor, add what
its model card (and the command line) says, and build its RDF in ar: terms.

    describe_model("kws.tflite", card="README.md", task="keyword_spotting") -> ModelDescription
    describe_attachment(store, "kws.tflite", "mlperf-tiny-kws-ds-cnn") -> ModelDescription

A described file's graph is meant for one named graph whose name is the model IRI. A file
attached to a model already in the registry (`attach_file`, `arachne import-model --describes`)
adds its facts in a graph of its own (`file_graph_name`), leaving the description's name, task
and figures as they are; a fact the file contradicts is a conflict, and nothing is written.

Modality: what a card, the command line or a declared sensor or task says, else what the first
input tensor's shape makes unambiguous (kg.model_facts.guess_modality_from_shapes), with its
provenance (an ar:Provenance for ar:hasModality: kind 'reported', or 'inferred' and what from). The task is
never read from a file: a shape tells the kind of signal, not what is done with it (49 x 10 MFCCs
with 12 outputs fit keyword spotting and audio-event classification alike).
RAM: the tensor arena TFLM planned (provenance 'file'); without one (TFLM refused the model,
or it is an ONNX file) the peak of simultaneously live activation tensors, ar:peakActivationBytes,
is the estimate (provenance 'estimated'; no planner overhead or scratch buffers).
"""
from __future__ import annotations

import json
import re
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
    graph_name: str | None = None  # the named graph it goes to (default: the model IRI)

    @property
    def graph_iri(self) -> str:
        return self.graph_name or self.iri


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
    facts, cfacts = _read(path, card, task, dataset, name, sensors, modality, measure_ram)
    return build_description(facts, cfacts, Path(path).name)


def _read(path, card, task, dataset, name, sensors, modality, measure_ram) -> tuple[ModelFacts, dict]:
    """(the file's facts, the card's facts with the flags applied)."""
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
    return facts, merge_overrides(cfacts, task=task, dataset=dataset, name=name, sensors=sensors, modality=modality)


# What an input shape was read as (kg.model_facts.guess_modality_from_shapes), in words.
SHAPE_READINGS = {"image": "an image (H x W >= 32 x 32 with 3 or 4 channels, >= 64 x 64 with one)",
                  "audio": "2-D audio features (>= 20 frames x 8-31 coefficients, one channel)",
                  "inertial": "an inertial window (>= 20 samples x 3, 6 or 9 axes)"}


def _modality_provenance(f: dict) -> tuple[str | None, str | None]:
    """('reported' | 'inferred', what from) of a merged facts dict's modality."""
    basis = f.get("modality_basis")
    if not f.get("modality"):
        return None, None
    if basis == "shape":
        t = f["inputs"][0]
        shape = json.dumps(t["shape"], separators=(",", ":"))
        return "inferred", f"input {shape} ({t['dtype']}): {SHAPE_READINGS[f['modality']]}"
    if basis == "sensor":
        return "inferred", "the sensor it needs (" + ", ".join(f.get("sensors") or []) + ")"
    if basis == "task":
        return "inferred", f"its task ({f.get('task')})"
    return "reported", "the model card or the command line"


def _not_inferred(f: dict) -> list[str]:
    """What could not be read from the file and was not given, and why (no silent guesses)."""
    out = []
    if not f.get("modality"):
        first = f["inputs"][0] if f.get("inputs") else None
        shape = json.dumps(first["shape"], separators=(",", ":")) if first else "none"
        out.append(f"modality: not inferred: the input {shape} is none of " + ", ".join(SHAPE_READINGS.values())
                   + "; give --modality")
    if not f.get("task"):
        out.append("task: not inferred: a file's shapes tell the kind of signal, not the task; give --task "
                   "(or --describes, to attach the file to a description that has one)")
    return out


def _ram(f: dict) -> tuple[int | None, str]:
    """(RAM figure, provenance): the planned tensor arena ('file'), else live activations ('estimated')."""
    if f.get("arena_bytes") is not None:
        return f["arena_bytes"], "file"
    if f.get("peak_activation_bytes") is not None:
        return f["peak_activation_bytes"], "estimated"
    return None, "unknown"


def build_description(facts: ModelFacts, card: dict, file_name: str, iri: str | None = None) -> ModelDescription:
    """Combine extracted facts and card facts into a ModelDescription (its IRI minted from the
    name unless given)."""
    name = card.get("name") or Path(file_name).stem
    iri = iri or model_iri(name)
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
    merged["modality_provenance"], merged["modality_from"] = _modality_provenance(merged)
    merged["ram_bytes"], merged["ram_provenance"] = _ram(merged)
    merged["not_inferred"] = _not_inferred(merged)
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
        if f.get("modality_provenance"):
            p = URIRef(f"{f['iri']}#provenance-modality")
            g.add((m, AR.hasProvenance, p))
            g.add((p, RDF.type, AR.Provenance))
            g.add((p, AR.forProperty, AR.hasModality))
            g.add((p, AR.provenanceKind, Literal(f["modality_provenance"])))
            g.add((p, AR.source, Literal(f["modality_from"])))
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


def describe_for_import(paths, describes: str | None = None, store=None, **kwargs) -> list[ModelDescription]:
    """Describe model files (describe_models' keyword arguments) and check them for the store:
    every file read, no two files the same model, every graph conforming to the shapes. One
    InputError lists every problem, so a face writes all of them (`store_models`) or none.
    With `describes` (a model in `store`, by name or IRI), the one file joins its description
    (`describe_attachment`)."""
    paths = list(paths)
    if describes is not None:
        if len(paths) != 1:
            raise InputError(None, "--describes", f"attaches one file to one model; {len(paths)} files given")
        if kwargs.pop("name", None):
            raise InputError(None, "--name", "the description names the model: no --name with --describes")
        kwargs.pop("progress", None)
        return [describe_attachment(store, paths[0], describes, **kwargs)]
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
    _check_shapes([d.graph for d in results])
    return results


def _check_shapes(graphs, file: str | None = None, what: str = "the description") -> None:
    """One InputError listing every SHACL violation of the graphs (kg.validation), if any."""
    from kg.validation import validate

    problems = [(f"{v.node} {v.path or ''}".strip(), f"{v.message}; found {v.found}")
                for g in graphs for v in validate(g)]
    if problems:
        raise InputError(file, problems[0][0], f"{what} does not conform to the shapes ({problems[0][1]}); "
                         "nothing written", problems=problems)


def file_graph_name(model: str) -> str:
    """The named graph of the file facts attached to the description of `model` (a slug holds
    no '/', so it is no model's IRI)."""
    return model + "/file"


_DESCRIPTION = """CONSTRUCT { <{m}> ?p ?o . ?o a ?c } WHERE {
  GRAPH ?g { <{m}> ?p ?o OPTIONAL { ?o a ?c } } FILTER(?g != <{file}>) }"""


def description_graph(store, model: str) -> Graph:
    """What the store says of `model` (and the classes of what it points to), except the facts of
    a file attached to it before, which an attachment replaces."""
    return store.query(_DESCRIPTION.replace("{m}", model).replace("{file}", file_graph_name(model)))


# Facts a model has one of, in words: a file (or the card and flags with it) giving another value
# than the description's is a conflict.
ONE_VALUE = {AR.hasFormat: "format", AR.hasQuantization: "quantization", SCHEMA.sha256: "sha256",
             AR.modelBytes: "model bytes", AR.arenaBytes: "tensor arena", AR.parameterCount: "parameters",
             AR.macs: "MACs", AR.peakActivationBytes: "live activations", AR.inputBytes: "input bytes",
             AR.performsTask: "task", AR.hasModality: "modality", AR.license: "licence",
             SCHEMA.description: "description", SCHEMA.creator: "creator", AR.runtime: "runtime"}


# Facts only a card or the flags give (a modality read from the file gives way to a described one).
_DECLARED = {AR.performsTask, AR.hasModality, AR.license, SCHEMA.description, SCHEMA.creator, AR.runtime}


def _norm(term):
    """A term as stores give it back: a plain string literal is an xsd:string one (RDF 1.1)."""
    if isinstance(term, Literal) and term.datatype is None and term.language is None:
        return Literal(str(term), datatype=XSD.string)
    return term


def _words(terms) -> str:
    """Terms as people read them: an IRI by its last segment (Int8, keyword_spotting)."""
    return " / ".join(sorted(re.split(r"[#/]", str(t))[-1] if isinstance(t, URIRef) else str(t) for t in terms))


def attach_file(path, model: str, description: Graph, card=None, task=None, dataset=None, sensors=None,
                modality=None, measure_ram: bool = True) -> ModelDescription:
    """The facts of the model file at `path` for the existing description of `model` (its triples,
    `description_graph`): the graph holds what the file, card and flags add and the description
    lacks; its name, task and figures stay. An InputError lists every fact they contradict."""
    m = URIRef(model)
    if (m, RDF.type, AR.PretrainedModel) not in description:
        raise InputError(str(path), "--describes", f"{model} is not a model in the registry")
    name = str(description.value(m, SCHEMA.name) or model)  # the shapes give every model a name
    facts, cfacts = _read(path, card, task, dataset, None, sensors, modality, measure_ram)
    problems = []
    if cfacts.get("name") not in (None, name):
        problems.append(("name", f"the description says {name!r}, the card {cfacts['name']!r}"))
    said = description.value(m, AR.hasModality)
    notes = []
    if said is not None and card_modality(cfacts)[0] is None and facts.modality:
        # A modality read from the shape gives way to a described one: a reading, not a claim.
        if MODALITY_TERMS[facts.modality] != said:
            notes.append(f"modality: the input reads as {facts.modality}; the description's {_words([said])} stays")
        facts.modality = facts.modality_basis = None
    task = description.value(m, AR.performsTask)
    if said is None and task is not None and not cfacts.get("task") and str(task) == task_iri(_words([task])):
        cfacts["task"] = _words([task])  # the described task (not written twice): its modality before the shape's
    d = build_description(facts, {**cfacts, "name": name}, Path(path).name, iri=model)
    f, g = d.facts, d.graph
    held = description.value(m, SCHEMA.sha256)
    if held is not None and str(held) == f["sha256"]:
        raise InputError(str(path), "--describes", f"{model} already holds this file's facts "
                         f"(sha256 {f['sha256'][:16]}...); nothing to attach")
    for prop, word in ONE_VALUE.items():
        mine, theirs = {_norm(o) for o in g.objects(m, prop)}, {_norm(o) for o in description.objects(m, prop)}
        if mine and theirs and mine != theirs:
            source = "the card or flags" if prop in _DECLARED else "this file"
            problems.append((word, f"the description says {_words(theirs)}, {source} {_words(mine)}"))
    ops = {_norm(o) for o in description.objects(m, AR.usesOperator)}
    if ops and ops != {_norm(o) for o in g.objects(m, AR.usesOperator)}:
        problems.append(("operators", f"the description lists {_words(ops)}, this file uses "
                         f"{_words(g.objects(m, AR.usesOperator))}"))
    if problems:
        what, why = problems[0]
        more = f", and {len(problems) - 1} more" if len(problems) > 1 else ""
        raise InputError(str(path), "--describes", f"contradicts the description of {model} ({what}: {why}{more}); "
                         "nothing written", problems=problems)
    said_already = {(p, _norm(o)) for p, o in description.predicate_objects(m)}
    for t in list(g.triples((m, None, None))):
        if (t[1], _norm(t[2])) in said_already:  # the type, name, a declared format ...: not twice
            g.remove(t)
    f.update(describes=model, attach_notes=notes)
    if not f.get("task") and task is not None:
        f["task"] = _words([task])
    if said is not None and not f.get("modality"):
        f["modality"] = _words([said]).lower()
        f["modality_provenance"] = "the description's"
    f["not_inferred"] = _not_inferred(f)
    return ModelDescription(iri=model, name=name, facts=f, graph=g, graph_name=file_graph_name(model))


def describe_attachment(store, path, model: str, **kwargs) -> ModelDescription:
    """`attach_file` for the model the store knows by `model` (a name or an IRI, kg.names.resolve),
    checked with the shapes together with the description it joins (attach_file's keywords)."""
    from kg.names import NotFound, resolve

    try:
        iri = resolve(store, "model", model)
    except NotFound as exc:
        raise InputError(None, "--describes", f"{exc.message} in the registry; nothing written") from None
    description = description_graph(store, iri)
    d = attach_file(path, iri, description, **kwargs)
    _check_shapes([description + d.graph], str(path), "the joined description")
    return d


def store_models(store, descriptions: list[ModelDescription]) -> list[str]:
    """Write described models, one named graph each, in one transaction; the graphs it replaced."""
    replaced = [d.graph_iri for d in descriptions if store.has_graph(d.graph_iri)]
    store.put_graphs({d.graph_iri: d.graph for d in descriptions})
    return replaced
