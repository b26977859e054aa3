import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory) -> Path:
    """The demo registry, built once into a folder and closed, for commands to open (read it,
    or copy it before writing)."""
    import gc

    from kg.demo_registry import build
    from kg.store import Store

    path = tmp_path_factory.mktemp("demo") / "store"
    store = Store(path)
    build(store, progress=False)
    store.flush()
    del store
    gc.collect()  # let go of the store's lock before anyone copies or opens it
    return path


@pytest.fixture(scope="session")
def shared() -> Path:
    """The real data beside the project (../shared/data); tests that need it skip without it."""
    data = SHARED / "data"
    if not data.is_dir():
        pytest.skip(f"real data not found at {data} (the ../shared folder beside the project)")
    return data


# -- SPARQL servers on loopback, started for real (tests of kg.sparql_store and friends) ----------


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


class ServerProcess:
    """A server subprocess we start, wait for, and kill (politely or with SIGKILL)."""

    ready_timeout = 30.0

    def __init__(self, argv: list[str], probe_url: str, log: Path):
        self.argv, self.probe_url, self.log = argv, probe_url, log
        self.proc: subprocess.Popen | None = None

    def start(self) -> "ServerProcess":
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + self.ready_timeout
        while not _answers(self.probe_url):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = self.log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{self.argv[0]} did not start (see {self.log}):\n{tail}")
            time.sleep(0.05)
        return self

    def kill(self) -> None:
        """SIGKILL, as a crash would: no shutdown code runs."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


def oxigraph_binary() -> str | None:
    """The `oxigraph` server from the `oxigraph` pip package (in the venv's bin, even when not on PATH)."""
    beside = Path(sys.executable).parent / "oxigraph"
    return str(beside) if beside.exists() else shutil.which("oxigraph")


class OxigraphServer(ServerProcess):
    """`oxigraph serve --location DIR --bind 127.0.0.1:PORT`; `url` is the base for kg.store.open_store."""

    def __init__(self, location: Path, port: int | None = None):
        self.location, self.port = Path(location), port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [oxigraph_binary(), "serve", "--location", str(self.location), "--bind", f"127.0.0.1:{self.port}"]
        super().__init__(argv, f"{self.url}/query?query=ASK%7B%7D", self.location.parent / f"{self.location.name}.log")


@pytest.fixture(scope="session")
def oxigraph_servers(tmp_path_factory):
    """Start Oxigraph servers: call with a data directory (or nothing for a fresh one); all stop at the end."""
    if not oxigraph_binary():
        pytest.skip("the `oxigraph` server binary is missing (it comes with `pip install oxigraph`)")
    started: list[OxigraphServer] = []

    def start(location: Path | None = None, port: int | None = None) -> OxigraphServer:
        server = OxigraphServer(location or tmp_path_factory.mktemp("oxigraph") / "db", port)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def oxigraph_server(oxigraph_servers) -> OxigraphServer:
    """One Oxigraph server for the session (tests empty it themselves)."""
    return oxigraph_servers()


VIRTUOSO_INI = """\
[Database]
DatabaseFile = {d}/virtuoso.db
ErrorLogFile = {d}/virtuoso.log
LockFile = {d}/virtuoso.lck
TransactionFile = {d}/virtuoso.trx
xa_persistent_file = {d}/virtuoso.pxa
Striping = 0
TempStorage = TempDatabase

[TempDatabase]
DatabaseFile = {d}/virtuoso-temp.db
TransactionFile = {d}/virtuoso-temp.trx
Striping = 0

[Parameters]
ServerPort = 127.0.0.1:{sql_port}
DisableUnixSocket = 1
NumberOfBuffers = 10000
MaxDirtyBuffers = 6000
DirsAllowed = ., {d}

[HTTPServer]
ServerPort = 127.0.0.1:{http_port}
ServerRoot = {d}
ServerThreads = 10

[SPARQL]
ResultSetMaxRows = 1000000
MaxQueryExecutionTime = 60
"""


@pytest.fixture(scope="session")
def virtuoso_server(tmp_path_factory):
    """A Virtuoso 7 server on loopback with a fresh database; yields its SPARQL endpoint URL (.../sparql)."""
    binary, isql = shutil.which("virtuoso-t"), shutil.which("isql-vt")
    if not (binary and isql):
        pytest.skip("Virtuoso is not installed (apt-get install virtuoso-opensource-7-bin)")
    d = tmp_path_factory.mktemp("virtuoso")
    sql_port, http_port = free_port(), free_port()
    (d / "virtuoso.ini").write_text(VIRTUOSO_INI.format(d=d, sql_port=sql_port, http_port=http_port))
    endpoint = f"http://127.0.0.1:{http_port}/sparql"
    server = ServerProcess(
        [binary, "+foreground", "+configfile", str(d / "virtuoso.ini")], endpoint + "?query=ASK%7B%7D", d / "out.log"
    )
    server.ready_timeout = 60.0  # a new database is built on first start
    server.start()
    try:
        # The anonymous SPARQL user may not update until granted (see kg/sparql_store.py).
        subprocess.run(
            [isql, f"127.0.0.1:{sql_port}", "dba", "dba", 'exec=GRANT SPARQL_UPDATE TO "SPARQL";'],
            check=True, capture_output=True, timeout=30, env={**os.environ, "HOME": str(d)},
        )
        yield endpoint
    finally:
        server.stop()
