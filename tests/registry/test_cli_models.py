"""import-model and import-benchmarks as a user meets them (click's runner, a real store)."""
import hashlib
import json
from pathlib import Path

from click.testing import CliRunner

from kg import demo
from kg.store import Store
from registry.cli import cli as arachne


def run(*args):
    return CliRunner().invoke(arachne, [str(a) for a in args], obj={}, catch_exceptions=False)


def test_import_models_then_query(tmp_path):
    db = tmp_path / "db"
    files = [demo.MODELS / "Micro_Speech_Yes_No_1.tflite", demo.MODELS / "Person_Detection.tflite"]
    result = run("--store", db, "import-model", *files, "--task", "keyword_spotting", "--dataset", "speech_commands_v2")
    assert result.exit_code == 0, result.output
    assert "wrote 2 model graph(s)" in result.output and "TFLM refused" in result.output
    store = Store(db)
    rows = store.select("""PREFIX ar: <https://w3id.org/arachne#>
        SELECT ?m ?ram WHERE { ?m a ar:PretrainedModel ; ar:performsTask ?t . OPTIONAL { ?m ar:arenaBytes ?ram } }
        ORDER BY ?m""").values()
    assert rows == [("https://w3id.org/arachne/model/micro_speech_yes_no_1", 7584),
                    ("https://w3id.org/arachne/model/person_detection", None)]


def test_import_model_json_and_dry_run(tmp_path):
    result = run("import-model", demo.MODELS / "Hello_World.tflite", "--json", "--dry-run", "--store", tmp_path / "db")
    assert result.exit_code == 0
    facts = json.loads(result.output[: result.output.rindex("]") + 1])
    assert facts[0]["macs"] == 288 and facts[0]["arena_bytes"] == 1504
    assert not (tmp_path / "db").exists()


def test_one_bad_file_writes_nothing(tmp_path):
    bad = tmp_path / "random.tflite"
    bad.write_bytes(b"\x00" * 64)
    db = tmp_path / "db"
    result = CliRunner().invoke(arachne, ["--store", str(db), "import-model", str(demo.MODELS / "Move.tflite"), str(bad)], obj={})
    assert result.exit_code == 1
    assert "random.tflite" in result.output and "TFL3" in result.output and "nothing written" in result.output
    assert Store(db).count() == 0


def test_import_benchmarks(tmp_path, shared):
    db = tmp_path / "db"
    result = run("--store", db, "import-benchmarks", shared / "benchmarks" / "stm32_footprints.csv", "--format", "stm32-zoo")
    assert result.exit_code == 0, result.output
    assert "436 record(s)" in result.output and "4 row(s): no board_canonical" in result.output
    # The store holds no boards yet: the import says which devices it names without knowing them.
    assert "warning: 436 record(s) name" in result.output and "the registry does not hold" in result.output
    assert "https://w3id.org/arachne/device/stm32h747i-disco" in result.output
    # With the NUCLEO-L4R5ZI's TD imported, its 77 MLPerf Tiny records are not in the warning.
    result = run("--store", db, "import-benchmarks", demo.benchmark_tables()["mlperf_tiny"], "--format", "csv")
    assert "device/nucleo-l4r5zi," in result.output or "device/nucleo-l4r5zi " in result.output
    run("--store", db, "import-td", demo.HERE / "tds" / "nucleo-l4r5zi.td.jsonld")
    result = run("--store", db, "import-benchmarks", demo.benchmark_tables()["mlperf_tiny"], "--format", "csv")
    assert result.exit_code == 0, result.output
    warning = result.output.split("warning:")[1]
    assert "device/nucleo-l4r5zi," not in warning and "device/nucleo-l4r5zi " not in warning
    assert [g for g in Store(db).graph_names() if "/graph/benchmarks/" in g] == [
        "https://w3id.org/arachne/graph/benchmarks/mlperf-tiny", "https://w3id.org/arachne/graph/benchmarks/stm32-zoo"]


def test_import_benchmarks_bad_csv(tmp_path):
    path = tmp_path / "b.csv"
    path.write_text("model,device,source,latency_ms\nm,d,s,soon\n")
    result = CliRunner().invoke(arachne, ["import-benchmarks", str(path), "--format", "csv", "--store", str(tmp_path / "db")], obj={})
    assert result.exit_code == 1 and "line 2, column latency_ms" in result.output


def test_cli_and_http_import_a_model_the_same_way(tmp_path):
    """Both faces call kg.models.describe_for_import / store_models: same facts, same graph."""
    import io

    from registry.app import create_app

    hello = demo.MODELS / "Hello_World.tflite"
    result = run("--store", tmp_path / "cli", "import-model", hello, "--task", "sine_regression", "--json")
    assert result.exit_code == 0, result.output
    cli_facts = json.loads(result.output[: result.output.rindex("]") + 1])[0]
    app = create_app(Store(), {})
    resp = app.test_client().post("/models", data={"file": (io.BytesIO(hello.read_bytes()), hello.name),
                                                   "task": "sine_regression"}, content_type="multipart/form-data")
    assert resp.status_code == 201, resp.get_data(as_text=True)
    http_facts = resp.get_json()["facts"]
    for key in ("iri", "macs", "parameter_count", "arena_bytes", "model_bytes", "sha256", "task", "modality"):
        assert http_facts[key] == cli_facts[key], key


