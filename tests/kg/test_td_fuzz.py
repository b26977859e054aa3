"""Property-based fuzzing of the TD importer (kg.td.check_td / import_td).

Arbitrary JSON values, raw bytes, and mutations of a valid TD (dropped or replaced members,
wrong types in properties / forms / security, random or remote @context URLs) must each end
in one of the importer's documented outcomes: check_td returns an Outcome, import_td returns
one or raises InputError. A rejected document leaves the store's quad count unchanged, an
accepted one exports byte for byte, and no socket is ever opened (Arachne never fetches)."""
from __future__ import annotations

import copy
import json
import socket

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from kg import td
from kg.errors import InputError
from kg.store import Store

SETTINGS = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

VALID_TD = {
    "@context": "https://www.w3.org/2022/wot/td/v1.1",
    "id": "urn:dev:fuzz:lamp",
    "title": "Fuzz lamp",
    "securityDefinitions": {"nosec_sc": {"scheme": "nosec"}},
    "security": "nosec_sc",
    "properties": {"status": {"type": "string", "readOnly": True,
                              "forms": [{"href": "https://lamp.example/status"}]}},
    "actions": {"toggle": {"forms": [{"href": "https://lamp.example/toggle"}]}},
    "events": {"overheating": {"data": {"type": "string"}, "forms": [{"href": "https://lamp.example/oh"}]}},
}

# -- strategies -------------------------------------------------------------------------------------

# Lone surrogates (category Cs) are left out of generated text; an escaped one ("\\ud800") has its
# own test (test_escaped_lone_surrogate_is_an_input_error).
texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
member_names = st.text(st.characters(blacklist_categories=("Cs",)), max_size=10)
scalars = st.none() | st.booleans() | st.integers() | st.floats() | texts
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(member_names, children, max_size=4),
    max_leaves=20)

REMOTE_URLS = ["http://example.com/context.jsonld", "https://schema.org/", "https://evil.example/ctx",
               "http://127.0.0.1:9/ctx.jsonld", "ftp://x/ctx", "//host/ctx", "file:///etc/passwd"]
KNOWN_URLS = ["https://www.w3.org/2022/wot/td/v1.1", "https://www.w3.org/2019/wot/td/v1",
              "https://w3id.org/arachne/td-context.jsonld"]
context_values = st.one_of(
    texts,
    st.sampled_from(REMOTE_URLS + KNOWN_URLS),
    st.lists(st.sampled_from(REMOTE_URLS + KNOWN_URLS) | texts, min_size=1, max_size=3),
    st.builds(lambda url: [KNOWN_URLS[0], url], st.sampled_from(REMOTE_URLS)),
    st.builds(lambda url: [KNOWN_URLS[0], {"ex": url, "@context": url}], st.sampled_from(REMOTE_URLS)),
    json_values,
)

# where to poke the valid TD: (path to a container, member) pairs, checked before use
TARGETS = [(), ("properties",), ("properties", "status"), ("properties", "status", "forms"),
           ("properties", "status", "forms", 0), ("securityDefinitions",), ("securityDefinitions", "nosec_sc"),
           ("actions", "toggle"), ("actions", "toggle", "forms", 0), ("events", "overheating")]


def _container(doc, path):
    node = doc
    for part in path:
        node = node[part]
    return node


@st.composite
def mutated_tds(draw):
    doc = copy.deepcopy(VALID_TD)
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["drop", "replace", "add", "context", "security", "forms"]))
        if op == "context":
            doc["@context"] = draw(context_values)
            continue
        if op == "security":
            doc["security"] = draw(st.one_of(json_values, st.just(["missing"]), st.just({"nosec_sc": 1})))
            continue
        if op == "forms":
            doc.setdefault("properties", {})["status"] = {
                "type": draw(st.sampled_from(["string", "number", "bogus"]) | json_values),
                "forms": draw(json_values | st.just([{"href": draw(json_values)}]))}
            continue
        path = draw(st.sampled_from(TARGETS))
        try:
            node = _container(doc, path)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier step already replaced something on the way
        if isinstance(node, dict):
            keys = sorted(node)
            if op == "drop" and keys:
                del node[draw(st.sampled_from(keys))]
            elif op == "replace" and keys:
                node[draw(st.sampled_from(keys))] = draw(json_values)
            else:
                node[draw(member_names)] = draw(json_values)
        elif isinstance(node, list):
            if op == "drop" and node:
                node.pop()
            else:
                node.append(draw(json_values))
    return doc


def encode(value, ascii_only: bool) -> bytes:
    # surrogatepass: text with lone surrogates becomes ill-formed UTF-8, which must be refused too
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


