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


def arachne(store, *args, check=True, columns=200):
    cmd = [sys.executable, "-m", "registry.cli", "--store", str(store), *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "COLUMNS": str(columns)})
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


# -- output that reads at 80 columns --------------------------------------------------------------

@pytest.fixture(scope="module")
def demo_store(demo_dir):
    """The demo registry (read only by these commands)."""
    return demo_dir


def narrow(store, *args, columns=80, code=0) -> str:
    """stdout + stderr of a command run on a terminal `columns` wide, checked to fit it."""
    proc = arachne(store, *args, check=False, columns=columns)
    assert proc.returncode == code, proc.stderr
    text = proc.stdout + proc.stderr
    assert "Traceback" not in text
    too_long = [line for line in text.splitlines() if len(line) > columns]
    assert not too_long, "\n".join(too_long)
    return text


def table_rows(text: str, first: str, second: str, starts=bool) -> list[tuple[str, str, str]]:
    """(lead, title, rest) of each row of the table whose header names its title column `first`
    and the next column `second`; `lead` stands left of the title, `rest` right of it. A line
    whose `rest` does not `starts` a row continues the row above: its title piece is joined as
    cli_common.fold broke it (after a space, '_', '-' or '/'), its rest as rich wrapped it (at a
    space). The table ends at a blank line or the end of the output."""
    lines = text.splitlines()
    head = next(i for i, line in enumerate(lines) if re.search(rf"(^|  ){first} +{second}( |$)", line))
    start, end = lines[head].index(first), lines[head].index(f" {second}", lines[head].index(first)) + 1
    assert lines[head + 1].startswith("─")  # the rule under the header
    rows: list[tuple[str, str, str]] = []
    for line in lines[head + 2:]:
        if not line.strip():
            break
        lead, title, rest = line[:start].strip(), line[start:end].strip(), line[end:].strip()
        if starts(rest):
            rows.append((lead, title, rest))
        else:
            assert rows and not lead, line
            first_lead, before, more = rows[-1]
            glue = "" if before.endswith(("_", "-", "/")) or not title else " "
            rows[-1] = (first_lead, before + glue + title, f"{more} {rest}".strip())
    return rows


def shows(cell: str, title: str) -> bool:
    """The table shows `title` in `cell`: whole, or with its middle elided (cli_common.elide)."""
    if cell == title:
        return True
    head, _, tail = cell.partition("…")
    return bool(_) and title.startswith(head.rstrip()) and title.endswith(tail.lstrip())


def flat(text: str) -> str:
    return " ".join(text.split())


NANO, KWS = "arduino-nano-33-ble-sense", "keyword_spotting"


def test_recommend_reads_at_80_columns_with_titles_in_rank_order(demo_store):
    answer = json.loads(arachne(demo_store, "recommend", "--device", NANO, "--task", KWS, "--json").stdout)
    table = narrow(demo_store, "recommend", "--device", NANO, "--task", KWS)
    rows = table_rows(table, "model", "fit")
    assert [lead for lead, _, _ in rows] == [str(r["rank"]) for r in answer["rows"]]
    for (_, title, rest), r in zip(rows, answer["rows"]):
        assert shows(title, r["name"]), (title, r["name"])
        assert rest.split()[0] == r["outcome"]
    assert "https://" not in table and answer["device_name"] in table
    marks = {"measured": "m", "predicted": "p", "reported": "r", "measured-other-device": "o"}
    for (_, _, rest), r in zip(rows, answer["rows"]):  # figures keep their provenance markers
        for figure in ("accuracy", "latency", "energy"):
            if r[f"{figure}_provenance"]:
                assert f"({marks[r[f'{figure}_provenance']]})" in rest, (figure, rest)
        assert r["accuracy_pct"] is None or f"{r['accuracy_pct']:.1f} (" in rest
    notes = footnotes(table)
    for (_, _, rest), r in zip(rows, answer["rows"]):  # a row's unknowns and notes: its letter's footnote
        letter = rest.split()[1] if r["unknowns"] + r["notes"] else None
        assert (letter and notes[letter]) == (letter and "; ".join(r["unknowns"] + r["warnings"] + r["notes"]))
    assert not any(flat(r["why"]) in flat(table) for r in answer["rows"])  # no explanations without --why

    why = narrow(demo_store, "recommend", "--device", NANO, "--task", KWS, "--why")
    assert table_rows(why, "model", "fit") == rows
    for r in answer["rows"]:  # numbered as the table, each wrapped under itself
        assert re.search(rf"^{r['rank']}\. +{re.escape(r['why'].split()[0])}", why, re.M), r["rank"]
        assert f"{r['rank']}. {flat(r['why'])}" in flat(why)