def test_two_files_naming_one_model_write_nothing(tmp_path):
    card = tmp_path / "README.md"
    card.write_text("---\nname: one-name\n---\nBoth files get this name.\n")
    result = CliRunner().invoke(arachne, ["--store", str(tmp_path / "db"), "import-model", "--card", str(card),
                                          str(demo.MODELS / "Move.tflite"), str(demo.MODELS / "Hello_World.tflite")],
                                obj={})
    assert result.exit_code == 1 and "would both be https://w3id.org/arachne/model/one-name" in result.output
    assert Store(tmp_path / "db").count() == 0


def test_byte_sizes_read_the_same_in_the_cli_and_the_explorer(tmp_path):
    from kg.units import byte_size
    from registry.app import create_app

    db = tmp_path / "db"
    result = run("--store", db, "import-model", demo.MODELS / "Micro_Speech_Yes_No_1.tflite")
    assert result.exit_code == 0, result.output
    size = (demo.MODELS / "Micro_Speech_Yes_No_1.tflite").stat().st_size
    shown = byte_size(size)
    assert shown.endswith(" KiB") and shown in result.output  # 1 KiB = 1024 bytes, in both faces
    page = create_app(Store(db), {}).test_client().get("/ui/models/micro_speech_yes_no_1").get_data(as_text=True)
    assert shown in page and " kB" not in page


def test_modality_choices_come_from_the_vocabulary():
    from kg.vocab import MODALITIES, MODALITY_TERMS

    for command in ("import-model", "feasible", "recommend"):
        option = next(p for p in arachne.commands[command].params if p.name == "modality")
        assert tuple(option.type.choices) == MODALITIES, command
    ontology = (Path(__file__).resolve().parents[2] / "ontology" / "arachne.ttl").read_text()
    for term in MODALITY_TERMS.values():  # each word names a modality the ontology declares
        assert f"ar:{term.split('#')[1]} a ar:Modality" in ontology, term


# -- import-model --describes: a file joins a description the registry holds ----------------------

MLPERF_VWW = "mlperf-tiny-vww-mobilenetv1-0.25-96"
VWW_FILE = demo.MLPERF / "vww_96_int8.tflite"


def attempt(*args):
    """(exit status, output) of a command expected to fail. The runner's result keeps the failed
    command's frames (and the store it opened, with its lock) alive: collect them before the next."""
    import gc

    result = CliRunner().invoke(arachne, [str(a) for a in args], obj={})
    code, output = result.exit_code, result.output
    del result
    gc.collect()
    return code, output


def _mlperf_store(tmp_path):
    """A store holding the demo's MLPerf Tiny records (their models described by the table only)."""
    db = tmp_path / "db"
    result = run("--store", db, "import-benchmarks", demo.benchmark_tables()["mlperf_tiny"], "--format", "csv")
    assert result.exit_code == 0, result.output
    return db


def _model_facts(db, model):
    return Store(db, read_only=True).select(f"""SELECT ?p ?o WHERE {{
        <https://w3id.org/arachne/model/{model}> ?p ?o }} ORDER BY ?p ?o""").values()


def _quads(db):
    store = Store(db, read_only=True)
    return store.count(), sorted(store.graph_names())


def test_describes_attaches_the_file_facts_to_the_existing_model(tmp_path):
    db = _mlperf_store(tmp_path)
    models_before = len({r[0] for r in _models(db)})
    result = run("--store", db, "import-model", VWW_FILE, "--describes", MLPERF_VWW)
    assert result.exit_code == 0, result.output
    assert f"attached vww_96_int8.tflite to https://w3id.org/arachne/model/{MLPERF_VWW}" in result.output
    facts = {}
    for p, o in _model_facts(db, MLPERF_VWW):
        facts.setdefault(p.rsplit("#", 1)[-1].rsplit("/", 1)[-1], []).append(o)
    # The description's name, task, dataset and accuracy stay; the file adds its own facts.
    assert facts["name"] == ["MobileNetV1 0.25x 96x96 (MLPerf Tiny reference)"]
    assert facts["performsTask"] == ["https://w3id.org/arachne/task/visual_wake_words"]
    assert facts["hasFormat"] == ["https://w3id.org/arachne#TFLite"]  # declared once, not repeated
    assert facts["modelBytes"] == [VWW_FILE.stat().st_size] and facts["arenaBytes"][0] > 50_000
    assert facts["sha256"] == [hashlib.sha256(VWW_FILE.read_bytes()).hexdigest()]
    assert "DEPTHWISE_CONV_2D" in facts["usesOperator"] and len(facts["hasOperatorUse"]) >= 5
    assert facts["hasModality"] == ["https://w3id.org/arachne#Image"]
    kinds = Store(db, read_only=True).select(f"""PREFIX ar: <https://w3id.org/arachne#>
        SELECT ?kind ?source WHERE {{ <https://w3id.org/arachne/model/{MLPERF_VWW}> ar:hasProvenance ?p .
          ?p ar:forProperty ar:hasModality ; ar:provenanceKind ?kind ; ar:source ?source }}""").values()
    assert kinds == [("inferred", "its task (visual_wake_words)")]
    assert len({r[0] for r in _models(db)}) == models_before  # no new model minted
    # Attaching it again replaces the file's graph: the store is the same.
    before = _quads(db)
    assert run("--store", db, "import-model", VWW_FILE, "--describes", MLPERF_VWW).exit_code == 0
    assert _quads(db) == before


