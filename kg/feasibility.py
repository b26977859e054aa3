"""Feasible model-device pairs: SPARQL finds them (kg/queries/feasibility_checks.rq) and
every pair gets one of three outcomes, with its reasons in numbers:

* fits: every constraint holds on figures measured on this device or derived from the model's
  file (a benchmark record of the pair is itself proof the model runs there);
* likely: no known figure violates a constraint, but some figure is unknown (`unknowns` names
  which); `Request(verified_only=True)` counts these as not feasible (the strict answer);
* does not fit: a known figure violates a constraint (`reasons` names it, and by how much).

A missing on-board sensor is a note ("needs an external camera"), not an exclusion, unless the
request asks for on-board sensing. The same constraints exist as SHACL-SPARQL shapes
(shapes/feasibility.ttl, severities Violation / Warning / Info) for checking one pair
(`check_pair_shacl`), and as the indexed one-device query (`fast_outcomes`)."""
from __future__ import annotations

import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import astuple, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import AbstractSet, Any, Callable, Iterable

from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import RDF, XSD

from kg.boards import runtime_label
from kg.errors import InputError
from kg.ids import AR
from kg.requirements import UNINDEXED
from kg.store import Store
from kg.td_profile import RUNTIME_BASE
from kg.units import byte_size
from kg.vocab import MODALITY_TERMS
from kg.validation import validate

QUERIES = Path(__file__).resolve().parent / "queries"


@lru_cache(maxsize=None)
def named_query(name: str) -> str:
    return (QUERIES / f"{name}.rq").read_text()


@dataclass(frozen=True)
class Request:
    """A user's question: a device, a task or input modality, budgets (canonical units)."""

    device: str | None = None
    task: str | None = None
    modality: str | None = None
    max_latency_ms: float | None = None
    max_energy_uj: float | None = None
    reserved_ram_bytes: int = 0
    reserved_flash_bytes: int = 0
    runtime: str | None = None
    verified_only: bool = False  # only "fits" is feasible: unknown figures exclude
    onboard_sensors: bool = False  # a missing on-board sensor excludes (else: a note)

    def to_graph(self) -> Graph:
        g = Graph()
        node = BNode()
        g.add((node, RDF.type, AR.Request))
        if self.device:
            g.add((node, AR.forDevice, URIRef(self.device)))
        if self.task:
            g.add((node, AR.forTask, URIRef(self.task)))
        if self.modality:
            g.add((node, AR.requiresModality, MODALITY_TERMS.get(self.modality, Literal(self.modality))))
        if self.runtime:
            g.add((node, AR.requiresRuntime, URIRef(self.runtime)))
        for prop, value, dtype in (
            (AR.maxLatencyMs, self.max_latency_ms, XSD.double),
            (AR.maxEnergyUJ, self.max_energy_uj, XSD.double),
            (AR.reservedRamBytes, self.reserved_ram_bytes, XSD.integer),
            (AR.reservedFlashBytes, self.reserved_flash_bytes, XSD.integer),
        ):
            if value is not None:
                g.add((node, prop, Literal(value, datatype=dtype)))
        return g

    def validated(self) -> "Request":
        """Check the request against shapes/core.ttl's RequestShape; raise InputError if invalid."""
        try:
            problems = _request_problems(astuple(self))
        except TypeError:  # a field that is not hashable (bad input): checked without the cache
            problems = validate(self.to_graph())
        if problems:
            raise InputError("request", problems[0].path, problems[0].message,
                             problems=[(p.path, p.message) for p in problems])
        return self


@lru_cache(maxsize=1024)
def _request_problems(fields: tuple) -> tuple:
    """The shapes' verdict on a request, by its fields: a SHACL run costs more than a small answer."""
    return tuple(validate(Request(*fields).to_graph()))


