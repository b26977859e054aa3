"""The model and recommendation JSON API: /models (upload, list, describe), /feasible and
/recommend. Every answer comes from the same kg / ranker functions the CLI calls; this
module only reads HTTP parameters, resolves names to IRIs and shapes the JSON.

It also holds the read queries the explorer shows (lists and detail of devices and models),
cached per store generation."""
from __future__ import annotations

import base64
import json
import re
import tempfile
from pathlib import Path

from flask import Blueprint, Flask, Response, request, url_for

from kg import names
from kg.errors import InputError
from kg.ids import BASE
from registry.problems import ProblemError
from registry.state import registry, require_write_access

bp = Blueprint("api", __name__)

PREFIXES = """PREFIX ar: <https://w3id.org/arachne#>
PREFIX td: <https://www.w3.org/2019/wot/td#>
PREFIX schema: <https://schema.org/>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX sosa: <http://www.w3.org/ns/sosa/>
"""
MODEL_SUFFIXES = (".tflite", ".onnx")


# -- names in URLs ---------------------------------------------------------------------------
_SLUG = re.compile(r"[A-Za-z0-9._-]+")


def entity_key(iri: str, kind: str) -> str:
    """URL segment for an entity: the slug of an IRI Arachne minted, else '~' + base64url(IRI)."""
    prefix = f"{BASE}{kind}/"
    if iri.startswith(prefix) and _SLUG.fullmatch(iri, len(prefix)):
        return iri[len(prefix):]
    return "~" + base64.urlsafe_b64encode(iri.encode()).decode().rstrip("=")


def entity_iri(key: str, kind: str) -> str:
    """Inverse of entity_key (404 for a key that names no valid IRI)."""
    iri = f"{BASE}{kind}/{key}"
    if key.startswith("~"):
        raw = key[1:] + "=" * (-len(key[1:]) % 4)
        try:
            iri = base64.urlsafe_b64decode(raw.encode()).decode()
        except (ValueError, UnicodeDecodeError):
            iri = None
    if not names.is_iri(iri):
        raise ProblemError(404, "Not Found", f"{key!r} is not a {kind} key")
    return iri


def resolve(value: str | None, kind: str) -> str | None:
    """An IRI for `value`: an explorer key ('~...'), else kg.names.resolve's rule (the CLI's too):
    an IRI, a short name, or a title. 404 when nothing answers to it."""
    if not value:
        return None
    if value.startswith("~"):
        return entity_iri(value, kind)
    try:
        return names.resolve(registry().store, kind, value)
    except names.NotFound as exc:
        raise ProblemError(404, "Not Found", exc.one_line()) from None


# -- read queries shared with the explorer -----------------------------------------------------
def _rows(sparql: str) -> list[dict]:
    """SELECT rows as dicts of plain values (kg.store.Results.dicts, as everywhere)."""
    return registry().store.select(PREFIXES + sparql).dicts()


def cached(key, compute, max_age: float = 0.0):
    return registry().cached(key, compute, max_age)


PAGE_MAX_AGE = 2.0  # the home page and list pages may lag writes by up to two seconds


def device_rows() -> list[dict]:
    """Every device with its title and headline hardware figures."""
    return cached("device_rows", lambda: _rows("""
SELECT ?device (SAMPLE(?t) AS ?title) (SAMPLE(?core) AS ?core) (SAMPLE(?clock) AS ?clockMHz)
       (SAMPLE(?ram) AS ?ramBytes) (SAMPLE(?flash) AS ?flashBytes) (COUNT(DISTINCT ?sensor) AS ?sensors)
WHERE {
  ?device a ar:Device .
  OPTIONAL { ?device td:title|schema:name|rdfs:label ?t }
  OPTIONAL { ?device ar:processorCore ?core } OPTIONAL { ?device ar:clockMHz ?clock }
  OPTIONAL { ?device ar:ramBytes ?ram } OPTIONAL { ?device ar:flashBytes ?flash }
  OPTIONAL { ?device ar:hasSensor ?sensor }
} GROUP BY ?device ORDER BY LCASE(STR(COALESCE(?title, ?device)))"""), PAGE_MAX_AGE)


