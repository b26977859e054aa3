"""The user's whole flow through the installed `arachne` CLI, on every store backend: the embedded
store, an Oxigraph server and a Virtuoso server (real processes on loopback, tests/conftest.py).

init -> import-td (a demo board whose TD has blank nodes) -> import-model -> import-benchmarks
-> feasible -> recommend -> export-td, with real answers checked at each step."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kg.sparql_store import SparqlStore
from kg.store import open_store

DEMO = Path(__file__).resolve().parents[1] / "kg" / "demo"
BOARD_TD = DEMO / "tds" / "adafruit-pybadge.td.jsonld"  # its forms and security are blank nodes
MODEL = DEMO / "models" / "Magic_Wand_1.tflite"
BENCHMARKS = "model,device,source,runtime,latency_ms,ram_bytes,accuracy_pct\n" \
             "Magic_Wand_1,Adafruit-PyBadge,user flow test,tflite-micro,12.5,20000,91.0\n"


@pytest.fixture(params=["embedded", "oxigraph-server", "virtuoso"])
def location(request, tmp_path) -> str:
    if request.param == "embedded":
        return str(tmp_path / "db")
    url = (request.getfixturevalue("oxigraph_server").url if request.param == "oxigraph-server"
           else request.getfixturevalue("virtuoso_server"))
    store = open_store(url)  # a session's server: start from an empty store
    assert isinstance(store, SparqlStore)
    store.drop_graphs(store.graph_names())
    if store.dialect.separate_default_graph:
        store.update("DROP SILENT DEFAULT")
    return url


def arachne(location: str, *args) -> str:
    cmd = [sys.executable, "-m", "registry.cli", "--store", location, *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, env={**os.environ, "COLUMNS": "200"}, timeout=300)
    assert proc.returncode == 0, (args, proc.stderr.decode(errors="replace"))
    assert b"Traceback" not in proc.stderr
    return proc.stdout.decode("utf-8")


def test_the_whole_flow_on_every_backend(location, tmp_path):
    assert "store ready" in arachne(location, "init")
    assert "imported" in arachne(location, "import-td", BOARD_TD)
    arachne(location, "import-model", MODEL, "--task", "gesture_recognition", "--modality", "inertial")
    table = tmp_path / "results.csv"
    table.write_text(BENCHMARKS)
    assert "1 record(s)" in arachne(location, "import-benchmarks", table, "--format", "csv")

    rows = json.loads(arachne(location, "feasible", "--device", "adafruit-pybadge", "--json"))
    assert [(r["name"], r["feasible"]) for r in rows] == [("Magic_Wand_1", True)]
    assert arachne(location, "feasible", "--device", "adafruit-pybadge", "--ids").split() == [
        "https://w3id.org/arachne/model/magic_wand_1"]  # the requirement index, written with the model

    ranked = json.loads(arachne(location, "recommend", "--device", "adafruit-pybadge", "--task",
                                "gesture_recognition", "--json"))
    assert [r["name"] for r in ranked["rows"]] == ["Magic_Wand_1"]
    assert ranked["rows"][0]["latency_ms"] == 12.5  # the benchmark record was read

    exported = subprocess.run([sys.executable, "-m", "registry.cli", "--store", location, "export-td",
                               "adafruit-pybadge"], capture_output=True, timeout=120)
    assert exported.returncode == 0 and exported.stdout == BOARD_TD.read_bytes()
