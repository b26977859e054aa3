"""Importing Thing Descriptions end to end (kg.td): the whole W3C corpus, the broken files, Thing
Models, round trips, strict and lenient modes, the hardware profile, the demo TDs and the CLI."""
import csv
import gc
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kg import td
from kg.errors import InputError
from kg.ids import device_iri
from kg.store import Store

DEMO_TDS = Path(__file__).resolve().parents[2] / "kg" / "demo" / "tds"

# Each broken file's manifest reason, mapped to the kinds of problem (kg.td_checks.KINDS) that
# must be among what the importer reports for it.
REASON_KINDS = {
    "absence of @context": {"schema"},
    "absence of @type": {"schema"},  # without tm:ThingModel it is read as a TD and misses TD members
    "no curly bracket": {"schema"},
    "single curly bracket": {"schema"},
    "domus-tdd-api test fixture: TD that must be rejected by JSON Schema validation": {"schema"},
    "domus-tdd-api test fixture: not parseable JSON": {"json-syntax"},
    "Invalid TD since op in actions uses camelCase": {"schema"},
    "Invalid TD due to duplicate items in enum of data schema": {"schema"},
    "duplicate JSON member names for property affordances; Python/JS JSON parsers silently keep the last one, so JSON Schema passes": {"duplicate-key"},
    "duplicate JSON member names inside securityDefinitions; parsers keep the last one, so JSON Schema passes": {"duplicate-key"},
    "Invalid TD due the an empty enum in data schema": {"schema"},
    "Invalid TD since forms cannot be an empty array": {"schema"},
    "form has op: [] (empty array)": {"schema"},
    "Invalid TD since the securityDefinitions field is empty": {"schema"},
    "Invalid TD since the security field is empty": {"schema"},
    "Invalid TD since the action contains a type that is not supported": {"schema"},
    "Invalid TD since the interaction called wrongAction is not object": {"schema"},
    "Invalid TD since 3rd form of brightness property has an op value reserved for events": {"schema"},
    "Invalid TD since security in toggle action references to an unknown securityDefinition": {"security"},
    "Invalid TD since securityDefinition basic_sc contains an unknown scheme": {"schema"},
    "Invalid TD due to having multiple rel:type": {"links"},
    "Invalid TD since it has no @context key": {"schema"},
    "Invalid TD since property has no form in property": {"schema"},
    "Invalid TD since action has no form in actions": {"schema"},
    "Invalid TD since event has no form in events": {"schema"},
    "Invalid TD since overheating event has a form with no href": {"schema"},
    "Invalid TD since it has no title key": {"schema"},
    "TD that does not respect the status property type": {"data-schema"},
    "Invalid TD since instance key is missing from version": {"schema"},
    "tm:optional points to '#/properties/status/type', which is not an interaction affordance (source $comment: 'example 57 of the spec')": {"schema"},
    "tm:extends link points to a parent TM URL that cannot be fetched (only detectable by resolving links)": {"unresolved-link"},
    "modbus:zeroBasedAddressing is the string 'no' instead of a boolean: only the Modbus binding schema catches it (tmc fixture)": {"binding"},
    "modv:zeroBasedAddressing is the string 'no' instead of a boolean: only the Modbus binding schema catches it, the core TM schema passes (tmc fixture; diffed vs modbus-senseall.json)": {"binding"},
    "readOnly is the string 'true' instead of a boolean (tmc fixture; diffed vs omnilamp.json)": {"schema"},
    "properties/actions/events are JSON arrays instead of maps (toolchain-tmp fixture; diffed vs basic-td-valid)": {"schema"},
    "title is an object; security and securityDefinitions missing (toolchain-tmp fixture)": {"schema"},
    "property form is {} (no href) (toolchain-tmp fixture)": {"schema"},
    "action form is {} (no href) (toolchain-tmp fixture)": {"schema"},
    "action carries href directly instead of a forms array (toolchain-tmp fixture)": {"schema"},
    "event form is {} (no href) (toolchain-tmp fixture)": {"schema"},
    "unknown security scheme 'invalidScheme' (toolchain-tmp fixture)": {"schema"},
    "only @context and @type: title, security, securityDefinitions missing (W3C TD repo validation/resources)": {"schema"},
    "placeholder misuse: '{{myvar}}' as a member name and placeholders in non-string slots (W3C TD repo validation/resources)": {"schema"},
    "TM carries version.instance (TMs must use version.model) (W3C TD repo validation/resources)": {"schema"},
    "tm:optional pointer '/properties/' does not name an affordance (W3C TD repo validation/resources)": {"schema"},
}


