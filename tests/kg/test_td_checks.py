"""JSON Schema validation (fast verdict, complete error lists) and the TD assertions (kg.td_checks)."""
import csv
import json

import pytest

from kg import td_checks


def corpus_docs(shared, categories=("td", "tm", "invalid")):
    for row in csv.DictReader(open(shared / "tds" / "manifest.csv", encoding="utf-8")):
        if row["category"] in categories and row["json_valid"] == "yes":
            doc = json.loads((shared / "tds" / row["path"]).read_bytes().decode("utf-8-sig"))
            if isinstance(doc, dict):
                yield row, doc


def test_fast_verdict_agrees_with_jsonschema_on_the_whole_corpus(shared):
    """fastjsonschema decides valid/invalid; jsonschema (the reference) must agree on every file,
    and so must the manifest, which was computed with the same W3C schemas."""
    disagreements, checked = [], 0
    for row, doc in corpus_docs(shared):
        tm = td_checks.is_thing_model(doc)
        validator = td_checks.tm_validator() if tm else td_checks.td_validator()
        full = not any(True for _ in validator._full.iter_errors(doc))
        checked += 1
        if validator.is_valid(doc) != full:
            disagreements.append(row["path"])
    assert checked > 1400 and disagreements == []


def test_schema_verdicts_match_the_manifest(shared):
    """Documents the manifest validated with the TM schema but that do not say tm:ThingModel
    (they say "ThingModel") are treated as Thing Models too, so the verdicts agree everywhere."""
    mismatches = []
    for row, doc in corpus_docs(shared, ("td", "tm")):
        valid = not td_checks.schema_problems(doc, td_checks.is_thing_model(doc))
        if valid != (row["schema_valid"] == "pass"):
            mismatches.append(row["path"])
    assert mismatches == []


def test_inlined_schema_reports_the_same_errors(shared):
    from jsonschema import validators

    schema = json.loads(td_checks.TD_SCHEMA.read_text())
    plain = validators.validator_for(schema)(schema)
    inlined = td_checks.td_validator()._full
    docs = [doc for row, doc in corpus_docs(shared, ("td",)) if row["schema_valid"] == "fail"][::4]
    assert len(docs) > 50
    for doc in docs:
        errors = lambda v: sorted((list(e.absolute_path), e.message) for e in v.iter_errors(doc))  # noqa: E731
        assert errors(plain) == errors(inlined)


def test_every_schema_error_is_reported_with_its_path():
    doc = {"@context": "https://www.w3.org/2022/wot/td/v1.1", "title": "t",
           "securityDefinitions": {"n": {"scheme": "nosec"}}, "security": "n",
           "properties": {"status": {"forms": [{"op": "readproperty"}]}},
           "events": {"e": {"forms": []}}}
    problems = td_checks.schema_problems(doc, False)
    assert {(p.kind, p.field) for p in problems} == {
        ("schema", "properties.status.forms.0.href"), ("schema", "events.e.forms")}


def test_security_names_must_be_defined():
    doc = {"securityDefinitions": {"basic_sc": {"scheme": "basic"}}, "security": ["basic_sc"],
           "actions": {"toggle": {"forms": [{"href": "x", "security": ["someScheme"]}]}}}
    assert [(p.kind, p.field) for p in td_checks.security_problems(doc)] == [("security", "actions.toggle.forms.0.security.0")]


def test_one_type_link_at_most():
    doc = {"links": [{"rel": "type", "href": "a"}, {"rel": "type", "href": "b"}, {"rel": "item", "href": "c"}]}
    assert [p.field for p in td_checks.link_problems(doc)] == ["links.1.rel"]


def test_enum_values_must_match_the_type():
    doc = {"properties": {"status": {"type": "number", "enum": ["on", 1]},
                          "obj": {"type": "object", "properties": {"n": {"type": "integer", "const": 1.5}}}}}
    assert sorted(p.field for p in td_checks.data_schema_problems(doc)) == [
        "properties.obj.properties.n.const", "properties.status.enum.0"]


@pytest.mark.parametrize("prefix_iri", ["https://www.w3.org/2019/wot/modbus", "https://www.w3.org/2019/wot/modbus#"])
def test_modbus_binding_terms_have_json_types(prefix_iri):
    doc = {"@context": ["https://www.w3.org/2022/wot/td/v1.1", {"mb": prefix_iri}],
           "properties": {"p": {"forms": [{"href": "/", "mb:zeroBasedAddressing": "no", "mb:address": "{{ADDR}}"}]}}}
    assert [p.field for p in td_checks.binding_problems(doc)] == ["properties.p.forms.0.mb:zeroBasedAddressing"]
