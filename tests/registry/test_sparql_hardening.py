"""The SPARQL faces under abuse, against started servers: queries that would crash the parser,
SERVICE calls to other hosts, queries that run for minutes, invalid UTF-8, FROM, and what a
SPARQL client (Comunica) asks for. Native crashes are looked for in subprocesses, so a crash fails
a test instead of killing pytest."""
from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

from kg.sparql_guard import MAX_DEPTH, MAX_NODES
from kg.store import Store
from registry.app import create_app
from registry.cli_serve import BackgroundServer

ROOT = Path(__file__).resolve().parents[2]
ARACHNE = str(Path(sys.executable).parent / "arachne")
DEEP = "SELECT * WHERE {" + "{" * 10000 + "}" * 10000 + "}"  # ~20 KB: segfaulted pyoxigraph's parser
# Every pair of the store's triples: minutes of work on the disk store below.
CARTESIAN = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f }"
DATA = """INSERT DATA { GRAPH <http://example.org/g1> { <http://example.org/a> <http://example.org/p> 1 , 2 , 3 }
GRAPH <http://example.org/g2> { <http://example.org/b> <http://example.org/p> 4 , 5 } }"""


def call(url: str, path: str, body: bytes | None = None, headers: dict | None = None, method: str | None = None,
         source: str = "127.0.0.1", timeout: float = 60):
    """(status, headers, body) of one request; `source` picks the client's loopback address."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout, source_address=(source, 0))
    try:
        conn.request(method or ("POST" if body is not None else "GET"), path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


def q(query: str) -> str:
    return urllib.parse.urlencode({"query": query})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def memory_server():
    store = Store()
    store.update(DATA)
    app = create_app(store, {"SPARQL_TIMEOUT_S": 5})
    with BackgroundServer(app) as srv:
        yield srv


@pytest.fixture(scope="module")
def served_store(tmp_path_factory):
    """`arachne serve` in its own process over an on-disk store of 20,000 triples."""
    path = tmp_path_factory.mktemp("hardening") / "store"
    store = Store(path)
    store.update(DATA)
    nt = "".join(f"<http://example.org/s{i}> <http://example.org/q> <http://example.org/o{i % 97}> .\n"
                 for i in range(20000))
    store.load_ntriples("http://example.org/big", nt.encode())
    store.flush()
    del store
    port = free_port()
    log = path.parent / "serve.log"
    proc = subprocess.Popen([ARACHNE, "--store", str(path), "serve", "--port", str(port), "--sparql-timeout", "3"],
                            stdout=subprocess.DEVNULL, stderr=log.open("wb"), cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if call(url, "/.well-known/wot", timeout=2)[0] == 200:
                break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("arachne serve did not come up: " + log.read_text(errors="replace")[-2000:])
    yield proc, url
    proc.terminate()
    proc.wait(20)


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def cpu_ticks(pid: int) -> int | None:
    """utime + stime of a live process, None when it is gone (or a zombie)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] in ("Z", "X") else int(fields[11]) + int(fields[12])


