"""import-model and import-benchmarks as a user meets them (click's runner, a real store)."""
import json

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
    result = run("--store", db, "import-benchmarks", demo.benchmark_tables()["mlperf_tiny"], "--format", "csv")
    assert result.exit_code == 0, result.output
    assert Store(db).graph_names() == ["https://w3id.org/arachne/graph/benchmarks/mlperf-tiny",
                                       "https://w3id.org/arachne/graph/benchmarks/stm32-zoo"]


def test_import_benchmarks_bad_csv(tmp_path):
    path = tmp_path / "b.csv"
    path.write_text("model,device,source,latency_ms\nm,d,s,soon\n")
    result = CliRunner().invoke(arachne, ["import-benchmarks", str(path), "--format", "csv", "--store", str(tmp_path / "db")], obj={})
    assert result.exit_code == 1 and "line 2, column latency_ms" in result.output