@dataclass
class PairCheck:
    """One (model, device) pair with the facts behind each constraint and what it violates."""

    model: str
    device: str
    name: str | None
    facts: dict
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    unknowns: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    provenance: dict = field(default_factory=dict)
    strict: bool = False

    @property
    def outcome(self) -> str:
        return DOES_NOT_FIT if self.reasons else LIKELY if self.unknowns else FITS

    @property
    def feasible(self) -> bool:
        return self.outcome == FITS if self.strict else not self.reasons

    @property
    def why_not(self) -> list[str]:
        """What keeps the pair out of the answer (the unknowns too, for a strict request)."""
        return self.reasons + (self.unknowns if self.strict else [])

    def to_dict(self) -> dict:
        return {"model": self.model, "device": self.device, "name": self.name, "feasible": self.feasible,
                "outcome": self.outcome, "reasons": self.why_not, "unknowns": self.unknowns,
                "notes": self.notes, "warnings": self.warnings, "provenance": self.provenance}


FITS, LIKELY, DOES_NOT_FIT = "fits", "likely", "does not fit"


def _bindings(model: str | None, device: str | None, req: Request) -> str:
    def term(v, kind):
        if v is None:
            return "UNDEF"
        return f"<{v}>" if kind == "iri" else repr(float(v)) if kind == "num" else str(int(v))

    names = "?model ?device ?reserveRam ?reserveFlash ?maxLatency ?maxEnergy"
    row = " ".join([term(model, "iri"), term(device, "iri"), term(req.reserved_ram_bytes, "int"),
                    term(req.reserved_flash_bytes, "int"), term(req.max_latency_ms, "num"),
                    term(req.max_energy_uj, "num")])
    return f"VALUES ({names}) {{ ({row}) }}"


def _short(need: int, have: int) -> str:
    return f"{byte_size(need - have)} short ({int(need - have)} bytes)"


def _memory(what: str, need: int, have: int, reserve: int, measured: bool, bad: list, warnings: list,
            detail: str = "") -> None:
    """RAM or flash, both known: a violation with the shortfall, or (when a record shows the model
    ran there anyway) a warning that the device's listed memory misses external memory."""
    if measured and need > have:
        warnings.append(f"ran on this device though it needs more {what} than the device lists "
                        f"({byte_size(need)} > {byte_size(have)}): external memory?")
    elif need + reserve > have:
        extra = f" + {byte_size(reserve)} reserved" if reserve else ""
        bad.append(f"{what}: needs {byte_size(need)}{detail}{extra}, device has {byte_size(have)}: "
                   + _short(need + reserve, have))


def _sensor_words(names: str) -> str:
    return " or ".join(n.lower() for n in names.split())


def _judge(f: dict, req: Request) -> tuple[list[str], list[str], list[str], list[str]]:
    """(violations, unknowns, notes, warnings) of one pair's facts: the three outcomes' logic."""
    bad, unknown, notes, warnings = [], [], [], []
    measured = bool(f.get("records"))  # a benchmark record: the model ran on this device
    reserve_ram = f.get("reserveRam") or 0
    reserve_flash = f.get("reserveFlash") or 0
    if f["ram"] is not None and f["needRam"] is not None:
        short = len(bad)
        _memory("RAM", f["needRam"], f["ram"], reserve_ram, measured, bad, warnings)
        runtime = str(f.get("runtime") or "")
        key = runtime[len(RUNTIME_BASE):] if runtime.startswith(RUNTIME_BASE) else None
        if len(bad) > short and f.get("mram") is None and key not in (None, "tflite-micro", "tflite"):
            # The arena is TFLM's plan: say so where the verdict rests on it for another runtime.
            warnings.append(f"RAM need is TFLM's tensor arena; {runtime_label(key)}, the runtime this check "
                            "picked, plans its own buffers and may need less or more (`arachne predict` "
                            "gives its figure where one is learned)")
    elif not measured:
        if f["ram"] is None:
            unknown.append("device RAM unknown")
        elif f.get("ramEstimate") is not None:  # live activations: no planner, no measurement
            unknown.append(f"model RAM estimated: {byte_size(f['ramEstimate'])} of live activations "
                           "(no runtime planned it and no measurement on this device)")
        else:
            unknown.append("model RAM unknown (no tensor-arena figure and no measurement on this device)")
    if not measured:
        if f["format"] is None:
            unknown.append("model format unknown")
        elif not f["catalogued"]:
            unknown.append("runtime unknown: none of the device's runtimes is in the runtime catalogue")
        elif f["missingOps"]:
            bad.append(f"operators not supported by the device's runtimes: {f['missingOps']}")
        elif f["runtime"] is None:
            bad.append(f"no runtime on the device runs this model's format ({f['format'].rsplit('#', 1)[-1]})")
    if not f["linux"]:  # Linux-class boards load models from storage: no flash constraint
        if f["flash"] is not None and f["needFlash"] is not None:
            _memory("flash", f["needFlash"], f["flash"], reserve_flash, measured, bad, warnings, " (model + runtime)")
        elif not measured:
            unknown.append("device flash unknown" if f["flash"] is None else "model size unknown")
    if f["missingSensors"]:
        (bad.append(f"sensors missing on the device: {f['missingSensors']}") if req.onboard_sensors
         else notes.append(f"needs an external {_sensor_words(f['missingSensors'])}"))
    if f["missingModalities"]:
        if req.onboard_sensors:
            bad.append(f"no sensor provides the input modality: {f['missingModalities']}")
        else:
            text = f"needs an external {_sensor_words(f['sensorsForModalities'])}"
            if text not in notes:
                notes.append(text)
    for figure, budget, unit in (("latency", req.max_latency_ms, "ms"), ("energy", req.max_energy_uj, "uJ")):
        if budget is None:
            continue
        if f[figure] is None:
            unknown.append(f"{figure} not measured on this device (budget {budget:g} {unit})")
        elif f[figure] > budget:
            bad.append(f"{figure}: measured {f[figure]:.1f} {unit}, budget {budget:g} {unit}: "
                       f"{f[figure] - budget:.1f} {unit} over")
    if f["floatWithoutFpu"]:
        warnings.append("float model on a core without FPU: expect slow software floating point")
    return bad, unknown, notes, warnings


