"""Feasible model-device pairs: SPARQL finds them (kg/queries/feasibility_checks.rq) and
every exclusion comes with its reasons, in numbers. The same constraints exist as SHACL-SPARQL
shapes (shapes/feasibility.ttl) for checking one pair (`check_pair_shacl`)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import RDF, XSD

from kg.errors import InputError
from kg.ids import AR
from kg.store import Store
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
        problems = validate(self.to_graph())
        if problems:
            raise InputError("request", problems[0].path, problems[0].message,
                             problems=[(p.path, p.message) for p in problems])
        return self


@dataclass
class PairCheck:
    """One (model, device) pair with the facts behind each constraint and what it violates."""

    model: str
    device: str
    name: str | None
    facts: dict
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def feasible(self) -> bool:
        return not self.reasons


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


def _reasons(f: dict, req: Request) -> tuple[list[str], list[str]]:
    reasons, warnings = [], []
    reserve_ram = f.get("reserveRam") or 0
    reserve_flash = f.get("reserveFlash") or 0
    if f["ram"] is None:
        reasons.append("device RAM unknown")
    elif f["needRam"] is None:
        reasons.append("model RAM unknown (no tensor-arena figure and no measurement on this device)")
    elif f["needRam"] + reserve_ram > f["ram"]:
        extra = f" + {byte_size(reserve_ram)} reserved" if reserve_ram else ""
        reasons.append(f"RAM: needs {byte_size(f['needRam'])}{extra}, device has {byte_size(f['ram'])}")
    if f["missingOps"]:
        reasons.append(f"operators not supported by the device's runtimes: {f['missingOps']}")
    elif f["runtime"] is None and f["needFlash"] is None:
        reasons.append("no runtime on the device runs this model's format")
    if f["flash"] is None:
        reasons.append("device flash unknown")
    elif f["needFlash"] is not None and f["needFlash"] + reserve_flash > f["flash"]:
        extra = f" + {byte_size(reserve_flash)} reserved" if reserve_flash else ""
        reasons.append(f"flash: needs {byte_size(f['needFlash'])} (model + runtime){extra}, device has {byte_size(f['flash'])}")
    if f["missingSensors"]:
        reasons.append(f"sensors missing on the device: {f['missingSensors']}")
    if f["missingModalities"]:
        reasons.append(f"no sensor provides the input modality: {f['missingModalities']}")
    if req.max_latency_ms is not None and f["latency"] is not None and f["latency"] > req.max_latency_ms:
        reasons.append(f"latency: measured {f['latency']:.1f} ms, budget {req.max_latency_ms:g} ms")
    if req.max_energy_uj is not None and f["energy"] is not None and f["energy"] > req.max_energy_uj:
        reasons.append(f"energy: measured {f['energy']:.1f} uJ, budget {req.max_energy_uj:g} uJ")
    if f["floatWithoutFpu"]:
        warnings.append("float model on a core without FPU: expect slow software floating point")
    return reasons, warnings


def check_pairs(store: Store, model: str | None = None, device: str | None = None,
                request: Request = Request()) -> list[PairCheck]:
    """Every (model, device) pair matching the bound ends, with each constraint's verdict."""
    pair = "VALUES (?model ?device) {{ ({} {}) }}".format(*(f"<{v}>" if v else "UNDEF" for v in (model, device)))
    sparql = (named_query("feasibility_checks").replace("#BINDINGS#", _bindings(model, device, request))
              .replace("#PAIR#", pair))
    out = []
    for f in store.select(sparql).dicts():
        reasons, warnings = _reasons(f, request)
        out.append(PairCheck(f["model"], f["device"], f["name"], f, reasons, warnings))
    return sorted(out, key=lambda p: (p.model, p.device))


def _wanted(store: Store, request: Request) -> set[str] | None:
    """The models of the request's task and modality (None: no such restriction)."""
    keep = None
    for prop, value in ((AR.performsTask, request.task),
                        (AR.hasModality, MODALITY_TERMS.get(request.modality) if request.modality else None)):
        if value:
            found = set(store.select(f"SELECT ?m WHERE {{ ?m <{prop}> <{value}> }}").column("m"))
            keep = found if keep is None else keep & found
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


def check_pair_shacl(store: Store, model: str, device: str, request: Request = Request()) -> list[str]:
    """Validate one (model, device) pair with the SHACL-SPARQL feasibility shapes.

    Returns one message per violated constraint (empty when the pair is feasible)."""
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
    SH = Namespace("http://www.w3.org/ns/shacl#")
    return sorted(str(report.value(r, SH.resultMessage)) for r in report.subjects(RDF.type, SH.ValidationResult))


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
    """Union of the answers of independent one-column queries, run on the two threads."""
    return set().union(*_POOL.map(lambda q: _tsv_lines(store, q), queries)) - {""}


