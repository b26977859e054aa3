"""The requirement index behind the fast one-device feasibility query: bucket arithmetic,
and the fast answer against the full per-pair check on a registry built to put many models
right at the devices' limits (so classes straddle them), however the index was written, after
every kind of write (the embedded store keeps what it read of the index between queries), on
an index from before the bands, and on a SPARQL server other clients write to."""
import random

from hypothesis import given, strategies as st
from rdflib import BNode, Graph, Literal, URIRef
from rdflib.namespace import RDF, XSD

from kg import feasibility, requirements
from kg.feasibility import Request
from kg.ids import AR, device_iri, model_iri
from kg.loading import init_store
from kg.store import Store, open_store

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


def small_model(name: str, arena: int = 1000) -> tuple[str, Graph]:
    """A model of `arena` bytes of RAM, 1000 bytes of file, one TFLM operator, no sensor (with the
    default arena it fits every device)."""
    iri = URIRef(model_iri(name))
    g = Graph()
    for p, o in ((RDF.type, AR.PretrainedModel), (AR.hasFormat, AR.TFLite), (AR.usesOperator, Literal("CONV_2D")),
                 (AR.arenaBytes, Literal(arena, datatype=XSD.integer)),
                 (AR.modelBytes, Literal(1000, datatype=XSD.integer))):
        g.add((iri, p, o))
    return str(iri), g


def test_replacing_or_dropping_a_model_moves_it_in_the_index():
    store = Store()
    init_store(store)
    store.put_graphs(registry(models=50))
    device = Request(device=device_iri("d0"))
    name, g = small_model("m999")
    store.put_graph(name, g)
    assert name in feasibility.fast_feasible_models(store, device)
    g.set((URIRef(name), AR.arenaBytes, Literal(10**7, datatype=XSD.integer)))  # now far too big
    store.put_graph(name, g)
    assert name not in feasibility.fast_feasible_models(store, device)
    links = store.select(f"SELECT ?c WHERE {{ <{name}> <{AR.requirementClass}> ?c }}")
    assert len(links) == 1  # the old link went with the old graph
    store.drop_graph(name)
    assert name not in feasibility.fast_feasible_models(store, device)
    assert_fast_path_agrees(store)


def test_the_fast_path_stays_exact_after_every_kind_of_write():
    """The embedded store's fast path keeps what it read of the index between queries; every
    write moves the store's write generation, so the next answer reads it again."""
    store = Store()
    init_store(store)
    store.put_graphs(registry(models=200))
    d0 = Request(device=device_iri("d0"))
    first, second = small_model("first"), small_model("second")  # same figures: same class

    def write(do) -> None:
        before = store.write_generation
        assert feasibility._READS[store][0] == before  # the answers before came from what was kept
        do()
        assert store.write_generation > before
        assert_fast_path_agrees(store)

    assert_fast_path_agrees(store)
    write(lambda: store.put_graph(*first))  # a class the kept reads do not know yet
    assert first[0] in feasibility.fast_feasible_models(store, d0)
    write(lambda: store.put_graph(*second))  # a class they know, one model more
    assert {first[0], second[0]} <= feasibility.fast_feasible_models(store, d0)
    write(lambda: store.drop_graph(first[0]))
    assert first[0] not in feasibility.fast_feasible_models(store, d0)
    name, device = device_graph(0)
    device.set((URIRef(name), AR.ramBytes, Literal(120000, datatype=XSD.integer)))  # d0 loses half its RAM
    write(lambda: store.put_graph(name, device))
    third = small_model("third", arena=200000)  # fitted d0 before, not now

    def bulk_load_and_reindex() -> None:  # bulk N-Triples bypass put_graphs: reindex indexes them
        before = store.write_generation
        store.load_ntriples(third[0], third[1].serialize(format="nt").encode())
        assert store.write_generation > before
        requirements.reindex(store)

    write(bulk_load_and_reindex)
    assert third[0] in full_check(store, device_iri("d2"), Request(device=device_iri("d2")))
    assert third[0] in feasibility.fast_feasible_models(store, Request(device=device_iri("d2")))
    assert third[0] not in feasibility.fast_feasible_models(store, d0)


def test_a_store_indexed_before_the_bands_existed_gets_exact_answers():
    store = Store()
    init_store(store)
    store.put_graphs(registry(models=200))
    # An index written before requirement bands existed: classes without band links.
    store.update(f"DELETE WHERE {{ GRAPH <{requirements.INDEX_GRAPH}> {{ ?c <{AR.arenaBand}> ?band }} }}")
    assert len(feasibility._undecided(store)) == 202  # every model goes to the full check
    assert assert_fast_path_agrees(store) > 100
    requirements.reindex(store)
    assert feasibility._undecided(store) == set()
    assert_fast_path_agrees(store)


def test_on_a_sparql_server_the_fast_path_sees_what_other_clients_write(oxigraph_servers):
    server = oxigraph_servers()
    store, other = open_store(server.url), open_store(server.url)
    init_store(store)
    store.put_graphs(registry(models=100))
    assert store.write_generation is None  # others may write: nothing read is kept
    assert assert_fast_path_agrees(store) > 50
    name, g = small_model("written-elsewhere")
    other.put_graph(name, g)
    assert name in feasibility.fast_feasible_models(store, Request(device=device_iri("d0")))
    other.drop_graph(model_iri("m0"))
    assert_fast_path_agrees(store)