documents = st.one_of(
    st.builds(encode, json_values, st.booleans()),
    st.builds(encode, mutated_tds(), st.booleans()),
    st.binary(max_size=200),
)

# -- fixtures ---------------------------------------------------------------------------------------

ATTEMPTS: list = []


@pytest.fixture(scope="module", autouse=True)
def no_network():
    """Every outbound connection attempt is recorded and refused for the whole module."""

    def refuse(*args, **kwargs):
        ATTEMPTS.append(args[1:2] or args[:1])
        raise OSError("network access attempted during a TD import test")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", refuse)
        mp.setattr(socket.socket, "connect_ex", refuse)
        mp.setattr(socket, "create_connection", refuse)
        mp.setattr(socket, "getaddrinfo", refuse)
        td.prepare()
        yield
    assert not ATTEMPTS, f"the TD importer tried to reach the network: {ATTEMPTS}"


@pytest.fixture(scope="module")
def store():
    return Store()


STATS = {"valid": 0, "rejected": 0}


def check_one(store, raw: bytes) -> None:
    checked = td.check_td(raw, source="fuzz.json")  # never raises: the Outcome carries the problems
    assert checked.status in ("valid", "rejected")
    assert checked.ok == (checked.status == "valid")
    assert checked.ok or all(p.kind and p.message for p in checked.problems)

    before = store.count()
    try:
        outcome = td.import_td(store, raw, source="fuzz.json")
    except InputError as exc:
        assert exc.problems and exc.message
        assert store.count() == before, "a rejected TD changed the store"
        # check_td and import_td agree, except when only the store refused the graph
        assert not checked.ok or "[store]" in exc.message, exc.message
        STATS["rejected"] += 1
        return
    assert checked.ok, f"import_td accepted what check_td rejected: {checked.problems}"
    assert outcome.status == "imported" and outcome.iri
    assert store.has_graph(outcome.iri)
    assert td.export_td(store, outcome.iri) == raw
    STATS["valid"] += 1


# -- tests --------------------------------------------------------------------------------------------

def test_the_seed_td_is_valid(store):
    raw = encode(VALID_TD, False)
    check_one(store, raw)
    assert STATS["valid"] == 1


@SETTINGS
@given(raw=documents)
@example(raw=b"")
@example(raw=b"\xef\xbb\xbf{}")
@example(raw=b"[" * 5000 + b"]" * 5000)
@example(raw=b'{"a":' * 3000 + b"1" + b"}" * 3000)
@example(raw=json.dumps({**VALID_TD, "title": "nul\u0000 and \u2028"}).encode())
@example(raw=json.dumps({**VALID_TD, "@context": "http://example.com/ctx.jsonld"}).encode())
@example(raw=json.dumps({**VALID_TD, "id": "not an iri <>"}).encode())
@example(raw=json.dumps({**VALID_TD, "title": 1e400}).replace("Infinity", "1e400").encode())
@example(raw=b'{"title": NaN}')
def test_any_input_ends_in_a_documented_outcome(store, raw):
    check_one(store, raw)


@SETTINGS
@given(doc=mutated_tds(), ascii_only=st.booleans())
def test_mutated_tds_end_in_a_documented_outcome(store, doc, ascii_only):
    check_one(store, encode(doc, ascii_only))


@pytest.mark.parametrize("url", REMOTE_URLS)
def test_remote_context_is_refused_by_name_without_fetching(store, url):
    for context in (url, [KNOWN_URLS[0], url]):
        raw = encode({**VALID_TD, "@context": context}, True)
        before, attempts = store.count(), len(ATTEMPTS)
        with pytest.raises(InputError) as exc:
            td.import_td(store, raw)
        assert any(f.startswith("@context") and url in m for f, m in exc.value.problems), exc.value.problems
        assert store.count() == before and len(ATTEMPTS) == attempts


def test_escaped_lone_surrogate_is_an_input_error(store):
    raw = json.dumps({**VALID_TD, "id": "urn:dev:fuzz:surrogate", "title": "\ud800"}).encode()
    assert b"\\ud800" in raw  # ASCII bytes, valid UTF-8, syntactically valid JSON
    before = store.count()
    with pytest.raises(InputError) as exc:
        td.import_td(store, raw)
    assert ("title", ) == tuple(f for f, _ in exc.value.problems) and "surrogate" in str(exc.value)
    assert store.count() == before


def test_the_fuzz_reached_both_outcomes():
    # runs after the property test (file order): both branches must have been exercised
    print("fuzz outcomes:", STATS)
    assert STATS["valid"] >= 2 and STATS["rejected"] >= 20, STATS