def manifest(shared):
    return {str(shared / "tds" / r["path"]): r for r in csv.DictReader(open(shared / "tds" / "manifest.csv", encoding="utf-8"))}


@pytest.fixture(scope="module")
def corpus(shared):
    """The whole corpus (TDs, TMs, broken files) imported once, with both cores."""
    store = Store()
    report = td.import_paths(store, [shared / "tds" / "corpus", shared / "tds" / "corpus_tm",
                                     shared / "tds" / "corpus_invalid"], workers=2)
    return store, report, {o.source: o for o in report.outcomes}


def test_corpus_walk_imports_every_schema_valid_td_and_reports_the_rest(shared, corpus):
    store, report, by_source = corpus
    rows = manifest(shared)
    tds = {path: row for path, row in rows.items() if row["category"] == "td"}
    assert set(tds) <= set(by_source)
    for path, row in tds.items():
        outcome = by_source[path]
        assert not any("internal error" in p.message for p in outcome.problems), path
        if row["json_valid"] == "yes" and row["schema_valid"] == "pass":
            assert outcome.status == "imported", (path, [p.message for p in outcome.problems])
        elif outcome.status != "imported":
            assert outcome.problems and all(p.field is not None and p.message for p in outcome.problems), path
    imported = [p for p in tds if by_source[p].status == "imported"]
    assert len(imported) >= 598
    devices = store.select("PREFIX ar: <https://w3id.org/arachne#> SELECT (COUNT(DISTINCT ?d) AS ?n) "
                           "WHERE { ?d a ar:Device , <https://www.w3.org/2019/wot/td#Thing> }").values()[0][0]
    # the last document imported with an id owns its graph (one IRI, one graph): a device when it is a TD
    # (schema-valid files of corpus_invalid whose only fault is a data-schema warning import too)
    last_kind = {o.iri: o.kind for o in report.imported}
    assert devices == sum(kind == "td" for kind in last_kind.values())
    replaced = [o for o in report.imported if any(w.kind == "replaced" for w in o.warnings)]
    assert replaced


def test_every_broken_file_is_rejected_or_flagged_for_its_reason(shared, corpus):
    _, _, by_source = corpus
    invalid = {path: row for path, row in manifest(shared).items() if row["category"] == "invalid"}
    assert len(invalid) == 49
    for path, row in invalid.items():
        outcome = by_source[path]
        expected = REASON_KINDS[row["invalid_reason"]]
        found = {p.kind for p in outcome.problems} | {w.kind for w in outcome.warnings}
        assert outcome.status == "rejected" or outcome.warnings, path
        assert expected & found, (path, row["invalid_reason"], found)


def test_thing_models_are_device_models(shared, corpus):
    store, _, by_source = corpus
    rows = manifest(shared)
    tms = [p for p, r in rows.items() if r["category"] == "tm" and r["json_valid"] == "yes" and r["schema_valid"] == "pass"]
    assert len(tms) > 350
    for path in tms:
        assert by_source[path].status == "imported" and by_source[path].kind == "tm", path
    models = store.select("PREFIX ar: <https://w3id.org/arachne#> SELECT DISTINCT ?m WHERE { ?m a ar:DeviceModel }")
    assert len(models) >= len({by_source[p].iri for p in tms}) > 100
    assert not store.query("PREFIX ar: <https://w3id.org/arachne#> ASK { ?m a ar:DeviceModel , ar:Device }")