# -- item 1: nesting that crashed the parser -------------------------------------------------------
def test_deep_nesting_is_refused_on_every_face_and_the_server_lives(served_store, tmp_path):
    proc, url = served_store
    deep_parens = "SELECT * WHERE { FILTER(" + "(" * 5000 + "1" + ")" * 5000 + ") }"
    many_binds = "SELECT * WHERE { " + " ".join(f"BIND({i} AS ?v{i})" for i in range(3000)) + " }"
    for query in (DEEP, deep_parens, many_binds):
        status, headers, body = call(url, "/sparql?" + q(query))
        assert status == 400 and headers["Content-Type"].startswith("application/problem+json"), body[:200]
        assert "at most" in json.loads(body)["detail"]
        status, _, body = call(url, "/search/sparql", body=query.encode(), headers={"Content-Type": "application/sparql-query"})
        assert status == 400
        status, _, page = call(url, "/ui/sparql?" + q(query))
        assert b"at most" in page
    assert proc.poll() is None
    assert call(url, "/sparql?" + q("ASK { ?s ?p 1 }"))[0] == 200
    # the CLI applies the same check: an error line, not a segfault
    (tmp_path / "deep.rq").write_text(DEEP)
    run = subprocess.run([ARACHNE, "--store", str(tmp_path / "cli-store"), "query", "-f", str(tmp_path / "deep.rq")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1 and f"at most {MAX_DEPTH}" in run.stderr


FUZZ = r'''
import json, sys
from hypothesis import HealthCheck, given, settings, strategies as st
from kg.sparql_guard import QueryRefused, check
from kg.store import Store, StoreError
from registry.app import create_app

LAST = sys.argv[1]
app = create_app(Store(), {"SPARQL_TIMEOUT_S": 2})
client = app.test_client()
odd = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
leaf = st.sampled_from(["?s", "1", "<http://x/a>", "ex:p", '"x"', "true", "?o", "()", "[]", "{}"]) | odd.map(json.dumps)
OPEN = ["{", "(", "[", "FILTER(", "STR(", "!(", "-(", "EXISTS {", "OPTIONAL {", "GRAPH ?g {", "{ SELECT * WHERE {",
        "<http://x/f>(", "[ <http://x/p> ", "(", "ex:p/(", "^("]
CLOSE = {"{": "}", "(": ")", "[": "]", "FILTER(": ")", "STR(": ")", "!(": ")", "-(": ")", "EXISTS {": "}",
         "OPTIONAL {": "}", "GRAPH ?g {": "}", "{ SELECT * WHERE {": "} }", "<http://x/f>(": ")",
         "[ <http://x/p> ": "]", "ex:p/(": ")", "^(": ")"}
SEP = st.sampled_from([" ", " . ", " UNION ", " || ", " + ", " / ", " | ", " ; ", " , ", "!", "-", " AS ?v ", "\n# c\n"])


@st.composite
def query(draw):
    opener = draw(st.sampled_from(OPEN))
    depth = draw(st.sampled_from([1, 5, 50, 120, 130, 500, 3000, 8000]))
    body = draw(st.lists(leaf, min_size=1, max_size=3))
    sep = draw(SEP)
    repeat = draw(st.sampled_from([1, 10, 200, 1200, 8000]))
    inner = sep.join(body * repeat)
    if draw(st.booleans()):
        inner += '"' + draw(st.sampled_from(["a", "\u00e9", "\U0001F600", "\\u0041", "\x00"])) * draw(st.sampled_from([1, 100000])) + '"'
    text = opener * depth + " " + inner + " " + CLOSE[opener] * draw(st.sampled_from([depth, depth - 1, 0]))
    prefix = draw(st.sampled_from(["SELECT * WHERE { ", "ASK { ", "CONSTRUCT WHERE { ", "SELECT (", "PREFIX ex: <http://x/> SELECT * { "]))
    return prefix + text + draw(st.sampled_from([" }", "", ") WHERE {}", " } LIMIT 1"]))


@settings(max_examples=int(sys.argv[2]), deadline=None, database=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(query())
def fuzz(text):
    with open(LAST, "w", encoding="utf-8", errors="surrogatepass") as f:
        f.write(text)
    for path in ("/sparql", "/search/sparql"):
        resp = client.post(path, data=text.encode("utf-8", "surrogatepass"), content_type="application/sparql-query")
        assert resp.status_code in (200, 400, 503), (path, resp.status_code, resp.data[:300])
    assert client.get("/ui/sparql", query_string={"query": text}).status_code == 200
    try:  # what `arachne query` runs
        check(text)
        Store().query(text)
    except (QueryRefused, StoreError):
        pass

fuzz()
print("fuzz: ok")
'''


def test_fuzzed_queries_never_crash_the_process(tmp_path):
    """Hypothesis builds nested, chained, long and odd-Unicode queries and sends them to /sparql,
    /search/sparql, /ui/sparql and the CLI's path, in a subprocess: a native crash fails here."""
    last = tmp_path / "last.rq"
    script = tmp_path / "fuzz.py"
    script.write_text(FUZZ)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, str(script), str(last), "120"], capture_output=True, text=True,
                         timeout=900, cwd=ROOT, env=env)
    crashed = run.returncode < 0
    assert run.returncode == 0 and "fuzz: ok" in run.stdout, (
        f"exit {run.returncode}{' (native crash)' if crashed else ''}; last query {last.read_text()[:300]!r}...\n"
        + run.stderr[-3000:])