def test_recommend_on_a_wide_terminal_keeps_titles_on_one_line(demo_store):
    answer = json.loads(arachne(demo_store, "recommend", "--device", NANO, "--task", KWS, "--json").stdout)
    table = narrow(demo_store, "recommend", "--device", NANO, "--task", KWS, columns=160)
    assert [(lead, title) for lead, title, _ in table_rows(table, "model", "fit")] == \
        [(str(r["rank"]), r["name"]) for r in answer["rows"]]
    assert all(len(line) <= 100 for line in table.splitlines()[:15])  # the table is as wide as it needs


def test_feasible_model_shows_board_titles_at_80_columns(demo_store):
    checks = json.loads(arachne(demo_store, "feasible", "--model", "ARM_MicroNet_VWW_3", "--json", "--why").stdout)
    titles = dict(csv_rows(demo_store, "PREFIX td: <https://www.w3.org/2019/wot/td#> "
                                       "SELECT ?d ?t WHERE { ?d td:title ?t }"))
    table = narrow(demo_store, "feasible", "--model", "ARM_MicroNet_VWW_3", "--why")
    assert "https://" not in table and "ARM_MicroNet_VWW_3: " in table
    rows = table_rows(table, "device", "fit")
    feasible = [c for c in checks if c["feasible"]]
    assert len(rows) == len(feasible)
    shown = {title: rest.split()[0] for _, title, rest in rows}
    for c in feasible:  # every board by its title, with its outcome
        cell = next(t for t in shown if shows(t, titles[c["device"]]))
        assert shown[cell] == c["outcome"]
    assert re.search(r"\d+\.\d (KiB|MiB) \(f\)", table)  # the figures' provenance: from the model's file
    excluded = table_rows(table[table.index(" excluded"):], "device", "why not",
                          starts=lambda rest: rest.startswith(("does not fit: ", "likely: ")))
    assert sorted(title for _, title, _ in excluded) == sorted(titles[c["device"]] for c in checks if not c["feasible"])
    for _, title, rest in excluded:  # each with every reason and the check's warnings, whole
        c = next(c for c in checks if titles[c["device"]] == title)
        assert rest == f"{c['outcome']}: " + "; ".join(c["reasons"] + c["warnings"])


def test_feasible_device_lists_models_and_footnotes_at_80_columns(demo_store):
    checks = json.loads(arachne(demo_store, "feasible", "--device", NANO, "--json").stdout)
    table = narrow(demo_store, "feasible", "--device", NANO)
    assert table.startswith("Arduino Nano 33 BLE Sense: ") and "RAM 256.0 KiB" in table  # the device's, once
    rows = table_rows(table, "model", "fit")
    assert len(rows) == len(checks)
    assert all(any(shows(title, c["name"]) for c in checks) for _, title, _ in rows)
    assert [rest.split()[0] for _, _, rest in rows] == sorted((c["outcome"] for c in checks), key="fits likely".index)
    notes = footnotes(table)
    explained = {notes[rest.split()[1]] for _, _, rest in rows if len(rest.split()) > 1 and rest.split()[1] in notes}
    assert explained == {"; ".join(c["unknowns"] + c["warnings"] + c["notes"]) for c in checks
                         if c["unknowns"] + c["warnings"] + c["notes"]}


def footnotes(text: str) -> dict[str, str]:
    """{letter: text} of the footnotes under a table: 'a text', wrapped lines indented under it."""
    found: dict[str, str] = {}
    for letter, body in re.findall(r"^([a-z]{1,2}) (\S.*(?:\n   ?\S.*)*)", text, re.M):
        found[letter] = flat(body)
    return found


def csv_rows(store, sparql: str) -> list[list[str]]:
    import csv

    return list(csv.reader(arachne(store, "query", "--format", "csv", sparql).stdout.splitlines()))[1:]