MODEL_ROWS = """
SELECT ?model (SAMPLE(?n) AS ?name) (SAMPLE(?fmtName) AS ?format) (SAMPLE(?qName) AS ?quantization)
       (GROUP_CONCAT(DISTINCT ?taskName; separator=", ") AS ?tasks) (SAMPLE(?modName) AS ?modality)
       (SAMPLE(?arena) AS ?arenaBytes) (SAMPLE(?size) AS ?modelBytes) (SAMPLE(?m) AS ?macs)
       (SAMPLE(?p) AS ?parameters)
WHERE {
  #ONE#
  ?model a ar:PretrainedModel .
  OPTIONAL { ?model schema:name ?n }
  OPTIONAL { ?model ar:hasFormat ?fmt BIND(STRAFTER(STR(?fmt), "#") AS ?fmtName) }
  OPTIONAL { ?model ar:hasQuantization ?q BIND(STRAFTER(STR(?q), "#") AS ?qName) }
  OPTIONAL { ?model ar:performsTask ?task OPTIONAL { ?task schema:name ?tn }
             BIND(COALESCE(?tn, REPLACE(STR(?task), "^.*[/#]", "")) AS ?taskName) }
  OPTIONAL { ?model ar:hasModality ?mod BIND(STRAFTER(STR(?mod), "#") AS ?modName) }
  OPTIONAL { ?model ar:arenaBytes ?arena } OPTIONAL { ?model ar:modelBytes ?size }
  OPTIONAL { ?model ar:macs ?m } OPTIONAL { ?model ar:parameterCount ?p }
} GROUP BY ?model ORDER BY LCASE(STR(COALESCE(?name, ?model)))"""


def model_rows() -> list[dict]:
    """Every model with its headline facts."""
    return cached("model_rows", lambda: _rows(MODEL_ROWS.replace("#ONE#", "")), PAGE_MAX_AGE)


def task_rows() -> list[dict]:
    """Tasks models perform (for the recommend form)."""
    return cached("task_rows", lambda: _rows("""
SELECT ?task (SAMPLE(?n) AS ?name) (COUNT(DISTINCT ?m) AS ?models) WHERE {
  ?m ar:performsTask ?task . OPTIONAL { ?task schema:name ?n }
} GROUP BY ?task ORDER BY ?name ?task"""), PAGE_MAX_AGE)


def _label(iri: str | None) -> str:
    if not iri:
        return ""
    return iri.rsplit("#", 1)[-1] if "#" in iri else iri.rstrip("/").rsplit("/", 1)[-1]


def check_json(c) -> dict:
    """One kg.feasibility.PairCheck as JSON."""
    facts = {k: v for k, v in c.facts.items() if k not in ("model", "device", "name")}  # None: unknown
    return {**c.to_dict(), "facts": facts}


