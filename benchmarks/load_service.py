"""Load test of the registry service on loopback: concurrent clients mixing SPARQL reads,
explorer page views and TD writes (PUT of distinct TDs), for a bounded time; then the same
clients beside abusers.

    python benchmarks/load_service.py [--seconds 12] [--clients 6] [--write-share 0.02] [--threads 8]
                                      [--phase both|normal|abuse] [--abusers 4] [--deep 2]

The server runs in its own process (waitress, as `arachne serve` runs it) over an on-disk store
holding the demo registry (kg.demo_registry: 300 models, 800 benchmark records, ~16,000
triples; built into a temporary folder first, or `--store DIR` for one built before); every
TD the clients PUT becomes a device of it. Each client process keeps one HTTP/1.1 connection
from its own loopback address (127.0.0.N), as distinct clients would. At the end of a phase
every acknowledged write (201/204) is read back and compared byte for byte with what was sent;
a missing or different TD is a lost write.

Phase "normal" prints, one per line: requests_per_second, p95_ms, p50_ms, errors, lost_writes,
requests, writes and server_cpu_per_request (the server process's CPU time per request, which
does not depend on what else shares the machine).

Phase "abuse" runs the same normal clients while `--abusers` clients send the cartesian query
(`?a ?b ?c . ?d ?e ?f`: 250 million pairs, minutes of work) and `--deep` clients send a query
nested 10,000 braces deep (it used to crash the parser), each again as soon as it is answered.
It prints normal_p95_ms, normal_p50_ms, errors_normal, server_restarts (times the server
process died and was started again), lost_writes, and abuse_status_<code> (how the abusers were
answered). Phase "big-td" PUTs one TD of `--big-properties` properties (about 4 MB; its
validation takes seconds) while another client PUTs small TDs back to back, and prints
big_td_put_s, small_writes_during_big, small_write_p50_ms and small_write_p99_ms: the small
writes must not wait for the big one's validation. Progress on stderr.

Why 2 % writes by default: a TD write is validated like a CLI import (JSON Schema, TD assertions,
JSON-LD, SHACL) and costs ~20 ms of CPU, forty times a read; 2 % of 500 req/s is already ten new
TDs a second, far above a directory's usual write rate. `--write-share 0.05` shows the cost."""
from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter
from pathlib import Path

from registry.query_workers import cpu_seconds

ROOT = Path(__file__).resolve().parents[1]
LOOPBACK = ("127.0.0.1", "localhost", "::1")

QUERIES = [
    "PREFIX ar: <https://w3id.org/arachne#> SELECT ?d ?ram WHERE { ?d a ar:Device ; ar:ramBytes ?ram } ORDER BY ?d",
    "PREFIX ar: <https://w3id.org/arachne#> PREFIX schema: <https://schema.org/> "
    "SELECT ?m ?name ?arena WHERE { ?m a ar:PretrainedModel ; schema:name ?name OPTIONAL { ?m ar:arenaBytes ?arena } } "
    "ORDER BY ?name LIMIT 50",
    "PREFIX td: <https://www.w3.org/2019/wot/td#> SELECT (COUNT(*) AS ?n) WHERE { ?t td:title ?title }",
    "PREFIX ar: <https://w3id.org/arachne#> ASK { ?m ar:requiresSensor ar:Camera }",
]
PAGES = ["/", "/ui/devices", "/ui/models", "/things?limit=10", "/.well-known/wot", "/ui/things"]
CARTESIAN = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f }"
DEEP = "SELECT * WHERE {" + "{" * 10000 + "}" * 10000 + "}"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def thing(thing_id: str, n: int) -> bytes:
    """A small valid TD 1.1 (distinct per write)."""
    doc = {
        "@context": "https://www.w3.org/2022/wot/td/v1.1",
        "id": thing_id,
        "title": f"Load sensor {n}",
        "securityDefinitions": {"nosec_sc": {"scheme": "nosec"}},
        "security": "nosec_sc",
        "properties": {"temperature": {"type": "number", "unit": "degree Celsius", "readOnly": True,
                                       "forms": [{"href": f"https://sensor-{n}.example.com/temperature"}]}},
    }
    return json.dumps(doc, indent=1).encode()