def test_query_table_shortens_iris_only_in_the_table(demo_store):
    imu = QUERIES / "boards_with_imu.rq"
    table = narrow(demo_store, "query", "-f", imu)
    assert "https://" not in table and "arachne:device/" in table and "3 row(s)" in table
    wide = narrow(demo_store, "query", "-f", imu, columns=200)
    assert "arachne:device/arduino-nano-33-ble-sense " in wide
    assert ["https://w3id.org/arachne/device/arduino-nano-33-ble-sense", "Arduino Nano 33 BLE Sense"] == \
        csv_rows(demo_store, imu.read_text())[0][:2]
    own = narrow(demo_store, "query", "PREFIX dev: <https://w3id.org/arachne/device/> "
                 "SELECT ?d WHERE { ?d a <https://w3id.org/arachne#Device> } ORDER BY ?d LIMIT 2")
    assert re.search(r"^dev:\S+ *$", own, re.M) and "arachne:" not in own  # the query's own prefix first
    rows = json.loads(arachne(demo_store, "query", "--format", "json", "SELECT ?d WHERE { ?d a "
                              "<https://w3id.org/arachne#Device> } LIMIT 1").stdout)
    assert rows[0]["d"].startswith("https://w3id.org/arachne/device/")


def test_stats_and_check_read_at_80_columns(demo_store):
    stats = narrow(demo_store, "stats")
    assert re.search(r"^models +308 *$", stats, re.M)
    check = narrow(demo_store, "check", "ARM_MicroNet_VWW_3", "syntiant-tinyml", code=2)
    assert check.startswith("does not fit") or "\ndoes not fit" in check
    violation = re.search(r"^violation: +RAM: needs 136\.9 KiB.*\n(?: {5,}.*\n)*", check, re.M)
    assert violation and "bytes short" in violation.group(0)


def test_fold_keeps_titles_within_their_column():
    from registry.cli_common import elide, fold

    for title in ("Anomaly_Detection_Autoencoder", "DS-CNN (MLPerf Tiny reference) fp32",
                  "st_movenet_lightning_a100_heatmaps_256 (int8_per_tensor, custom_coco_person_17kpts)",
                  "Arduino Tiny Machine Learning Kit (Nano 33 BLE Sense + OV7675 camera)", "Move"):
        for width in (8, 16, 27, 40, 90):
            lines = fold(title, width).split("\n")
            assert len(lines) <= 2 and all(len(line) <= width for line in lines), (title, width, lines)
            if len(title) <= width:
                assert lines == [title]
            elif "…" not in "".join(lines):  # nothing left out: the title, broken at a space, '_' or '-'
                assert lines[0] + ("" if lines[0][-1] in "_-" else " ") + lines[1] == title
    assert fold("DS-CNN (MLPerf Tiny reference) fp32", 20) == "DS-CNN (MLPerf Tiny\nreference) fp32"
    assert elide("Micro_Speech_Yes_No_1", 12) == "Micro_Sp…o_1"  # both ends kept: the variant is at the end
def test_predict_reads_at_80_columns(demo_store):
    answer = json.loads(arachne(demo_store, "predict", "--model", "ARM_MicroNet_VWW_3", "--json").stdout)
    table = narrow(demo_store, "predict", "--model", "ARM_MicroNet_VWW_3")
    assert "https://" not in table
    lines = table.splitlines()
    rows: list[list[str]] = []  # [title, figures, intervals]; columns stand 2+ spaces apart
    for line in lines[lines.index(next(x for x in lines if x.startswith("─"))) + 1:]:
        if not line.strip():
            break
        title, _, rest = line.partition("  ") if not line.startswith(" ") else ("", "", line)
        if "(" in rest:  # a figure with its marker starts a row; the line under it holds intervals
            rows.append([title.strip(), rest.strip(), ""])
        else:
            glue = "" if not title or rows[-1][0].endswith(("_", "-", "/")) else " "
            rows[-1][0] += glue + title.strip()
            rows[-1][2] += rest.strip()
    assert len(rows) == len(answer["pairs"])
    for (title, figures, intervals), p in zip(rows, answer["pairs"]):
        assert shows(title, p["device_name"]), (title, p["device_name"])
        assert figures.split()[1] == f"({p['latency_ms']['provenance'][0]})"  # (p) predicted, (m) measured
        assert bool(re.match(r"[\d.,e+]+-[\d.,e+]+", intervals)) == bool(p["latency_ms"]["interval90"])