def device_detail(iri: str) -> dict | None:
    """Hardware profile, sensors, runtimes, other statements, benchmarks and feasible models of a device."""

    def compute():
        store = registry().store
        if not store.query(f"{PREFIXES} ASK {{ <{iri}> a ar:Device }}"):
            return None
        profile = _rows(f"""SELECT ?property ?label ?unit ?value WHERE {{
  <{iri}> ?property ?value . ?property rdfs:subPropertyOf+ ar:hardwareProperty .
  OPTIONAL {{ ?property rdfs:label ?label }} OPTIONAL {{ ?property ar:unit ?unit }} }} ORDER BY ?property""")
        sensors = _rows(f"""SELECT ?sensor (GROUP_CONCAT(DISTINCT STRAFTER(STR(?cls), "#"); separator=", ") AS ?classes)
  (SAMPLE(?mod) AS ?modality) WHERE {{
  <{iri}> ar:hasSensor ?sensor .
  OPTIONAL {{ ?sensor a ?cls . FILTER(STRSTARTS(STR(?cls), "https://w3id.org/arachne#"))
             OPTIONAL {{ ?cls ar:providesModality ?m BIND(STRAFTER(STR(?m), "#") AS ?mod) }} }}
}} GROUP BY ?sensor ORDER BY ?classes""")
        runtimes = _rows(f"""SELECT ?runtime (SAMPLE(?l) AS ?label) WHERE {{
  <{iri}> ar:supportsRuntime ?runtime . OPTIONAL {{ ?runtime rdfs:label ?l }} }} GROUP BY ?runtime""")
        statements = _rows(f"""SELECT ?property ?value WHERE {{ <{iri}> ?property ?value
  FILTER(!isBlank(?value)) }} ORDER BY ?property LIMIT 200""")
        benchmarks = _rows(f"""SELECT ?record ?model ?name ?latencyMs ?energyUJ ?accuracyPct ?source WHERE {{
  ?record ar:onDevice <{iri}> ; ar:ofModel ?model . OPTIONAL {{ ?model schema:name ?name }}
  OPTIONAL {{ ?record ar:latencyMs ?latencyMs }} OPTIONAL {{ ?record ar:energyUJ ?energyUJ }}
  OPTIONAL {{ ?record ar:accuracyPct ?accuracyPct }} OPTIONAL {{ ?record ar:source ?source }}
}} ORDER BY ?name LIMIT 500""")
        titles = _rows(f"SELECT ?t WHERE {{ <{iri}> td:title|schema:name|rdfs:label ?t }} LIMIT 1")
        from kg import feasibility

        checks = feasibility.check_pairs(store, device=iri)  # every task: the page lists all models
        ok, excluded = [c for c in checks if c.feasible], [c for c in checks if not c.feasible]
        return {"iri": iri, "title": titles[0]["t"] if titles else _label(iri), "profile": profile,
                "sensors": sensors, "runtimes": runtimes, "statements": statements, "benchmarks": benchmarks,
                "feasible": [check_json(c) for c in ok], "excluded": [check_json(c) for c in excluded]}

    return cached(("device", iri), compute)


def model_detail(iri: str) -> dict | None:
    """Facts, operators, tensors, metrics, benchmarks and feasible devices of a model."""

    def compute():
        store = registry().store
        if not store.query(f"{PREFIXES} ASK {{ <{iri}> a ar:PretrainedModel }}"):
            return None
        summary = _rows(MODEL_ROWS.replace("#ONE#", f"VALUES ?model {{ <{iri}> }}"))
        operators = _rows(f"""SELECT ?name ?version ?count ?macs WHERE {{
  <{iri}> ar:hasOperatorUse ?u . ?u ar:operatorName ?name .
  OPTIONAL {{ ?u ar:operatorVersion ?version }} OPTIONAL {{ ?u ar:operatorCount ?count }}
  OPTIONAL {{ ?u ar:operatorMacs ?macs }} }} ORDER BY DESC(?count) ?name""")
        if not operators:
            operators = _rows(f"SELECT ?name WHERE {{ <{iri}> ar:usesOperator ?name }} ORDER BY ?name")
        tensors = _rows(f"""SELECT ?direction ?tname ?shape ?dtype WHERE {{
  {{ <{iri}> ar:hasInput ?t BIND("input" AS ?direction) }} UNION {{ <{iri}> ar:hasOutput ?t BIND("output" AS ?direction) }}
  OPTIONAL {{ ?t ar:tensorName ?tname }} OPTIONAL {{ ?t ar:shape ?shape }} OPTIONAL {{ ?t ar:dtype ?dtype }}
}} ORDER BY ?direction ?t""")
        metrics = _rows(f"""SELECT ?metric ?value ?dataset WHERE {{
  <{iri}> ar:hasMetric ?m . ?m ar:metricValue ?value . OPTIONAL {{ ?m ar:metricName ?metric }}
  OPTIONAL {{ ?m ar:onDataset ?dataset }} }} ORDER BY ?metric""")
        benchmarks = _rows(f"""SELECT ?record ?device ?title ?latencyMs ?energyUJ ?measuredRamBytes ?accuracyPct ?source WHERE {{
  ?record ar:ofModel <{iri}> ; ar:onDevice ?device . OPTIONAL {{ ?device td:title|schema:name|rdfs:label ?title }}
  OPTIONAL {{ ?record ar:latencyMs ?latencyMs }} OPTIONAL {{ ?record ar:energyUJ ?energyUJ }}
  OPTIONAL {{ ?record ar:measuredRamBytes ?measuredRamBytes }}
  OPTIONAL {{ ?record ar:accuracyPct ?accuracyPct }} OPTIONAL {{ ?record ar:source ?source }}
}} ORDER BY ?title LIMIT 500""")
        statements = _rows(f"""SELECT ?property ?value WHERE {{ <{iri}> ?property ?value
  FILTER(!isBlank(?value) && ?property NOT IN (ar:usesOperator, ar:hasOperatorUse, ar:hasInput, ar:hasOutput, ar:hasMetric))
}} ORDER BY ?property LIMIT 200""")
        from kg import feasibility

        ok, excluded = feasibility.feasible_devices(store, iri)
        head = summary[0] if summary else {"model": iri, "name": _label(iri)}
        titles = {r["device"]: r["title"] for r in device_rows()}

        def with_title(c):
            return {**check_json(c), "title": titles.get(c.device)}

        return {"iri": iri, "name": head.get("name") or _label(iri), "summary": head, "operators": operators,
                "tensors": tensors, "metrics": metrics, "benchmarks": benchmarks, "statements": statements,
                "feasible": [with_title(c) for c in ok], "excluded": [with_title(c) for c in excluded]}

    return cached(("model", iri), compute)