def _provenance(f: dict) -> dict:
    """Where each figure the check used comes from: measured / file / estimated / datasheet / unknown."""
    def pick(measured, derived, derived_name="file"):
        return "measured" if measured is not None else derived_name if derived is not None else "unknown"
    ram_need = pick(f["mram"], f["arena"])
    if ram_need == "unknown" and f.get("ramEstimate") is not None:
        ram_need = "estimated"
    return {"ram_need": ram_need, "flash_need": pick(f["mflash"], f["modelBytes"]),
            "latency": pick(f["latency"], None), "energy": pick(f["energy"], None),
            "device_ram": pick(None, f["ram"], "device description"),
            "device_flash": "not used (Linux-class board)" if f["linux"] else pick(None, f["flash"], "device description"),
            "runs_here": "measured" if f.get("records") else "catalogue" if f["runtime"] else "unknown"}


def check_pairs(store: Store, model: str | None = None, device: str | None = None,
                request: Request = Request(), models: Iterable[str] | None = None) -> list[PairCheck]:
    """Every (model, device) pair matching the bound ends (or, with `models`, the pairs of
    those models), with each constraint's verdict."""
    pair = "VALUES (?model ?device) {{ ({} {}) }}".format(*(f"<{v}>" if v else "UNDEF" for v in (model, device)))
    only = ""
    if models is not None:
        if not (models := sorted(models)):
            return []
        only = "VALUES ?model { " + " ".join(f"<{m}>" for m in models) + " }"
        pair = only + (f" VALUES ?device {{ <{device}> }}" if device else "")
    sparql = (named_query("feasibility_checks").replace("#BINDINGS#", _bindings(model, device, request))
              .replace("#PAIR#", pair).replace("#FILTER#", only))
    out = []
    for f in store.select(sparql).dicts():
        f["linux"], f["catalogued"] = _bool(f["linux"]), _bool(f["catalogued"])
        reasons, unknowns, notes, warnings = _judge(f, request)
        out.append(PairCheck(f["model"], f["device"], f["name"], f, reasons, warnings, unknowns, notes,
                             _provenance(f), request.verified_only))
    return sorted(out, key=lambda p: (p.model, p.device))


def _bool(v) -> bool:
    return str(v).lower() in ("true", "1")  # a Python or RDF boolean, or TSV text


def _members(store: Store) -> dict:
    """{(property, value): its models}, filled as asked, kept until the store is written."""
    return {}