def test_round_trip_is_byte_for_byte(shared, tmp_path):
    rows = manifest(shared)
    with_bom = next(p for p, r in rows.items() if r["schema_valid"] == "pass" and r["category"] in ("td", "tm")
                    and Path(p).read_bytes().startswith(b"\xef\xbb\xbf"))
    crlf = next(p for p, r in rows.items() if r["schema_valid"] == "pass" and r["category"] in ("td", "tm")
                and b"\r\n" in Path(p).read_bytes())
    unusual = tmp_path / "unusual.td.json"  # BOM, CRLF, tabs, non-ASCII, escapes, no final newline
    text = (DEMO_TDS / "adafruit-pybadge.td.jsonld").read_text().replace("\n", "\r\n").replace("  ", "\t")
    text = text.replace('"title": "Adafruit PyBadge"', '"title": "Adafruit PyBadge \u00e9\\u00e8 \\"q\\""').rstrip()
    unusual.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    big = max((p for p, r in rows.items() if r["schema_valid"] == "pass" and r["category"] == "td"),
              key=lambda p: int(rows[p]["size_bytes"]))
    store = Store(tmp_path / "db")
    report = td.import_paths(store, [with_bom, crlf, big, unusual, DEMO_TDS / "arduino-nano-33-ble-sense.td.jsonld"],
                             workers=1)
    assert [o.status for o in report.outcomes] == ["imported"] * 5
    del store
    store = Store(tmp_path / "db")  # from disk
    for outcome in report.outcomes:
        assert td.export_td(store, outcome.iri) == Path(outcome.source).read_bytes()
    assert td.export_td(store, "arduino-nano-33-ble-sense") == (DEMO_TDS / "arduino-nano-33-ble-sense.td.jsonld").read_bytes()
    turtle = td.export_td_rdf(store, "arduino-nano-33-ble-sense").decode()
    assert "ar:ramBytes 262144" in turtle and "verbatim" not in turtle


def test_strict_stops_at_the_first_invalid_file_and_writes_nothing(shared):
    store = Store()
    files = [DEMO_TDS / "arduino-nano-33-ble-sense.td.jsonld",
             shared / "tds" / "corpus_invalid" / "playground__core-examples" / "tds__invalid__noTitle.json",
             DEMO_TDS / "adafruit-pybadge.td.jsonld"]
    report = td.import_paths(store, files, strict=True, workers=1)
    assert report.stopped_early and len(report.outcomes) == 2
    assert store.graph_names() == []
    report = td.import_paths(store, files, workers=1)
    assert [o.status for o in report.outcomes] == ["imported", "rejected", "imported"]


def test_lenient_accepts_comments_and_trailing_commas(shared):
    rows = manifest(shared)
    loose = sorted(p for p, r in rows.items() if r["category"] in ("td", "tm") and r["json_valid"] == "no")
    strict = td.import_paths(Store(), loose, workers=1)
    parse_errors = {"not-strict-json", "json-syntax"}
    hinted = [o.source for o in strict.outcomes if o.reasons == ["not-strict-json"]]
    assert hinted and all("--lenient" in o.problems[0].message for o in strict.outcomes if o.source in hinted)
    lenient = {o.source: o for o in td.import_paths(Store(), loose, lenient=True, workers=1).outcomes}
    for source in hinted:  # JSON5 parses them, or says why not (a bare word is not JSON5 either)
        outcome = lenient[source]
        if "json-syntax" in outcome.reasons:
            assert "nor JSON5" in outcome.problems[0].message
        else:
            assert any(w.kind == "not-strict-json" for w in outcome.warnings)
    assert any("json-syntax" not in lenient[s].reasons for s in hinted)


def test_nothing_is_half_imported_when_shacl_fails():
    store = Store()
    doc = {"@context": ["https://www.w3.org/2022/wot/td/v1.1", "https://w3id.org/arachne/td-context.jsonld"],
           "id": "urn:dev:bad-ram", "title": "Bad", "securityDefinitions": {"n": {"scheme": "nosec"}}, "security": "n",
           "ar:ramBytes": "plenty", "ar:hasFPU": "yes"}
    with pytest.raises(InputError) as exc:
        td.import_td(store, doc)
    assert {field for field, _ in exc.value.problems} == {"ar:ramBytes", "ar:hasFPU"}
    assert not store.has_graph("urn:dev:bad-ram") and store.graph_names() == []