# -- recommendation ----------------------------------------------------------------------------
def _plain(value):
    """JSON-safe value from a dataclass / numpy / rdflib term tree."""
    import dataclasses
    import math

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if hasattr(value, "toPython"):
        return _plain(value.toPython())
    return str(value)


def recommend_json(params) -> dict:
    """Run the ranker (ranker.recommend.recommend, as `arachne recommend` does) for request parameters:
    device, task, modality, budgets, verified_only, onboard_sensors, method (shadow, borda, ...)
    and k; the JSON answer, with the ranked models under `ranking` (best first), each with its
    feasibility outcome, unknowns and provenance."""
    from ranker.recommend import recommend

    device = resolve(params.get("device"), "device")
    if not device:
        raise ProblemError(400, "Bad Request", "the `device` parameter is required",
                           validationErrors=[{"field": "device", "description": "required: a device IRI or name"}])
    req = names.make_request(device, params.get("task"), params.get("modality") or None,
                       _number(params, "max_latency_ms", float), _number(params, "max_energy_uj", float),
                       _number(params, "reserve_ram", int) or 0, _number(params, "reserve_flash", int) or 0,
                       _flag(params, "verified_only"), _flag(params, "onboard_sensors"))
    options = {}
    if params.get("method"):
        options["method"] = params["method"]
    if params.get("k"):
        options["k"] = _number(params, "k", int)

    def compute():
        try:
            answer = recommend(registry().store, req, **options)
        except InputError as exc:
            raise _input_problem(exc) from None
        data = answer.to_dict()  # ranker.recommend.Recommendation, JSON-safe
        return {"ranking": data.pop("rows"), **data}

    key = ("recommend", req, tuple(sorted(options.items())))
    return cached(key, compute)


def _flag(params, name: str) -> bool:
    """An on/off request parameter: 1/true/yes or 0/false/no (absent: off)."""
    raw = (params.get(name) or "").lower()
    if raw in ("", "0", "false", "no"):
        return False
    if raw in ("1", "true", "yes"):
        return True
    raise ProblemError(400, "Bad Request", f"{name} must be 1 or 0", validationErrors=[
        {"field": name, "description": f"expected 1/true/yes or 0/false/no, found {params.get(name)!r}"}])


def _number(params, name: str, kind):
    raw = params.get(name)
    if raw in (None, ""):
        return None
    try:
        return kind(raw)
    except ValueError:
        raise ProblemError(400, "Bad Request", f"{name} must be a number", validationErrors=[
            {"field": name, "description": f"expected a number, found {raw!r}"}]) from None


def _input_problem(exc: InputError) -> ProblemError:
    errors = [{"field": f or "", "description": m} for f, m in exc.problems]
    return ProblemError(400, "Bad Request", exc.one_line(), validationErrors=errors)