# -- the server process ---------------------------------------------------------------------------
def serve(port: int, threads: int, store_dir: str) -> None:
    """The demo registry (kg.demo_registry) in the on-disk store `store_dir` (built when empty),
    served on 127.0.0.1:port by waitress as `arachne serve` does (runs in a subprocess)."""
    from kg.demo_registry import build
    from kg.store import Store
    from registry.app import create_app
    from registry.cli_serve import run_server, warm_up

    store = Store(store_dir)
    if not store.graph_names():
        log(f"building the demo registry in {store_dir}")
        build(store, progress=False)
        store.flush()
    app = create_app(store, {})
    warm_up()
    run_server(app, "127.0.0.1", port, threads=threads)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(host: str, port: int, timeout: float = 300) -> None:
    ends = time.monotonic() + timeout
    while time.monotonic() < ends:
        try:
            conn = http.client.HTTPConnection(host, port, timeout=2)
            conn.request("GET", "/.well-known/wot")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"the server on {host}:{port} did not come up")


# -- clients ---------------------------------------------------------------------------------------
def source(n: int) -> tuple[str, int]:
    """Client n's own loopback address (Linux routes all of 127.0.0.0/8 to lo)."""
    return (f"127.0.{n // 250}.{n % 250 + 2}", 0)


def client(worker: int, host: str, port: int, seconds: float, write_share: float, token: str | None, out) -> None:
    """One client: a keep-alive connection, a random mix of reads and writes until time is up."""
    rng = random.Random(worker)
    conn = http.client.HTTPConnection(host, port, timeout=30, source_address=source(worker))
    latencies, errors, writes, n = [], [], [], 0
    kinds: dict[str, list[float]] = {"sparql": [], "page": [], "write": []}
    auth = {"Authorization": f"Bearer {token}"} if token else {}
    ends = time.monotonic() + seconds
    while time.monotonic() < ends:
        roll = rng.random()
        headers = {}
        body = None
        if roll < write_share:
            n += 1
            thing_id = f"urn:load:w{worker}-{n}"
            body = thing(thing_id, n)
            method, path = "PUT", "/things/" + thing_id
            headers = {"Content-Type": "application/td+json", **auth}
        elif roll < write_share + (1 - write_share) * 0.55:
            method = "GET"
            path = "/sparql?" + urllib.parse.urlencode({"query": rng.choice(QUERIES)})
            headers = {"Accept": "application/sparql-results+json"}
        else:
            method, path = "GET", rng.choice(PAGES)
            if writes and rng.random() < 0.3:
                path = "/things/" + rng.choice(writes)[0]
        start = time.perf_counter()
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            status = resp.status
        except (OSError, http.client.HTTPException) as exc:
            errors.append(f"{method} {path}: {type(exc).__name__}: {exc}")
            conn.close()
            conn = http.client.HTTPConnection(host, port, timeout=30, source_address=source(worker))
            time.sleep(0.05)
            continue
        latencies.append((time.perf_counter() - start) * 1000)
        kinds["write" if method == "PUT" else "sparql" if path.startswith("/sparql") else "page"].append(latencies[-1])
        if method == "PUT":
            if status in (201, 204):
                writes.append((path[len("/things/"):], body))
            else:
                errors.append(f"PUT {path}: {status} {data[:200]!r}")
        elif status != 200:
            errors.append(f"GET {path}: {status} {data[:200]!r}")
    conn.close()
    out.put({"latencies": latencies, "errors": errors, "writes": writes, "kinds": kinds})


def big_td_phase(host: str, port: int, properties: int) -> dict:
    """One client PUTs a TD of `properties` properties (validation takes seconds) while another
    PUTs small TDs one after another: the small writes must not wait for the big one's validation
    (it runs outside the write lock; only the commit holds it)."""
    doc = json.loads(thing("urn:load:big", 0))
    doc["properties"] = {f"p{i}": {"type": "number", "readOnly": True,
                                   "forms": [{"href": f"https://big.example.com/p{i}"}]} for i in range(properties)}
    big = json.dumps(doc).encode()
    result: dict = {}

    def send_big() -> None:
        conn = http.client.HTTPConnection(host, port, timeout=600, source_address=source(900))
        start = time.perf_counter()
        conn.request("PUT", "/things/urn:load:big", body=big, headers={"Content-Type": "application/td+json"})
        result["big_status"] = conn.getresponse().status
        result["big_s"] = time.perf_counter() - start
        conn.close()

    sender = threading.Thread(target=send_big)
    sender.start()
    conn = http.client.HTTPConnection(host, port, timeout=600, source_address=source(901))
    latencies, errors, n = [], 0, 0
    while sender.is_alive():
        n += 1
        start = time.perf_counter()
        conn.request("PUT", f"/things/urn:load:small-{n}", body=thing(f"urn:load:small-{n}", n),
                     headers={"Content-Type": "application/td+json"})
        resp = conn.getresponse()
        resp.read()
        latencies.append((time.perf_counter() - start) * 1000)
        errors += resp.status not in (201, 204)
    conn.close()
    sender.join()
    latencies.sort()
    pick = (lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]) if latencies else (lambda q: float("nan"))
    return {**result, "bytes": len(big), "n": len(latencies), "p50": pick(0.5), "p99": pick(0.99), "errors": errors}


