"""The Thing Description Directory under attack, failure and load (issue 13): every test talks
HTTP to a waitress server it started (registry.cli_serve.BackgroundServer over create_app)."""
from __future__ import annotations

import copy
import gc
import json
import logging
import os
import shutil
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

from kg import demo_registry
from kg.store import Store
from registry.app import create_app
from registry.cli_serve import BackgroundServer
from tests.registry.test_tdd_conformance import SSE, Client, td

ROOT = Path(__file__).resolve().parents[2]
TD_TYPE = {"Content-Type": "application/td+json"}
BOARD = "https://w3id.org/arachne/device/arduino-nano-33-ble-sense"
NODE_MODULES = ROOT / ".node" / "node_modules"


def put(client: Client, thing_id: str, doc) -> tuple[int, dict, bytes]:
    return client.request("PUT", "/things/" + urllib.parse.quote(thing_id, safe=":"), doc, TD_TYPE)


def problem(body: bytes) -> dict:
    return json.loads(body.decode("utf-8"))


@pytest.fixture(scope="module")
def demo():
    """The demo registry (52 boards, 308 models) served on loopback."""
    store = Store()
    demo_registry.build(store, progress=False)
    with BackgroundServer(create_app(store)) as srv:
        yield Client(srv.url), srv.url


def _board_facts(client: Client) -> tuple[int, list]:
    query = f"SELECT ?ram WHERE {{ <{BOARD}> <https://w3id.org/arachne#ramBytes> ?ram }}"
    status, _, body = client.request("GET", "/sparql?query=" + urllib.parse.quote(query),
                                     headers={"Accept": "application/sparql-results+json"})
    assert status == 200
    rams = [int(b["ram"]["value"]) for b in json.loads(body)["results"]["bindings"]]
    status, _, body = client.request("GET", "/feasible?device=" + urllib.parse.quote(BOARD, safe=""),
                                     headers={"Accept": "application/json"})
    assert status == 200, body[:300]
    return rams, json.loads(body)


# -- item 2: ids ----------------------------------------------------------------------------------
def test_a_relative_id_cannot_take_over_another_devices_graph(demo):
    client, _ = demo
    rams, feasible = _board_facts(client)
    assert rams == [262144]
    _, _, board_json = client.request("GET", "/things/" + BOARD)
    attack = json.loads((ROOT / "kg" / "demo" / "tds" / "arduino-nano-33-ble-sense.td.jsonld").read_text())
    attack["id"] = "../device/arduino-nano-33-ble-sense"
    attack["ar:ramBytes"] = 999999999
    status, _, body = client.request("PUT", "/things/..%2Fdevice%2Farduino-nano-33-ble-sense", attack, TD_TYPE)
    assert status == 400, body[:300]
    doc = problem(body)
    assert doc["title"] == "Invalid Thing Description: id is not an absolute IRI"
    assert [e["field"] for e in doc["validationErrors"]] == ["id"]
    assert client.request("DELETE", "/things/..%2Fdevice%2Farduino-nano-33-ble-sense")[0] == 404
    # nothing changed: the RDF view, the feasibility answer and the JSON view agree as before
    assert _board_facts(client) == (rams, feasible)
    assert client.request("GET", "/things/" + BOARD)[2] == board_json
    # the URL's id must be the body's id
    assert put(client, "urn:example:other", attack | {"id": BOARD})[0] == 400


@pytest.mark.parametrize("bad_id", ["lamp one", "urn:example:<lamp>", 'urn:example:"lamp"', "javascript:alert(1)",
                                    "../device/x", "https://example.com/a/../b", "urn:example:" + "x" * 10_000])
def test_ids_that_are_not_absolute_iris_are_refused(demo, bad_id):
    client, _ = demo
    status, _, body = put(client, bad_id, td(bad_id))
    assert status == 400, (bad_id[:40], body[:300])
    doc = problem(body)
    assert doc["title"].startswith("Invalid Thing Description: id ")
    assert [e["field"] for e in doc["validationErrors"]] == ["id"]
    _, _, listing = client.request("GET", "/things?limit=1000")
    assert bad_id not in {t["id"] for t in json.loads(listing)}


def test_the_cli_refuses_the_same_ids_with_the_same_field(tmp_path):
    from click.testing import CliRunner

    from registry.cli import cli

    path = tmp_path / "relative.td.json"
    path.write_text(json.dumps(td("../device/arduino-nano-33-ble-sense")))
    result = CliRunner().invoke(cli, ["--store", str(tmp_path / "store"), "import-td", "--strict", str(path)])
    assert result.exit_code != 0
    assert "id" in result.output and "absolute IRI" in result.output


