"""Model files joined to descriptions the registry holds (kg.models.attach_file, the demo's MLPerf
Tiny reference files), the modality read from a file with its provenance, and the RAM estimate of
a model TFLM does not plan."""
import csv
import hashlib
import json

import pytest
from click.testing import CliRunner
from rdflib import RDF, URIRef

from kg import demo, feasibility
from kg.benchmarks import import_benchmarks
from kg.demo_registry import build
from kg.errors import InputError
from kg.ids import AR, device_iri, model_iri
from kg.models import SCHEMA, attach_file, describe_model, file_graph_name
from kg.store import Store
from registry.cli import cli as arachne

KWS = "mlperf-tiny-kws-ds-cnn"


def run(*args):
    return CliRunner().invoke(arachne, [str(a) for a in args], obj={}, catch_exceptions=False)


@pytest.fixture(scope="module")
def mlperf_records():
    """The demo's MLPerf Tiny table as one graph: the models described by their records only."""
    [graph] = import_benchmarks(demo.benchmark_tables()["mlperf_tiny"], "csv").graphs().values()
    return graph


def _modality_provenance(graph, model):
    """(kind, source) of the ar:Provenance that covers the model's ar:hasModality."""
    [row] = graph.query("""PREFIX ar: <https://w3id.org/arachne#> SELECT ?kind ?source WHERE {
        ?m ar:hasProvenance ?p . ?p a ar:Provenance ; ar:forProperty ar:hasModality ;
        ar:provenanceKind ?kind ; ar:source ?source }""", initBindings={"m": model})
    return str(row[0]), str(row[1])


def test_attach_file_adds_only_what_the_description_lacks(mlperf_records):
    iri = model_iri(KWS)
    d = attach_file(demo.MLPERF / "kws_ref_model.tflite", iri, mlperf_records)
    assert d.iri == iri and d.graph_iri == file_graph_name(iri) == iri + "/file"
    assert d.name == "DS-CNN (MLPerf Tiny reference)" and d.facts["task"] == "keyword_spotting"
    m = URIRef(iri)
    props = set(d.graph.predicates(m, None))
    # The file's facts, and nothing the records already say (type, name, task, format, quantization).
    assert {AR.arenaBytes, AR.modelBytes, AR.macs, AR.usesOperator, AR.hasInput, AR.hasModality} <= props
    assert not props & {RDF.type, SCHEMA.name, AR.performsTask, AR.hasFormat, AR.hasQuantization, AR.trainedOn}
    assert _modality_provenance(d.graph, m) == ("inferred", "its task (keyword_spotting)")
    assert int(d.graph.value(m, AR.modelBytes)) == (demo.MLPERF / "kws_ref_model.tflite").stat().st_size


def test_attach_file_lists_every_contradiction(mlperf_records):
    with pytest.raises(InputError) as info:
        attach_file(demo.MODELS / "Magic_Wand_1.tflite", model_iri(KWS), mlperf_records, task="gesture_recognition",
                    modality="inertial", card={"name": "wand", "license": "mit"})
    fields = [f for f, _ in info.value.problems]
    assert fields == ["name", "quantization", "task"]  # the records say no modality or licence: no conflict
    assert "nothing written" in info.value.message
    with pytest.raises(InputError, match="is not a model in the registry"):
        attach_file(demo.MLPERF / "kws_ref_model.tflite", device_iri("DISCO-F746NG"), mlperf_records)


def test_modality_from_the_file_with_its_provenance():
    kws = describe_model(demo.MLPERF / "kws_ref_model.tflite", measure_ram=False)
    assert (kws.facts["modality"], kws.facts["modality_provenance"]) == ("audio", "inferred")
    m = URIRef(model_iri("kws_ref_model"))
    assert kws.graph.value(m, AR.hasModality) == AR.Audio
    kind, source = _modality_provenance(kws.graph, m)
    assert kind == "inferred" and source.startswith("input [1,49,10,1] (int8): 2-D audio features")
    # The task is not read from a file, and the import says so.
    assert kws.graph.value(m, AR.performsTask) is None
    assert any(n.startswith("task: not inferred") for n in kws.facts["not_inferred"])
    # --modality overrides: stated, not inferred.
    declared = describe_model(demo.MLPERF / "kws_ref_model.tflite", modality="timeseries", measure_ram=False)
    assert declared.graph.value(m, AR.hasModality) == AR.TimeSeries
    assert _modality_provenance(declared.graph, m) == ("reported", "the model card or the command line")
    # A flat [1,640] input says nothing: no modality, and the reason.
    ad = describe_model(demo.MLPERF / "ad01_int8.tflite", measure_ram=False)
    assert ad.facts["modality"] is None and not list(ad.graph.objects(None, AR.hasModality))
    assert ad.facts["not_inferred"][0].startswith("modality: not inferred: the input [1,640] is none of")