def abuser(worker: int, host: str, port: int, seconds: float, query: str, out) -> None:
    """One abusive client: the same expensive or malformed query again as soon as it is answered."""
    statuses: Counter = Counter()
    ends = time.monotonic() + seconds
    path = "/sparql?" + urllib.parse.urlencode({"query": query})
    while time.monotonic() < ends:
        conn = http.client.HTTPConnection(host, port, timeout=60, source_address=source(worker))
        try:
            conn.request("GET", path, headers={"Accept": "application/sparql-results+json"})
            resp = conn.getresponse()
            resp.read()
            statuses[str(resp.status)] += 1
            if resp.status == 429:  # told to wait: an abuser waits as little as it may
                time.sleep(min(float(resp.headers.get("Retry-After", 1)), 2.0))
        except (OSError, http.client.HTTPException) as exc:
            statuses[type(exc).__name__] += 1
            time.sleep(0.2)
        finally:
            conn.close()
    out.put({"abuse": dict(statuses)})


def lost_writes(host: str, port: int, writes: list[tuple[str, bytes]]) -> int:
    """Acknowledged writes that do not read back byte for byte."""
    conn = http.client.HTTPConnection(host, port, timeout=30)
    lost = 0
    for thing_id, body in writes:
        conn.request("GET", "/things/" + thing_id)
        resp = conn.getresponse()
        data = resp.read()
        if resp.status != 200 or data != body:
            lost += 1
    conn.close()
    return lost


class Server:
    """The server subprocess; `ensure_up` starts it again (and counts it) when it died."""

    def __init__(self, port: int, threads: int, store_dir: str):
        self.port, self.threads, self.store_dir = port, threads, store_dir
        self.restarts = 0
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve", str(self.port), "--threads", str(self.threads),
                                      "--store", self.store_dir], env=env)
        wait_up("127.0.0.1", self.port)

    def ensure_up(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            log(f"the server died (exit {self.proc.returncode}); starting it again")
            self.restarts += 1
            self.start()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)