def _restrictions(request: Request) -> list[tuple[str, str]]:
    """(property, value) of the request's task and modality, those it gives."""
    return [(str(prop), str(value)) for prop, value in (
        (AR.performsTask, request.task),
        (AR.hasModality, MODALITY_TERMS.get(request.modality) if request.modality else None)) if value]


def _wanted(store: Store, request: Request) -> AbstractSet[str] | None:
    """The models of the request's task and modality (None: no such restriction)."""
    keep = None
    memo = per_generation(store, _members) if store.write_generation is not None else {}
    for key in _restrictions(request):
        if key not in memo:
            memo[key] = frozenset(_tsv_lines(store, f"SELECT ?m WHERE {{ ?m <{key[0]}> <{key[1]}> }}")) - {""}
        keep = memo[key] if keep is None else keep & memo[key]
    return keep


def feasible_models(store: Store, request: Request) -> tuple[list[PairCheck], list[PairCheck]]:
    """(feasible, excluded) models for the request's device, restricted to its task and
    modality if given, each with its figures and reasons (`fast_feasible_models` answers
    which models fit, without them, from the requirement index)."""
    request.validated()
    keep = _wanted(store, request)
    checks = check_pairs(store, device=request.device, request=request)
    if keep is not None:
        checks = [c for c in checks if c.model in keep]
    return [c for c in checks if c.feasible], [c for c in checks if not c.feasible]


def feasible_devices(store: Store, model: str, request: Request = Request()) -> tuple[list[PairCheck], list[PairCheck]]:
    """(feasible, excluded) devices for one model."""
    checks = check_pairs(store, model=model, request=request)
    return [c for c in checks if c.feasible], [c for c in checks if not c.feasible]


def feasible_pairs(store: Store, request: Request = Request()) -> list[PairCheck]:
    """All feasible (model, device) pairs of the registry."""
    return [c for c in check_pairs(store, request=request) if c.feasible]


_PAIR_CONTEXT = """
PREFIX ar: <https://w3id.org/arachne#>
CONSTRUCT { ?s ?p ?o } WHERE {
  { BIND(<{model}> AS ?s) ?s ?p ?o }
  UNION { BIND(<{device}> AS ?s) ?s ?p ?o }
  UNION { <{device}> ar:hasSensor ?s . ?s ?p ?o }
  UNION { ?s ar:providesModality ?o . BIND(ar:providesModality AS ?p) }
  UNION { <{device}> ar:supportsRuntime ?s . ?s ?p ?o }
  UNION { ?s ar:ofModel <{model}> ; ar:onDevice <{device}> ; ?p ?o }
}
"""


def _add_pair_node(g: Graph, node: URIRef, model: str, device: str, request: Request) -> None:
    """The ar:PairCheck node the feasibility shapes target: the pair and the request's limits."""
    g.add((node, RDF.type, AR.PairCheck))
    g.add((node, AR.pairModel, URIRef(model)))
    g.add((node, AR.pairDevice, URIRef(device)))
    g.add((node, AR.reservedRamBytes, Literal(request.reserved_ram_bytes, datatype=XSD.integer)))
    g.add((node, AR.reservedFlashBytes, Literal(request.reserved_flash_bytes, datatype=XSD.integer)))
    if request.max_latency_ms is not None:
        g.add((node, AR.maxLatencyMs, Literal(request.max_latency_ms, datatype=XSD.double)))
    if request.max_energy_uj is not None:
        g.add((node, AR.maxEnergyUJ, Literal(request.max_energy_uj, datatype=XSD.double)))
    if request.onboard_sensors:
        g.add((node, AR.onboardSensorsRequired, Literal(True)))


SH = Namespace("http://www.w3.org/ns/shacl#")
# A result's severity is its kind: what the three outcomes are made of.
_KINDS = {SH.Violation: "violation", SH.Warning: "unknown", SH.Info: "note"}


def shacl_outcome(results: list[tuple[str, str]]) -> str:
    """The outcome of one pair's SHACL results ((kind, message) pairs)."""
    kinds = {k for k, _ in results}
    return DOES_NOT_FIT if "violation" in kinds else LIKELY if "unknown" in kinds else FITS