def test_limits_sit_well_below_the_crash_points(tmp_path):
    """The largest accepted queries of the shapes that crashed (nesting, chains, clause runs) run
    without crashing, in a subprocess."""
    from kg.sparql_guard import check

    depth, chain = MAX_DEPTH - 4, MAX_NODES // 2 - 2
    shapes = [
        "SELECT * WHERE {" + "{" * depth + "}" * depth + "}",
        "SELECT * WHERE { FILTER(" + "STR(" * depth + "1" + ")" * depth + ") }",
        "SELECT * WHERE { FILTER(" + "EXISTS { FILTER(" * (depth // 2) + "true" + ") }" * (depth // 2) + ") }",
        "SELECT * WHERE { " + " ".join(f"BIND({i} AS ?v{i})" for i in range(chain)) + " }",
        "SELECT * WHERE { FILTER(" + " + ".join(["1"] * chain) + " > 0) }",
        "SELECT * WHERE { " + " UNION ".join(["{ ?s ?p ?o }"] * chain) + " }",
        "SELECT * WHERE { ?s " + "|".join(["<http://p>"] * chain) + " ?o }",
    ]
    for text in shapes:
        check(text)  # accepted
        run = subprocess.run([sys.executable, "-c", "import sys, pyoxigraph; pyoxigraph.Store().query(sys.stdin.read())"],
                             input=text, capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, (text[:80], run.returncode, run.stderr[-500:])


# -- item 3: SERVICE ------------------------------------------------------------------------------
class Listener:
    """A loopback HTTP listener that records every request line it receives."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.received: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    self.received.append(conn.recv(4096) or b"(connected)")
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                except OSError:
                    self.received.append(b"(connected)")


@pytest.fixture()
def listener():
    lis = Listener()
    yield lis
    lis.sock.close()


def service_queries(target: str) -> list[str]:
    base, _, path = target.rpartition("/")
    return [
        f"SELECT * WHERE {{ SERVICE <{target}> {{ ?s ?p ?o }} }}",
        f"select * where {{ service silent <{target}> {{ ?s ?p ?o }} }}",
        f"SELECT * WHERE {{ SeRvIcE#comment\n<{target}> {{ ?s ?p ?o }} }}",
        f"PREFIX ex: <{base}/> SELECT * WHERE {{ SERVICE ex:{path} {{ ?s ?p ?o }} }}",
        f"SELECT * WHERE {{ VALUES ?e {{ <{target}> }} SERVICE ?e {{ ?s ?p ?o }} }}",
        f"SELECT * WHERE {{ {{ SELECT * WHERE {{ SERVICE<{target}>{{?s ?p ?o}} }} }} }}",
    ]


def test_service_is_refused_and_nothing_is_fetched(served_store, memory_server, listener):
    target = listener.url + "/secret-admin"
    for url in (served_store[1], memory_server.url):
        for query in service_queries(target):
            for path in ("/sparql", "/search/sparql"):
                status, _, body = call(url, f"{path}?{q(query)}")
                assert status == 400, (path, query, status, body[:200])
                assert "SERVICE" in json.loads(body)["detail"]
            status, _, page = call(url, "/ui/sparql?" + q(query))
            assert b"SERVICE" in page
    time.sleep(0.5)
    assert listener.received == []
    # the word in a string is no SERVICE call
    status, _, _ = call(memory_server.url, "/sparql?" + q('SELECT * WHERE { ?s ?p ?o FILTER(?o != "web service") }'))
    assert status == 200


def test_federation_reaches_only_allowed_endpoints(oxigraph_server, listener):
    allowed = oxigraph_server.url + "/query"
    app = create_app(Store(), {"SPARQL_FEDERATION_ALLOW": (allowed,)})
    with BackgroundServer(app) as srv:
        status, _, body = call(srv.url, "/sparql?" + q(f"SELECT * WHERE {{ SERVICE <{allowed}> {{ BIND(7 AS ?x) }} }}"),
                               headers={"Accept": "application/sparql-results+json"})
        assert status == 200 and json.loads(body)["results"]["bindings"][0]["x"]["value"] == "7"
        for query in service_queries(listener.url + "/secret-admin"):
            assert call(srv.url, "/sparql?" + q(query))[0] == 400
    assert listener.received == []
    help_text = subprocess.run([ARACHNE, "serve", "--help"], capture_output=True, text=True, timeout=60).stdout
    assert "--federation-allow" in help_text


# -- item 4: long queries are stopped, one client cannot take every slot ----------------------------
def test_timed_out_queries_are_killed_and_cheap_queries_answer(served_store):
    proc, url = served_store
    assert call(url, "/sparql?" + q("ASK { ?s ?p 3 }"))[0] == 200  # the worker pool is up
    workers = descendants(proc.pid)
    answers = {}  # client address -> (status, headers, body)

    def cartesian(source):
        answers[source] = call(url, "/sparql?" + q(CARTESIAN), source=source)

    clients = [threading.Thread(target=cartesian, args=(f"127.0.0.{n + 2}",)) for n in range(4)]
    for c in clients:
        c.start()
    burning: set[int] = set()
    while not burning and len(answers) < 4:  # which of the workers are busy with the queries
        before = {pid: cpu_ticks(pid) for pid in workers}
        time.sleep(0.3)
        burning = {pid for pid, ticks in before.items() if ticks is not None and (cpu_ticks(pid) or 0) > ticks}
    assert burning, "the cartesian queries should be burning CPU in worker processes"
    for c in clients:
        c.join(60)
    assert [a[0] for a in answers.values()] == [503] * 4 and all("Retry-After" in a[1] for a in answers.values())
    # the workers that ran them are gone: their CPU is free
    assert all(cpu_ticks(pid) is None for pid in burning), "a timed-out query is still running"
    # a cheap query answers at once, from anyone, even a client whose query just timed out
    status, _, body = call(url, "/sparql?" + q("ASK { <http://example.org/s17> ?p ?o }"))
    assert status == 200 and json.loads(body)["boolean"] is True
    details = {source: json.loads(a[2])["detail"] for source, a in answers.items()}
    timed_out = [s for s, d in details.items() if "did not finish" in d]
    early = [s for s, d in details.items() if "long queries were already running" in d]
    # half the workers at most run long queries: the others were stopped early
    assert early and timed_out and len(early) + len(timed_out) == 4, details
    assert call(url, "/sparql?" + q("ASK { <http://example.org/s15> ?p ?o }"), source=timed_out[0])[0] == 200
    # a client whose query was stopped early waits a while (429) before its next one runs
    status, headers, body = call(url, "/sparql?" + q("ASK { ?s ?p 5 }"), source=early[0])
    assert status == 429 and "stopped early" in json.loads(body)["detail"] and int(headers["Retry-After"]) >= 1
    assert proc.poll() is None


def test_a_worker_that_dies_costs_only_its_query(served_store):
    """A native crash in a worker (here: SIGKILL from outside) fails that query, not the server."""
    proc, url = served_store
    assert call(url, "/sparql?" + q("ASK { ?s ?p 4 }"))[0] == 200
    workers = descendants(proc.pid)
    answers = []
    client = threading.Thread(target=lambda: answers.append(call(url, "/sparql?" + q(CARTESIAN), source="127.0.0.20")))
    client.start()
    busy: set[int] = set()
    while not busy and not answers:
        before = {pid: cpu_ticks(pid) for pid in workers}
        time.sleep(0.2)
        busy = {pid for pid, ticks in before.items() if ticks is not None and (cpu_ticks(pid) or 0) > ticks}
    for pid in busy:
        os.kill(pid, signal.SIGKILL)
    client.join(60)
    status, _, body = answers[0]
    assert status == 400 and "worker process ended" in json.loads(body)["detail"]
    assert proc.poll() is None
    assert call(url, "/sparql?" + q("ASK { <http://example.org/s19> ?p ?o }"))[0] == 200


def test_one_client_cannot_take_every_slot(served_store):
    _, url = served_store
    answers = []
    clients = [threading.Thread(target=lambda: answers.append(call(url, "/sparql?" + q(CARTESIAN), source="127.0.0.9")))
               for _ in range(3)]
    for c in clients:
        c.start()
        time.sleep(0.3)
    for c in clients:
        c.join(60)
    statuses = sorted(a[0] for a in answers)
    assert 429 in statuses, statuses
    refused = next(a for a in answers if a[0] == 429)
    assert "Retry-After" in refused[1]
    # once its queries are stopped, the client itself is answered again
    status, _, body = call(url, "/sparql?" + q("ASK { <http://example.org/s16> ?p ?o }"), source="127.0.0.9")
    assert status == 200 and json.loads(body)["boolean"] is True
    # another client still gets its answer
    assert call(url, "/sparql?" + q("ASK { <http://example.org/s18> ?p ?o }"), source="127.0.0.10")[0] == 200


# -- item 5: Accept on /search/sparql ---------------------------------------------------------------
COMUNICA_ACCEPT = "application/sparql-results+json;q=1.0,application/sparql-results+xml;q=0.7"


def test_search_sparql_honours_accept_like_sparql(memory_server):
    query = "/search/sparql?" + q("SELECT ?o WHERE { ?s <http://example.org/p> ?o }")
    for accept, expected in ((COMUNICA_ACCEPT, "application/sparql-results+json"),
                             ("application/sparql-results+json", "application/sparql-results+json"),
                             ("application/sparql-results+xml", "application/sparql-results+xml"),
                             ("text/csv", "text/csv"),
                             ("*/*", "application/json"), ("application/json", "application/json")):
        status, headers, body = call(memory_server.url, query, headers={"Accept": accept})
        assert status == 200 and headers["Content-Type"].split(";")[0] == expected, (accept, headers["Content-Type"])
        same = call(memory_server.url, "/sparql?" + query.split("?", 1)[1], headers={"Accept": accept})
        if expected != "application/json":
            assert same[1]["Content-Type"] == headers["Content-Type"] and same[2] == body


# -- item 8: FROM / FROM NAMED ---------------------------------------------------------------------
def test_from_and_from_named_are_honoured(memory_server, served_store):
    count = "SELECT (COUNT(*) AS ?n) FROM <http://example.org/g1> WHERE { ?s ?p ?o }"
    both = "SELECT (COUNT(*) AS ?n) FROM <http://example.org/g1> FROM <http://example.org/g2> WHERE { ?s ?p ?o }"
    named = "SELECT ?g (COUNT(*) AS ?n) FROM NAMED <http://example.org/g2> WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g"
    for url in (memory_server.url, served_store[1]):
        def value(query):
            status, _, body = call(url, "/sparql?" + q(query), headers={"Accept": "application/sparql-results+json"})
            assert status == 200, body[:300]
            return [{k: v["value"] for k, v in b.items()} for b in json.loads(body)["results"]["bindings"]]
        assert value(count) == [{"n": "3"}]
        assert value(both) == [{"n": "5"}]
        assert value(named) == [{"g": "http://example.org/g2", "n": "2"}]


# -- item 10: invalid UTF-8 ------------------------------------------------------------------------
def test_invalid_utf8_is_a_400(memory_server, served_store):
    broken = b'SELECT * WHERE { ?s ?p "\xff\xfe" }'
    for url in (memory_server.url, served_store[1]):
        for path in ("/sparql", "/search/sparql"):
            status, _, body = call(url, path + "?query=" + urllib.parse.quote(broken, safe=""))
            assert status == 400 and "UTF-8" in json.loads(body)["detail"]
            status, _, body = call(url, path, body=broken, headers={"Content-Type": "application/sparql-query"})
            assert status == 400 and "UTF-8" in json.loads(body)["detail"]
            form = b"query=" + urllib.parse.quote(broken, safe="").encode()
            status, _, _ = call(url, path, body=form, headers={"Content-Type": "application/x-www-form-urlencoded"})
            assert status == 400
        # and valid UTF-8 still works
        ok = 'ASK { ?s ?p "h\u00e9" }'.encode()
        assert call(url, "/sparql", body=ok, headers={"Content-Type": "application/sparql-query"})[0] == 200
