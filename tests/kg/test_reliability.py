"""Reliability of the store on an Oxigraph server: crashes (kill -9) during imports and
concurrent writers. Loopback only; every wait is bounded."""
import threading
import time

import pyoxigraph as ox
import pytest
from rdflib import Graph, Literal, URIRef

from kg.store import Store, StoreError, open_store

EX = "http://example.org/reliability/"
N = 25  # triples per fake TD
COUNT, VERSION = URIRef(EX + "tripleCount"), URIRef(EX + "version")


def fake_td(name: str, version: int) -> Graph:
    """A fake Thing Description of exactly N triples; every triple carries its version."""
    thing, g = URIRef(name), Graph()
    g.add((thing, COUNT, Literal(N)))
    g.add((thing, VERSION, Literal(version)))
    for k in range(N - 2):
        g.add((thing, URIRef(f"{EX}p{k}"), Literal(f"v{version}-{k}")))
    return g


def versions_in(store) -> dict[str, int]:
    """Each named graph's version; fails unless the graph is one complete fake TD."""
    dataset = ox.Store()
    dataset.load(store.export("nquads"), format=ox.RdfFormat.N_QUADS)
    found = {}
    for graph in dataset.named_graphs():
        quads = list(dataset.quads_for_pattern(None, None, None, graph))
        by_predicate = {q.predicate.value: q.object.value for q in quads}
        version = int(by_predicate[str(VERSION)])
        assert len(quads) == N and int(by_predicate[str(COUNT)]) == N, f"{graph.value}: {len(quads)} triples"
        assert all(by_predicate[f"{EX}p{k}"] == f"v{version}-{k}" for k in range(N - 2)), f"{graph.value} is mixed"
        found[graph.value] = version
    return found


class Importer(threading.Thread):
    """Puts fake TDs one request at a time, cycling over `names` with rising versions, until an error."""

    def __init__(self, store, names: list[str], batch: int, start_step: int = 0):
        super().__init__(daemon=True)
        self.store, self.names, self.batch, self.step = store, names, batch, start_step
        self.acked: dict[str, int] = {}  # name -> last version the server acknowledged
        self.in_flight: dict[str, int] = {}
        self.error: Exception | None = None

    def run(self):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            self.in_flight = {}
            for _ in range(self.batch):
                self.in_flight[self.names[self.step % len(self.names)]] = self.step // len(self.names) + 1
                self.step += 1
            try:
                if self.batch == 1:
                    (name, version), = self.in_flight.items()
                    self.store.put_graph(name, fake_td(name, version))
                else:
                    self.store.put_graphs({n: fake_td(n, v) for n, v in self.in_flight.items()})
            except StoreError as exc:
                self.error = exc
                return
            self.acked.update(self.in_flight)


@pytest.mark.parametrize("batch", [1, 5], ids=["put_graph", "put_graphs-of-5"])
def test_kill_9_during_an_import_loses_no_acknowledged_graph_and_leaves_none_half_written(oxigraph_servers, batch):
    server = oxigraph_servers()
    names = [f"{EX}td/{i}" for i in range(400)]  # reused: later puts replace earlier versions
    acked: dict[str, int] = {}
    step = 0
    for round_ in range(3):
        importer = Importer(open_store(server.url), names, batch, step)
        importer.start()
        deadline = time.monotonic() + 20
        while len(importer.acked) < 40 * (round_ + 1) and importer.is_alive() and time.monotonic() < deadline:
            time.sleep(0.005)
        server.kill()
        importer.join(20)
        assert not importer.is_alive() and isinstance(importer.error, StoreError)
        acked.update(importer.acked)
        step = importer.step

        server = oxigraph_servers(server.location)  # restart on the same data
        store = open_store(server.url)
        found = versions_in(store)  # every graph present is complete and of one version
        for name, version in found.items():
            expected = {acked.get(name)} | ({importer.in_flight[name]} if name in importer.in_flight else set())
            assert version in expected, f"{name}: version {version}, expected one of {expected}"
        assert set(acked) <= set(found), "an acknowledged put is missing"
        # One request is all or nothing: the in-flight batch landed whole or not at all.
        landed = {n for n, v in importer.in_flight.items() if found.get(n) == v}
        assert landed in (set(), set(importer.in_flight))
        acked.update({n: importer.in_flight[n] for n in landed})
        assert store.count() == N * len(found)


@pytest.mark.parametrize("backend", ["embedded", "oxigraph-server"])
def test_concurrent_writers_to_one_graph_leave_one_complete_version(request, backend):
    store = Store() if backend == "embedded" else open_store(request.getfixturevalue("oxigraph_servers")().url)
    name, writers, rounds = EX + "td/contended", 8, 15
    errors, seen_by_reader = [], set()
    done = threading.Event()

    def write(writer: int):
        try:
            for r in range(rounds):
                store.put_graph(name, fake_td(name, writer * 1000 + r))
        except Exception as exc:  # reported below, not lost in the thread
            errors.append(exc)

    def read():
        query = f"SELECT (COUNT(*) AS ?n) (COUNT(DISTINCT ?v) AS ?versions) WHERE {{ GRAPH <{name}> {{ ?s <{VERSION}> ?v . ?s ?p ?o }} }}"
        while not done.is_set():
            seen_by_reader.add(store.select(query).values()[0])

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    reader = threading.Thread(target=read)
    reader.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    done.set()
    reader.join(30)
    assert not errors and not any(t.is_alive() for t in threads)
    versions = versions_in(store)
    assert list(versions) == [name] and versions[name] % 1000 == rounds - 1  # some writer's last put, complete
    assert seen_by_reader <= {(0, 0), (N, 1)}  # readers never saw a half-replaced graph
