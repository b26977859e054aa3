"""Importing W3C Thing Descriptions (TD 1.0/1.1) and Thing Models into the registry.

One document goes through, in order (kg.td_checks.KINDS names what each step reports):
  parse (kg.jsonparse: strict JSON, BOM accepted, duplicate keys warned, JSON5 with --lenient)
  -> JSON Schema (TD 1.1 schema, or the TM schema for "@type": "tm:ThingModel") + the TD
     assertions the schema cannot express + bundled-contexts check   (kg.td_checks, kg.contexts)
  -> JSON-LD to RDF, offline (kg.jsonld; rdflib's processor for documents beyond its subset)
  -> hardware profile: typed ar:* values, sensors, known board, Thing Model (kg.td_profile)
  -> SHACL (shapes/td.ttl) on the Thing's own nodes
  -> one named graph per Thing (its IRI), holding the RDF and the submitted bytes verbatim
     (ar:verbatim on an ar:SourceDocument node), written in one transaction.
Every problem is reported with its JSON path; a rejected document writes nothing.

Many files: `import_paths` spreads parse+validate+convert over processes (schemas, shapes and
contexts are compiled once, before the workers fork) and writes batches of graphs, each batch in
one transaction. Thing Descriptions without an "id" get a stable IRI minted from their title
and content hash, so importing the same file twice replaces its graph.
"""
from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCTERMS, RDF, XSD

from kg import contexts, jsonld, td_checks, td_profile
from kg.errors import InputError
from kg.ids import AR, BASE, device_iri, slug
from kg.jsonparse import parse_json
from kg.td_checks import Problem

TD = Namespace("https://www.w3.org/2019/wot/td#")
TM = Namespace("https://www.w3.org/2019/wot/tm#")
HCTL = Namespace("https://www.w3.org/2019/wot/hypermedia#")
SH = Namespace("http://www.w3.org/ns/shacl#")
TITLE_SHAPE = URIRef("https://w3id.org/arachne/shapes#TDTitleShape")

JSONLD_BASE = BASE + "td/"            # base IRI for relative IRIs in TDs
DEVICE_MODEL_BASE = BASE + "device-model/"
SOURCE_BASE = BASE + "td-source/"
SHAPES_FILE = Path(__file__).resolve().parents[1] / "shapes" / "td.ttl"
TD_MEDIA_TYPE, TM_MEDIA_TYPE = "application/td+json", "application/tm+json"
JSON_SUFFIXES = (".json", ".jsonld", ".td", ".tm", ".json5")

# rdflib logs every ill-typed literal it meets (dates in vendors' TDs...); SHACL reports the ones that matter.
logging.getLogger("rdflib.term").setLevel(logging.ERROR)


@dataclass
class Outcome:
    """What happened to one document. `problems` are errors (the document was rejected),
    `warnings` did not stop it; `nt` holds its graph as N-Triples until it is written."""

    source: str
    status: str = "rejected"          # 'imported' (or 'valid' when only checked) | 'rejected'
    kind: str | None = None           # 'td' | 'tm'
    iri: str | None = None
    title: str | None = None
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    sensors: list[str] = field(default_factory=list)
    board: str | None = None
    links: list[str] = field(default_factory=list)   # Thing Models it names (rel type / tm:extends)
    triples: int = 0
    nt: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def reasons(self) -> list[str]:
        return sorted({p.kind for p in self.problems})

    def as_input_error(self) -> InputError:
        first = self.problems[0]
        return InputError(self.source, first.field, f"{first.message} [{first.kind}]",
                          problems=[(p.field, f"{p.message} [{p.kind}]") for p in self.problems])

    def as_dict(self) -> dict:
        return {"source": self.source, "status": self.status, "kind": self.kind, "iri": self.iri,
                "title": self.title, "sensors": self.sensors, "board": self.board,
                "problems": [p.as_dict() for p in self.problems],
                "warnings": [p.as_dict() for p in self.warnings]}


# -- SHACL ----------------------------------------------------------------------------------------

