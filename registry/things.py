"""The W3C WoT Discovery Thing Description Directory (TDD) HTTP API.

/things            GET list (paged: limit/offset, Link rel=next and rel=canonical with etag; format=array only,
                   sort_by/sort_order only by id ascending: others 501), POST anonymous TD
/things/{id}       GET (verbatim TD, application/td+json), PUT (create 201 / replace 204), PATCH (RFC 7396
                   merge patch, validated after the merge), DELETE
/events[/{type}]   server-sent events thing_created / thing_updated / thing_deleted (diff=true for the TD / patch)
/.well-known/wot   the directory's own Thing Description
(/search/sparql lives in registry/sparql_endpoint.py.)

Writes go through kg.td, the same importer as the CLI (JSON parsing, TD JSON Schema, SHACL,
offline JSON-LD), so a TD the CLI refuses is refused here with the same fields and messages,
as RFC 7807 problem details with `validationErrors: [{field, description}]`. A TD is validated
outside the write lock (a big one takes seconds); the lock is held only to commit it.

A TD's id names its graph (kg.td refuses ids that are not absolute IRIs), and a write may only
replace a graph that holds a TD of this directory: never a model's or another Thing's. TDs whose
`registrationInfo.expires` has passed are hidden and purged when next looked at.
"""
from __future__ import annotations

import bisect
import json
import logging
import re
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import urlencode

from flask import Blueprint, Flask, Response, current_app, request, stream_with_context, url_for

from kg import td
from kg.contexts import TD_10, TD_11
from kg.errors import InputError
from kg.store import StorageError
from registry.problems import ProblemError
from registry.state import LRU, registry, require_write_access

bp = Blueprint("things", __name__)

TD_JSON = "application/td+json"
EVENT_TYPES = ("thing_created", "thing_updated", "thing_deleted")
BOOT = uuid.uuid4().hex[:8]  # makes collection etags differ between server runs
log = logging.getLogger(__name__)


# Every TD in the store: kg.td keeps each submitted document verbatim on an ar:SourceDocument node
# of the Thing's named graph (Thing Models have their own media type and are not listed).
STORED_TDS = """PREFIX ar: <https://w3id.org/arachne#>
PREFIX dct: <http://purl.org/dc/terms/>
SELECT ?graph ?text WHERE { GRAPH ?graph {
  ?doc a ar:SourceDocument ; ar:describes ?graph ; dct:format "application/td+json" ; ar:verbatim ?text } }"""


def stored_things(store) -> dict[str, tuple[str, datetime | None]]:
    """{directory id: (named graph, expiry)} of every stored TD. The id is the TD's own `id`,
    else (a TD imported without one by the CLI) the IRI kg.td minted for it."""
    from kg.jsonparse import parse_json

    out = {}
    for graph, text in store.select(STORED_TDS).values():
        raw = str(text).encode("utf-8")
        try:
            doc = json.loads(_strip_bom(raw))
        except ValueError:
            doc = parse_json(raw, lenient=True).data
        given = doc.get("id") if isinstance(doc, dict) else None
        out[given if isinstance(given, str) and given else graph] = (graph, expiry(doc))
    return out


def expiry(doc) -> datetime | None:
    """When a TD's registration expires (`registrationInfo.expires`, an xsd:dateTime; without a
    time zone it is read as UTC), or None."""
    info = doc.get("registrationInfo") if isinstance(doc, dict) else None
    value = info.get("expires") if isinstance(info, dict) else None
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


# -- events --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Event:
    id: int
    type: str
    data: dict   # Partial TD: {"id": ...}
    diff: dict   # with diff=true: the whole TD (created), the merge patch + id (updated), the id (deleted)


