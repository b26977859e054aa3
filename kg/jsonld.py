"""JSON-LD 1.1 to RDF for Thing Descriptions: the expansion and toRdf algorithms of the W3C
JSON-LD 1.1 Processing Algorithms, restricted to the features TD contexts and TDs use, with
processed contexts cached across documents.

Why not a general processor: rdflib's and pyld's parsers re-process the 39 kB TD context and
its eleven property-scoped contexts for every document (~10 ms per TD), which alone would cap
an import at ~100 TDs/s. Here a context is processed once per (active context, local context)
pair and reused, and each document is walked once, emitting triples as it goes.

Supported: remote contexts through the bundled loader (kg.contexts; unknown URLs refused),
inline and embedded contexts, term definitions (@id, @type incl. @id/@vocab coercion and
datatypes, @container @set/@list/@index/@language, property-valued @index, @language,
@context property-scoped contexts, @prefix), keyword aliases, @vocab, @language,
compact IRIs with the JSON-LD 1.1 prefix rules, value objects, @list/@set objects, native
numbers and booleans, blank node identifiers. A document needing anything else (@reverse,
@graph, @nest, @included, @json, type-scoped contexts, @import, @propagate, @id/@type maps)
raises `Unsupported`, and the caller falls back to rdflib's general processor.
tests/kg/test_td_jsonld.py checks that both give isomorphic graphs on the whole TD corpus.

Deviations, on purpose: IRIs with characters RDF forbids (`{`, `}`, space, ...; URI templates
in TDs) are percent-encoded instead of producing invalid N-Triples; `@direction` is ignored
(rdfDirection unset, as in both reference processors).
"""
from __future__ import annotations

import itertools
import json
import math
import re
from urllib.parse import quote

from rdflib import BNode, Literal, URIRef
from rdflib.namespace import RDF, XSD

from kg import contexts