def check_pair_shacl(store: Store, model: str, device: str, request: Request = Request()) -> list[tuple[str, str]]:
    """Validate one (model, device) pair with the SHACL-SPARQL feasibility shapes.

    Returns sorted (kind, message) pairs, kind "violation" (does not fit), "unknown" (a figure
    is unknown: likely) or "note"; empty when the pair fits with nothing to add."""
    import shapes
    from pyshacl import validate as shacl_validate

    data = store.query(_PAIR_CONTEXT.replace("{model}", model).replace("{device}", device))
    _add_pair_node(data, URIRef("urn:arachne:pair-check"), model, device, request)
    conforms, report, _ = shacl_validate(data, shacl_graph=shapes.shapes_graph("feasibility"),
                                         inference="none", advanced=True)
    if not isinstance(report, Graph):  # pyshacl reports a broken shape instead of raising
        raise RuntimeError(f"shapes/feasibility.ttl: {report}")
    if conforms:
        return []
    return sorted((_KINDS[report.value(r, SH.resultSeverity)], str(report.value(r, SH.resultMessage)))
                  for r in report.subjects(RDF.type, SH.ValidationResult))


def _sparql_list(values, iri: bool) -> str:
    items = sorted(set(v for v in values if v is not None))
    if not items:
        return "<urn:arachne:none>" if iri else '"\u0000"'
    return ", ".join(f"<{v}>" if iri else '"' + v.replace('"', '\\"') + '"' for v in items)


def _tsv_lines(store: Store, sparql: str) -> list[str]:
    """SELECT rows as TSV lines, IRIs unwrapped: read from the store's own serialisation, tens of
    thousands of rows cost milliseconds instead of Python objects per term. Only for IRIs and
    simple literals (numbers, booleans), which is what the fast path reads."""
    _, body = store.query_serialized(sparql, "tsv")
    # IRIs cannot contain '<' or '>', so dropping them all unwraps every IRI at once.
    return body.decode().replace("<", "").replace(">", "").split("\n")[1:]


def _tsv_rows(store: Store, sparql: str) -> list[list[str]]:
    return [[cell.split('"')[1] if cell.startswith('"') else cell for cell in line.split("\t")]
            for line in _tsv_lines(store, sparql) if line]


# The stores release the GIL while they evaluate, so two threads list a large answer in half the time.
_POOL = ThreadPoolExecutor(2, thread_name_prefix="feasibility")


def _iri_union(store: Store, queries: list[str]) -> set[str]:
    """Union of the answers (TSV lines) of independent queries, run on the two threads."""
    return set().union(*_POOL.map(lambda q: _tsv_lines(store, q), queries)) - {""}


# What the fast path reads whatever the device (which class lies in which bands, which models no
# band decides, each class's models: listing those per query was most of a one-device answer;
# the runtimes' operators), kept per store while its write generation stands
# (kg.store.GraphStore.write_generation): {store: (generation, {reader: what it read})}.
_READS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def per_generation(store: Store, read: Callable[[Store], Any]):
    """read(store), read again only after the store has been written; each time for a store
    others may write (a SPARQL server), where no number tells us."""
    generation = store.write_generation  # read before the data: a write meanwhile moves it on
    if generation is None:
        return read(store)
    reads = _READS.get(store)
    if reads is None or reads[0] != generation:
        reads = _READS[store] = (generation, {})
    if read not in reads[1]:
        reads[1][read] = read(store)
    return reads[1][read]


def _class_bands(store: Store) -> list[list[str]]:
    """(class, arena band, size band) rows of the requirement index."""
    return _tsv_rows(store, f"SELECT ?c ?a ?s WHERE {{ ?c <{AR.arenaBand}> ?a ; <{AR.sizeBand}> ?s }}")