def test_a_td_cannot_replace_a_graph_that_is_not_a_thing(demo):
    client, _ = demo
    query = "SELECT ?g WHERE { GRAPH ?g { ?m a <https://w3id.org/arachne#PretrainedModel> } } LIMIT 1"
    _, _, body = client.request("GET", "/sparql?query=" + urllib.parse.quote(query),
                                headers={"Accept": "application/sparql-results+json"})
    graph = json.loads(body)["results"]["bindings"][0]["g"]["value"]
    status, _, body = put(client, graph, td(graph, "Not a model"))
    assert status == 409, body[:300]
    ask = f"ASK {{ GRAPH <{graph}> {{ ?m a <https://w3id.org/arachne#PretrainedModel> }} }}"
    _, _, body = client.request("GET", "/sparql?query=" + urllib.parse.quote(ask),
                                headers={"Accept": "application/sparql-results+json"})
    assert json.loads(body)["boolean"] is True


# -- item 6: node-wot ---------------------------------------------------------------------------
def test_node_wot_reads_a_td_and_explores_the_directory(demo):
    if not (NODE_MODULES / "@node-wot" / "core").is_dir() or shutil.which("node") is None:
        pytest.skip("node-wot is not installed: run `make node-wot` (npm install into .node/)")
    client, url = demo
    listed = [t["id"] for t in json.loads(client.request("GET", "/things?limit=1000")[2])]
    result = subprocess.run(["node", str(ROOT / "tests" / "registry" / "node_wot_client.js"), url, BOARD],
                            env={**os.environ, "NODE_PATH": str(NODE_MODULES)}, capture_output=True,
                            text=True, timeout=120)
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert "error" not in out, out["error"]
    assert out["thing"]["id"] == BOARD
    assert out["directory"] == "Arachne Thing Description Directory"
    assert "exploreError" not in out, out.get("exploreError")
    assert out["explored"] == listed and BOARD in listed  # every TD of the directory, none refused by node-wot


# -- item 7: event ids survive restarts ----------------------------------------------------------
def _reopen(path: Path) -> Store:
    """The on-disk store once the previous server's threads have let go of it (its lock goes
    with the last reference; an event stream's thread ends at its next keep-alive)."""
    from kg.store import StoreError

    for _ in range(200):
        gc.collect()
        try:
            return Store(path)
        except StoreError:  # locked
            time.sleep(0.05)
    raise AssertionError("the first server never released the store")


def test_event_ids_keep_increasing_across_a_restart(tmp_path):
    def run(thing_ids, last_event_id=None):
        app = create_app(_reopen(tmp_path / "store"), {"SSE_KEEPALIVE_S": 0.2})
        with BackgroundServer(app) as srv:
            client = Client(srv.url)
            events = SSE(client, "/events", {"Last-Event-ID": last_event_id} if last_event_id else None)
            try:
                for thing_id in thing_ids:
                    assert put(client, thing_id, td(thing_id))[0] == 201
                return [events.next() for _ in thing_ids]
            finally:
                events.close()

    first = run([f"urn:example:restart-{i}" for i in range(3)])[-1]
    # a client that saw the first server's last event reconnects to the restarted one
    after = run(["urn:example:after-restart"], first["id"])[0]
    assert json.loads(after["data"]) == {"id": "urn:example:after-restart"}
    assert int(after["id"]) > int(first["id"])


# -- item 15: validation outside the write lock ---------------------------------------------------------
def test_a_big_td_does_not_block_small_writes():
    app = create_app(Store())
    with BackgroundServer(app) as srv:
        client = Client(srv.url)
        assert put(client, "urn:example:warm", td("urn:example:warm"))[0] == 201  # compile schemas and shapes first
        big = td("urn:example:big", "Big")
        big["properties"] = {f"p{i}": {"type": "number", "readOnly": True, "title": f"Property {i}",
                                       "forms": [{"href": f"https://big.example.com/p/{i}"}]} for i in range(15_000)}
        order: list[str] = []
        big_started = threading.Event()

        def send_big():
            big_started.set()
            status = put(client, "urn:example:big", big)[0]
            order.append(f"big {status}")

        thread = threading.Thread(target=send_big)
        thread.start()
        big_started.wait()
        # the big TD validates for seconds; three small writes in a row must not wait for it
        for i in range(3):
            status = put(client, f"urn:example:small-{i}", td(f"urn:example:small-{i}"))[0]
            order.append(f"small {status}")
        thread.join(timeout=300)
        assert order == ["small 201"] * 3 + ["big 201"]