def test_hardware_profile_sensors_board_and_thing_model():
    store = Store()
    td.import_paths(store, [DEMO_TDS / "arduino-nano-33-ble-sense.td.jsonld"], workers=1)
    vendor = {"@context": ["https://www.w3.org/2022/wot/td/v1.1", {"saref": "https://w3id.org/saref#"}],
              "id": "urn:dev:acme:gesture-7", "title": "ACME gesture kit (Arduino Nano 33 BLE Sense inside)",
              "securityDefinitions": {"n": {"scheme": "nosec"}}, "security": "n",
              "links": [{"rel": "type", "href": "https://acme.example/tm/gesture.tm.jsonld", "type": "application/tm+json"}],
              "properties": {
                  "accel": {"@type": "saref:Acceleration", "type": "number", "readOnly": True, "forms": [{"href": "/a"}]},
                  "frame": {"title": "Camera image", "type": "string", "forms": [{"href": "/img"}]},
                  "colorTemperature": {"type": "number", "forms": [{"href": "/ct"}]},
                  "targetTemperature": {"type": "number", "writeOnly": True, "forms": [{"href": "/tt"}]}},
              "events": {"noiseDetected": {"data": {"type": "number"}, "forms": [{"href": "/n"}]}}}
    outcome = td.import_td(store, vendor)
    assert outcome.board == device_iri("Arduino-Nano-33-BLE-Sense")
    assert outcome.sensors == ["accelerometer", "camera", "microphone"]
    assert [w.kind for w in outcome.warnings] == ["unresolved-link"]
    rows = store.select("""PREFIX ar: <https://w3id.org/arachne#>
        SELECT ?board ?tm (GROUP_CONCAT(STRAFTER(STR(?c), "#"); separator=",") AS ?sensors) WHERE {
          <urn:dev:acme:gesture-7> a ar:Device ; ar:board ?board ; ar:instanceOf ?tm ; ar:hasSensor/a ?c }
        GROUP BY ?board ?tm""").values()
    assert rows[0][0] == device_iri("Arduino-Nano-33-BLE-Sense")
    assert rows[0][1] == "https://acme.example/tm/gesture.tm.jsonld"
    assert sorted(rows[0][2].split(",")) == ["Accelerometer", "Camera", "Microphone"]
    nano = store.select("""PREFIX ar: <https://w3id.org/arachne#> SELECT ?ram ?flash ?mhz ?fpu ?core ?rt WHERE {
        <%s> ar:ramBytes ?ram ; ar:flashBytes ?flash ; ar:clockMHz ?mhz ; ar:hasFPU ?fpu ;
             ar:processorCore ?core ; ar:supportsRuntime ?rt }""" % device_iri("Arduino-Nano-33-BLE-Sense"))
    ram, flash, mhz, fpu, core, runtime = nano.rows[0]
    assert (ram.toPython(), flash.toPython(), float(mhz.toPython()), fpu.toPython(), str(core)) == \
        (262144, 1048576, 64.0, True, "Cortex-M4F")
    assert str(runtime) == "https://w3id.org/arachne/runtime/tflite-micro"
    assert ram.datatype.endswith("#integer") and mhz.datatype.endswith("#decimal")
    assert not store.query("ASK { <%s> <https://w3id.org/arachne#hasSensor>/a <https://w3id.org/arachne#Camera> }"
                           % device_iri("Arduino-Nano-33-BLE-Sense"))


def test_demo_tds_import_with_benchmark_ids():
    store = Store()
    report = td.import_paths(store, [DEMO_TDS], workers=1)
    assert len(report.outcomes) >= 50 and not report.rejected
    for name in ("Arduino-Nano-33-BLE-Sense", "NUCLEO-L4R5ZI", "STM32N6570-DK", "Syntiant-TinyML", "NDP9120"):
        assert store.has_graph(device_iri(name)), name
    stm32 = store.select("""PREFIX ar: <https://w3id.org/arachne#> SELECT ?rt WHERE { <%s> ar:supportsRuntime ?rt }"""
                         % device_iri("NUCLEO-L4R5ZI")).column("rt")
    assert "https://w3id.org/arachne/runtime/st-edge-ai" in stm32