def _undecided(store: Store) -> set[str]:
    """The models no band decides: not indexed (no arena or format: their RAM is unknown), or in a
    class written before the index had bands (`arachne reindex` indexes them again)."""
    return set(store.select(f"""SELECT ?m WHERE {{
      {{ ?m <{AR.requirementClass}> <{UNINDEXED}> }}
      UNION {{ {{ SELECT ?c WHERE {{ ?c a <{AR.RequirementClass}> FILTER NOT EXISTS {{ ?c <{AR.arenaBand}> ?b }} }} }}
              ?m <{AR.requirementClass}> ?c }} }}""").column("m"))  # classes first: a few thousand, not every model


def _indexed_models(store: Store) -> dict[str, str]:
    """{every model the index links to a class: "fits"} (copied whole when most models fit)."""
    everything: dict[str, str] = {}
    for models in per_generation(store, _class_members).values():
        everything.update(models)
    return everything


def _wanted_by_class(store: Store, request: Request, keep: AbstractSet[str]) -> dict[str, list[str]]:
    """{requirement class: the request's models in it} (`keep`: _wanted's answer), kept until the
    store is written: a task's classes are looked up, not its tens of thousands of models."""
    memo = per_generation(store, _members)
    key = ("by class", *_restrictions(request))
    if key not in memo:
        groups: dict[str, list[str]] = {}
        for cls, models in per_generation(store, _class_members).items():
            mine = [m for m in models if m in keep]
            if mine:
                groups[cls] = mine
        memo[key] = groups
    return memo[key]


def _runtime_operators(store: Store) -> dict[str, set[str]]:
    """{runtime: the operators it executes}."""
    operators: dict[str, set[str]] = {}
    for runtime, op in store.select(f"SELECT ?rt ?op WHERE {{ ?rt <{AR.supportsOperator}> ?op }}").values():
        operators.setdefault(runtime, set()).add(op)
    return operators


def _class_members(store: Store) -> dict[str, dict[str, str]]:
    """{requirement class: {its model: "fits"}}: every model, so only worth reading to keep
    (per_generation). Dicts, because merging dicts reuses their hashes: tens of thousands of
    strings are not hashed again for each answer."""
    members: dict[str, list[str]] = {}
    for line in _tsv_lines(store, f"SELECT ?c ?m WHERE {{ ?m <{AR.requirementClass}> ?c }}"):
        if line:
            cls, model = line.split("\t")
            members.setdefault(cls, []).append(model)
    return {cls: dict.fromkeys(models, FITS) for cls, models in members.items()}


_NO_LIMIT = str(2 ** 62)  # the flash "limit" of a Linux-class board: none


def device_placeholders(store: Store, request: Request) -> dict[str, str] | None:
    """The request's device profile as the constants one-device queries inline (#FORMATS#,
    #RAM#, #FLASH#, #CHECKOPS#, #OPS#, #SENSORS#, #MODALITIES#, #ONBOARD#: see
    device_requirement_profiles.rq), or None when the registry does not hold the device. An
    unknown figure (RAM, a microcontroller's flash, or the runtimes when none is in the
    catalogue: every format then, no operator check) sets no limit and `unknown`: whatever
    is not ruled out by a known figure is "likely", as the full check says."""
    rows = store.select(named_query("device_profile").replace("#DEVICE#", f"<{request.device}>")).dicts()
    if not rows:
        return None
    ram, flash, linux = rows[0]["ram"], rows[0]["flash"], _bool(rows[0]["linux"])
    code: dict[str, int] = {}
    for r in rows:
        if r["format"]:
            code[r["format"]] = min(code.get(r["format"], r["code"]), r["code"])
    catalogued = bool(code)
    if not catalogued:  # the full check reads the file's bytes alone then (runtime code 0)
        code = dict.fromkeys(per_generation(store, _profile_formats), 0)
    operators = per_generation(store, _runtime_operators)
    ops = set().union(*(operators.get(r["runtime"], ()) for r in rows if r["runtime"]))
    return {"#FORMATS#": " ".join(f"(<{f}> {c})" for f, c in code.items()) or "(<urn:arachne:none> 0)",
            "#RAM#": _NO_LIMIT if ram is None else str(ram - request.reserved_ram_bytes),
            "#FLASH#": _NO_LIMIT if linux or flash is None else str(flash - request.reserved_flash_bytes),
            "#CHECKOPS#": "true" if catalogued else "false",
            "#OPS#": _sparql_list(ops, iri=False),
            "#SENSORS#": _sparql_list([r["sensor"] for r in rows], iri=True),
            "#MODALITIES#": _sparql_list([r["modality"] for r in rows], iri=True),
            "#ONBOARD#": "true" if request.onboard_sensors else "false",
            "linux": linux, "unknown": ram is None or (flash is None and not linux) or not catalogued}