def _models(db):
    return Store(db, read_only=True).select(
        "PREFIX ar: <https://w3id.org/arachne#> SELECT ?m WHERE { ?m a ar:PretrainedModel }").values()


def test_describes_by_name_and_the_feasibility_uses_the_file(tmp_path):
    from kg import feasibility
    from kg.ids import device_iri, model_iri

    db = _mlperf_store(tmp_path)
    assert run("--store", db, "init").exit_code == 0  # the runtime catalogue
    assert run("--store", db, "import-td", demo.HERE / "tds" / "arduino-nano-33-ble-sense.td.jsonld").exit_code == 0
    nano = device_iri("Arduino-Nano-33-BLE-Sense")
    [before] = feasibility.check_pairs(Store(db, read_only=True), model_iri(MLPERF_VWW), nano)
    assert before.outcome == "likely" and before.provenance["ram_need"] == "unknown"
    result = run("--store", db, "import-model", VWW_FILE, "--describes", "mobilenetv1 0.25x 96x96 (mlperf tiny reference)")
    assert result.exit_code == 0, result.output
    [after] = feasibility.check_pairs(Store(db, read_only=True), model_iri(MLPERF_VWW), nano)
    # Never measured on the Nano: its arena and size now come from the file, and it fits.
    assert after.outcome == "fits" and after.provenance["ram_need"] == after.provenance["flash_need"] == "file"


def test_describes_reports_conflicts_and_writes_nothing(tmp_path):
    db = _mlperf_store(tmp_path)
    before = _quads(db)
    # A float32 file for an int8 description, and a task the description does not perform.
    code, output = attempt("--store", db, "import-model", demo.MODELS / "Magic_Wand_1.tflite", "--describes", MLPERF_VWW,
                           "--task", "gesture_recognition")
    assert code == 1
    assert f"contradicts the description of https://w3id.org/arachne/model/{MLPERF_VWW}" in output
    assert "quantization: the description says Int8, this file Float32" in output
    assert "task: the description says visual_wake_words, the card or flags gesture_recognition" in output
    assert "nothing written" in output and _quads(db) == before


def test_describes_an_unknown_model_is_one_line_and_writes_nothing(tmp_path):
    db = _mlperf_store(tmp_path)
    before = _quads(db)
    code, output = attempt("--store", db, "import-model", VWW_FILE, "--describes", "no-such-model")
    assert code == 1 and [line for line in output.splitlines() if line.strip()] == [
        "error: --describes: no model called 'no-such-model' in the registry; nothing written"]
    assert _quads(db) == before
    code, output = attempt("--store", db, "import-model", VWW_FILE, demo.MLPERF / "kws_ref_model.tflite",
                           "--describes", MLPERF_VWW)
    assert code == 1 and "attaches one file to one model" in output and _quads(db) == before


def test_describes_a_model_described_by_its_own_file(tmp_path):
    db = tmp_path / "db"
    assert run("--store", db, "import-model", demo.MODELS / "Move.tflite").exit_code == 0
    before = _quads(db)
    code, output = attempt("--store", db, "import-model", demo.MODELS / "Move.tflite", "--describes", "Move")
    assert code == 1 and "already holds this file's facts" in output
    code, output = attempt("--store", db, "import-model", demo.MODELS / "Squats_Counter.tflite", "--describes", "move")
    assert code == 1 and "sha256: the description says" in output
    assert _quads(db) == before


def test_import_without_task_infers_the_modality_and_says_what_it_did_not(tmp_path):
    db = tmp_path / "db"
    result = run("--store", db, "import-model", demo.MLPERF / "kws_ref_model.tflite", demo.MLPERF / "ad01_int8.tflite")
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "kws_ref_model: modality audio inferred from input [1,49,10,1] (int8)" in out
    assert "kws_ref_model: task: not inferred" in out
    assert "ad01_int8: modality: not inferred: the input [1,640] is none of" in out
    rows = dict(Store(db, read_only=True).select("""PREFIX ar: <https://w3id.org/arachne#>
        SELECT ?m ?mod WHERE { ?m a ar:PretrainedModel OPTIONAL { ?m ar:hasModality ?mod } }""").values())
    assert rows == {"https://w3id.org/arachne/model/kws_ref_model": "https://w3id.org/arachne#Audio",
                    "https://w3id.org/arachne/model/ad01_int8": None}
