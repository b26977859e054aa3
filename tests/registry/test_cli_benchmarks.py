"""`arachne import-benchmarks --format csv` as a user meets it (click's runner, a real store):
devices the registry does not hold, fine-tuning results, re-imports, file-derived figures."""
from click.testing import CliRunner

from kg import demo
from kg.benchmarks import graph_name
from kg.store import Store
from registry.cli import cli as arachne

TABLE = """model,device,target_dataset,accuracy_pct,latency_ms,source,params
tiny-kws,NUCLEO-L4R5ZI,,91.0,40.0,our lab,20000
tiny-kws,my-own-board,,91.0,55.0,our lab,
tiny-kws,,speech_commands_v2,93.5,,our lab,
"""


def run(*args):
    return CliRunner().invoke(arachne, [str(a) for a in args], obj={})


def test_csv_records_on_unknown_devices_import_with_a_warning(tmp_path):
    db, table = tmp_path / "db", tmp_path / "ours.csv"
    table.write_text(TABLE)
    run("--store", db, "import-td", demo.HERE / "tds" / "nucleo-l4r5zi.td.jsonld")
    result = run("--store", db, "import-benchmarks", table, "--format", "csv")
    assert result.exit_code == 0, result.output
    # the fine-tuning result names no device, the NUCLEO's TD is in the registry: one record warned about
    warning = result.output.split("warning:")[1].split("\n")[0]
    assert "1 record(s) name 1 device(s)" in warning and warning.endswith("https://w3id.org/arachne/device/my-own-board")
    assert Store(db).select("SELECT (COUNT(?r) AS ?n) WHERE { ?r a <https://w3id.org/arachne#BenchmarkRecord> }") \
        .values() == [(3,)]


def test_a_copy_of_the_table_replaces_it(tmp_path):
    db = tmp_path / "db"
    (tmp_path / "ours.csv").write_text(TABLE)
    (tmp_path / "ours-renamed.csv").write_text(TABLE)
    first = run("--store", db, "import-benchmarks", tmp_path / "ours.csv", "--format", "csv")
    assert first.exit_code == 0 and f"wrote graph {graph_name('our lab')}\n" in first.output
    again = run("--store", db, "import-benchmarks", tmp_path / "ours-renamed.csv", "--format", "csv")
    assert again.exit_code == 0 and f"wrote graph {graph_name('our lab')} (replacing 3 record(s))" in again.output
    assert [g for g in Store(db).graph_names() if "/graph/benchmarks/" in g] == [graph_name("our lab")]


def test_the_model_file_keeps_its_figures(tmp_path):
    db, table = tmp_path / "db", tmp_path / "t.csv"
    assert run("--store", db, "import-model", demo.MODELS / "Hello_World.tflite").exit_code == 0
    table.write_text("model,device,source,latency_ms,params,macs\nHello_World,NUCLEO-L4R5ZI,a paper,0.1,9999,8888\n")
    result = run("--store", db, "import-benchmarks", table, "--format", "csv")
    assert result.exit_code == 0, result.output
    assert "kept the file-derived parameters/MACs of 1 model(s): https://w3id.org/arachne/model/hello_world" in result.output
    macs = Store(db).select("SELECT ?m WHERE { <https://w3id.org/arachne/model/hello_world> "
                            "<https://w3id.org/arachne#macs> ?m }").column("m")
    assert macs == [288]


def test_bad_params_write_nothing(tmp_path):
    db, table = tmp_path / "db", tmp_path / "t.csv"
    table.write_text(TABLE.replace("20000", "2e4.5"))
    result = run("--store", db, "import-benchmarks", table, "--format", "csv")
    assert result.exit_code == 1
    assert f"{table}: line 2, column params: expected a number, found '2e4.5'" in result.output
    assert not db.exists() or Store(db).count() == 0


def test_a_record_names_a_model_file_by_its_sha256(tmp_path):
    import gc
    import hashlib

    db, table = tmp_path / "db", tmp_path / "t.csv"
    digest = hashlib.sha256((demo.MODELS / "Hello_World.tflite").read_bytes()).hexdigest()
    table.write_text(f"model,device,source,latency_ms\nsha256:{'0' * 64},NUCLEO-L4R5ZI,a paper,0.2\n")
    assert run("--store", db, "import-model", demo.MODELS / "Hello_World.tflite").exit_code == 0
    before = Store(db, read_only=True).count()
    unknown = run("--store", db, "import-benchmarks", table, "--format", "csv")
    code, output = unknown.exit_code, unknown.output
    del unknown  # its traceback holds the command's open store (a real process exits and lets go)
    gc.collect()
    assert code == 1 and f"{table}: line 2, column model: no model file with SHA-256 0000000000" in output
    assert Store(db, read_only=True).count() == before
    table.write_text(f"model,device,source,latency_ms\nsha256:{digest.upper()},NUCLEO-L4R5ZI,a paper,0.2\n")
    ok = run("--store", db, "import-benchmarks", table, "--format", "csv")
    assert ok.exit_code == 0, ok.output
    assert Store(db, read_only=True).select("SELECT ?m WHERE { ?r <https://w3id.org/arachne#ofModel> ?m }").column("m") == \
        ["https://w3id.org/arachne/model/hello_world"]
    table.write_text("model,device,source,latency_ms\nsha256:abc,NUCLEO-L4R5ZI,a paper,0.2\n")
    bad = run("--store", db, "import-benchmarks", table, "--format", "csv")
    assert bad.exit_code == 1 and "line 2, column model: expected sha256: and the 64 hex digits" in bad.output