# -- item 14: storage failures ----------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path):
    """A 16 MiB tmpfs (needs root and a sandbox that allows mount)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(disk)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill: {mounted.stderr.strip() or mounted.returncode}")
    try:
        yield disk
    finally:
        gc.collect()
        subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(disk: Path) -> Path:
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as fh:  # unbuffered: closing must not write (and fail) again
        try:
            while True:
                fh.write(b"\0" * 65536)
        except OSError:
            pass
    return filler


def test_a_full_disk_is_507_and_the_service_recovers(small_disk, caplog):
    caplog.set_level(logging.ERROR)
    store = Store(small_disk / "store")
    app = create_app(store)
    with BackgroundServer(app) as srv:
        client = Client(srv.url)
        assert put(client, "urn:example:before", td("urn:example:before"))[0] == 201
        filler = fill(small_disk)
        big = td("urn:example:full", "Full", description="x" * 200_000)
        status, headers, body = put(client, "urn:example:full", big)
        assert status == 507, body[:300]
        assert headers["Retry-After"] and problem(body)["title"] == "Insufficient Storage"
        assert any("storage failure" in r.getMessage() for r in caplog.records)
        # nothing changed: the index and the caches agree with the store
        assert client.request("GET", "/things/urn:example:full")[0] == 404
        assert [t["id"] for t in json.loads(client.request("GET", "/things")[2])] == ["urn:example:before"]
        status, _, _ = put(client, "urn:example:full", big)
        assert status == 507
        filler.unlink()
        assert put(client, "urn:example:full", big)[0] == 201  # no restart needed
        assert put(client, "urn:example:after", td("urn:example:after"))[0] == 201
        assert json.loads(client.request("GET", "/things/urn:example:full")[2])["title"] == "Full"
    del app, store, srv  # the first server's last references to the store

    # a store on a full disk still opens (read-only until there is space), and serves reads
    filler = fill(small_disk)
    app = create_app(_reopen(small_disk / "store"))
    with BackgroundServer(app) as srv:
        client = Client(srv.url)
        ids = [t["id"] for t in json.loads(client.request("GET", "/things")[2])]
        assert ids == ["urn:example:after", "urn:example:before", "urn:example:full"]
        assert put(client, "urn:example:later", td("urn:example:later", description="y" * 200_000))[0] == 507
        filler.unlink()
        assert put(client, "urn:example:later", td("urn:example:later"))[0] == 201


# -- item 18: schema-valid TDs import ---------------------------------------------------------------
def test_const_null_beside_a_type_is_a_warning_not_a_rejection(shared):
    # an OPC UA export (Siemens ventilation system, W3C data-input 2022) with the `"const": null`
    # beside a type that OPC UA exporters write for optional values
    source = shared / "tds" / "corpus" / "wot-testing__data-input_2022" / "saywot__TDs__siemens_VentilationSystem.td.jsonld"
    doc = json.loads(source.read_text(encoding="utf-8"))
    name, prop = next(iter(doc["properties"].items()))
    prop["const"] = None
    from kg import td as importer

    assert importer.check_td(json.dumps(doc).encode()).status == "valid"
    app = create_app(Store())
    with BackgroundServer(app) as srv:
        client = Client(srv.url)
        thing_id = doc.get("id") or "urn:example:opcua-ventilation"
        doc["id"] = thing_id
        status, _, body = put(client, thing_id, doc)
        assert status == 201, body[:400]
        assert json.loads(client.request("GET", "/things/" + urllib.parse.quote(thing_id, safe=":"))[2]) == doc


# -- item 19: problem details -----------------------------------------------------------------------
def test_validation_errors_are_listed_once_with_a_telling_title(shared):
    source = shared / "tds" / "corpus" / "domus-tdd-api" / "tdd__tests__data__smart-coffee-machine.td.jsonld"
    doc = json.loads(source.read_text(encoding="utf-8"))
    broken = copy.deepcopy(doc)
    name = next(iter(broken["actions"]))
    broken["actions"][name]["forms"][0] = "x"  # fails every alternative of the form schema the same way
    app = create_app(Store())
    with BackgroundServer(app) as srv:
        client = Client(srv.url)
        status, _, body = put(client, broken["id"], broken)
        assert status == 400
        found = problem(body)
        errors = [(e["field"], e["description"]) for e in found["validationErrors"]]
        assert errors and len(errors) == len(set(errors)), errors
        assert found["title"] == f"Invalid Thing Description: actions.{name}.forms.0: 'x' is not of type 'object'"
        status, _, body = client.request("PUT", "/things/urn:example:x", b'{"title": ', TD_TYPE)
        assert problem(body)["title"] == "Invalid Thing Description: not valid JSON"
