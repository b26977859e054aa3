"""Federation: one query on one Oxigraph server also reads a second one through SERVICE
(kg/queries/federated_devices.rq). Both servers listen on loopback only."""
from pathlib import Path

import pytest
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import RDF

from kg.ids import AR, device_iri
from kg.store import Store, StoreError, open_store

QUERY = (Path(__file__).resolve().parents[2] / "kg" / "queries" / "federated_devices.rq").read_text()
TITLE = URIRef("https://www.w3.org/2019/wot/td#title")


def device(name: str, ram: int, flash: int) -> tuple[str, Graph]:
    iri = URIRef(device_iri(name))
    g = Graph()
    g.add((iri, RDF.type, AR.Device))
    g.add((iri, AR.ramBytes, Literal(ram)))
    g.add((iri, AR.flashBytes, Literal(flash)))
    g.add((iri, TITLE, Literal(name)))
    return str(iri), g


def federated(peer_url: str) -> str:
    return QUERY.replace("#PEER#", f"<{peer_url}/query>")


@pytest.fixture(scope="module")
def two_registries(oxigraph_servers):
    """Server one holds two boards, server two holds two others."""
    one, two = oxigraph_servers(), oxigraph_servers()
    open_store(one.url).put_graphs(dict([device("Nano-33-BLE", 256_000, 1_000_000), device("Pico", 264_000, 2_000_000)]))
    open_store(two.url).put_graphs(dict([device("ESP32-S3", 512_000, 8_000_000), device("STM32F746", 320_000, 1_000_000)]))
    return one, two


def test_one_query_returns_devices_from_both_servers(two_registries):
    one, two = two_registries
    rows = open_store(one.url).select(federated(two.url)).dicts()
    assert [(r["title"], r["registry"]) for r in rows] == [
        ("Nano-33-BLE", "local"),
        ("Pico", "local"),
        ("STM32F746", "peer"),
        ("ESP32-S3", "peer"),
    ]
    assert rows[-1]["ramBytes"] == 512_000 and rows[-1]["device"] == device_iri("ESP32-S3")


def test_the_embedded_store_federates_with_a_server_too(two_registries):
    _, two = two_registries
    local = Store()
    local.put_graphs(dict([device("Pico", 264_000, 2_000_000)]))
    titles = [r["title"] for r in local.select(federated(two.url)).dicts()]
    assert titles == ["Pico", "STM32F746", "ESP32-S3"]


def test_an_unreachable_peer_is_a_store_error(two_registries, oxigraph_servers):
    one, _ = two_registries
    gone = oxigraph_servers()
    gone.stop()
    with pytest.raises(StoreError, match="failed to run the query"):
        open_store(one.url).select(federated(gone.url))
