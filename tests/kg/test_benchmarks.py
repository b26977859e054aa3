"""Benchmark importers (MLPerf Tiny, STM32 model zoo, our CSV), the board catalogue and
the demo data built from them."""
import csv

import pytest
from rdflib import URIRef

from kg import demo
from kg.benchmarks import (
    CSV_COLUMNS, board_catalogue, graph_name, has_fpu, import_benchmarks, read_csv_records, runtime_family, write_csv,
)
from kg.errors import InputError
from kg.ids import AR, device_iri, model_iri
from kg.store import Store
from kg.validation import validate


@pytest.fixture(scope="module")
def mlperf(shared):
    return import_benchmarks(shared / "benchmarks" / "mlperf_tiny.csv", "mlperf-tiny")


@pytest.fixture(scope="module")
def stm32(shared):
    return import_benchmarks(shared / "benchmarks" / "stm32_footprints.csv", "stm32-zoo")


def test_mlperf_records(mlperf):
    # 365 results; the 9 streaming-wakeword rows carry no per-inference latency/energy/accuracy
    assert len(mlperf.records) == 356 and len(mlperf.skipped) == 9
    first = mlperf.records[0]
    assert (first["model"], first["device"], first["runtime"]) == ("mlperf-tiny-ad-deep-autoencoder-fc", "PCL-SCEPU02", "tflite-micro")
    assert first["latency_ms"] == 13.651 and first["date"] == "MLPerf Tiny v0.5"
    ad = [r for r in mlperf.records if r["model"].startswith("mlperf-tiny-ad") and r["accuracy_pct"] is not None]
    assert ad and all(r["quality_metric"] == "auc" and 50 <= r["accuracy_pct"] <= 100 for r in ad)  # AUC in percent
    assert sum(1 for r in mlperf.records if r["energy_uj"]) > 100
    assert {"mlperf-tiny-kws-ds-cnn", "mlperf-tiny-vww-mobilenetv1-0.25-96", "mlperf-tiny-ic-resnet-8",
            "mlperf-tiny-ad-deep-autoencoder-fc"} <= set(mlperf.models)


def test_mlperf_graph(mlperf):
    graphs = mlperf.graphs()
    assert list(graphs) == [graph_name("mlperf-tiny")] == ["https://w3id.org/arachne/graph/benchmarks/mlperf-tiny"]
    g = graphs[graph_name("mlperf-tiny")]
    assert validate(g) == []
    records = list(g.subjects(None, AR.BenchmarkRecord))
    assert len(records) == 356
    kws = URIRef(model_iri("mlperf-tiny-kws-ds-cnn"))
    assert (kws, AR.hasFormat, AR.TFLite) in g and (kws, AR.hasQuantization, AR.Int8) in g
    on_l4 = [r for r in records if (r, AR.onDevice, URIRef(device_iri("NUCLEO-L4R5ZI"))) in g]
    assert len(on_l4) > 20


def test_stm32_join_and_units(stm32, shared):
    assert len(stm32.records) == 436 and {why for _, why in stm32.skipped} == {"no board_canonical"}
    rec = stm32.records[0]
    assert rec["device"] == "B-U585I-IOT02A" and rec["latency_ms"] == 106.43
    assert rec["ram_bytes"] == round(65.27 * 1024) and rec["flash_bytes"] == round(181.95 * 1024)
    assert rec["accuracy_pct"] == 89.9 and rec["quality_metric"] == "clip_accuracy_pct"
    assert rec["runtime"] == "st-edge-ai" and rec["runtime_version"] == "STM32Cube.AI 8.1.0"
    assert sum(1 for r in stm32.records if r["accuracy_pct"] is not None) > 400
    # ImageNet on the STM32N6570-DK: the many candidates of the hardware-aware ground truth
    n6 = {r["model"] for r in stm32.records if r["device"] == "STM32N6570-DK" and "imagenet" in r["model"]}
    assert len(n6) >= 60
    assert validate(stm32.graphs()[graph_name("stm32-zoo")]) == []


def test_our_csv_round_trip(stm32, tmp_path):
    path = tmp_path / "stm32_zoo.csv"
    write_csv(stm32.records, path, stm32.models)
    back = read_csv_records(path)
    assert back.graph_name == graph_name("stm32-zoo")
    assert len(back.records) == len(stm32.records)
    for a, b in zip(stm32.records, back.records):
        for col in ("model", "device", "runtime", "latency_ms", "ram_bytes", "flash_bytes", "accuracy_pct"):
            assert a[col] == b[col] or (a[col] in (None, "") and b[col] in (None, "")), col
    assert validate(back.graphs()[back.graph_name]) == []


