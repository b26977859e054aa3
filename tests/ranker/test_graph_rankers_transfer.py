"""ranker.graph_rankers.transfer_table: the registry's transfer table holds both kinds of record,
device benchmarks and imported fine-tuning results, one column per dataset however it is named."""
import numpy as np
from rdflib import RDF, Graph, Literal, Namespace, URIRef

from kg.benchmarks import import_benchmarks
from kg.ids import AR, benchmark_iri, dataset_iri, device_iri, model_iri, task_iri
from kg.loading import init_store
from kg.store import Store
from ranker import graph_rankers

# Fine-tuning results name their datasets as the CSV does ("CIFAR10"); the device record below
# reaches the same dataset through its IRI, whose local name is the slug ("cifar10").
FINE_TUNING = """model,target_dataset,accuracy_pct,source,task,params,macs,family,pretrain_dataset
resnet50,CIFAR10,96.8,Model Spider table,image_classification,25557032,4100000000,resnet,ImageNet
resnet50,Pets,92.1,Model Spider table,image_classification,,,,
resnet101,CIFAR10,97.7,Model Spider table,image_classification,44549160,7800000000,resnet,ImageNet
resnet101,Pets,94.0,Model Spider table,image_classification,,,,
mobilenet_v2,CIFAR10,94.9,Model Spider table,image_classification,3504872,300000000,mobilenet,ImageNet
mobilenet_v2,Pets,86.4,Model Spider table,image_classification,,,,
mnasnet1_0,CIFAR10,96.8,Model Spider table,image_classification,4383312,310000000,mnasnet,ImageNet
"""


def _store(tmp_path):
    store = Store(tmp_path / "db")
    init_store(store)
    csv = tmp_path / "spider.csv"
    csv.write_text(FINE_TUNING)
    store.put_graphs(import_benchmarks(csv, "csv").graphs())
    # A TinyML model trained on CIFAR-10 and benchmarked on a board, twice (two devices' figures).
    schema = Namespace("https://schema.org/")
    g = Graph()
    m = URIRef(model_iri("tiny-cifar"))
    g.add((m, RDF.type, AR.PretrainedModel))
    g.add((m, schema.name, Literal("tiny-cifar")))
    g.add((m, AR.performsTask, URIRef(task_iri("image_classification"))))
    g.add((m, AR.trainedOn, URIRef(dataset_iri("cifar10"))))
    g.add((m, AR.parameterCount, Literal(100000)))
    for board, acc in (("board-a", 80.0), ("board-b", 82.0)):
        g.add((URIRef(device_iri(board)), RDF.type, AR.Device))
        b = URIRef(benchmark_iri(f"tiny-cifar@{board}"))
        g.add((b, RDF.type, AR.BenchmarkRecord))
        g.add((b, AR.ofModel, m))
        g.add((b, AR.onDevice, URIRef(device_iri(board))))
        g.add((b, AR.accuracyPct, Literal(acc)))
    store.put_graphs({"https://w3id.org/arachne/graph/test-device": g})
    return store


def test_transfer_table_holds_fine_tuning_results_beside_device_records(tmp_path):
    table = graph_rankers.transfer_table(_store(tmp_path))
    # One column for CIFAR-10 (device record and fine-tuning results together), one for Pets.
    assert sorted(table.datasets) == ["Pets", "cifar10"]
    cifar, pets = table.index("cifar10"), table.index("Pets")
    acc = {m.rsplit("/", 1)[-1]: table.acc[i] for i, m in enumerate(table.models)}
    assert acc["tiny-cifar"][cifar] == 81.0 and np.isnan(acc["tiny-cifar"][pets])
    assert acc["resnet101"][cifar] == 97.7 and acc["resnet101"][pets] == 94.0
    assert np.isnan(acc["mnasnet1_0"][pets])
    assert table.dataset_task == ["image_classification", "image_classification"]
    info = table.model_info[table.models.index(model_iri("resnet50"))]
    assert info["params"] == 25557032 and info["family"] == "resnet" and info["pretrain_dataset"] == "ImageNet"


def test_fine_tuning_results_are_predicted_from(tmp_path):
    # Pets has figures only from the fine-tuning table: a prediction there comes from them, asked
    # by the dataset's name or IRI; the model's own figure is hidden.
    store = _store(tmp_path)
    target = model_iri("resnet101")
    for asked in ("Pets", dataset_iri("Pets")):
        pred = graph_rankers.predicted_accuracy(store, [target], asked)[target]
        assert pred.provenance == "predicted" and pred.low <= pred.value <= pred.high
        assert 86.0 < pred.value < 98.0
    q = graph_rankers.transfer_quality(store)
    assert q["datasets"] == 2