def _profile_formats(store: Store) -> list[str]:
    return store.select(f"SELECT DISTINCT ?f WHERE {{ ?p <{AR.profileFormat}> ?f }}").column("f")


def inline(query: str, placeholders: dict[str, str]) -> str:
    """`query` with each #PLACEHOLDER# replaced by its constant."""
    for key, value in placeholders.items():
        if key.startswith("#"):
            query = query.replace(key, value)
    return query


def fast_outcomes(store: Store, request: Request, checks: dict | None = None) -> dict[str, str]:
    """{model: "fits" | "likely"} for the models of one device (of the request's task and
    modality, if given) that are not "does not fit" (only "fits" for a verified-only request),
    by the fast path: the device's profile is
    inlined into the requirement-index queries (kg/queries/device_requirement_profiles.rq,
    device_requirement_classes.rq, then models_in_requirement_classes.rq; see kg/requirements.py). The models no band decides (not
    indexed: no arena or format; see _undecided) and those this device has measurements for are
    decided by the full check. Agrees with `check_pairs` (tests compare them on every pair of
    the demo registry, and after writes). `checks`, when given, receives {model: PairCheck} of the
    models it ran the full check on (a caller that shows them need not check them again)."""
    constants = device_placeholders(store, request)
    if constants is None:
        everything = check_pairs(store, device=request.device, request=request, models=_wanted(store, request))
        if checks is not None:
            checks.update((c.model, c) for c in everything)
        return {c.model: c.outcome for c in everything if c.feasible}
    none = "<urn:arachne:none>"  # an empty VALUES block gets a row that matches nothing: some engines reject empty ones
    profiles = " ".join(f"(<{profile}> {code})" for profile, code
                        in _tsv_rows(store, inline(named_query("device_requirement_profiles"), constants)))
    bands = {band: (code, whole in ("true", "1")) for band, code, whole in _tsv_rows(store, inline(
        named_query("device_requirement_classes"), {**constants, "#PROFILES#": profiles or f"({none} 0)"}))}
    # A class without a size bucket (see requirements.index_entry) holds models of unknown size:
    # a microcontroller's flash cannot be checked for them. Unmeasured, no model can be shown to
    # meet a latency or energy budget.
    budget = request.max_latency_ms is not None or request.max_energy_uj is not None
    groups: dict[str, tuple[list[str], list[str]]] = {}  # outcome -> (whole classes, straddling (class code) rows)
    for cls, arena, size in per_generation(store, _class_bands):
        if arena in bands and size in bands:  # both limits met by some of its models
            outcome = (LIKELY if budget or constants["unknown"] or (cls.endswith("/none") and not constants["linux"])
                       else FITS)
            whole, straddling = groups.setdefault(outcome, ([], []))
            if bands[arena][1] and bands[size][1]:
                whole.append(cls)
            else:
                straddling.append(f"(<{cls}> {bands[size][0]})")
    wanted = " ".join(f"?model <{prop}> <{value}> ." for prop, value in _restrictions(request))
    members = inline(named_query("models_in_requirement_classes"), {**constants, "#WANTED#": wanted})
    index = per_generation(store, _class_members) if store.write_generation is not None else None
    found: dict[str, str] = {}
    keep = _wanted(store, request)
    if index is not None and keep is not None:  # the request's models, by class
        mine = _wanted_by_class(store, request, keep)
        for outcome, (whole, _) in groups.items():
            for cls in whole:
                if cls in mine:
                    found.update(dict.fromkeys(mine[cls], outcome))
    elif index is not None:  # the whole classes' models, listed from the index
        fitting = set(groups.get(FITS, ([], []))[0])
        rest = [models for cls, models in index.items() if cls not in fitting]
        everything = per_generation(store, _indexed_models)
        if 2 * sum(map(len, rest)) < len(everything):  # most models fit: copy all, take the rest out
            found = everything.copy()
            for models in rest:
                for model in models:
                    found.pop(model, None)
        else:
            for cls in fitting:
                found.update(index.get(cls, {}))  # a class outlives its models: it may have none
    for outcome, (whole, straddling) in groups.items():
        if index is None:  # two queries, the whole classes dealt alternately between them to share the work
            found.update(dict.fromkeys(_iri_union(store, [
                members.replace("#WHOLE#", " ".join(f"<{c}>" for c in whole[i::2]) or none)
                .replace("#STRADDLING#", " ".join(straddling) if i == 0 and straddling else f"({none} 0)")
                for i in range(2)]), outcome))
            continue
        if outcome != FITS and keep is None:
            for cls in whole:
                found.update(dict.fromkeys(index.get(cls, {}), outcome))
        if straddling:  # SPARQL checks these classes' models' exact figures
            found.update(dict.fromkeys(_tsv_lines(store, members.replace("#WHOLE#", none)
                                                  .replace("#STRADDLING#", " ".join(straddling))), outcome))
    found.pop("", None)  # the TSV answer's last line
    measured = set(store.select(
        f"SELECT DISTINCT ?m WHERE {{ ?b <{AR.onDevice}> <{request.device}> ; <{AR.ofModel}> ?m }}").column("m"))
    full = measured | per_generation(store, _undecided)  # the full check has the last word on these
    for model in full:
        found.pop(model, None)
    if keep is not None:  # the answer holds only the request's models (#WANTED# restricts the queries too)
        full &= keep
    for c in check_pairs(store, device=request.device, request=request, models=full):
        if c.feasible:
            found[c.model] = c.outcome
        if checks is not None:
            checks[c.model] = c
    if request.verified_only:
        found = {m: o for m, o in found.items() if o == FITS}
    return found