def test_a_model_tflm_refuses_gets_an_estimated_ram_and_is_likely(tmp_path):
    db = tmp_path / "db"
    for args in (("init",), ("import-td", demo.HERE / "tds" / "arduino-nano-33-ble-sense.td.jsonld"),
                 ("import-model", demo.MODELS / "Person_Detection.tflite")):
        assert run("--store", db, *args).exit_code == 0
    store = Store(db, read_only=True)
    pair = (model_iri("Person_Detection"), device_iri("Arduino-Nano-33-BLE-Sense"))
    [check] = feasibility.check_pairs(store, *pair)
    # No arena (TFLM refused it), so the figure is the file's live activations: never "fits".
    assert check.facts["arena"] is None and check.facts["ramEstimate"] == 55296
    assert check.outcome == "likely"
    assert ("unknown", "RAM unknown: the device's (256 KiB) or the model's (estimated 54 KiB), and no deployment "
                       "was measured") in feasibility.check_pair_shacl(store, *pair)


# -- the demo: MLPerf Tiny reference files joined to the records' models ---------------------------

@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("demo") / "db"
    store = Store(path)
    build(store, progress=False)
    del store  # the CLI below opens it again
    return path


def test_the_demo_ships_the_reference_files_under_their_notice():
    rows = list(csv.DictReader(open(demo.MLPERF / "manifest.csv", newline="", encoding="utf-8")))
    assert {r["describes"] for r in rows} == {"mlperf-tiny-ic-resnet-8", KWS, "mlperf-tiny-vww-mobilenetv1-0.25-96",
                                              "mlperf-tiny-ad-deep-autoencoder-fc"}
    notice = (demo.MLPERF / "NOTICE").read_text()
    assert "Apache License" in notice and "mlcommons/tiny" in notice
    assert "Apache License" in (demo.MLPERF / "LICENSE").read_text()
    for r in rows:
        data = (demo.MLPERF / r["file"]).read_bytes()
        assert len(data) == int(r["bytes"]) and hashlib.sha256(data).hexdigest() == r["sha256"]
        assert r["source_commit"] in notice and r["source_path"].split(":", 1)[1] in notice


def test_the_demo_joins_the_reference_models_to_their_files(demo_dir):
    store = Store(demo_dir, read_only=True)
    for path, key in demo.attached_files():
        rows = store.select(f"""PREFIX ar: <https://w3id.org/arachne#> PREFIX schema: <https://schema.org/>
            SELECT ?name ?task ?arena ?bytes ?sha WHERE {{ <{model_iri(key)}> schema:name ?name ;
              ar:performsTask ?task ; ar:arenaBytes ?arena ; ar:modelBytes ?bytes ; schema:sha256 ?sha }}""").dicts()
        assert len(rows) == 1, key  # one name, one task, one arena: joined, not duplicated
        assert rows[0]["bytes"] == path.stat().st_size and rows[0]["sha"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert "MLPerf Tiny" in rows[0]["name"] and rows[0]["arena"] > 0
    models = store.select("PREFIX ar: <https://w3id.org/arachne#> SELECT (COUNT(?m) AS ?n) WHERE { ?m a ar:PretrainedModel }")
    assert models.column("n") == [308]  # no model minted for a file


def test_disco_f746ng_lists_the_vww_reference_as_fitting_on_its_measured_latency(demo_dir):
    result = run("--store", demo_dir, "recommend", "--device", "disco-f746ng", "--task", "visual_wake_words", "--json")
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.output)["rows"]}
    ref = rows["MobileNetV1 0.25x 96x96 (MLPerf Tiny reference)"]
    assert ref["outcome"] == "fits" and ref["latency_provenance"] == "measured" and 30 < ref["latency_ms"] < 40
    assert ref["provenance"]["ram_need"] == "file" and "needs an external camera" in ref["notes"]


def test_kws_reference_file_without_a_task_is_an_audio_candidate_on_the_l4r5zi(tmp_path, shared):
    db = tmp_path / "db"
    for args in (("init",), ("import-td", demo.HERE / "tds" / "nucleo-l4r5zi.td.jsonld")):
        assert run("--store", db, *args).exit_code == 0
    result = run("--store", db, "import-model", shared / "mlperf-tiny-models" / "kws_ref_model.tflite")
    assert result.exit_code == 0 and "modality audio inferred from input [1,49,10,1]" in " ".join(result.output.split())
    result = run("--store", db, "recommend", "--device", "nucleo-l4r5zi", "--modality", "audio", "--json")
    assert result.exit_code == 0, result.output
    rows = {r["model"]: r for r in json.loads(result.output)["rows"]}
    assert rows[model_iri("kws_ref_model")]["outcome"] == "fits"