class ShapeChecker:
    """shapes/td.ttl, parsed once; `violations(graph)` validates one Thing's nodes."""

    def __init__(self, path: Path = SHAPES_FILE):
        # no default namespace bindings: pyshacl copies the shapes graph's prefixes into every
        # report it builds, and binding rdflib's ~30 defaults each time cost more than the checks
        self.shapes = Graph(bind_namespaces="none").parse(path, format="turtle")

    def violations(self, graph: Graph) -> list[tuple]:
        from pyshacl import validate

        conforms, report, _ = validate(graph, shacl_graph=self.shapes, inference="none",
                                       advanced=False, inplace=True, allow_warnings=True)
        if conforms:
            return []
        out = []
        for result in report.subjects(RDF.type, SH.ValidationResult):
            path = report.value(result, SH.resultPath)
            if path is None and report.value(result, SH.sourceShape) == TITLE_SHAPE:
                path = TD.title
            out.append((report.value(result, SH.focusNode), path,
                        report.value(result, SH.value), str(report.value(result, SH.resultMessage) or "")))
        return out


# -- process-wide state, built once before worker processes fork -------------------------------

class _State:
    catalogue: td_profile.BoardCatalogue = td_profile.BoardCatalogue()
    shapes: ShapeChecker | None = None
    lenient: bool = False


def prepare(catalogue: td_profile.BoardCatalogue | None = None, lenient: bool = False) -> None:
    """Compile the JSON Schemas and shapes and process the TD contexts once (workers inherit them)."""
    td_checks.td_validator()
    td_checks.tm_validator()
    if _State.shapes is None:
        _State.shapes = ShapeChecker()
    if catalogue is not None:
        _State.catalogue = catalogue
    _State.lenient = lenient
    # TD 1.1 documents written for TD 1.0 consumers name both ([TD 1.0, TD 1.1, ...]; kg/demo/tds)
    for urls in ([contexts.TD_11], [contexts.TD_10], [contexts.TD_10, contexts.TD_11]):
        jsonld.process_context(jsonld.initial_context(JSONLD_BASE), [contexts.PREFIX_CONTEXT, *urls])


# -- one document --------------------------------------------------------------------------------

def _minted_iri(doc: dict, raw: bytes, thing_model: bool) -> str:
    title = doc.get("title") if isinstance(doc.get("title"), str) else "thing"
    try:
        name = slug(title)[:60]
    except ValueError:
        name = "thing"
    digest = hashlib.sha256(raw).hexdigest()[:10]
    return f"{DEVICE_MODEL_BASE if thing_model else BASE + 'device/'}{name}-{digest}"


def _rdflib_triples(doc: dict, context) -> tuple[list, object]:
    """A general JSON-LD processor (rdflib's) for documents beyond kg.jsonld's subset."""
    from rdflib import Dataset
    from rdflib.plugins.parsers.jsonld import to_rdf

    body = dict(doc)
    body["@context"] = context
    dataset = Dataset()
    with contexts.rdflib_offline():
        to_rdf(body, dataset, base=JSONLD_BASE)

    def fix(term):
        return URIRef(jsonld.safe_iri(str(term))) if isinstance(term, URIRef) else term

    triples = [(fix(s), fix(p), fix(o)) for s, p, o in dataset.triples((None, None, None))]
    root = None
    if isinstance(doc.get("id"), str):
        root = URIRef(jsonld.safe_iri(jsonld.resolve(JSONLD_BASE, doc["id"])))
    else:
        objects = {o for _, _, o in triples}
        counts = Counter(s for s, _, _ in triples if isinstance(s, BNode) and s not in objects)
        root = counts.most_common(1)[0][0] if counts else BNode()
    return triples, root


# N-Triples string escapes: \\, \", \n, \r, and \uXXXX for the other control characters
_ESCAPES = {ord("\\"): "\\\\", ord('"'): '\\"', ord("\n"): "\\n", ord("\r"): "\\r"}
_ESCAPES.update({c: f"\\u{c:04X}" for c in range(32) if c not in (10, 13)})
_NEEDS_ESCAPE = re.compile(r'[\\"\x00-\x1f]')


