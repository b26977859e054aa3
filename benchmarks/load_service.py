"""Load test of the registry service on loopback: concurrent clients mixing SPARQL reads,
explorer page views and TD writes (PUT of distinct TDs), for a bounded time.

    python benchmarks/load_service.py [--seconds 30] [--clients 6] [--write-share 0.02] [--threads 8]

The server runs in its own process (waitress, as `arachne serve` runs it) over an in-memory
store holding the demo registry (kg.demo_registry: 300 models, 800 benchmark records); every
TD the clients PUT becomes a device of it. Client processes keep one
HTTP/1.1 connection each. At the end every acknowledged write (201/204) is read back and
compared byte for byte with what was sent; a missing or different TD is a lost write.

Prints, one per line: requests_per_second, p95_ms, p50_ms, errors, lost_writes, requests, writes
and server_cpu_per_request (the server process's CPU time per request, which does not depend on
what else shares the machine); progress on stderr.

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
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

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
def serve(port: int, threads: int) -> None:
    """The demo registry (kg.demo_registry) in an in-memory store, served on 127.0.0.1:port
    by waitress as `arachne serve` does (runs in a subprocess)."""
    from kg.demo_registry import build
    from kg.store import Store
    from registry.app import create_app
    from registry.cli_serve import run_server, warm_up

    store = Store()
    build(store, progress=False)
    app = create_app(store, {})
    warm_up()
    run_server(app, "127.0.0.1", port, threads=threads)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (Linux /proc), or None where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def wait_up(host: str, port: int, timeout: float = 60) -> None:
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
def client(worker: int, host: str, port: int, seconds: float, write_share: float, token: str | None, out) -> None:
    """One client: a keep-alive connection, a random mix of reads and writes until time is up."""
    rng = random.Random(worker)
    conn = http.client.HTTPConnection(host, port, timeout=30)
    latencies, errors, writes, n = [], [], [], 0
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
            conn = http.client.HTTPConnection(host, port, timeout=30)
            continue
        latencies.append((time.perf_counter() - start) * 1000)
        if method == "PUT":
            if status in (201, 204):
                writes.append((path[len("/things/"):], body))
            else:
                errors.append(f"PUT {path}: {status} {data[:200]!r}")
        elif status != 200:
            errors.append(f"GET {path}: {status} {data[:200]!r}")
    conn.close()
    out.put({"latencies": latencies, "errors": errors, "writes": writes})


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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="how long the clients run (default 30)")
    parser.add_argument("--clients", type=int, default=6, help="concurrent client processes (default 6)")
    parser.add_argument("--write-share", type=float, default=0.02, help="share of requests that PUT a TD (default 0.02)")
    parser.add_argument("--threads", type=int, default=8, help="waitress threads of the server (default 8)")
    parser.add_argument("--url", help="a server already running on loopback (default: start one)")
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)  # the server subprocess
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.threads)
        return 0

    proc = None
    if args.url:
        parts = urllib.parse.urlsplit(args.url)
        host, port = parts.hostname, parts.port or 80
        if host not in LOOPBACK:
            raise SystemExit("load tests run on loopback only")
    else:
        host, port = "127.0.0.1", free_port()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        proc = subprocess.Popen([sys.executable, __file__, "--serve", str(port), "--threads", str(args.threads)],
                                env=env)
    try:
        wait_up(host, port)
        log(f"server up on {host}:{port}; {args.clients} clients for {args.seconds:g} s")
        queue: mp.Queue = mp.Queue()
        token = os.environ.get("ARACHNE_TOKEN")
        workers = [mp.Process(target=client, args=(i, host, port, args.seconds, args.write_share, token, queue))
                   for i in range(args.clients)]
        cpu_before = cpu_seconds(proc.pid) if proc else None
        started = time.monotonic()
        for w in workers:
            w.start()
        results = [queue.get(timeout=args.seconds + 120) for _ in workers]
        elapsed = time.monotonic() - started
        cpu_after = cpu_seconds(proc.pid) if proc else None
        for w in workers:
            w.join(timeout=10)
        latencies = sorted(x for r in results for x in r["latencies"])
        errors = [e for r in results for e in r["errors"]]
        writes = [w for r in results for w in r["writes"]]
        for e in errors[:5]:
            log(f"error: {e}")
        log(f"reading back {len(writes)} acknowledged writes")
        lost = lost_writes(host, port, writes)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)
    total = len(latencies) + len(errors)

    def pct(p):
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] if latencies else float("nan")

    print(f"requests_per_second: {total / elapsed:.1f} req/s")
    print(f"p95_ms: {pct(0.95):.1f} ms")
    print(f"p50_ms: {pct(0.50):.1f} ms")
    print(f"errors: {len(errors)} count")
    print(f"lost_writes: {lost} count")
    print(f"requests: {total} count")
    print(f"writes: {len(writes)} count")
    if cpu_before is not None and cpu_after is not None and total:
        # what one request costs the server, independent of what else shares the CPUs
        print(f"server_cpu_per_request: {(cpu_after - cpu_before) * 1000 / total:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