def fast_feasible_models(store: Store, request: Request) -> AbstractSet[str]:
    """The feasible models of one device (fits and likely; fits only when verified-only), as a
    set view of fast_outcomes' answer (not copied: tens of thousands of models)."""
    return fast_outcomes(store, request).keys()


def _sparql_constraints() -> list[tuple[str, str, str]]:
    """(select query, message template, kind) of every SHACL-SPARQL constraint in shapes/feasibility.ttl."""
    import shapes

    g = shapes.shapes_graph("feasibility")
    out = []
    for shape in g.subjects(RDF.type, SH.NodeShape):
        kind = _KINDS[g.value(shape, SH.severity) or SH.Violation]
        for c in g.objects(shape, SH.sparql):
            out.append((str(g.value(c, SH.select)), str(g.value(c, SH.message)), kind))
    return out


def check_pairs_shacl_bulk(store: Store, pairs: list[tuple[str, str]], request: Request = Request()) -> dict:
    """The SHACL-SPARQL feasibility constraints evaluated on many pairs at once, in the store.

    Same queries as the shapes file, with $this left free over the pair nodes instead of
    pre-bound one node at a time (what a SHACL engine does), so thousands of pairs cost a few
    queries. Returns {(model, device): [(kind, message)]}; tests check it matches pyshacl."""
    import re

    graph_name = "urn:arachne:pair-checks"
    g = Graph()
    nodes = {}
    for i, (model, device) in enumerate(pairs):
        node = URIRef(f"urn:arachne:pair-check:{i}")
        nodes[str(node)] = (model, device)
        _add_pair_node(g, node, model, device, request)
    store.put_graph(graph_name, g)
    try:
        found: dict = {pair: [] for pair in pairs}
        for select, message, kind in _sparql_constraints():
            query = "PREFIX ar: <https://w3id.org/arachne#>\n" + select.replace("$this", "?this")
            query = query.replace("WHERE {", "WHERE {\n ?this a ar:PairCheck .", 1)
            for row in store.select(query).dicts():
                text = re.sub(r"\{\?(\w+)\}", lambda m: str(row.get(m.group(1))), message)
                found[nodes[row["this"]]].append((kind, text))
        return {pair: sorted(msgs) for pair, msgs in found.items()}
    finally:
        store.drop_graph(graph_name)