class EventBus:
    """Lifecycle events, kept for replay to clients that reconnect with Last-Event-ID. Event ids
    are microseconds since the epoch, made strictly increasing: they keep increasing across
    restarts, so a client that reconnects to a restarted server with its last id misses nothing
    new (events from before the restart are not kept)."""

    def __init__(self, history: int, max_streams: int):
        self._events: deque[Event] = deque(maxlen=history)
        self._cond = threading.Condition()
        self._last = 0
        # each open stream holds a waitress thread: cap them so reads always find a thread
        self.streams = threading.BoundedSemaphore(max_streams)

    def publish(self, type_: str, data: dict, diff: dict) -> None:
        with self._cond:
            self._last = max(self._last + 1, time.time_ns() // 1000)
            self._events.append(Event(self._last, type_, data, diff))
            self._cond.notify_all()

    @property
    def last_id(self) -> int:
        return self._last

    def after(self, last_id: int, timeout: float) -> list[Event]:
        """Events newer than `last_id`, waiting up to `timeout` seconds for one."""
        with self._cond:
            if self._last <= last_id:
                self._cond.wait(timeout)
            return [e for e in self._events if e.id > last_id]


def bus() -> EventBus:
    reg = registry()
    return reg.service("events", lambda: EventBus(reg.config["EVENT_HISTORY"], reg.config["SSE_MAX_STREAMS"]))


def merge_patch(target, patch):
    """Apply an RFC 7396 JSON merge patch (returns a new value)."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def make_merge_patch(old, new):
    """The RFC 7396 merge patch that turns `old` into `new`."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return new
    patch = {}
    for key in old.keys() - new.keys():
        patch[key] = None
    for key, value in new.items():
        if key not in old:
            patch[key] = value
        elif old[key] != value:
            patch[key] = make_merge_patch(old[key], value)
    return patch


# -- reading TDs -----------------------------------------------------------------------------------
def _strip_bom(raw: bytes) -> bytes:
    return raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw


def with_local_id(raw: bytes, thing_id: str) -> tuple[bytes, bytes]:
    """(TD bytes, bytes for a JSON array): the TD with `"id": thing_id` added as first member when
    it has no id (an anonymous TD exposed by the directory), everything else byte for byte. The
    second is the same unless the stored TD is not strict JSON (a lenient CLI import): then it is
    re-serialised, so that listings stay valid JSON."""
    raw = _strip_bom(raw)
    try:
        doc = json.loads(raw)
    except ValueError:
        from kg.jsonparse import parse_json

        parsed = parse_json(raw, lenient=True)
        doc = parsed.data if isinstance(parsed.data, dict) else {}
        doc = doc if "id" in doc else {"id": thing_id, **doc}
        return raw, json.dumps(doc, ensure_ascii=False).encode("utf-8")
    if isinstance(doc, dict) and "id" not in doc:
        at = raw.index(b"{") + 1
        rest = raw[at:].lstrip()
        sep = b"" if rest.startswith(b"}") else b", "
        raw = raw[:at] + json.dumps({"id": thing_id})[1:-1].encode() + sep + rest
    return raw, raw


def _read_pair(thing_id: str) -> tuple[bytes, bytes] | None:
    things = index()
    graph = things.graph(thing_id)
    if graph is None or not is_live(thing_id):
        return None

    def read():
        try:
            raw = td.export_td(registry().store, graph)
        except InputError:  # dropped meanwhile
            return None
        return with_local_id(raw, thing_id)

    return things.cached_read(thing_id, read)


def read_td(thing_id: str) -> bytes | None:
    """The stored TD, verbatim (plus the local id of an anonymous TD), or None."""
    pair = _read_pair(thing_id)
    return None if pair is None else pair[0]


class ThingIndex:
    """The ids of the stored TDs, sorted in Unicode code point order, kept in memory: read once
    from the store, then updated by this app's own writes (all TD writes go through it), so
    listing and existence checks cost no query. It also caches recently read TDs (bytes and a
    summary for the explorer); a write invalidates that TD's entries. It also knows when each
    TD's registration expires."""

    def __init__(self, things: dict[str, tuple[str, datetime | None]], cache_size: int = 4096):
        self._graphs = {t: graph for t, (graph, _) in things.items()}  # directory id -> named graph
        self._expires = {t: when for t, (_, when) in things.items() if when is not None}
        self._ids = sorted(self._graphs)
        self._set = set(self._ids)
        self._lock = threading.Lock()
        self._versions: dict[str, int] = {}
        self._raw = LRU(cache_size)
        self.version = 0

    def __contains__(self, thing_id: str) -> bool:
        return thing_id in self._set

    def __len__(self) -> int:
        return len(self._ids)

    def _touch(self, thing_id: str) -> None:
        self._versions[thing_id] = self._versions.get(thing_id, 0) + 1
        self._raw.put(thing_id, None)
        self.version += 1

    def graph(self, thing_id: str) -> str | None:
        return self._graphs.get(thing_id)

    def version_of(self, thing_id: str) -> int:
        """Bumped by every write of `thing_id` (a merge patch checks nobody wrote meanwhile)."""
        with self._lock:
            return self._versions.get(thing_id, 0)

    def expires_at(self, thing_id: str) -> datetime | None:
        return self._expires.get(thing_id)

    def expired(self, now: datetime) -> list[str]:
        with self._lock:
            return [t for t, when in self._expires.items() if when <= now]

    def add(self, thing_id: str, graph: str, expires: datetime | None = None) -> None:
        with self._lock:
            self._graphs[thing_id] = graph
            if expires is None:
                self._expires.pop(thing_id, None)
            else:
                self._expires[thing_id] = expires
            if thing_id not in self._set:
                bisect.insort(self._ids, thing_id)
                self._set.add(thing_id)
            self._touch(thing_id)

    def remove(self, thing_id: str) -> None:
        with self._lock:
            if thing_id in self._set:
                self._ids.pop(bisect.bisect_left(self._ids, thing_id))
                self._set.discard(thing_id)
                self._graphs.pop(thing_id, None)
                self._expires.pop(thing_id, None)
            self._touch(thing_id)

    def page(self, offset: int, limit: int) -> list[str]:
        with self._lock:
            return self._ids[offset:offset + limit]

    def cached_read(self, thing_id: str, read):
        """`read()` through the cache; a value read while a write happened is not kept."""
        hit = self._raw.get(thing_id)
        if hit is not None:
            return hit
        with self._lock:
            before = self._versions.get(thing_id, 0)
        value = read()
        if value is not None:
            with self._lock:
                if self._versions.get(thing_id, 0) == before:
                    self._raw.put(thing_id, value)
        return value


def index() -> ThingIndex:
    reg = registry()
    return reg.service("things", lambda: ThingIndex(stored_things(reg.store)))


def purge_expired() -> None:
    """Drop the TDs whose registration has expired (WoT Discovery: servers SHOULD purge them),
    each with a thing_deleted event. Lazy: run before a TD is read, listed or written. If the
    store cannot write now, they stay hidden (reads check expiry too) and go on a later call."""
    things = index()
    if not things.expired(datetime.now(timezone.utc)):
        return
    reg = registry()
    with reg.write_lock:
        for thing_id in things.expired(datetime.now(timezone.utc)):
            try:
                reg.store.drop_graph(things.graph(thing_id))
            except StorageError as exc:
                log.error("could not purge the expired TD %s: %s", thing_id, exc)
                return
            things.remove(thing_id)
            reg.changed()
            bus().publish("thing_deleted", {"id": thing_id}, {"id": thing_id})


def is_live(thing_id: str) -> bool:
    """In the directory and not expired."""
    things = index()
    when = things.expires_at(thing_id)
    return thing_id in things and (when is None or when > datetime.now(timezone.utc))


def thing_ids() -> list[str]:
    """Every TD id in the directory, in Unicode code point order."""
    return index().page(0, len(index()))


# -- writing TDs ---------------------------------------------------------------------------------
def _body_json(what: str = "Thing Description") -> tuple[bytes, object]:
    raw = request.get_data(cache=True)
    try:
        doc = json.loads(_strip_bom(raw).decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ProblemError(400, f"Invalid {what}: not UTF-8", f"the {what} is not UTF-8: {exc}",
                           validationErrors=[{"field": "(root)", "description": f"not UTF-8 text: {exc.reason}"}]) from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise ProblemError(400, f"Invalid {what}: not valid JSON", f"the {what} is not valid JSON ({where}): {exc.msg}",
                           validationErrors=[{"field": where, "description": f"not valid JSON: {exc.msg}"}]) from None
    except RecursionError:  # json's C scanner recurses per nesting level: deep bodies are bad input, not a 500
        raise ProblemError(400, f"Invalid {what}: nested too deeply", f"the {what} is nested too deeply to be parsed",
                           validationErrors=[{"field": "(root)", "description": "JSON nested too deeply"}]) from None
    if not isinstance(doc, dict):
        raise ProblemError(400, f"Invalid {what}: not a JSON object", f"the {what} must be a JSON object",
                           validationErrors=[{"field": "(root)", "description": "expected a JSON object"}])
    return raw, doc


def _check_content_type(*allowed: str) -> None:
    if request.mimetype and request.mimetype not in allowed:
        raise ProblemError(415, "Unsupported Media Type",
                           f"expected Content-Type {' or '.join(allowed)}, got {request.mimetype}")


def problem_title(field: str | None, message: str, more: int = 0) -> str:
    """A title that says what is wrong ("Invalid Thing Description: id is not an absolute IRI"):
    the first problem, without its [kind] tag and parenthesised detail."""
    short = re.sub(r" \[[\w-]+\]$", "", message).split(" (", 1)[0]
    if field and not short.startswith(field):
        short = f"{field}: {short}"
    if len(short) > 120:
        short = short[:117] + "..."
    return f"Invalid Thing Description: {short}" + (f" (and {more} more)" if more else "")


def _invalid(exc: InputError) -> ProblemError:
    field, message = exc.problems[0] if exc.problems else (exc.field, exc.message)
    return ProblemError(400, problem_title(field, message, len(exc.problems) - 1), exc.one_line(),
                        validationErrors=[{"field": f or "(root)", "description": m} for f, m in exc.problems])


def validate_td(raw: bytes, source: str, thing_id: str) -> td.Outcome:
    """Validate and convert one TD through kg.td (the CLI's importer), writing nothing. Runs
    outside the write lock. Raises ProblemError 400 with validationErrors when it is refused."""
    try:
        outcome = td.validate_td(registry().store, raw, source=source)
    except InputError as exc:
        raise _invalid(exc) from None
    if outcome.iri != thing_id:  # kg.td only accepts ids that name their own graph; never write another
        raise ProblemError(400, "Invalid Thing Description: id does not name its own graph",
                           f"the TD's id {thing_id!r} resolves to {outcome.iri!r}",
                           validationErrors=[{"field": "id", "description": "must be an absolute IRI, written as it resolves"}])
    return outcome


def _commit(thing_id: str, outcome: td.Outcome, doc: dict) -> None:
    """Write a validated TD (caller holds the write lock). Only a graph that holds this Thing's
    TD, or no graph at all, may be written: a TD must not replace a model's or the ontology's."""
    reg, things = registry(), index()
    if thing_id not in things and reg.store.has_graph(outcome.iri):
        raise ProblemError(409, "Conflict: the id names a graph that is not a Thing Description",
                           f"{thing_id!r} names a graph of the registry that is not a Thing Description of this "
                           "directory (a model, a benchmark table or the ontology); choose another id",
                           validationErrors=[{"field": "id", "description": "already names a graph that is not a TD"}])
    try:
        td.commit_td(reg.store, outcome)
    except InputError as exc:  # the store refused the graph itself
        raise _invalid(exc) from None
    things.add(thing_id, outcome.iri, expiry(doc))  # only after the store took it: a failed write changes nothing
    reg.changed()


def _old_doc(thing_id: str):
    raw = read_td(thing_id)
    return None if raw is None else json.loads(raw)


def _refuse_thing_model(doc: dict) -> None:
    from kg.td_checks import is_thing_model

    if is_thing_model(doc):
        raise ProblemError(400, "Invalid Thing Description: this is a Thing Model",
                           "this is a Thing Model, not a Thing Description",
                           validationErrors=[{"field": "@type", "description": "tm:ThingModel documents are not "
                                              "Thing Descriptions; the directory holds TDs (import TMs with the CLI)"}])


def put_thing(thing_id: str, raw: bytes, doc: dict, source: str) -> bool:
    """Create or replace a TD; True when it was created. Publishes the lifecycle event.

    A TD without an id gets `thing_id` written into it (first member, the rest byte for byte),
    so the stored document is what the directory serves and its graph is named by it."""
    _refuse_thing_model(doc)
    if "id" not in doc:
        raw = with_local_id(raw, thing_id)[0]
    outcome = validate_td(raw, source, thing_id)  # outside the lock: other writers go on meanwhile
    purge_expired()
    reg = registry()
    with reg.write_lock:
        old = _old_doc(thing_id) if thing_id in index() else None
        _commit(thing_id, outcome, doc)
        new = doc if "id" in doc else {"id": thing_id, **doc}
        if old is None:
            bus().publish("thing_created", {"id": thing_id}, new)
        else:
            bus().publish("thing_updated", {"id": thing_id}, {"id": thing_id, **make_merge_patch(old, new)})
    return old is None


# -- routes ----------------------------------------------------------------------------------------
def _thing_url(thing_id: str) -> str:
    return url_for("things.thing", thing_id=thing_id)


FORMATS = ("array", "collection")  # WoT Discovery's listing formats; array is the default
SORT_ORDERS = ("asc", "desc")


def _listing_features() -> None:
    """WoT Discovery asks for an error, not silence, when a listing asks for what the directory
    cannot do: 400 for values the specification does not define, 501 for optional features this
    directory lacks (the collection format; sorting other than by id ascending, the order it
    always uses)."""
    args = request.args
    fmt = args.get("format", "array")
    if fmt not in FORMATS:
        raise ProblemError(400, f"Bad Request: unknown listing format {fmt!r}",
                           f"format must be one of {', '.join(FORMATS)}; got {fmt!r}",
                           validationErrors=[{"field": "format", "description": f"one of {', '.join(FORMATS)}"}])
    if fmt == "collection":
        raise ProblemError(501, "Not Implemented: format=collection",
                           "this directory lists TDs as a plain JSON array (format=array); paging is in Link headers")
    order = args.get("sort_order")
    if order is not None and order not in SORT_ORDERS:
        raise ProblemError(400, f"Bad Request: unknown sort_order {order!r}", "sort_order must be asc or desc",
                           validationErrors=[{"field": "sort_order", "description": "asc or desc"}])
    if args.get("sort_by", "id") != "id" or order == "desc":
        raise ProblemError(501, "Not Implemented: sorting",
                           "this directory lists TDs sorted by id in ascending code point order only "
                           "(sort_by=id, sort_order=asc)")


@bp.get("/things")
def list_things():
    """All TDs as a JSON array, sorted by id; paged with limit/offset and Link headers."""
    _listing_features()
    try:
        offset = int(request.args.get("offset", 0))
        limit = int(request.args.get("limit", current_app.config["THINGS_PAGE_LIMIT"]))
    except ValueError:
        raise ProblemError(400, "Bad Request: offset and limit must be integers", "offset and limit must be integers") from None
    if offset < 0 or limit < 1:
        raise ProblemError(400, "Bad Request: offset must be >= 0 and limit >= 1", "offset must be >= 0 and limit >= 1")
    purge_expired()
    things = index()
    page, total, version = things.page(offset, limit), len(things), things.version
    pairs = [_read_pair(t) for t in page]  # a TD deleted meanwhile reads as None and is left out
    body = b"[" + b",\n".join(p[1] for p in pairs if p is not None) + b"]"
    resp = Response(body, 200, content_type="application/ld+json")
    links = [f'</things>; rel="canonical"; etag="{BOOT}-{version}"']
    if offset + limit < total:
        links.append(f'</things?{urlencode({"offset": offset + limit, "limit": limit})}>; rel="next"')
    resp.headers["Link"] = ", ".join(links)
    resp.headers["X-Total-Count"] = str(total)
    return resp


@bp.post("/things")
@require_write_access
def create_anonymous():
    """An anonymous TD (no id): it gets a urn:uuid id, 201 and a Location header."""
    _check_content_type(TD_JSON, "application/json", "application/ld+json")
    raw, doc = _body_json()
    if "id" in doc:
        raise ProblemError(400, "Invalid Thing Description: a POSTed TD has no id", "this TD has an id: PUT it to /things/{id} instead",
                           validationErrors=[{"field": "id", "description": "POST /things takes anonymous TDs only"}])
    thing_id = f"urn:uuid:{uuid.uuid4()}"
    put_thing(thing_id, raw, doc, source="POST /things")
    resp = Response(status=201)
    resp.headers["Location"] = _thing_url(thing_id)
    return resp


RDF_OUTPUT = {"text/turtle": ("turtle", "text/turtle; charset=utf-8"),
              "application/n-triples": ("nt", "application/n-triples")}


@bp.route("/things/<path:thing_id>", methods=["GET"])
def thing(thing_id: str):
    """The stored TD, verbatim; its RDF (kg.td.export_td_rdf) when Turtle or N-Triples is preferred."""
    purge_expired()
    raw = read_td(thing_id)
    if raw is None:
        raise ProblemError(404, "Not Found", f"no Thing Description with id {thing_id!r}")
    accept = request.accept_mimetypes
    best = accept.best_match([TD_JSON, "application/json", "application/ld+json", *RDF_OUTPUT]) if accept else TD_JSON
    if best in RDF_OUTPUT:
        fmt, mime = RDF_OUTPUT[best]
        body = td.export_td_rdf(registry().store, index().graph(thing_id), fmt)
        resp = Response(body, 200, content_type=mime)
    else:
        resp = Response(raw, 200, content_type=TD_JSON)
    resp.headers["Vary"] = "Accept"
    return resp


@bp.route("/things/<path:thing_id>", methods=["PUT"])
@require_write_access
def put(thing_id: str):
    """Create (201) or replace (204) the TD whose id is `thing_id`."""
    _check_content_type(TD_JSON, "application/json", "application/ld+json")
    raw, doc = _body_json()
    if doc.get("id") not in (None, thing_id):
        raise ProblemError(400, "Invalid Thing Description: id differs from the URL's id",
                           f"the TD's id {doc.get('id')!r} differs from the URL's {thing_id!r}",
                           validationErrors=[{"field": "id", "description": f"must equal {thing_id!r}, the id in the URL"}])
    created = put_thing(thing_id, raw, doc, source=f"PUT /things/{thing_id}")
    resp = Response(status=201 if created else 204)
    if created:
        resp.headers["Location"] = _thing_url(thing_id)
    return resp


@bp.route("/things/<path:thing_id>", methods=["PATCH"])
@require_write_access
def patch(thing_id: str):
    """Partial update with an RFC 7396 merge patch; the merged TD is validated like a PUT."""
    _check_content_type("application/merge-patch+json")
    if not request.mimetype:
        raise ProblemError(415, "Unsupported Media Type", "PATCH needs Content-Type application/merge-patch+json")
    _raw, patch_doc = _body_json("merge patch")
    if "id" in patch_doc and patch_doc["id"] != thing_id:
        raise ProblemError(400, "Invalid merge patch: it changes the id", "a merge patch cannot change the TD's id",
                           validationErrors=[{"field": "id", "description": "the id cannot be changed"}])
    reg, things = registry(), index()
    for _ in range(3):  # validate outside the lock; merge again if the TD was written meanwhile
        purge_expired()
        version = things.version_of(thing_id)
        old = _old_doc(thing_id)
        if old is None:
            raise ProblemError(404, "Not Found", f"no Thing Description with id {thing_id!r}")
        merged = merge_patch(old, patch_doc)
        _refuse_thing_model(merged)
        raw = json.dumps(merged, ensure_ascii=False, indent=2).encode("utf-8")
        outcome = validate_td(raw, f"PATCH /things/{thing_id}", thing_id)
        with reg.write_lock:
            if things.version_of(thing_id) != version:
                continue
            if not is_live(thing_id):
                raise ProblemError(404, "Not Found", f"no Thing Description with id {thing_id!r}")
            _commit(thing_id, outcome, merged)
            bus().publish("thing_updated", {"id": thing_id}, {"id": thing_id, **make_merge_patch(old, merged)})
        return Response(status=204)
    raise ProblemError(409, "Conflict: the TD kept changing", "other writes changed the TD while the patch was "
                       "applied; send it again", headers={"Retry-After": "1"})


@bp.route("/things/<path:thing_id>", methods=["DELETE"])
@require_write_access
def delete(thing_id: str):
    purge_expired()
    reg = registry()
    things = index()
    with reg.write_lock:
        if not is_live(thing_id):
            raise ProblemError(404, "Not Found", f"no Thing Description with id {thing_id!r}")
        reg.store.drop_graph(things.graph(thing_id))  # one named graph per Thing: all of it goes
        things.remove(thing_id)
        reg.changed()
        bus().publish("thing_deleted", {"id": thing_id}, {"id": thing_id})
    return Response(status=204)


@bp.get("/events")
@bp.get("/events/<event_type>")
def events(event_type: str | None = None):
    """Server-sent events; `diff=true` sends the created TD / the update's merge patch."""
    if event_type is not None and event_type not in EVENT_TYPES:
        raise ProblemError(404, "Not Found", f"unknown event type {event_type!r}; expected one of {', '.join(EVENT_TYPES)}")
    wanted = {event_type} if event_type else set(EVENT_TYPES)
    diff = request.args.get("diff", "").lower() == "true"
    try:
        last = int(request.headers.get("Last-Event-ID") or request.args.get("lastEventId") or -1)
    except ValueError:
        last = -1
    events_bus = bus()
    if last < 0:
        last = events_bus.last_id
    cfg = current_app.config
    keepalive, lifetime = cfg["SSE_KEEPALIVE_S"], cfg["SSE_MAX_STREAM_S"]

    def stream():
        nonlocal last
        yield b"retry: 2000\n: arachne thing events\n\n"
        ends = time.monotonic() + lifetime
        while time.monotonic() < ends:
            batch = events_bus.after(last, keepalive)
            if not batch:
                yield b": keep-alive\n\n"
                continue
            for e in batch:
                last = e.id
                if e.type not in wanted:
                    continue
                data = e.diff if diff and e.type != "thing_deleted" else e.data
                yield f"event: {e.type}\nid: {e.id}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode("utf-8")

    if request.method == "HEAD":
        return Response(b"", 200, content_type="text/event-stream; charset=utf-8")
    if not events_bus.streams.acquire(blocking=False):
        raise ProblemError(503, "Service Unavailable", "too many open event streams; retry later",
                           headers={"Retry-After": "10"})
    resp = Response(stream_with_context(stream()), 200, content_type="text/event-stream; charset=utf-8")
    resp.call_on_close(events_bus.streams.release)  # the client went away or the stream ended
    resp.headers["Cache-Control"] = "no-cache"
    resp.headers["X-Accel-Buffering"] = "no"
    return resp


def directory_td(base: str) -> dict:
    """The directory's own TD (WoT Discovery 'ThingDirectory'), with absolute URLs under `base`."""
    secured = bool(current_app.config.get("ARACHNE_TOKEN"))
    json_form = {"contentType": TD_JSON}
    security = {"bearer_sc": {"scheme": "bearer", "in": "header", "name": "Authorization"}} if secured else {}
    security["nosec_sc"] = {"scheme": "nosec"}
    writes = ["bearer_sc"] if secured else ["nosec_sc"]
    id_var = {"id": {"title": "TD identifier", "type": "string", "format": "iri-reference"}}
    return {
        # TD 1.0's context first, then TD 1.1's: the TD 1.1 form for TD 1.0 consumers (node-wot 0.9)
        "@context": [TD_10, TD_11, "https://www.w3.org/2022/wot/discovery"],
        "@type": "ThingDirectory",
        "id": "urn:arachne:thing-directory",
        "title": "Arachne Thing Description Directory",
        "description": "TDs of IoT devices in the Arachne TinyML registry; writes are validated against the "
                       "TD JSON Schema and SHACL shapes.",
        "version": {"instance": "0.1.0"},
        "base": base,
        "securityDefinitions": security,
        "security": "nosec_sc",
        "properties": {
            "things": {
                "description": "All TDs, sorted by id; paged with limit and offset.",
                "readOnly": True, "type": "array", "items": {"type": "object"},
                "uriVariables": {"offset": {"type": "integer", "minimum": 0},
                                 "limit": {"type": "integer", "minimum": 1}},
                "forms": [{"href": "things{?offset,limit}", "htv:methodName": "GET",
                           "contentType": "application/ld+json", "op": "readproperty"}],
            },
        },
        "actions": {
            "createThing": {"description": "Create or replace a TD with an id.", "uriVariables": id_var,
                            "input": {"type": "object"},
                            "forms": [{"href": "things/{id}", "htv:methodName": "PUT", **json_form, "security": writes,
                                       "response": {"description": "201 created, 204 replaced", "contentType": "text/plain"}}]},
            "createAnonymousThing": {"description": "Create a TD without an id; the Location header names it.",
                                     "input": {"type": "object"},
                                     "forms": [{"href": "things", "htv:methodName": "POST", **json_form, "security": writes,
                                                "response": {"contentType": "text/plain"}}]},
            "retrieveThing": {"description": "Read a TD.", "uriVariables": id_var, "safe": True, "idempotent": True,
                              "output": {"type": "object"},
                              "forms": [{"href": "things/{id}", "htv:methodName": "GET",
                                         "response": {"contentType": TD_JSON}}]},
            "updateThing": {"description": "Replace a TD.", "uriVariables": id_var, "input": {"type": "object"},
                            "forms": [{"href": "things/{id}", "htv:methodName": "PUT", **json_form, "security": writes,
                                       "response": {"contentType": "text/plain"}}]},
            "partiallyUpdateThing": {"description": "Merge-patch a TD (RFC 7396).", "uriVariables": id_var,
                                     "input": {"type": "object"},
                                     "forms": [{"href": "things/{id}", "htv:methodName": "PATCH",
                                                "contentType": "application/merge-patch+json", "security": writes,
                                                "response": {"contentType": "text/plain"}}]},
            "deleteThing": {"description": "Delete a TD.", "uriVariables": id_var, "idempotent": True,
                            "forms": [{"href": "things/{id}", "htv:methodName": "DELETE", "security": writes,
                                       "response": {"contentType": "text/plain"}}]},
            "searchSPARQL": {"description": "SPARQL 1.1 query over the registry's graph (TDs included).",
                             "uriVariables": {"query": {"type": "string"}}, "safe": True, "idempotent": True,
                             "output": {"type": "object"},
                             "forms": [{"href": "search/sparql?query={query}", "htv:methodName": "GET",
                                        "response": {"contentType": "application/json"}},
                                       {"href": "search/sparql", "htv:methodName": "POST",
                                        "contentType": "application/sparql-query",
                                        "response": {"contentType": "application/json"}}]},
        },
        "events": {
            name: {"description": f"A TD was {event.split('_')[1]}.",
                   "uriVariables": {"diff": {"type": "boolean"}},
                   "data": {"type": "object"},
                   "forms": [{"href": f"events/{event}{{?diff}}", "subprotocol": "sse", "op": "subscribeevent",
                              "contentType": "text/event-stream"}]}
            for name, event in (("thingCreated", "thing_created"), ("thingUpdated", "thing_updated"),
                                ("thingDeleted", "thing_deleted"))
        },
    }


@bp.get("/search/jsonpath")
@bp.get("/search/xpath")
def unsupported_search():
    """WoT Discovery's JSONPath / XPath searches are optional and not offered: say so (501)."""
    kind = request.path.rsplit("/", 1)[-1]
    raise ProblemError(501, "Not Implemented", f"{kind} search is not supported by this directory; use /search/sparql")


@bp.get("/.well-known/wot")
def well_known():
    """The directory's own TD (WoT Discovery self-description)."""
    documents = registry().services.setdefault("directory_td", {})  # per host URL; it never changes
    body = documents.get(request.host_url)
    if body is None:
        body = documents[request.host_url] = json.dumps(directory_td(request.host_url), indent=2).encode()
    return Response(body, 200, content_type=TD_JSON)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