def device_placeholders(store: Store, request: Request) -> dict[str, str] | None:
    """The request's device profile as the constants one-device queries inline (#FORMATS#,
    #RAM#, #FLASH#, #OPS#, #SENSORS#, #MODALITIES#: see device_requirement_classes.rq), or
    None when the device, its RAM or flash, or any runtime for a format is unknown."""
    rows = store.select(named_query("device_profile").replace("#DEVICE#", f"<{request.device}>")).dicts()
    if not rows or rows[0]["ram"] is None or rows[0]["flash"] is None:
        return None
    code: dict[str, int] = {}
    for r in rows:
        if r["format"]:
            code[r["format"]] = min(code.get(r["format"], r["code"]), r["code"])
    if not code:
        return None
    runtimes = " ".join(f"<{r}>" for r in {r["runtime"] for r in rows if r["runtime"]})
    ops = store.select(f"SELECT DISTINCT ?op WHERE {{ VALUES ?rt {{ {runtimes} }} ?rt <{AR.supportsOperator}> ?op }}")
    return {"#FORMATS#": " ".join(f"(<{f}> {c})" for f, c in code.items()),
            "#RAM#": str(rows[0]["ram"] - request.reserved_ram_bytes),
            "#FLASH#": str(rows[0]["flash"] - request.reserved_flash_bytes),
            "#OPS#": _sparql_list(ops.column("op"), iri=False),
            "#SENSORS#": _sparql_list([r["sensor"] for r in rows], iri=True),
            "#MODALITIES#": _sparql_list([r["modality"] for r in rows], iri=True)}


def inline(query: str, placeholders: dict[str, str]) -> str:
    """`query` with each #PLACEHOLDER# replaced by its constant."""
    for key, value in placeholders.items():
        query = query.replace(key, value)
    return query


def fast_feasible_models(store: Store, request: Request) -> set[str]:
    """The feasible models of one device by the fast path: the device's profile is inlined
    into the requirement-index queries (kg/queries/device_requirement_classes.rq, then
    models_in_requirement_classes.rq; see kg/requirements.py), then the result is corrected by
    this device's measurements (measured RAM/flash replace the estimates; measured
    latency/energy meet the budgets). Agrees with `check_pairs` (a test compares them on every
    pair of the demo registry)."""
    found: set[str] = set()
    constants = device_placeholders(store, request)
    if constants is not None:
        classes = _tsv_rows(store, inline(named_query("device_requirement_classes"), constants))
        whole = [f"<{c}>" for c, _, w in classes if w in ("true", "1")]
        straddling = [f"(<{c}> {b})" for c, b, w in classes if w not in ("true", "1")]
        members = inline(named_query("models_in_requirement_classes"), constants)
        # Two queries, the whole classes dealt alternately between them so they share the work
        # (an empty VALUES block gets a row that matches nothing: some engines reject empty ones).
        none = "<urn:arachne:none>"
        found = _iri_union(store, [members.replace("#WHOLE#", " ".join(whole[i::2]) or none)
                                     .replace("#STRADDLING#", " ".join(straddling) if i == 0 and straddling
                                              else f"({none} 0)")
                                     for i in range(2)])
    # Pairs this device has measurements for are decided by the full check, which uses them.
    measured = store.select(f"SELECT DISTINCT ?m WHERE {{ ?b <{AR.onDevice}> <{request.device}> ; <{AR.ofModel}> ?m }}")
    for model in measured.column("m"):
        found.discard(model)
        checks = check_pairs(store, model=model, device=request.device, request=request)
        if checks and checks[0].feasible:
            found.add(model)
    return found


def _sparql_constraints() -> list[tuple[str, str]]:
    """(select query, message template) of every SHACL-SPARQL constraint in shapes/feasibility.ttl."""
    import shapes

    SH = Namespace("http://www.w3.org/ns/shacl#")
    g = shapes.shapes_graph("feasibility")
    out = []
    for shape in g.subjects(RDF.type, SH.NodeShape):
        for c in g.objects(shape, SH.sparql):
            out.append((str(g.value(c, SH.select)), str(g.value(c, SH.message))))
    return out


def check_pairs_shacl_bulk(store: Store, pairs: list[tuple[str, str]], request: Request = Request()) -> dict:
    """The SHACL-SPARQL feasibility constraints evaluated on many pairs at once, in the store.

    Same queries as the shapes file, with $this left free over the pair nodes instead of
    pre-bound one node at a time (what a SHACL engine does), so thousands of pairs cost a few
    queries. Returns {(model, device): [messages]}; tests check it matches pyshacl."""
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
        for select, message in _sparql_constraints():
            query = "PREFIX ar: <https://w3id.org/arachne#>\n" + select.replace("$this", "?this")
            query = query.replace("WHERE {", "WHERE {\n ?this a ar:PairCheck .", 1)
            for row in store.select(query).dicts():
                text = re.sub(r"\{\?(\w+)\}", lambda m: str(row.get(m.group(1))), message)
                found[nodes[row["this"]]].append(text)
        return {pair: sorted(msgs) for pair, msgs in found.items()}
    finally:
        store.drop_graph(graph_name)
