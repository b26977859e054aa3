"""The CLI as a user meets it: the installed `arachne` entry point in a subprocess."""
import json
import os
import subprocess
import sys
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
