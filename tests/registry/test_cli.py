"""The CLI as a user meets it: the installed `arachne` entry point in a subprocess."""
import json
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

QUERIES = Path(__file__).resolve().parents[2] / "kg" / "queries" / "examples"


def arachne(store, *args, check=True):
    cmd = [sys.executable, "-m", "registry.cli", "--store", str(store), *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"})
    if check and proc.returncode != 0:
        raise AssertionError(proc.stderr)
    return proc


def quads(store):
    return int(json.loads(arachne(store, "query", "--format", "json",
                                  "SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }").stdout)[0]["n"])


def test_init_load_query_stats_export(tmp_path, shared):
    store = tmp_path / "db"
    arachne(store, "init")
    arachne(store, "load", *sorted((shared / "ren-kg").glob("*.ttl")))
    proc = arachne(store, "query", "--format", "csv", "-f", QUERIES / "yes_no_kws.rq")
    lines = proc.stdout.strip().splitlines()
    assert lines[0] == "model,name,top1" and lines[1].endswith("Micro_Speech_Yes_No_3,93.2")
    table = arachne(store, "query", "-f", QUERIES / "boards_with_imu.rq").stdout
    assert "Arduino-Nano-BLE-33_1" in table and "2 row(s)" in table
    tsv = arachne(store, "query", "--format", "tsv", "SELECT ?x WHERE { VALUES ?x { 1 2 } }").stdout
    assert tsv.splitlines() == ["x", "1", "2"]
    assert "models" in arachne(store, "stats").stdout
    ttl = tmp_path / "all.ttl"
    arachne(store, "export", "--format", "turtle", "-o", ttl)
    assert ttl.stat().st_size > 10000


def test_errors_are_one_line_nonzero_and_change_nothing(tmp_path):
    store = tmp_path / "db"
    arachne(store, "init")
    before = quads(store)
    bad = tmp_path / "broken.ttl"
    bad.write_text("@prefix ex: <http://ex/> .\nex:a ex:b .\n")
    proc = arachne(store, "load", bad, check=False)
    assert proc.returncode != 0
    assert "broken.ttl" in proc.stderr and "line 2" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert quads(store) == before
    proc = arachne(store, "query", "SELEC ?x", check=False)
    assert proc.returncode != 0 and "syntax" in proc.stderr


def test_validate_reports_without_loading(tmp_path):
    bad = tmp_path / "bench.ttl"
    bad.write_text("""@prefix ar: <https://w3id.org/arachne#> .
<urn:b1> a ar:BenchmarkRecord ; ar:ofModel <urn:m> ; ar:latencyMs "fast" .
""")
    proc = arachne(tmp_path / "db", "validate", bad, check=False)
    assert proc.returncode == 1
    assert "ar:onDevice" in proc.stderr and "ar:latencyMs" in proc.stderr and "ar:source" in proc.stderr


# -- failures: one line, non-zero, and what was written -----------------------------------------

DEMO = Path(__file__).resolve().parents[2] / "kg" / "demo"
PYBADGE = DEMO / "tds" / "adafruit-pybadge.td.jsonld"


def one_line_error(proc) -> str:
    """The single stderr line of a failed command (progress bars are transient, so nothing else)."""
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_sparql_server_is_one_line(tmp_path):
    url = f"http://127.0.0.1:{closed_port()}"
    line = one_line_error(arachne(url, "import-td", PYBADGE, check=False))
    assert f"cannot reach the SPARQL server at {url}" in line and "nothing was imported" in line
    line = one_line_error(arachne(url, "stats", check=False))
    assert "cannot reach the SPARQL server" in line


def test_a_failing_disk_is_one_line_saying_what_was_written(tmp_path, shared):
    """import-td in a process whose files may not grow (RLIMIT_FSIZE): RocksDB gets a real I/O
    error ("File too large", as ENOSPC on a full disk) in the middle of the batches."""
    store = tmp_path / "db"
    arachne(store, "init")

    def small_files():  # 8 MB: the log takes the first batch of 64 TDs (~5 MB), not the second
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (8_000_000, resource.RLIM_INFINITY))

    corpus = shared / "tds" / "corpus" / "wot-testing__data-input_2022"
    cmd = [sys.executable, "-m", "registry.cli", "--store", str(store), "import-td", str(DEMO / "tds"), str(corpus)]
    proc = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=small_files,
                          env={**os.environ, "COLUMNS": "200"}, timeout=300)
    line = one_line_error(proc)
    assert "File too large" in line
    found = re.search(r"(\d+) of the (\d+) file\(s\) had been imported before the failure", line)
    assert found, line
    things = json.loads(arachne(store, "query", "--format", "json", "SELECT (COUNT(DISTINCT ?d) AS ?n) WHERE { "
                                "?d <https://w3id.org/arachne#verbatim> ?v }").stdout)[0]["n"]
    assert int(found[1]) == int(things) == 64  # what the line says is what the store holds


@pytest.fixture
def served_store(tmp_path):
    """A store with a board and a model, held by a real `arachne serve` subprocess."""
    store = tmp_path / "db"
    arachne(store, "init")
    arachne(store, "import-td", PYBADGE)
    arachne(store, "import-model", DEMO / "models" / "Magic_Wand_1.tflite", "--task", "gesture_recognition",
            "--modality", "inertial")
    port = closed_port()
    server = subprocess.Popen([sys.executable, "-m", "registry.cli", "--store", str(store), "serve", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/sparql?query=ASK%7B%7D", timeout=1).read()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "arachne serve did not start"
                time.sleep(0.1)
        yield store, server
    finally:
        server.terminate()
        server.wait(10)


def test_reads_work_beside_a_running_server_and_writes_name_it(served_store):
    store, server = served_store
    assert quads(store) > 0
    before = arachne(store, "export", "--format", "nquads").stdout
    assert "1" in arachne(store, "query", "--format", "csv", "SELECT (COUNT(*) AS ?n) WHERE { ?d a "
                          "<https://w3id.org/arachne#Device> }").stdout.splitlines()[1]
    assert "models" in arachne(store, "stats").stdout
    feasible = arachne(store, "feasible", "--device", "adafruit-pybadge", "--json").stdout
    assert [row["name"] for row in json.loads(feasible)] == ["Magic_Wand_1"]
    line = one_line_error(arachne(store, "import-td", DEMO / "tds" / "arduino-nano-33-ble-sense.td.jsonld", check=False))
    assert f"in use by process {server.pid}" in line and "serve" in line and "HTTP API" in line
    line = one_line_error(arachne(store, "init", check=False))
    assert f"process {server.pid}" in line
    assert arachne(store, "export", "--format", "nquads").stdout == before
