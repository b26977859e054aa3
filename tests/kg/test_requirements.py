"""The requirement index behind the fast one-device feasibility query: bucket arithmetic,
and the fast answer against the full per-pair check on a registry built to put many models
right at the devices' limits (so classes straddle them), however the index was written."""
import random

from hypothesis import given, strategies as st
from rdflib import BNode, Graph, Literal, URIRef
from rdflib.namespace import RDF, XSD

from kg import feasibility, requirements
from kg.feasibility import Request
from kg.ids import AR, device_iri, model_iri
from kg.loading import init_store
from kg.store import Store

TFLM = URIRef("https://w3id.org/arachne/runtime/tflite-micro")
OPS = ["CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "SOFTMAX", "RESHAPE"]
SENSORS = ["Microphone", "Camera", "Accelerometer"]
MODALITIES = ["Audio", "Image", "Inertial", "TimeSeries"]
DEVICES = [  # (RAM, flash, sensors)
    (250000, 1048576, ["Microphone", "Accelerometer"]),  # RAM inside a bucket, not on a bound
    (131072, 524288, ["Accelerometer"]),
    (655360, 2097152, ["Camera", "Microphone"]),
    (65536, 262144, []),
]


@given(st.integers(min_value=0, max_value=2**40))
def test_every_byte_count_falls_inside_its_bucket(n):
    k = requirements.bucket(n)
    assert requirements.bucket_low(k) <= n < requirements.bucket_low(k + 1)


def test_bucket_bounds_grow_by_an_eighth_of_a_doubling():
    assert [requirements.bucket_low(k) for k in (0, 1, 8, 16, 80)] == [0, 2, 2, 4, 1024]
    assert requirements.bucket(0) == requirements.bucket(1) == 0
    assert requirements.bucket(1024) == 80 and requirements.bucket(1023) == 79


def model_graph(i: int, rng: random.Random) -> tuple[str, Graph]:
    iri = URIRef(model_iri(f"m{i}"))
    g = Graph()
    g.add((iri, RDF.type, AR.PretrainedModel))
    g.add((iri, AR.hasFormat, AR.TFLite))
    ram, flash, _ = rng.choice(DEVICES)
    # Around a device's limits (about 1 in 3 over), so classes straddle them.
    g.add((iri, AR.arenaBytes, Literal(int(ram * rng.uniform(0.7, 1.2)), datatype=XSD.integer)))
    if rng.random() > 0.1:  # some models have no size figure: no flash test for them
        g.add((iri, AR.modelBytes, Literal(int(flash * rng.uniform(0.7, 1.2)) - 50000, datatype=XSD.integer)))
    for op in rng.sample(OPS, 3) + (["NOT_A_TFLM_OP"] if rng.random() < 0.1 else []):
        g.add((iri, AR.usesOperator, Literal(op)))
    if rng.random() < 0.7:
        g.add((iri, AR.hasModality, AR[rng.choice(MODALITIES)]))
    if rng.random() < 0.2:
        g.add((iri, AR.requiresSensor, AR[rng.choice(SENSORS)]))
    return model_iri(f"m{i}"), g


def device_graph(j: int) -> tuple[str, Graph]:
    ram, flash, sensors = DEVICES[j]
    iri = URIRef(device_iri(f"d{j}"))
    g = Graph()
    g.add((iri, RDF.type, AR.Device))
    g.add((iri, AR.ramBytes, Literal(ram, datatype=XSD.integer)))
    g.add((iri, AR.flashBytes, Literal(flash, datatype=XSD.integer)))
    g.add((iri, AR.supportsRuntime, TFLM))
    for s in sensors:
        node = BNode()
        g.add((iri, AR.hasSensor, node))
        g.add((node, RDF.type, AR[s]))
    return str(iri), g


def registry(models: int = 400, seed: int = 3) -> dict[str, Graph]:
    rng = random.Random(seed)
    graphs = dict(model_graph(i, rng) for i in range(models))
    for name, arena in (("under-the-limit", 250000 - 100), ("over-the-limit", 250000 + 100)):
        iri = URIRef(model_iri(name))  # d0 has 250000 bytes of RAM
        g = Graph()
        for p, o in ((RDF.type, AR.PretrainedModel), (AR.hasFormat, AR.TFLite), (AR.usesOperator, Literal("ADD")),
                     (AR.arenaBytes, Literal(arena, datatype=XSD.integer)),
                     (AR.modelBytes, Literal(5000, datatype=XSD.integer))):
            g.add((iri, p, o))
        graphs[str(iri)] = g
    graphs.update(device_graph(j) for j in range(len(DEVICES)))
    return graphs


def full_check(store: Store, device: str, request: Request) -> dict[str, str]:
    """{model: outcome} of the models that fit or likely fit, by the full per-pair check."""
    return {c.model: c.outcome for c in feasibility.check_pairs(store, device=device, request=request) if c.feasible}


REQUESTS = [Request(), Request(reserved_ram_bytes=20000, reserved_flash_bytes=100000),
            Request(onboard_sensors=True), Request(verified_only=True, max_latency_ms=10.0)]


def assert_fast_path_agrees(store: Store) -> int:
    straddled = 0
    for j in range(len(DEVICES)):
        for req in REQUESTS:
            req = Request(device=device_iri(f"d{j}"), reserved_ram_bytes=req.reserved_ram_bytes,
                          reserved_flash_bytes=req.reserved_flash_bytes, onboard_sensors=req.onboard_sensors,
                          verified_only=req.verified_only, max_latency_ms=req.max_latency_ms)
            expected = full_check(store, req.device, req)
            assert feasibility.fast_outcomes(store, req) == expected, (j, req)
            straddled += len(expected)
    return straddled


def test_fast_path_agrees_with_the_full_check_when_written_through_put_graphs():
    store = Store()
    init_store(store)
    store.put_graphs(registry())
    assert assert_fast_path_agrees(store) > 100  # not vacuous: many feasible pairs
    # The registry was built to straddle limits: some classes are only partly feasible, so the
    # query's per-model branch is exercised too.
    cls = dict(store.select(f"SELECT ?m ?c WHERE {{ ?m <{AR.requirementClass}> ?c }}").values())
    ok = full_check(store, device_iri("d0"), Request(device=device_iri("d0")))
    under, over = model_iri("under-the-limit"), model_iri("over-the-limit")
    assert cls[under] == cls[over] and under in ok and over not in ok


def test_reindex_builds_the_same_index_for_triples_written_by_other_tools():
    store = Store()
    init_store(store)
    for name, g in registry().items():  # bulk N-Triples bypass put_graphs, so nothing is indexed
        store.load_ntriples(name, g.serialize(format="nt").encode())
    assert not store.select(f"SELECT ?m WHERE {{ ?m <{AR.requirementClass}> ?c }}")
    assert feasibility.fast_feasible_models(store, Request(device=device_iri("d2"))) == set()
    assert requirements.reindex(store) == 402
    assert_fast_path_agrees(store)
    assert requirements.reindex(store) == 402  # idempotent: one link per model
    assert len(store.select(f"SELECT ?m ?c WHERE {{ ?m <{AR.requirementClass}> ?c }}")) == 402


def test_replacing_or_dropping_a_model_moves_it_in_the_index():
    store = Store()
    init_store(store)
    store.put_graphs(registry(models=50))
    device = Request(device=device_iri("d0"))
    name, g = model_graph(999, random.Random(0))
    iri = URIRef(name)
    g.set((iri, AR.arenaBytes, Literal(1000, datatype=XSD.integer)))
    g.set((iri, AR.modelBytes, Literal(1000, datatype=XSD.integer)))
    for op in list(g.objects(iri, AR.usesOperator)):
        g.remove((iri, AR.usesOperator, op))
    g.add((iri, AR.usesOperator, Literal("CONV_2D")))
    for p in (AR.hasModality, AR.requiresSensor):
        g.remove((iri, p, None))
    store.put_graph(name, g)
    assert name in feasibility.fast_feasible_models(store, device)
    g.set((iri, AR.arenaBytes, Literal(10**7, datatype=XSD.integer)))  # now far too big
    store.put_graph(name, g)
    assert name not in feasibility.fast_feasible_models(store, device)
    links = store.select(f"SELECT ?c WHERE {{ <{name}> <{AR.requirementClass}> ?c }}")
    assert len(links) == 1  # the old link went with the old graph
    store.drop_graph(name)
    assert name not in feasibility.fast_feasible_models(store, device)
    assert_fast_path_agrees(store)