@pytest.mark.parametrize("body, field, match", [
    ("model,device\nm,d\n", "line 1", "missing column"),
    ("model,device,source,latency_ms\nm,d,s,fast\n", "line 2, column latency_ms", "expected a number"),
    ("model,device,source,accuracy_pct\nm,d,s,140\n", "line 2, column accuracy_pct", "0-100"),
    ("model,device,source\n,d,s\n", "line 2, column model", "required"),
])
def test_our_csv_errors_name_line_and_column(tmp_path, body, field, match):
    path = tmp_path / "bench.csv"
    path.write_text(body)
    with pytest.raises(InputError, match=match) as exc:
        import_benchmarks(path, "csv")
    assert exc.value.field == field and exc.value.file == str(path)


def test_unknown_format_and_missing_file(tmp_path):
    with pytest.raises(InputError, match="unknown format"):
        import_benchmarks(tmp_path / "x.csv", "excel")
    with pytest.raises(InputError, match="not found"):
        import_benchmarks(tmp_path / "x.csv", "csv")


def test_runtime_families():
    assert runtime_family("TensorFlow Lite for Microcontrollers v2.3.1")[0] == "tflite-micro"
    assert runtime_family("X-CUBE-AI v8.1.0")[0] == "st-edge-ai"
    assert runtime_family("TensorFlowLite 2.18.0")[0] == "tflite"
    assert runtime_family("", "microTVM")[0] == "microtvm"
    assert runtime_family("gcc") is None


def test_fpu_rules():
    assert has_fpu("Cortex-M4", "ARM Cortex-M4 with FPU") is True
    assert has_fpu("Cortex-M4", "Cortex-M4") is None  # an M4 without the F: the text must say
    assert has_fpu("Cortex-M7") is has_fpu("Cortex-M33") is has_fpu("Cortex-M55") is True
    assert has_fpu("Cortex-M0+") is has_fpu("Cortex-M3") is False
    assert has_fpu("RISC-V", "RV32IMAC with FPU") is True and has_fpu("RISC-V", "RISC-V") is None


def test_board_catalogue(shared):
    b = shared / "benchmarks"
    cat = {r["board_canonical"]: r for r in board_catalogue(b / "mlperf_tiny_systems.csv", b / "stm32_footprints.csv", b / "mlperf_tiny.csv")}
    nano = cat["Arduino-Nano-33-BLE-Sense"]
    assert (nano["core"], nano["clock_mhz"], nano["ram_bytes"], nano["flash_bytes"], nano["fpu"]) == \
        ("Cortex-M4F", 64.0, 256 * 1024, 1024 * 1024, True)
    assert "Microphone" in nano["sensors"] and "Camera" not in nano["sensors"]
    l4 = cat["NUCLEO-L4R5ZI"]
    assert (l4["core"], l4["clock_mhz"], l4["ram_bytes"], l4["flash_bytes"]) == ("Cortex-M4F", 120.0, 640 * 1024, 2048 * 1024)
    assert {"tflite-micro", "st-edge-ai"} <= set(l4["frameworks"])
    assert cat["NUCLEO-G0B1RE"]["fpu"] is False
    assert cat["STM32N6570-DK"]["accelerator"] and cat["Syntiant-TinyML"]["accelerator"]
    assert {"Adafruit-PyBadge", "Adafruit-TFLite-Micro-Kit", "Syntiant-TinyML", "STM32H747I-DISCO"} <= set(cat)
    # without tables: the boards whose specifications the module knows
    assert "Arduino-Nano-33-BLE-Sense" in {r["board_canonical"] for r in board_catalogue()}


def test_demo_data_needs_no_shared_folder():
    tables = demo.benchmark_tables()
    assert set(tables) == {"mlperf_tiny", "stm32_zoo"}
    for name, path in tables.items():
        with open(path, newline="") as fh:
            assert csv.DictReader(fh).fieldnames == CSV_COLUMNS
        result = import_benchmarks(path, "csv")
        assert result.records and validate(result.graphs()[result.graph_name]) == []
    boards = {b["board_canonical"]: b for b in demo.boards()}
    assert boards["Arduino-Nano-33-BLE-Sense"]["ram_bytes"] == 262144
    assert boards["Arduino-Nano-33-BLE-Sense"]["fpu"] is True
    assert len(demo.model_files()) == 23 and len(demo.models_table()) == 23


def test_import_into_the_store(mlperf):
    store = Store()
    store.put_graphs(mlperf.graphs())
    rows = store.select("""
        PREFIX ar: <https://w3id.org/arachne#>
        SELECT (COUNT(?r) AS ?n) (MIN(?l) AS ?fastest) WHERE {
          ?r a ar:BenchmarkRecord ; ar:ofModel <https://w3id.org/arachne/model/mlperf-tiny-kws-ds-cnn> ;
             ar:latencyMs ?l . }""").values()
    n, fastest = rows[0]
    assert n > 50 and 0 < fastest < 10
    store.put_graphs(mlperf.graphs())  # re-import replaces, does not duplicate
    assert store.select("PREFIX ar: <https://w3id.org/arachne#> SELECT (COUNT(?r) AS ?n) WHERE { ?r a ar:BenchmarkRecord }").values()[0][0] == 356