def _nt_term(term) -> str:
    if isinstance(term, URIRef):
        return f"<{term}>"
    if isinstance(term, BNode):
        return f"_:{term}"
    text = str(term)
    if _NEEDS_ESCAPE.search(text):
        text = text.translate(_ESCAPES)
    if term.language:
        return f'"{text}"@{term.language}'
    if term.datatype is not None and term.datatype != XSD.string:
        return f'"{text}"^^<{term.datatype}>'
    return f'"{text}"'


def ntriples(triples: Iterable[tuple]) -> str:
    """N-Triples text of (s, p, o) rdflib terms; blank node labels are rdflib's (unique)."""
    return "".join(f"{_nt_term(s)} {_nt_term(p)} {_nt_term(o)} .\n" for s, p, o in triples)


def _shacl_field(focus, path, root, key_paths: dict) -> str:
    """JSON path of a SHACL result: the member that made the statement when it exists, else
    the member that is missing (title, or the ar: term)."""
    if isinstance(path, URIRef) and (focus, path) in key_paths:
        return key_paths[(focus, path)]
    base = "" if focus == root else key_paths.get(("sensor", focus), "ar:hasSensor")
    if path is None:
        name = ""
    elif not isinstance(path, URIRef) or path == TD.title:
        name = "title"  # the only non-IRI path in shapes/td.ttl is td:title | dct:title
    elif path == RDF.type:
        name = "@type"
    else:
        name = "ar:" + str(path).rsplit("#", 1)[-1]
    return ".".join(p for p in (base, name) if p)