KEYWORDS = frozenset({
    "@base", "@container", "@context", "@direction", "@graph", "@id", "@import", "@included",
    "@index", "@json", "@language", "@list", "@nest", "@none", "@prefix", "@propagate",
    "@protected", "@reverse", "@set", "@type", "@value", "@version", "@vocab",
})
_KEYWORD_FORM = re.compile(r"^@[a-zA-Z]+$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
_GEN_DELIMS = (":", "/", "?", "#", "[", "]", "@")
_BAD_IRI_CHARS = re.compile(r'[\x00-\x20<>"{}|\\^`\x7f]|%(?![0-9A-Fa-f]{2})')
_CONTEXT_KEYS = frozenset({"@base", "@direction", "@import", "@language", "@propagate", "@protected", "@version", "@vocab"})
_UNSUPPORTED_KEYS = frozenset({"@reverse", "@graph", "@nest", "@included"})

XSD_STRING = XSD.string
XSD_BOOLEAN = XSD.boolean
XSD_INTEGER = XSD.integer
XSD_DOUBLE = XSD.double
RDF_TYPE = RDF.type
RDF_FIRST, RDF_REST, RDF_NIL = RDF.first, RDF.rest, RDF.nil


class Unsupported(Exception):
    """The document uses a JSON-LD feature outside the TD subset (use a general processor)."""


class JsonLdError(Exception):
    """The document is not valid JSON-LD; `path` is the JSON path where it was found."""

    def __init__(self, message: str, path: str = "@context"):
        super().__init__(message)
        self.path = path


def is_absolute(iri: str) -> bool:
    return bool(_SCHEME.match(iri))


def safe_iri(iri: str) -> str:
    """`iri` with the characters RDF IRIs may not contain percent-encoded (e.g. URI templates)."""
    if _BAD_IRI_CHARS.search(iri):
        return _BAD_IRI_CHARS.sub(lambda m: quote(m.group(0), safe=""), iri)
    return iri


_URI_PARTS = re.compile(r"^(?:([^:/?#]+):)?(?://([^/?#]*))?([^?#]*)(?:\?([^#]*))?(?:#(.*))?$")


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4."""
    out: list[str] = []
    while path:
        if path.startswith("../"):
            path = path[3:]
        elif path.startswith("./"):
            path = path[2:]
        elif path.startswith("/./"):
            path = path[2:]
        elif path == "/.":
            path = "/"
        elif path.startswith("/../"):
            path = path[3:]
            if out:
                out.pop()
        elif path == "/..":
            path = "/"
            if out:
                out.pop()
        elif path in (".", ".."):
            path = ""
        else:
            start = 1 if path.startswith("/") else 0
            cut = path.find("/", start)
            cut = len(path) if cut < 0 else cut
            out.append(path[:cut])
            path = path[cut:]
    return "".join(out)


def resolve(base: str, ref: str) -> str:
    """Resolve a relative reference against `base` (RFC 3986 section 5.2; keeps empty fragments,
    which urllib's urljoin drops)."""
    scheme, authority, path, query, fragment = _URI_PARTS.match(ref).groups()
    if scheme is not None:
        return ref
    b_scheme, b_authority, b_path, b_query, _ = _URI_PARTS.match(base).groups()
    if authority is not None:
        path = _remove_dot_segments(path)
    else:
        if path == "":
            path = b_path
            query = query if query is not None else b_query
        elif path.startswith("/"):
            path = _remove_dot_segments(path)
        else:
            merged = "/" + path if b_authority is not None and b_path == "" else b_path[: b_path.rfind("/") + 1] + path
            path = _remove_dot_segments(merged)
        authority = b_authority
    out = f"{b_scheme}:"
    if authority is not None:
        out += "//" + authority
    out += path
    if query is not None:
        out += "?" + query
    if fragment is not None:
        out += "#" + fragment
    return out


def canonical_double(value: float) -> str:
    """xsd:double canonical lexical form as JSON-LD toRdf writes it: 1.5E0, 1.0E-3."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "INF" if value > 0 else "-INF"
    text = "%1.15E" % value
    mantissa, exponent = text.split("E")
    mantissa = mantissa.rstrip("0")
    if mantissa.endswith("."):
        mantissa += "0"
    return f"{mantissa}E{int(exponent)}"


class Term:
    """A term definition."""

    __slots__ = ("iri", "type", "container", "language", "has_language", "context", "index", "prefix", "applied")

    def __init__(self):
        self.iri = None
        self.type = None
        self.container = frozenset()
        self.language = None
        self.has_language = False
        self.context = None  # raw property-scoped context, processed on use
        self.index = None
        self.prefix = False
        self.applied = {}  # active context key -> context with self.context applied


class Context:
    """An active context; immutable once built (processing makes a new one), so it can be cached."""

    _serial = itertools.count()
    __slots__ = ("terms", "vocab", "base", "language", "key", "expanded")

    def __init__(self, base: str | None = None):
        self.terms: dict[str, Term] = {}
        self.vocab: str | None = None
        self.base = base
        self.language: str | None = None
        self.key = next(Context._serial)
        self.expanded: dict[str, str | None] = {}  # key -> IRI expanded with vocab=True

    def derive(self) -> "Context":
        new = Context(self.base)
        new.terms = dict(self.terms)
        new.vocab = self.vocab
        new.language = self.language
        return new


_PROCESSED: dict[tuple, Context] = {}
_MAX_CACHE = 20000
_INITIAL: dict[str | None, Context] = {}
# Fingerprints of context objects known to be immutable and alive for the process (the bundled
# contexts and the prefix context), so they are recognised by identity instead of re-serialised.
_STABLE: dict[int, str] = {id(contexts.PREFIX_CONTEXT): "prefixes"}


def _remember(obj, name: str) -> None:
    if isinstance(obj, dict):
        _STABLE[id(obj)] = name
        for key, value in obj.items():
            _remember(value, f"{name}/{key}")
    elif isinstance(obj, list):
        _STABLE[id(obj)] = name
        for i, value in enumerate(obj):
            _remember(value, f"{name}/{i}")


def _fingerprint(local) -> object:
    if local is None or isinstance(local, str):
        return local
    stable = _STABLE.get(id(local))
    if stable is not None:
        return stable
    return json.dumps(local, sort_keys=True, separators=(",", ":"), default=str)


def initial_context(base: str | None) -> Context:
    """The empty active context for documents with this base (shared, so caches hit)."""
    found = _INITIAL.get(base)
    if found is None:
        found = _INITIAL[base] = Context(base)
    return found


def process_context(active: Context, local, remote_stack: tuple = ()) -> Context:
    """The JSON-LD 1.1 Context Processing algorithm (the supported subset), cached per
    (active context, local context item): contexts are immutable once built."""
    result = active
    for item in local if isinstance(local, list) else [local]:
        key = (result.key, _fingerprint(item))
        found = _PROCESSED.get(key)
        if found is None:
            found = _process(result, item, remote_stack)
            if len(_PROCESSED) > _MAX_CACHE:
                _PROCESSED.clear()
            _PROCESSED[key] = found
        result = found
    return result


def _process(active: Context, item, remote_stack: tuple) -> Context:
    """Process one local context item (a URL, a map or null) on top of `active`."""
    if item is None:
        return initial_context(active.base)
    if isinstance(item, str):
        url = resolve(active.base, item) if active.base and not is_absolute(item) else item
        if url in remote_stack:
            raise JsonLdError(f"recursive context inclusion of {url}")
        document = contexts.context_document(url)  # bundled, or RemoteContextRefused
        if not isinstance(document, dict) or "@context" not in document:
            raise JsonLdError(f"invalid remote context {url}")
        if id(document["@context"]) not in _STABLE:
            _remember(document["@context"], url)
        return process_context(active, document["@context"], remote_stack + (url,))
    if not isinstance(item, dict):
        raise JsonLdError("invalid local context: expected a map, a string or null")
    result = active.derive()
    if "@version" in item and item["@version"] != 1.1:
        raise JsonLdError(f"invalid @version value {item['@version']!r}")
    if "@import" in item or item.get("@propagate", True) is not True:
        raise Unsupported("@import / @propagate in a context")
    if "@base" in item:
        raise Unsupported("@base in a context")
    if "@vocab" in item:
        vocab = item["@vocab"]
        if vocab is None:
            result.vocab = None
        elif isinstance(vocab, str):
            result.vocab = _expand_iri(result, vocab, vocab=True, relative=True)
        else:
            raise JsonLdError("invalid @vocab mapping")
    if "@language" in item:
        language = item["@language"]
        if language is not None and not isinstance(language, str):
            raise JsonLdError("invalid default language")
        result.language = language or None
    defined: dict[str, bool] = {}
    for term in item:
        if term not in _CONTEXT_KEYS:
            _define(result, item, term, defined)
    return result


def _define(active: Context, local: dict, term: str, defined: dict) -> None:
    """Create Term Definition (JSON-LD 1.1 API 4.2.2), supported subset."""
    state = defined.get(term)
    if state is True:
        return
    if state is False:
        raise JsonLdError(f"cyclic IRI mapping for term {term!r}")
    defined[term] = False
    value = local[term]
    if term == "":
        raise JsonLdError("invalid term definition: empty term")
    if term in KEYWORDS:
        if term == "@type" and isinstance(value, dict) and set(value) <= {"@container", "@protected"}:
            defined[term] = True  # 1.1 allows @type: {"@container": "@set"}; nothing to record
            return
        raise JsonLdError(f"keyword redefinition: {term!r}")
    if _KEYWORD_FORM.match(term):
        defined[term] = True  # looks like a keyword: ignored, as the algorithm says
        return
    active.terms.pop(term, None)
    active.expanded.clear()
    simple = isinstance(value, str)
    if value is None:
        value = {"@id": None}
    elif simple:
        value = {"@id": value}
    elif not isinstance(value, dict):
        raise JsonLdError(f"invalid term definition for {term!r}")
    if "@reverse" in value or "@nest" in value:
        raise Unsupported("@reverse / @nest term definitions")
    definition = Term()
    if "@type" in value:
        kind = value["@type"]
        if not isinstance(kind, str):
            raise JsonLdError(f"invalid type mapping for {term!r}")
        kind = _expand_iri(active, kind, vocab=True, local=local, defined=defined)
        if kind in ("@json", "@none"):
            raise Unsupported(f"{kind} type mapping")
        if kind not in ("@id", "@vocab") and not (kind and is_absolute(kind)):
            raise JsonLdError(f"invalid type mapping {value['@type']!r} for {term!r}")
        definition.type = kind
    if "@id" in value and value["@id"] != term:
        target = value["@id"]
        if target is None:
            definition.iri = None
        elif not isinstance(target, str):
            raise JsonLdError(f"invalid IRI mapping for {term!r}")
        elif target not in KEYWORDS and _KEYWORD_FORM.match(target):
            defined[term] = True  # maps to a keyword-like string: ignored
            return
        else:
            definition.iri = _expand_iri(active, target, vocab=True, local=local, defined=defined)
            if definition.iri == "@context":
                raise JsonLdError("invalid keyword alias @context")
            if definition.iri is None or (definition.iri not in KEYWORDS and ":" not in definition.iri):
                raise JsonLdError(f"invalid IRI mapping for {term!r}")
            if (":" not in term and "/" not in term and simple
                    and (definition.iri.endswith(_GEN_DELIMS) or definition.iri.startswith("_:"))):
                definition.prefix = True
    elif ":" in term[1:]:
        prefix, suffix = term.split(":", 1)
        if prefix in local:
            _define(active, local, prefix, defined)
        prefix_term = active.terms.get(prefix)
        definition.iri = prefix_term.iri + suffix if prefix_term is not None and prefix_term.iri else term
    elif "/" in term:
        raise Unsupported("relative-IRI terms")
    elif active.vocab is not None:
        definition.iri = active.vocab + term
    else:
        raise JsonLdError(f"invalid IRI mapping for {term!r}: no @vocab")
    if "@container" in value:
        container = value["@container"]
        container = frozenset(container if isinstance(container, list) else [container])
        if not container <= {"@list", "@set", "@index", "@language"}:
            raise Unsupported(f"@container {sorted(container)}")
        if "@list" in container and len(container) > 1:
            raise JsonLdError(f"invalid container mapping for {term!r}")
        definition.container = container
    if "@index" in value:
        index = value["@index"]
        if "@index" not in definition.container or not isinstance(index, str) or index.startswith("@"):
            raise JsonLdError(f"invalid @index for {term!r}")
        definition.index = index
    if "@context" in value:
        definition.context = value["@context"]
    if "@language" in value and "@type" not in value:
        language = value["@language"]
        if language is not None and not isinstance(language, str):
            raise JsonLdError(f"invalid language mapping for {term!r}")
        definition.language = language or None
        definition.has_language = True
    if "@prefix" in value:
        if not isinstance(value["@prefix"], bool) or ":" in term or "/" in term:
            raise JsonLdError(f"invalid @prefix for {term!r}")
        definition.prefix = value["@prefix"]
    active.terms[term] = definition
    defined[term] = True


def _expand_iri(active: Context, value: str, vocab: bool = False, relative: bool = False,
                local: dict | None = None, defined: dict | None = None):
    """IRI Expansion (JSON-LD 1.1 API 5.2.2)."""
    if value in KEYWORDS:
        return value
    if value.startswith("@") and _KEYWORD_FORM.match(value):
        return None
    if local is not None and value in local and defined.get(value) is not True:
        _define(active, local, value, defined)
    term = active.terms.get(value)
    if term is not None and (vocab or term.iri in KEYWORDS):
        return term.iri
    if ":" in value[1:]:
        prefix, suffix = value.split(":", 1)
        if prefix == "_" or suffix.startswith("//"):
            return value
        if local is not None and prefix in local and defined.get(prefix) is not True:
            _define(active, local, prefix, defined)
        prefix_term = active.terms.get(prefix)
        if prefix_term is not None and prefix_term.iri and prefix_term.prefix:
            return prefix_term.iri + suffix
        if _SCHEME.match(value):
            return value
    if vocab and active.vocab is not None:
        return active.vocab + value
    if relative and active.base:
        return resolve(active.base, value)
    return value


def _key_iri(active: Context, key: str):
    """Expanded form of a member name, memoised on the (immutable) context."""
    try:
        return active.expanded[key]
    except KeyError:
        iri = _expand_iri(active, key, vocab=True)
        active.expanded[key] = iri
        return iri


def _scoped(active: Context, term: Term) -> Context:
    found = term.applied.get(active.key)
    if found is None:
        found = process_context(active, term.context)
        term.applied[active.key] = found
    return found


class Converter:
    """Turns one JSON-LD document into triples; records the JSON path of each node and statement."""

    def __init__(self, base: str):
        self.base = base
        self.triples: list[tuple] = []
        self.node_paths: dict = {}      # subject -> JSON path of the object that made it
        self.key_paths: dict = {}       # (subject, predicate) -> JSON path of the member
        self.bnodes: dict[str, BNode] = {}
        self.warnings: list[tuple[str, str]] = []  # (JSON path, message) of repaired conflicts
        self.repaired: set[str] = set()  # IRIs that needed percent-encoding
        self._iris: dict[str, URIRef | None] = {}

    # -- terms ----------------------------------------------------------------------------------
    def iri(self, value: str | None):
        """An RDF term for an expanded IRI or blank node id; None when it is not absolute."""
        if value is None:
            return None
        found = self._iris.get(value, False)
        if found is not False:
            return found
        if value.startswith("_:"):
            term = self.bnodes.setdefault(value, BNode())
        elif is_absolute(value):
            fixed = safe_iri(value)
            if fixed != value:
                self.repaired.add(value)
            term = URIRef(fixed)
        else:
            term = None
        self._iris[value] = term
        return term

    def literal(self, value, datatype: str | None = None, language: str | None = None):
        if isinstance(value, bool):
            return Literal("true" if value else "false", datatype=URIRef(datatype) if datatype else XSD_BOOLEAN)
        if isinstance(value, (int, float)):
            dt = URIRef(datatype) if datatype else None
            if isinstance(value, float) and (not value.is_integer() or abs(value) >= 1e21) or dt == XSD_DOUBLE:
                return Literal(canonical_double(float(value)), datatype=dt or XSD_DOUBLE)
            if abs(value) >= 1e21:
                return Literal(canonical_double(float(value)), datatype=dt or XSD_DOUBLE)
            return Literal(str(int(value)), datatype=dt or XSD_INTEGER)
        if datatype:
            return Literal(value, datatype=URIRef(datatype))
        if language:
            return Literal(value, lang=language)
        return Literal(value)

    # -- algorithm --------------------------------------------------------------------------------
    def document(self, doc: dict, context) -> object:
        """Convert a top-level JSON object; `context` is the effective top-level @context."""
        if not isinstance(doc, dict):
            raise Unsupported("top-level array")
        active = process_context(initial_context(self.base), context)
        body = {k: v for k, v in doc.items() if k != "@context"}
        return self.node(active, body, [])

    def node(self, active: Context, obj: dict, path: list):
        if "@context" in obj:
            active = process_context(active, obj["@context"])
        subject_id = None
        types = []
        members = []
        seen_keywords: dict[str, str] = {}
        for key, value in obj.items():
            if key == "@context":
                continue
            iri = _key_iri(active, key)
            if iri is None or (":" not in iri and iri not in KEYWORDS):
                continue  # no IRI for this member: JSON-LD drops it with its value
            if iri in KEYWORDS:
                if iri == "@type":  # JSON-LD 1.1: several @type aliases merge
                    types.extend(value if isinstance(value, list) else [value])
                    continue
                if iri in seen_keywords:
                    first = seen_keywords[iri]
                    if iri == "@id" and value != obj[first]:
                        # A TD's "id" is the Thing's identifier (TD 1.1 5.3.1); keep it, drop the other.
                        keep, drop = (key, first) if key != "@id" else (first, key)
                        self.warnings.append((".".join(map(str, path + [drop])),
                                              f"{drop!r} and {keep!r} both give this node's identifier; "
                                              f"{keep!r} ({obj[keep]!r}) is used"))
                        subject_id = obj[keep]
                        continue
                    if iri != "@id":
                        raise JsonLdError(f"colliding keywords: {first!r} and {key!r} both mean {iri}",
                                          ".".join(map(str, path + [key])))
                    continue
                seen_keywords[iri] = key
                if iri == "@id":
                    if not isinstance(value, str):
                        raise JsonLdError("invalid @id value", ".".join(map(str, path + [key])))
                    subject_id = value
                elif iri in _UNSUPPORTED_KEYS:
                    raise Unsupported(iri)
                elif iri in ("@value", "@list", "@set", "@language", "@direction"):
                    raise JsonLdError(f"invalid node object: {key!r} here", ".".join(map(str, path + [key])))
                continue  # @index and other keywords carry no triples on a node
            members.append((key, iri, value))
        if subject_id is not None:
            subject = self.iri(_expand_iri(active, subject_id, relative=True))
        else:
            subject = BNode()
        if subject is not None and subject not in self.node_paths:
            self.node_paths[subject] = ".".join(map(str, path))
        emit = self.triples.append
        for t in types:
            if not isinstance(t, str):
                raise JsonLdError("invalid type value", ".".join(map(str, path + ["@type"])))
            term_def = active.terms.get(t)
            if term_def is not None and term_def.context is not None:
                raise Unsupported("type-scoped context")
            o = self.iri(_expand_iri(active, t, vocab=True, relative=True))
            if subject is not None and o is not None:
                emit((subject, RDF_TYPE, o))
        for key, iri, value in members:
            predicate = self.iri(iri)
            if isinstance(predicate, BNode):
                # a blank-node predicate (generalized RDF): the statement is dropped, but nested
                # objects keep their own statements
                predicate = None
            key_path = path + [key]
            objects = self.values(active, key, value, key_path)
            if subject is None or predicate is None:
                continue
            if objects:
                self.key_paths.setdefault((subject, predicate), ".".join(map(str, key_path)))
            for o in objects:
                emit((subject, predicate, o))
        return subject

    def values(self, active: Context, key: str, value, path: list) -> list:
        """Objects of the statements member `key` makes (expansion steps 13.7-13.9, 13.4 onwards)."""
        if value is None:
            return []
        term = active.terms.get(key)
        container = term.container if term is not None else frozenset()
        if "@language" in container and isinstance(value, dict):
            out = []
            for language, strings in value.items():
                lang = None if _key_iri(active, language) == "@none" else language
                for s in strings if isinstance(strings, list) else [strings]:
                    if s is None:
                        continue
                    if not isinstance(s, str):
                        raise JsonLdError("invalid language map value", ".".join(map(str, path + [language])))
                    out.append(self.literal(s, language=lang))
            return out
        if "@index" in container and isinstance(value, dict):
            out = []
            index_key = term.index
            for index, items in value.items():
                expanded_index = _key_iri(active, index)
                for item in items if isinstance(items, list) else [items]:
                    for o in self.item(active, key, item, path + [index]):
                        if index_key and expanded_index != "@none":
                            if not isinstance(o, (URIRef, BNode)):
                                raise JsonLdError("property-valued index on a value", ".".join(map(str, path + [index])))
                            index_predicate = self.iri(_key_iri(active, index_key))
                            if index_predicate is not None:
                                index_value = self.scalar(active, index_key, index)
                                if index_value is not None:
                                    self.triples.append((o, index_predicate, index_value))
                        out.append(o)
            return out
        if "@list" in container:
            if isinstance(value, dict) and _key_iri(active, next(iter(value), "")) == "@list":
                return self.item(active, key, value, path)
            items = value if isinstance(value, list) else [value]
            return [self.rdf_list(active, key, items, path)]
        out = []
        for i, item in enumerate(value if isinstance(value, list) else [value]):
            out.extend(self.item(active, key, item, path + [i] if isinstance(value, list) else path))
        return out

    def item(self, active: Context, key: str, item, path: list) -> list:
        """Objects one array item (or single value) of member `key` stands for."""
        if item is None:
            return []
        if isinstance(item, list):  # nested arrays flatten outside @list
            out = []
            for i, sub in enumerate(item):
                out.extend(self.item(active, key, sub, path + [i]))
            return out
        term = active.terms.get(key)
        inner = _scoped(active, term) if term is not None and term.context is not None else active
        if not isinstance(item, dict):
            # JSON-LD 1.1 expansion 4.2: a property-scoped context applies to scalar values too
            o = self.scalar(inner, key, item)
            return [] if o is None else [o]
        if "@context" in item:
            inner = process_context(inner, item["@context"])
        kinds = {}
        for k in item:
            if k != "@context":
                iri = _key_iri(inner, k)
                if iri in ("@value", "@list", "@set", "@type", "@language", "@index", "@direction"):
                    kinds[iri] = k
        if "@value" in kinds:
            return self.value_object(inner, item, kinds, path)
        if "@list" in kinds:
            inside = item[kinds["@list"]]
            return [self.rdf_list(inner, key, inside if isinstance(inside, list) else [inside], path)]
        if "@set" in kinds:
            inside = item[kinds["@set"]]
            return self.values(inner, key, inside, path) if inside is not None else []
        node = self.node(inner, item, path)
        return [] if node is None else [node]

    def value_object(self, active: Context, item: dict, kinds: dict, path: list) -> list:
        value = item[kinds["@value"]]
        if value is None:
            return []
        datatype = item.get(kinds["@type"]) if "@type" in kinds else None
        language = item.get(kinds["@language"]) if "@language" in kinds else None
        if isinstance(value, (dict, list)):
            raise JsonLdError("invalid value object value", ".".join(map(str, path)))
        if datatype is not None:
            if not isinstance(datatype, str):
                raise JsonLdError("invalid typed value", ".".join(map(str, path)))
            datatype = _expand_iri(active, datatype, vocab=True, relative=True)
            if datatype == "@json":
                raise Unsupported("@json literal")
            if not is_absolute(datatype):
                return []
            return [self.literal(value, datatype=safe_iri(datatype))]
        if language is not None:
            if not isinstance(value, str) or not isinstance(language, str):
                raise JsonLdError("invalid language-tagged value", ".".join(map(str, path)))
            return [self.literal(value, language=language)]
        return [self.literal(value)]

    def scalar(self, active: Context, key: str, value):
        """Value Expansion (JSON-LD 1.1 API 5.3.2) of a string, number or boolean, then toRdf."""
        term = active.terms.get(key)
        kind = term.type if term is not None else None
        if isinstance(value, str):
            if kind == "@id":
                return self.iri(_expand_iri(active, value, relative=True))
            if kind == "@vocab":
                return self.iri(_expand_iri(active, value, vocab=True, relative=True))
        if kind is not None and kind not in ("@id", "@vocab"):
            return self.literal(value, datatype=kind)
        if isinstance(value, str):
            language = term.language if term is not None and term.has_language else active.language
            return self.literal(value, language=language)
        return self.literal(value)

    def rdf_list(self, active: Context, key: str, items: list, path: list):
        objects = []
        for i, item in enumerate(items):
            if isinstance(item, list):
                raise Unsupported("list of lists")
            objects.extend(self.item(active, key, item, path + [i]))
        if not objects:
            return RDF_NIL
        head = BNode()
        node = head
        for i, o in enumerate(objects):
            self.triples.append((node, RDF_FIRST, o))
            nxt = BNode() if i + 1 < len(objects) else RDF_NIL
            self.triples.append((node, RDF_REST, nxt))
            node = nxt
        return head


def to_triples(doc: dict, base: str, context=None) -> Converter:
    """Convert a JSON-LD document; `context` overrides its @context (e.g. with prefixes added).

    Returns the Converter: `.triples`, `.node_paths`, `.key_paths`; the root node is
    `.root`. Raises Unsupported (use a general processor), JsonLdError, or
    kg.contexts.RemoteContextRefused."""
    conv = Converter(base)
    ctx = doc.get("@context") if context is None else context
    conv.root = conv.document(doc, ctx)
    return conv