def test_cli_import_and_export(tmp_path, shared):
    from registry.cli import cli
    runner = CliRunner()
    db = str(tmp_path / "db")
    nano = DEMO_TDS / "arduino-nano-33-ble-sense.td.jsonld"
    bad = shared / "tds" / "corpus_invalid" / "playground__core-examples" / "tds__invalid__noHref.json"
    result = runner.invoke(cli, ["--store", db, "import-td", str(nano), str(bad)], obj={})
    assert result.exit_code == 2, result.output
    assert "imported" in result.output and "events.overheating.forms.0.href" in result.output
    del result
    gc.collect()  # the finished invocation's traceback held the store (and its lock)
    result = runner.invoke(cli, ["--store", db, "import-td", "--strict", str(bad), str(nano)], obj={})
    assert result.exit_code == 1 and "nothing was written" in result.output
    del result
    gc.collect()
    result = runner.invoke(cli, ["--store", db, "export-td", "arduino-nano-33-ble-sense"], obj={})
    assert result.exit_code == 0 and result.stdout_bytes == nano.read_bytes()
    result = runner.invoke(cli, ["--store", db, "export-td", device_iri("Arduino-Nano-33-BLE-Sense"), "--rdf", "turtle"], obj={})
    assert result.exit_code == 0 and "ar:Device" in result.output
    del result
    gc.collect()
    result = runner.invoke(cli, ["--store", db, "export-td", "no-such-thing"], obj={})
    assert result.exit_code == 1
    del result
    gc.collect()
    result = runner.invoke(cli, ["--store", db, "import-td", "--json", str(nano)], obj={})
    assert json.loads(result.stdout)["imported"] == 1


def test_the_documented_example_imports_as_documented():
    import re

    text = (Path(__file__).resolve().parents[2] / "docs" / "td-extension.md").read_text()
    example = re.findall(r"```json\n(\{.*?\})\n```", text, re.S)[-1]
    store = Store()
    td.import_paths(store, [DEMO_TDS / "arduino-nano-33-ble-sense.td.jsonld"], workers=1)
    outcome = td.import_td(store, example.encode(), "node-17.td.json")
    assert outcome.board == device_iri("Arduino-Nano-33-BLE-Sense")
    assert outcome.sensors == ["accelerometer", "microphone"]
    facts = dict(store.select("PREFIX ar: <https://w3id.org/arachne#> SELECT ?p ?o WHERE { "
                              "<urn:dev:acme:gesture-node-17> ?p ?o }").values())
    assert facts["https://w3id.org/arachne#flashBytes"] == 1048576
    assert facts["https://w3id.org/arachne#instanceOf"] == "https://acme.example/models/gesture-node.tm.jsonld"
    assert td.export_td(store, "urn:dev:acme:gesture-node-17") == example.encode()


def test_importing_the_same_corpus_twice_changes_nothing(shared):
    """Vendors' Things are devices, not boards: a second import must not link the "Counter" TDs
    of the first one to each other (ar:board), or change anything else."""
    from rdflib.compare import isomorphic

    corpus = shared / "tds" / "corpus"
    parts = [corpus / "wot-testing__data-input_2022", corpus / "wot-testing__2022.03.Online",
             corpus / "test-things", DEMO_TDS / "arduino-nano-33-ble-sense.td.jsonld"]
    store = Store()
    first = td.import_paths(store, parts, workers=1)
    counters = [o for o in first.imported if (o.title or "").lower() == "counter"]
    assert len(counters) >= 2  # the TDs that used to become each other's board
    snapshot = {name: store.get_graph(name) for name in store.graph_names()}
    second = td.import_paths(store, parts, workers=1)
    assert len(second.imported) == len(first.imported)
    assert store.graph_names() == sorted(snapshot)
    changed = [name for name in snapshot if not isomorphic(store.get_graph(name), snapshot[name])]
    assert changed == []
    boards = store.select("PREFIX ar: <https://w3id.org/arachne#> SELECT DISTINCT ?b WHERE { ?d ar:board ?b }").column("b")
    assert set(boards) <= {device_iri("Arduino-Nano-33-BLE-Sense")}  # only real board descriptions