def process_document(raw: bytes, source: str, lenient: bool | None = None) -> Outcome:
    """Validate and convert one TD/TM; the Outcome carries its graph as N-Triples or its problems."""
    lenient = _State.lenient if lenient is None else lenient
    out = Outcome(source)
    parsed = parse_json(raw, lenient=lenient)
    out.warnings += [Problem(p.kind, p.field, p.message, "warning") for p in parsed.warnings]
    if not parsed.ok:
        out.problems += [Problem(p.kind, p.field, p.message) for p in parsed.errors]
        return out
    doc = parsed.data
    if not isinstance(doc, dict):
        out.problems.append(Problem("schema", "", "a Thing Description is a JSON object"))
        return out
    thing_model = td_checks.is_thing_model(doc)
    out.kind = "tm" if thing_model else "td"
    out.title = doc.get("title") if isinstance(doc.get("title"), str) else None

    # 1. JSON Schema, TD assertions, contexts: all problems together
    problems = td_checks.schema_problems(doc, thing_model)
    for p in td_checks.assertion_problems(doc, thing_model):
        (out.warnings if p.severity == "warning" else problems).append(p)
    for exc in contexts.unknown_contexts(doc, source):
        problems.append(Problem("context", exc.field or "@context", exc.message))
    if problems:
        out.problems += problems
        return out

    # 2. JSON-LD -> RDF
    context = contexts.with_prefixes(doc.get("@context"))
    key_paths: dict = {}
    try:
        conv = jsonld.to_triples(doc, JSONLD_BASE, context)
        triples, root, key_paths = conv.triples, conv.root, conv.key_paths
        out.warnings += [Problem("json-ld", f, m, "warning") for f, m in conv.warnings]
    except jsonld.Unsupported:
        try:
            triples, root = _rdflib_triples(doc, context)
        except Exception as exc:  # the general processor's own errors: report, never crash
            out.problems.append(Problem("json-ld", "@context", f"JSON-LD processing failed: {exc}"))
            return out
    except jsonld.JsonLdError as exc:
        out.problems.append(Problem("json-ld", exc.path, str(exc)))
        return out
    except contexts.RemoteContextRefused as exc:
        out.problems.append(Problem("context", exc.field or "@context", exc.message))
        return out
    if root is None:
        out.problems.append(Problem("json-ld", "id", "the Thing's id is not an IRI"))
        return out
    if isinstance(root, BNode):
        minted = URIRef(_minted_iri(doc, raw, thing_model))
        triples = [(minted if s == root else s, p, minted if o == root else o) for s, p, o in triples]
        key_paths = {((minted if s == root else s), p): v for (s, p), v in key_paths.items()}
        root = minted
    elif isinstance(doc.get("id"), str) and not jsonld.is_absolute(doc["id"]):
        out.warnings.append(Problem("json-ld", "id", f"id {doc['id']!r} is not an absolute URI; "
                                    f"it was resolved against {JSONLD_BASE}", "warning"))
    out.iri = str(root)

    # 3. hardware profile, sensors, board, Thing Model
    extra = [(root, RDF.type, TM.ThingModel), (root, RDF.type, AR.DeviceModel)] if thing_model else \
            [(root, RDF.type, TD.Thing), (root, RDF.type, AR.Device)]
    td_profile.normalise_hardware(triples, root)
    if not thing_model:
        declared_nodes = {o for s, p, o in triples if s == root and p == AR.hasSensor}
        declared = {o for s, p, o in triples if p == RDF.type and s in declared_nodes}
        found = td_profile.detect_sensors(doc)
        extra += td_profile.sensor_triples(root, found, declared)
        kinds = {cls: kind for kind, cls in td_profile.SENSOR_CLASSES.items()}
        out.sensors = sorted(set(found) | {kinds[c] for c in declared if c in kinds})
        board = _State.catalogue.match(td_profile.board_texts(doc))
        if board and board != out.iri:
            extra.append((root, AR.board, URIRef(board)))
            out.board = board
    for i, link in enumerate(doc.get("links") or [] if isinstance(doc.get("links"), list) else []):
        if isinstance(link, dict) and isinstance(link.get("href"), str) and link.get("rel") in ("type", "tm:extends"):
            target = jsonld.safe_iri(jsonld.resolve(JSONLD_BASE, link["href"]))
            out.links.append(target)
            if link["rel"] == "type" and not thing_model:
                extra.append((root, AR.instanceOf, URIRef(target)))
                key_paths[(root, AR.instanceOf)] = f"links.{i}.href"
    source_node = URIRef(SOURCE_BASE + hashlib.sha256(out.iri.encode()).hexdigest()[:24])
    text = raw.decode("utf-8")  # parse_json accepted it, so it is UTF-8 (a BOM stays, as U+FEFF)
    meta = [(source_node, RDF.type, AR.SourceDocument), (source_node, AR.describes, root),
            (source_node, DCTERMS.format, Literal(TM_MEDIA_TYPE if thing_model else TD_MEDIA_TYPE)),
            (source_node, AR.sourceFile, Literal(Path(source).name)),
            (source_node, AR.verbatim, Literal(text))]
    triples = triples + extra

    # 4. SHACL on the Thing's own nodes (the shapes look at nothing else)
    sensor_nodes = {o for s, p, o in triples if s == root and p == AR.hasSensor}
    focus = {root} | sensor_nodes
    data = Graph(bind_namespaces="none")
    for t in triples:
        if t[0] in focus:
            data.add(t)
    data.add(meta[1])
    for node in sensor_nodes:
        key_paths.setdefault(("sensor", node), "ar:hasSensor")
    seen = set()
    for focus_node, path, value, message in _State.shapes.violations(data):
        where = _shacl_field(focus_node, path, root, key_paths)
        found = f" (found {value})" if isinstance(value, (Literal, URIRef)) else ""
        if (where, message) not in seen:  # one constraint can fail several ways with one message
            seen.add((where, message))
            out.problems.append(Problem("shacl", where, message + found))
    if out.problems:
        return out
    out.triples = len(triples) + len(meta)
    out.nt = ntriples(triples) + ntriples(meta)
    out.status = "valid"
    return out


