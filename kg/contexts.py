"""JSON-LD contexts for Thing Descriptions, bundled so that nothing is ever fetched.

A TD names its context by URL (`https://www.w3.org/2022/wot/td/v1.1`). Arachne maps every
context URL it knows to a copy shipped in kg/contexts/ and refuses every other remote
context with a clear error: no network access, ever (a context is code that changes what a
document means, so fetching one at import time would make the registry's content depend on a
third-party server).

Bundled:
- TD 1.1 context (W3C, `td-context-1.1.jsonld`), also served for the TD 1.1 drafts' temporary
  URL `http://www.w3.org/ns/td` that the TD JSON Schema accepts;
- TD 1.0 context (W3C, `td-context-1.0.jsonld`);
- Arachne's TD extension context (`https://w3id.org/arachne/td-context.jsonld`, ours: the
  hardware-profile terms, see docs/td-extension.md);
- small contexts written by Arachne for two vocabularies TDs in the wild name by URL but whose
  context files are not among the W3C TD artifacts: the WoT Discovery terms TDs use
  (ThingDirectory, ThingLink, registration) and the WebThings capability schemas
  (Light, TemperatureSensor, OnOffProperty, ...).

Well-known prefixes: TDs often write `htv:methodName` or `saref:TemperatureSensor` without
declaring the prefix, relying on what the TD context defines (htv, tm in 1.1) or implies (the
vocabularies the TD specification's examples use). `WELL_KNOWN_PREFIXES` are placed in front
of a document's own contexts, so any definition the document or the TD context makes wins.
"""
from __future__ import annotations

import copy
import json
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from kg.errors import InputError

HERE = Path(__file__).resolve().parent / "contexts"

TD_11 = "https://www.w3.org/2022/wot/td/v1.1"
TD_10 = "https://www.w3.org/2019/wot/td/v1"
ARACHNE_TD = "https://w3id.org/arachne/td-context.jsonld"

# context URL -> bundled file
BUNDLED: dict[str, str] = {
    TD_11: "td-context-1.1.jsonld",
    "http://www.w3.org/ns/td": "td-context-1.1.jsonld",
    "https://www.w3.org/ns/td": "td-context-1.1.jsonld",
    TD_10: "td-context-1.0.jsonld",
    ARACHNE_TD: "arachne-td-context.jsonld",
    "https://www.w3.org/2022/wot/discovery": "wot-discovery-context.jsonld",
    "https://www.w3.org/2021/wot/discovery": "wot-discovery-context.jsonld",
    "https://w3c.github.io/wot-discovery/context/discovery-context.jsonld": "wot-discovery-context.jsonld",
    "https://webthings.io/schemas": "webthings-context.jsonld",
    "https://webthings.io/schemas/": "webthings-context.jsonld",
    "https://iot.mozilla.org/schemas": "webthings-context.jsonld",
    "https://iot.mozilla.org/schemas/": "webthings-context.jsonld",
}

# Prefixes TDs use without declaring them. Each ends with '#' or '/', so JSON-LD 1.1 treats it as a prefix.
WELL_KNOWN_PREFIXES: dict[str, str] = {
    "td": "https://www.w3.org/2019/wot/td#",
    "tm": "https://www.w3.org/2019/wot/tm#",
    "htv": "http://www.w3.org/2011/http#",
    "hctl": "https://www.w3.org/2019/wot/hypermedia#",
    "wotsec": "https://www.w3.org/2019/wot/security#",
    "jsonschema": "https://www.w3.org/2019/wot/json-schema#",
    "saref": "https://w3id.org/saref#",
    "om": "http://www.ontology-of-units-of-measure.org/resource/om-2/",
    "om2": "http://www.ontology-of-units-of-measure.org/resource/om-2/",
    "schema": "https://schema.org/",
    "sosa": "http://www.w3.org/ns/sosa/",
    "ssn": "http://www.w3.org/ns/ssn/",
    "qudt": "http://qudt.org/schema/qudt/",
    "time": "http://www.w3.org/2006/time#",
    "iot": "http://iotschema.org/",
    "modbus": "https://www.w3.org/2019/wot/modbus#",
    "modv": "https://www.w3.org/2019/wot/modbus#",
    "mqv": "http://www.example.org/mqtt-binding#",
    "cov": "http://www.example.org/coap-binding#",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "dct": "http://purl.org/dc/terms/",
    "ar": "https://w3id.org/arachne#",
}
PREFIX_CONTEXT = {"@version": 1.1, **WELL_KNOWN_PREFIXES}


class RemoteContextRefused(InputError):
    """A document names a remote JSON-LD context that is not bundled; it was not fetched."""


