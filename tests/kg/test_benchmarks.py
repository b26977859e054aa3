"""Benchmark importers (MLPerf Tiny, STM32 model zoo, our CSV), the board catalogue and
the demo data built from them."""
import csv

import pytest
from rdflib import RDF, Graph, Literal, URIRef

from kg import demo
from kg.benchmarks import (
    CSV_COLUMNS, TRANSFER_COLUMNS, board_catalogue, fine_tuning_results, graph_name, has_fpu, import_benchmarks,
    read_csv_records, runtime_family, source_table, write_csv,
)
from kg.errors import InputError
from kg.ids import AR, dataset_iri, device_iri, model_iri
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
    # named by its sources (the STM32 model zoo), not by the file: the graph a direct import fills
    assert back.graph_names == [graph_name("stm32-zoo")]
    assert len(back.records) == len(stm32.records)
    for a, b in zip(stm32.records, back.records):
        for col in ("model", "device", "runtime", "latency_ms", "ram_bytes", "flash_bytes", "accuracy_pct"):
            assert a[col] == b[col] or (a[col] in (None, "") and b[col] in (None, "")), col
    assert validate(back.graphs()[graph_name("stm32-zoo")]) == []


@pytest.mark.parametrize("body, field, match", [
    ("model,device\nm,d\n", "line 1", "missing column"),
    ("model,device,source,latency_ms\nm,d,s,fast\n", "line 2, column latency_ms", "expected a number"),
    ("model,device,source,accuracy_pct\nm,d,s,140\n", "line 2, column accuracy_pct", "0-100"),
    ("model,device,source\n,d,s\n", "line 2, column model", "required"),
    ("model,device,source\n", "line 2", "no records"),
    ("model,source,accuracy_pct\nm,s,50\n", "line 1", "missing column device .or target_dataset"),
    ("model,device,source,target_dataset\nm,,s,\n", "line 2, column device", "only a fine-tuning result"),
    ("model,device,source,target_dataset\nm,,s,cifar10\n", "line 2, column accuracy_pct", "needs its accuracy"),
    ("model,device,source,params\nm,d,s,-3\n", "line 2, column params", "non-negative"),
    ("model,device,source,macs\nm,d,s,2.5\n", "line 2, column macs", "whole number"),
    ("model,device,source,params\nm,d,s,many\n", "line 2, column params", "expected a number"),
    ("model,device,source,params\nm,d,s,100\nm,e,s,120\n", "line 3, column params", "contradicts line 2"),
    ("model,device,source,dataset,pretrain_dataset\nm,d,s,imagenet,cifar10\n", "line 2, column pretrain_dataset",
     "differs from column dataset"),
    ("model,device,source,family\nhttps://w3id.org/arachne/model/m,d,s,resnet\n", "line 2, column family",
     "given by IRI"),
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
        assert result.graph_names == [graph_name(name.replace("_", "-"))]  # the names the demo always had
        assert result.records and validate(result.graphs()[result.graph_names[0]]) == []
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


# -- fine-tuning results, reported model facts, one graph per source ---------------------------------
PREFIX = "PREFIX ar: <https://w3id.org/arachne#> PREFIX schema: <https://schema.org/> "
FINE_TUNING = """model,target_dataset,accuracy_pct,source,task,params,macs,family,pretrain_dataset
resnet50,CIFAR10,96.8,Model Spider table,image_classification,25557032,4100000000,resnet,ImageNet
resnet50,Pets,92.1,Model Spider table,image_classification,,,,
mobilenet_v2,CIFAR10,94.9,Model Spider table,image_classification,3504872,300000000,mobilenet,ImageNet
mobilenet_v2,Pets,86.4,Model Spider table,image_classification,,,,
"""


def write(path, text):
    path.write_text(text)
    return path


def test_fine_tuning_results_need_no_device(tmp_path):
    result = import_benchmarks(write(tmp_path / "spider.csv", FINE_TUNING), "csv")
    assert result.graph_names == [graph_name("Model Spider table")]
    g = result.graphs()[graph_name("Model Spider table")]
    assert validate(g) == []
    records = set(g.subjects(RDF.type, AR.BenchmarkRecord))
    assert len(records) == 4 and not list(g.objects(None, AR.onDevice))
    cifar = URIRef(dataset_iri("CIFAR10"))
    assert len([r for r in records if (r, AR.targetDataset, cifar) in g]) == 2
    resnet = URIRef(model_iri("resnet50"))
    assert g.value(resnet, AR.parameterCount).toPython() == 25557032 and g.value(resnet, AR.macs).toPython() == 4100000000
    assert (resnet, AR.family, Literal("resnet")) in g and (resnet, AR.trainedOn, URIRef(dataset_iri("ImageNet"))) in g
    # Where those figures come from: reported by the table's source.
    (prov,) = g.objects(resnet, AR.hasProvenance)
    assert g.value(prov, AR.provenanceKind) == Literal("reported") and g.value(prov, AR.source) == Literal("Model Spider table")
    assert set(g.objects(prov, AR.forProperty)) == {AR.parameterCount, AR.macs, AR.family, AR.trainedOn}


def test_shapes_take_a_deviceless_record_only_as_a_fine_tuning_result(tmp_path):
    g = import_benchmarks(write(tmp_path / "spider.csv", FINE_TUNING), "csv").graphs()[graph_name("Model Spider table")]
    record = next(g.subjects(AR.targetDataset, URIRef(dataset_iri("Pets"))))
    without_accuracy = Graph() + g
    without_accuracy.remove((record, AR.accuracyPct, None))
    without_dataset = Graph() + g
    without_dataset.remove((record, AR.targetDataset, None))
    for broken in (without_accuracy, without_dataset):
        (violation,) = validate(broken)
        assert "names a device" in violation.message and "target dataset" in violation.message
    with_device = Graph() + without_dataset
    with_device.add((record, AR.onDevice, URIRef(device_iri("NUCLEO-L4R5ZI"))))
    assert validate(with_device) == []


def quads(store, graph):
    return store.select(f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH <{graph}> {{ ?s ?p ?o }} }}").values()[0][0]


def test_the_same_table_under_another_file_name_replaces_it(tmp_path):
    store = Store()
    store.put_graphs(import_benchmarks(write(tmp_path / "spider.csv", FINE_TUNING), "csv").graphs())
    before = quads(store, graph_name("Model Spider table"))
    store.put_graphs(import_benchmarks(write(tmp_path / "copy of spider (2).csv", FINE_TUNING), "csv").graphs())
    assert [g for g in store.graph_names() if "/graph/benchmarks/" in g] == [graph_name("Model Spider table")]
    assert quads(store, graph_name("Model Spider table")) == before > 0
    # A changed version of the same source replaces it: one row dropped, one figure changed.
    changed = FINE_TUNING.replace("86.4", "87.0").replace("resnet50,Pets,92.1,Model Spider table,image_classification,,,,\n", "")
    store.put_graphs(import_benchmarks(write(tmp_path / "spider-v2.csv", changed), "csv").graphs())
    acc = store.select(PREFIX + "SELECT ?a WHERE { ?b ar:targetDataset ?d ; ar:accuracyPct ?a } ORDER BY ?a").column("a")
    assert acc == [87.0, 94.9, 96.8]


def test_one_graph_per_source_and_the_model_node_once(tmp_path):
    table = FINE_TUNING + "resnet50,Flowers,97.0,Kornblith et al. 2019,,,,,\n"
    result = import_benchmarks(write(tmp_path / "two.csv", table), "csv")
    assert result.graph_names == [graph_name("Model Spider table"), graph_name("Kornblith et al. 2019")]
    graphs = result.graphs()
    other = graphs[graph_name("Kornblith et al. 2019")]
    assert len(list(other.subjects(RDF.type, AR.BenchmarkRecord))) == 1 and validate(other) == []
    # the model's node is in the first graph naming it, not repeated (a union would list it twice)
    assert not list(other.subjects(RDF.type, AR.PretrainedModel))
    # the stm32 and MLPerf repositories are one table each, whatever file path a row cites
    assert source_table("STMicroelectronics/stm32ai-modelzoo@e9fc1c2f6c98:image_classification/x/README.md") == "stm32-zoo"
    assert source_table("mlcommons/tiny_results_v1.1:closed/x/results/y/kws") == "mlperf-tiny"
    assert source_table("Kornblith et al. 2019") == "Kornblith et al. 2019"
    long = "a source described in many words " * 5
    assert len(graph_name(long)) < 130 and graph_name(long) != graph_name(long + "!")


def test_file_derived_figures_win(tmp_path):
    from kg.models import describe_model, store_models

    store = Store()
    described = describe_model(demo.MODELS / "Hello_World.tflite")
    store_models(store, [described])
    table = write(tmp_path / "t.csv", "model,device,source,latency_ms,params,macs,family\n"
                                      "Hello_World,NUCLEO-L4R5ZI,a paper,0.1,9999,8888,sine\n")
    result = import_benchmarks(table, "csv")
    assert result.keep_file_figures(store) == {described.iri: ["macs", "params"]}
    store.put_graphs(result.graphs())
    rows = store.select(PREFIX + f"SELECT ?p ?m ?f WHERE {{ <{described.iri}> ar:parameterCount ?p ; ar:macs ?m ; "
                        "ar:family ?f }").values()
    assert rows == [(described.facts["parameter_count"], 288, "sine")]  # the file's figures, the table's family
    assert store.select(PREFIX + "SELECT ?prop WHERE { ?x a ar:Provenance ; ar:forProperty ?prop }").column("prop") == \
        [str(AR.family)]


def test_fine_tuning_results_read_back_as_a_transfer_table(tmp_path):
    from ranker.transfer import table_from_rows

    store = Store()
    table = FINE_TUNING + "Hello_World,CIFAR10,10.0,a toy,,1,1,,\n"
    store.put_graphs(import_benchmarks(write(tmp_path / "spider.csv", table), "csv").graphs())
    rows = fine_tuning_results(store)
    assert len(rows) == 5 and set(rows[0]) == set(TRANSFER_COLUMNS)
    resnet = next(r for r in rows if r["model"] == model_iri("resnet50") and r["target_dataset"] == "CIFAR10")
    assert resnet == {**resnet, "accuracy_pct": "96.8", "task": "image_classification", "params": "25557032",
                      "macs": "4100000000", "family": "resnet", "pretrain_dataset": "ImageNet",
                      "source": "Model Spider table"}
    transfer = table_from_rows(rows, "the registry")
    assert sorted(transfer.datasets) == ["CIFAR10", "Pets"] and len(transfer.models) == 3
    m, d = transfer.models.index(model_iri("mobilenet_v2")), transfer.datasets.index("Pets")
    assert transfer.acc[m, d] == 86.4
    assert transfer.model_info[m]["params"] == 3504872 and transfer.model_info[m]["family"] == "mobilenet"