def process_file(path: str) -> Outcome:
    """process_document for a file (the unit of work of the import workers)."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        return Outcome(str(path), problems=[Problem("io", "", f"cannot read the file: {exc.strerror}")])
    try:
        return process_document(raw, str(path))
    except Exception as exc:  # a vendor's file must never crash an import
        logging.getLogger(__name__).exception("unexpected failure on %s", path)
        return Outcome(str(path), problems=[Problem("json-ld", "", f"internal error while converting: {exc!r}")])


# -- the store ----------------------------------------------------------------------------------

def write_outcomes(store, outcomes: list[Outcome]) -> list[Outcome]:
    """Write the graphs of accepted outcomes in ONE transaction through the store's one writer,
    `put_graphs` (the N-Triples come ready-made from the workers: no rdflib graph is rebuilt).
    If the store refuses the batch, each graph is tried alone so only the bad one is rejected;
    a failing store (StorageError: disk, server) is raised, with nothing of the batch written.
    Returns the outcomes marked imported or rejected."""
    from kg.store import StorageError, StoreError

    ready = [o for o in outcomes if o.nt is not None]
    if not ready:
        return outcomes
    try:
        store.put_graphs({o.iri: o.nt for o in ready})
        for o in ready:
            o.status, o.nt = "imported", None
    except StorageError:
        raise
    except StoreError:
        for o in ready:
            try:
                store.put_graphs({o.iri: o.nt})
                o.status = "imported"
            except StorageError:
                raise
            except StoreError as exc:
                o.status = "rejected"
                o.problems.append(Problem("store", "", f"the store refused the graph: {exc}"))
            o.nt = None
    return outcomes


@dataclass
class ImportReport:
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0
    stopped_early: bool = False

    @property
    def imported(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "imported"]

    @property
    def rejected(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "rejected"]

    def by_reason(self) -> Counter:
        """Rejected documents counted by each kind of problem they have."""
        return Counter(k for o in self.rejected for k in o.reasons)

    def warnings_by_kind(self) -> Counter:
        return Counter(w.kind for o in self.outcomes for w in o.warnings)


def expand_paths(paths: Iterable[str | Path]) -> list[str]:
    """Files as given, and the JSON-looking files under folders (recursively), sorted."""
    out: list[str] = []
    for path in paths:
        p = Path(path)
        if p.is_dir():
            out += sorted(str(f) for f in p.rglob("*") if f.is_file() and
                          (f.suffix.lower() in JSON_SUFFIXES or "json" in f.suffix.lower()))
        else:
            out.append(str(p))
    return out


def _mark_unresolved_links(store, outcomes: list[Outcome]) -> None:
    known = set(store.graph_names())
    known |= {o.iri for o in outcomes if o.status == "imported"}
    for o in outcomes:
        for target in o.links:
            if target not in known:
                o.warnings.append(Problem("unresolved-link", "links", f"links to Thing Model {target}, which is not "
                                          "in the registry (Arachne does not fetch it)", "warning"))


def import_paths(store, paths: Iterable[str | Path], *, strict: bool = False, lenient: bool = False,
                 workers: int | None = None, batch_size: int = 64,
                 progress: Callable[[Outcome], None] | None = None) -> ImportReport:
    """Import TD/TM files (and folders of them) into `store`.

    Default: valid documents are imported (batches of `batch_size` graphs, one transaction each)
    and the others reported. `strict`: stop at the first invalid document and write nothing.
    `workers`: processes for parse+validate+convert (default: the CPU count; 1 = in process)."""
    from kg.store import StorageError

    started = time.perf_counter()
    files = expand_paths(paths)
    report = ImportReport()
    try:
        _import_files(store, files, report, strict, lenient, workers, batch_size, progress)
    except StorageError as exc:  # say what the batches written before the failure hold
        done = len(report.imported)
        raise StorageError(f"{exc}; {done} of the {len(files)} file(s) had been imported before the failure"
                           if done else f"{exc}; nothing was imported") from None
    report.seconds = time.perf_counter() - started
    return report


def _import_files(store, files: list[str], report: ImportReport, strict: bool, lenient: bool,
                  workers: int | None, batch_size: int, progress: Callable[[Outcome], None] | None) -> None:
    prepare(td_profile.board_catalogue(store), lenient)
    workers = workers or os.cpu_count() or 1
    pending: list[Outcome] = []
    first_source: dict[str, str] = {}  # IRI -> file that gave it in this run
    pool = None
    try:
        if workers > 1 and len(files) >= 16 * workers:
            ctx = multiprocessing.get_context("fork") if "fork" in multiprocessing.get_all_start_methods() else None
            pool = (ctx or multiprocessing).Pool(workers)
            results = pool.imap(process_file, files, chunksize=8)
        else:
            results = map(process_file, files)
        for outcome in results:
            report.outcomes.append(outcome)
            if outcome.problems:
                if strict:
                    report.stopped_early = True
                    if progress:
                        progress(outcome)
                    break
            else:
                earlier = first_source.setdefault(outcome.iri, outcome.source)
                if earlier != outcome.source:
                    outcome.warnings.append(Problem("replaced", "id", f"same id ({outcome.iri}) as {earlier}, "
                                                    "imported earlier in this run; this document replaces it", "warning"))
                pending.append(outcome)
                if not strict and len(pending) >= batch_size:
                    write_outcomes(store, pending)
                    pending = []
            if progress and not (strict and outcome.problems):
                progress(outcome)
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
    if strict and report.stopped_early:
        for o in pending:
            o.status, o.nt = "not written", None
    elif pending:
        write_outcomes(store, pending)  # strict: the whole run in one transaction
    _mark_unresolved_links(store, report.outcomes)
    store.flush()


def import_td(store, data: bytes | str | dict, source: str = "<input>", lenient: bool = False) -> Outcome:
    """Import one TD/TM given as bytes, text or a parsed dict; raise InputError if it is invalid."""
    return commit_td(store, validate_td(store, data, source, lenient))


def validate_td(store, data: bytes | str | dict, source: str = "<input>", lenient: bool = False) -> Outcome:
    """The first half of import_td: validate and convert (against the store's board catalogue),
    writing nothing; raise InputError if the document is invalid. Slow for big TDs (seconds), so
    the directory runs it outside its write lock and holds the lock only for commit_td."""
    if isinstance(data, dict):
        import json

        data = json.dumps(data, ensure_ascii=False, indent=2)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    prepare(td_profile.board_catalogue(store), lenient)
    outcome = process_document(raw, source, lenient=lenient)
    if outcome.problems:
        raise outcome.as_input_error()
    return outcome


def commit_td(store, outcome: Outcome) -> Outcome:
    """The second half of import_td: write a validated Outcome's graph in one transaction.
    Raises kg.store.StorageError when the disk or server fails (nothing written)."""
    write_outcomes(store, [outcome])
    if outcome.problems:
        raise outcome.as_input_error()
    _mark_unresolved_links(store, [outcome])
    return outcome


def check_td(data: bytes, source: str = "<input>", lenient: bool = False) -> Outcome:
    """Validate one TD/TM without a store (status 'valid' or 'rejected')."""
    prepare(lenient=lenient)
    return process_document(data, source, lenient=lenient)


# -- export ----------------------------------------------------------------------------------------

def resolve_ref(store, ref: str) -> str:
    """A Thing's graph from an IRI, or from a short name (device or device-model slug)."""
    if ":" in ref and store.has_graph(ref):
        return ref
    for candidate in (device_iri(ref) if ref.strip() else None, DEVICE_MODEL_BASE + ref, JSONLD_BASE + ref):
        if candidate and store.has_graph(candidate):
            return candidate
    raise InputError(None, None, f"no Thing Description with id {ref!r} in the store")


VERBATIM_QUERY = """SELECT ?text WHERE { GRAPH <%s> { ?doc <%s> <%s> ; <%s> ?text } }"""


def export_td(store, ref: str) -> bytes:
    """The TD/TM exactly as it was submitted, byte for byte."""
    graph = resolve_ref(store, ref)
    rows = store.select(VERBATIM_QUERY % (graph, AR.describes, graph, AR.verbatim)).rows
    if not rows:
        raise InputError(None, None, f"{graph} was not imported from a Thing Description (no verbatim copy)")
    return str(rows[0][0]).encode("utf-8")


def export_td_rdf(store, ref: str, fmt: str = "turtle") -> bytes:
    """The RDF view of an imported TD/TM (without the verbatim JSON)."""
    graph = store.get_graph(resolve_ref(store, ref))
    graph.remove((None, AR.verbatim, None))
    for prefix, ns in (("td", TD), ("tm", TM), ("ar", AR), ("hctl", HCTL), ("dct", DCTERMS),
                       ("jsonschema", "https://www.w3.org/2019/wot/json-schema#"),
                       ("wotsec", "https://www.w3.org/2019/wot/security#")):
        graph.bind(prefix, ns)
    return graph.serialize(format=fmt, encoding="utf-8")