# -- HTTP ------------------------------------------------------------------------------------
def _rdf_response(sparql: str, etag_key) -> Response:
    """A CONSTRUCT answered as JSON-LD (default) or Turtle / N-Triples by Accept."""
    accept = request.accept_mimetypes
    best = accept.best_match(["application/ld+json", "application/json", "text/turtle", "application/n-triples"]) \
        if accept else "application/ld+json"
    if best is None:
        raise ProblemError(406, "Not Acceptable", "available: application/ld+json, text/turtle, application/n-triples")
    fmt = {"text/turtle": "turtle", "application/n-triples": "ntriples"}.get(best, "jsonld")
    mime = {"turtle": "text/turtle; charset=utf-8", "ntriples": "application/n-triples"}.get(fmt, "application/ld+json")
    body = cached((etag_key, fmt), lambda: registry().store.query_serialized(PREFIXES + sparql, fmt)[1])
    resp = Response(body, 200, content_type=mime)
    resp.headers["Vary"] = "Accept"
    return resp


MODEL_LIST_CONSTRUCT = """CONSTRUCT {
  ?model a ar:PretrainedModel ; schema:name ?n ; ar:hasFormat ?fmt ; ar:hasQuantization ?q ; ar:performsTask ?task ;
         ar:hasModality ?mod ; ar:arenaBytes ?arena ; ar:modelBytes ?size ; ar:macs ?macs ; ar:parameterCount ?p .
} WHERE {
  ?model a ar:PretrainedModel .
  OPTIONAL { ?model schema:name ?n } OPTIONAL { ?model ar:hasFormat ?fmt } OPTIONAL { ?model ar:hasQuantization ?q }
  OPTIONAL { ?model ar:performsTask ?task } OPTIONAL { ?model ar:hasModality ?mod }
  OPTIONAL { ?model ar:arenaBytes ?arena } OPTIONAL { ?model ar:modelBytes ?size }
  OPTIONAL { ?model ar:macs ?macs } OPTIONAL { ?model ar:parameterCount ?p }
}"""


@bp.get("/models")
def list_models():
    """All models (headline facts) as JSON-LD or Turtle."""
    return _rdf_response(MODEL_LIST_CONSTRUCT, "models_rdf")


@bp.get("/models/<key>")
def get_model(key: str):
    """One model: its own named graph when it has one, else its description (DESCRIBE)."""
    iri = entity_iri(key, "model")
    store = registry().store
    if not store.query(f"{PREFIXES} ASK {{ <{iri}> a ar:PretrainedModel }}"):
        raise ProblemError(404, "Not Found", f"no model {iri}")
    if store.has_graph(iri):
        sparql = f"CONSTRUCT {{ ?s ?p ?o }} WHERE {{ GRAPH <{iri}> {{ ?s ?p ?o }} }}"
    else:
        sparql = f"DESCRIBE <{iri}>"
    return _rdf_response(sparql, ("model_rdf", iri))


@bp.post("/models")
@require_write_access
def upload_model():
    """Multipart upload: `file` (.tflite / .onnx), optional `card` (README.md model card) and
    fields task, dataset, name, modality, sensors; described with kg.models.describe_model."""
    status, body, location = store_uploaded_model(request.files, request.form)
    resp = Response(json.dumps(body, default=str), status, content_type="application/json")
    resp.headers["Location"] = location
    return resp