def run_phase(host: str, port: int, args, server: Server | None, abuse: bool) -> dict:
    """Normal clients (and abusers) for args.seconds; what they saw."""
    queue: mp.Queue = mp.Queue()
    token = os.environ.get("ARACHNE_TOKEN")
    workers = [mp.Process(target=client, args=(i, host, port, args.seconds, args.write_share, token, queue))
               for i in range(args.clients)]
    if abuse:
        workers += [mp.Process(target=abuser, args=(100 + i, host, port, args.seconds, CARTESIAN, queue))
                    for i in range(args.abusers)]
        workers += [mp.Process(target=abuser, args=(200 + i, host, port, args.seconds, DEEP, queue))
                    for i in range(args.deep)]
    pid = server.proc.pid if server else None
    cpu_before = cpu_seconds(pid) if pid else None
    started = time.monotonic()
    for w in workers:
        w.start()
    results = []
    while len(results) < len(workers):
        try:
            results.append(queue.get(timeout=0.5))
        except Exception:  # queue.Empty: look after the server meanwhile
            if server:
                server.ensure_up()
            if time.monotonic() - started > args.seconds + 180:
                raise SystemExit("clients did not report back")
    elapsed = time.monotonic() - started
    cpu_after = cpu_seconds(pid) if pid else None
    for w in workers:
        w.join(timeout=10)
    if server:
        server.ensure_up()
    normal = [r for r in results if "latencies" in r]
    latencies = sorted(x for r in normal for x in r["latencies"])
    errors = [e for r in normal for e in r["errors"]]
    writes = [w for r in normal for w in r["writes"]]
    abuse_statuses: Counter = Counter()
    for r in results:
        abuse_statuses.update(r.get("abuse", {}))
    for e in errors[:5]:
        log(f"error: {e}")
    log(f"reading back {len(writes)} acknowledged writes")
    lost = lost_writes(host, port, writes)
    total = len(latencies) + len(errors)
    same_server = server is not None and pid == server.proc.pid  # (not restarted meanwhile)
    cpu = cpu_after - cpu_before if same_server and cpu_before is not None and cpu_after is not None else None

    def pct(p, values=latencies):
        return values[min(len(values) - 1, int(p * len(values)))] if values else float("nan")

    by_kind = {k: pct(0.95, sorted(x for r in normal for x in r["kinds"][k])) for k in ("sparql", "page", "write")}
    return {"rps": total / elapsed, "p95": pct(0.95), "p50": pct(0.50), "errors": len(errors), "lost": lost,
            "total": total, "writes": len(writes), "cpu": cpu, "abuse": abuse_statuses, "by_kind": by_kind}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=12.0, help="how long each phase runs (default 12)")
    parser.add_argument("--clients", type=int, default=6, help="concurrent normal client processes (default 6)")
    parser.add_argument("--write-share", type=float, default=0.02, help="share of requests that PUT a TD (default 0.02)")
    parser.add_argument("--threads", type=int, default=8, help="waitress threads of the server (default 8)")
    parser.add_argument("--phase", choices=("both", "normal", "abuse", "big-td", "all"), default="both",
                        help="both = normal + abuse; all adds big-td")
    parser.add_argument("--big-properties", type=int, default=50000,
                        help="properties of the big TD of the big-td phase (default 50,000: about 4 MB)")
    parser.add_argument("--abusers", type=int, default=4, help="clients sending the cartesian query (default 4)")
    parser.add_argument("--deep", type=int, default=2, help="clients sending the deeply nested query (default 2)")
    parser.add_argument("--store", help="an on-disk store to serve (the demo registry is built into it when empty; "
                                        "default: a temporary folder)")
    parser.add_argument("--url", help="a server already running on loopback (default: start one)")
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)  # the server subprocess
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.threads, args.store)
        return 0

    server = scratch = None
    if args.url:
        parts = urllib.parse.urlsplit(args.url)
        host, port = parts.hostname, parts.port or 80
        if host not in LOOPBACK:
            raise SystemExit("load tests run on loopback only")
        wait_up(host, port)
    else:
        if not args.store:
            scratch = tempfile.mkdtemp(prefix="arachne-load-")
        host, port = "127.0.0.1", free_port()
        server = Server(port, args.threads, args.store or str(Path(scratch) / "store"))
        server.start()
    try:
        log(f"server up on {host}:{port}")
        if args.phase in ("both", "normal", "all"):
            log(f"normal phase: {args.clients} clients for {args.seconds:g} s")
            r = run_phase(host, port, args, server, abuse=False)
            print(f"requests_per_second: {r['rps']:.1f} req/s")
            print(f"p95_ms: {r['p95']:.1f} ms")
            print(f"p50_ms: {r['p50']:.1f} ms")
            for kind, value in r["by_kind"].items():
                print(f"{kind}_p95_ms: {value:.1f} ms")
            print(f"errors: {r['errors']} count")
            print(f"lost_writes: {r['lost']} count")
            print(f"requests: {r['total']} count")
            print(f"writes: {r['writes']} count")
            if r["cpu"] is not None and r["total"]:
                # what one request costs the server, independent of what else shares the CPUs
                print(f"server_cpu_per_request: {r['cpu'] * 1000 / r['total']:.2f} ms")
        if args.phase in ("both", "abuse", "all"):
            log(f"abuse phase: {args.clients} clients beside {args.abusers} cartesian and {args.deep} deep-nesting "
                f"abusers for {args.seconds:g} s")
            r = run_phase(host, port, args, server, abuse=True)
            print(f"normal_p95_ms: {r['p95']:.1f} ms")
            print(f"normal_p50_ms: {r['p50']:.1f} ms")
            print(f"normal_requests_per_second: {r['rps']:.1f} req/s")
            for kind, value in r["by_kind"].items():
                print(f"normal_{kind}_p95_ms: {value:.1f} ms")
            print(f"errors_normal: {r['errors']} count")
            print(f"server_restarts: {server.restarts if server else 0} count")
            print(f"lost_writes: {r['lost']} count")
            for status, n in sorted(r["abuse"].items()):
                print(f"abuse_status_{status}: {n} count")
        if args.phase in ("big-td", "all"):
            log(f"big-td phase: one TD of {args.big_properties} properties beside small writes")
            r = big_td_phase(host, port, args.big_properties)
            print(f"big_td_bytes: {r['bytes']} B")
            print(f"big_td_put_s: {r['big_s']:.1f} s")
            print(f"big_td_status: {r['big_status']} code")
            print(f"small_writes_during_big: {r['n']} count")
            print(f"small_write_p50_ms: {r['p50']:.1f} ms")
            print(f"small_write_p99_ms: {r['p99']:.1f} ms")
            print(f"small_write_errors: {r['errors']} count")
    finally:
        if server:
            server.stop()
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