def bundled_urls() -> list[str]:
    return sorted(BUNDLED)


@lru_cache(maxsize=None)
def _bundled_document(name: str) -> dict:
    return json.loads((HERE / name).read_text(encoding="utf-8"))


def context_document(url: str, file: str | None = None, field: str | None = "@context") -> dict:
    """The bundled JSON-LD document for a context URL (shared: do not modify); refuse unknown URLs.

    Raises RemoteContextRefused (an InputError) naming the URL: nothing is fetched."""
    name = BUNDLED.get(url) or BUNDLED.get(url.rstrip("/"))
    if name is None:
        raise RemoteContextRefused(
            file, field,
            f"remote JSON-LD context {url!r} is not one Arachne bundles, and Arachne never fetches "
            f"contexts from the network; inline its definitions in the document instead "
            f"(bundled: {', '.join(u for u in sorted(BUNDLED) if not u.endswith('/'))})")
    return _bundled_document(name)


def remote_contexts(doc) -> list[tuple[str, str]]:
    """(JSON path, URL) of every context named by URL anywhere in the document."""
    found: list[tuple[str, str]] = []

    def add(value, path):
        if isinstance(value, str):
            found.append((path, value))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, str):
                    found.append((f"{path}.{i}", item))

    def walk(node, path):
        if isinstance(node, dict):
            for key, value in node.items():
                sub = f"{path}.{key}" if path else key
                if key == "@context":
                    add(value, sub)
                    # scoped contexts inside inline context definitions can name URLs too
                    for item in value if isinstance(value, list) else [value]:
                        if isinstance(item, dict):
                            walk(item, sub)
                else:
                    walk(value, sub)
        elif isinstance(node, list):
            for i, item in enumerate(node):
                walk(item, f"{path}.{i}")

    walk(doc, "")
    return found


def unknown_contexts(doc, file: str | None = None) -> list[RemoteContextRefused]:
    """One error per context URL in `doc` that is not bundled (empty when all are known)."""
    out = []
    for path, url in remote_contexts(doc):
        try:
            context_document(url, file, path)
        except RemoteContextRefused as exc:
            out.append(exc)
    return out


def with_prefixes(context):
    """A document's @context with the well-known prefixes in front (the document's own win)."""
    items = context if isinstance(context, list) else ([] if context is None else [context])
    return [PREFIX_CONTEXT, *items]


def inline_contexts(doc, source: str | None = None):
    """A copy of `doc` whose remote contexts are replaced by the bundled definitions, with the
    well-known prefixes in front of the top-level context; for JSON-LD processors that cannot be
    given a document loader. Raises RemoteContextRefused for a context that is not bundled."""

    def resolve(value, path):
        if isinstance(value, str):
            return copy.deepcopy(context_document(value, source, path)["@context"])
        if isinstance(value, list):
            return [resolve(v, f"{path}.{i}") for i, v in enumerate(value)]
        if isinstance(value, dict):
            return {k: (resolve(v, f"{path}.{k}") if k == "@context" else
                        {kk: (resolve(vv, f"{path}.{k}.{kk}") if kk == "@context" else vv) for kk, vv in v.items()}
                        if isinstance(v, dict) else v)
                    for k, v in value.items()}
        return value

    def walk(node, path, top=False):
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                sub = f"{path}.{key}" if path else key
                if key == "@context":
                    resolved = resolve(value, sub)
                    out[key] = with_prefixes(resolved) if top else resolved
                else:
                    out[key] = walk(value, sub)
            if top and "@context" not in out:
                out["@context"] = with_prefixes(None)
            return out
        if isinstance(node, list):
            return [walk(item, f"{path}.{i}", top) for i, item in enumerate(node)]
        return node

    return walk(doc, "", top=True)


# -- loaders for general-purpose JSON-LD processors ---------------------------------------------

def pyld_document_loader(url: str, options=None) -> dict:
    """A pyld document loader that serves bundled contexts and refuses everything else."""
    return {"contentType": "application/ld+json", "contextUrl": None, "documentUrl": url,
            "document": context_document(url)}


@contextmanager
def rdflib_offline():
    """Within this block, rdflib's JSON-LD parser resolves context URLs to the bundled copies and
    refuses all others (it would otherwise fetch them)."""
    import rdflib.plugins.shared.jsonld.context as rdflib_context

    original = rdflib_context.source_to_json

    def source_to_json(source, *args, **kwargs):
        if isinstance(source, str):
            return context_document(source), None
        return original(source, *args, **kwargs)

    rdflib_context.source_to_json = source_to_json
    try:
        yield
    finally:
        rdflib_context.source_to_json = original