def store_uploaded_model(files, form) -> tuple[int, dict, str]:
    """Describe, check and store an uploaded model (kg.models, as `arachne import-model` does);
    (status, JSON body, Location)."""
    from kg.models import describe_for_import, store_models

    upload = files.get("file")
    if upload is None or not upload.filename:
        raise ProblemError(400, "Bad Request", "send the model file in the multipart field `file`",
                           validationErrors=[{"field": "file", "description": "required: a .tflite or .onnx file"}])
    name = Path(upload.filename).name
    if not name.lower().endswith(MODEL_SUFFIXES):
        raise ProblemError(415, "Unsupported Media Type", f"{name}: expected a .tflite or .onnx file",
                           validationErrors=[{"field": "file", "description": "expected a .tflite or .onnx file"}])
    sensors = [s.strip() for s in (form.get("sensors") or "").split(",") if s.strip()] or None
    with tempfile.TemporaryDirectory(prefix="arachne-upload-") as tmp:
        path = Path(tmp) / name
        upload.save(path)
        card = None
        card_upload = files.get("card")
        if card_upload is not None and card_upload.filename:
            card = Path(tmp) / "README.md"
            card_upload.save(card)
        elif (form.get("card") or "").strip():
            card = Path(tmp) / "README.md"
            card.write_text(form["card"], encoding="utf-8")
        try:
            [desc] = describe_for_import([path], card=card, task=form.get("task") or None,
                                         dataset=form.get("dataset") or None, name=form.get("name") or None,
                                         sensors=sensors, modality=form.get("modality") or None, progress=False)
        except InputError as exc:  # name the upload, not the temporary folder it was saved in
            raise ProblemError(422, "Unprocessable Entity", exc.one_line().replace(tmp + "/", ""),
                               validationErrors=[{"field": (f or "").replace(tmp + "/", ""),
                                                  "description": m.replace(tmp + "/", "")}
                                                 for f, m in exc.problems]) from None
    reg = registry()
    with reg.write_lock:
        existed = bool(store_models(reg.store, [desc]))
        reg.changed()
    key = entity_key(desc.iri, "model")
    body = {"id": key, "iri": desc.iri, "name": desc.name, "replaced": existed,
            "facts": _plain({k: v for k, v in desc.facts.items() if k not in ("operators",)}),
            "operators": _plain(desc.facts.get("operators", []))}
    return (200 if existed else 201), body, url_for("api.get_model", key=key)


@bp.get("/feasible")
def feasible():
    """?device=... : feasible models for a device; ?model=... : feasible devices for a model.
    Optional: task, modality, max_latency_ms, max_energy_uj, reserve_ram, reserve_flash, why=1,
    verified_only=1 (only "fits"), onboard_sensors=1 (a missing on-board sensor excludes). Each
    answer carries its outcome (fits / likely / does not fit), unknowns, notes and provenance."""
    from kg import feasibility

    args = request.args
    device, model = args.get("device"), args.get("model")
    if bool(device) == bool(model):
        raise ProblemError(400, "Bad Request", "give `device` or `model` (exactly one)", validationErrors=[
            {"field": "device", "description": "a device IRI or name, or give `model` instead"}])
    store = registry().store
    budgets = (_number(args, "max_latency_ms", float), _number(args, "max_energy_uj", float),
               _number(args, "reserve_ram", int) or 0, _number(args, "reserve_flash", int) or 0,
               _flag(args, "verified_only"), _flag(args, "onboard_sensors"))
    why = args.get("why", "").lower() in ("1", "true", "yes")
    try:
        if device:
            iri = resolve(device, "device")
            req = names.make_request(iri, args.get("task"), args.get("modality") or None, *budgets)
            ok, excluded = feasibility.feasible_models(store, req)
        else:
            iri = resolve(model, "model")
            req = names.make_request(None, args.get("task"), args.get("modality") or None, *budgets)
            ok, excluded = feasibility.feasible_devices(store, iri, req)
    except InputError as exc:
        raise _input_problem(exc) from None
    body = {"device" if device else "model": iri, "feasible": [check_json(c) for c in ok]}
    if why:
        body["excluded"] = [check_json(c) for c in excluded]
    else:
        body["excludedCount"] = len(excluded)
    return Response(json.dumps(_plain(body)), 200, content_type="application/json")


@bp.get("/recommend")
def recommend():
    """?device=...&task=...: the ranker's ordered recommendation, as JSON."""
    return Response(json.dumps(recommend_json(request.args)), 200, content_type="application/json")


@bp.get("/predict")
def predict():
    """?model=...[&device=...]*: latency, energy, RAM and flash of the model on each device (all
    devices when none is given), each measured, from the file, or predicted with a 90 % interval."""
    from ranker import graph_facts
    from ranker.cost_model import predict_pairs

    model = resolve(request.args.get("model"), "model")
    if model is None:
        raise ProblemError(400, "Bad Request", "give `model`", validationErrors=[
            {"field": "model", "description": "a model IRI or name"}])
    store = registry().store
    devices = [resolve(d, "device") for d in request.args.getlist("device")] or sorted(graph_facts.device_facts(store))

    def compute():
        return json.dumps(_plain(predict_pairs(store, model, devices)))

    body = registry().cached(("predict", model, tuple(devices)), compute)
    return Response(body, 200, content_type="application/json")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
