"""Where the SPARQL endpoints' queries run, so that one that runs too long can be stopped.

Oxigraph cannot cancel a running query. Over an on-disk store the queries therefore run in
worker processes (`ProcessExecutor`, one query at a time each): a worker opens the store
read-only beside the server (`Store(path, read_only=True)`) and reopens it when the server's
store generation has moved on; the open replays RocksDB's write-ahead log, so it sees every
acknowledged write (the server flushes every few seconds to keep that log short). When a query passes the
timeout, its worker is killed (SIGKILL), which frees the CPU at once, and a fresh one takes its
place. A query that has used `slow_s` of CPU time is "long" (a cheap query that merely waits for a
busy CPU is not): it is lowered to the least CPU priority (nice 19), and at most half the workers
may run long queries, so cheap queries keep a lane of their own; one more long query is stopped. A
worker that dies on a query (a native crash) takes only that query with it.

In-memory stores cannot be shared with another process and remote SPARQL stores already run
their queries elsewhere (bounded by the HTTP timeout), so those run on a small thread pool
(`ThreadExecutor`): the request gets its 503 after the timeout, but an in-memory query keeps its
thread until it ends.
"""
from __future__ import annotations

import logging
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from kg.store import Store, StoreError, raced_the_writer

LOG = logging.getLogger("arachne.sparql")
FLUSH_EVERY_S = 5.0


class QueryTimeout(Exception):
    """The query ran out of time (and was stopped where it runs in a worker process).
    `stopped_early`: it was stopped before the timeout (the lane of long queries was full);
    the message says so."""

    def __init__(self, detail: str = "", stopped_early: bool = False):
        super().__init__(detail)
        self.stopped_early = stopped_early


class QueryBusy(Exception):
    """Every query slot is taken."""


class ClientBusy(QueryBusy):
    """This client already runs as many queries as one client may, or must wait after a query of
    its own ran out of time (`retry_after` seconds)."""

    def __init__(self, detail: str, retry_after: int = 1):
        super().__init__(detail)
        self.retry_after = retry_after


class QueryCrashed(StoreError):
    """The worker process running the query died (a native crash on this query)."""

    def __init__(self):
        super().__init__("the query engine failed on this query (its worker process ended)")


class ThreadExecutor:
    """Queries on a bounded thread pool of this process (in-memory and remote stores)."""

    def __init__(self, store, workers: int, timeout_s: float, max_pending: int):
        self.store, self.timeout_s = store, timeout_s
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sparql")
        # Counts queries still running after their request gave up: they hold a thread.
        self._slots = threading.BoundedSemaphore(max_pending)

    def execute(self, text: str, fmt: str, generation: int) -> tuple[str, bytes]:
        if not self._slots.acquire(blocking=False):
            raise QueryBusy()
        try:
            future = self.pool.submit(self.store.query_serialized, text, fmt)
        except RuntimeError:  # pool shut down
            self._slots.release()
            raise QueryBusy() from None
        future.add_done_callback(lambda _f: self._slots.release())
        try:
            return future.result(timeout=self.timeout_s)
        except FutureTimeout:
            raise QueryTimeout() from None

    def shutdown(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


# -- worker processes ---------------------------------------------------------------------------
def _watch_server(server_pid: int) -> None:
    """End this worker when the server process is gone (even when it was killed)."""
    while True:
        time.sleep(0.5)
        try:
            os.kill(server_pid, 0)
        except ProcessLookupError:
            os._exit(0)
        except PermissionError:
            pass


def _serve(conn, path: str, server_pid: int) -> None:
    """A worker process: answer (query, format, generation) jobs over `conn` until it closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the server's to handle
    threading.Thread(target=_watch_server, args=(server_pid,), daemon=True).start()
    store, generation = None, None
    while True:
        try:
            text, fmt, wanted = conn.recv()
        except (EOFError, OSError):
            return
        try:
            if store is None or wanted != generation:
                store = None  # close the old snapshot first
                store = Store(path, read_only=True)
                generation = wanted
            try:
                answer = ("ok", *store.query_serialized(text, fmt))
            except StoreError as exc:
                if not raced_the_writer(exc):
                    raise
                store = None  # a file of the snapshot went away under it: take a new one, once
                store = Store(path, read_only=True)
                answer = ("ok", *store.query_serialized(text, fmt))
        except StoreError as exc:
            answer = ("error", str(exc))
        except Exception as exc:  # keep the worker; report what failed
            answer = ("error", f"{type(exc).__name__}: {exc}")
        try:
            conn.send(answer)
        except (EOFError, OSError):
            return


class _Worker:
    """One worker: a fresh interpreter (`python -m registry.query_workers`), never a fork of the
    threaded server, talking over a socket pair."""

    def __init__(self, path: str):
        ours, theirs = socket.socketpair()
        root = str(Path(__file__).resolve().parents[1])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        self.proc = subprocess.Popen([sys.executable, "-m", "registry.query_workers", str(theirs.fileno()), path,
                                      str(os.getpid())], pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, env=env)
        theirs.close()
        self.conn = Connection(ours.detach())

    @property
    def pid(self) -> int:
        return self.proc.pid

    def kill(self) -> None:
        try:
            self.proc.kill()
            self.proc.wait(5)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self.conn.close()


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (Linux /proc), None where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _set_nice(pid: int, value: int) -> bool:
    try:
        os.setpriority(os.PRIO_PROCESS, pid, value)
        return True
    except OSError:
        return False


class ProcessExecutor:
    """Queries in `workers` processes over the on-disk store of `store`, killed at the timeout."""

    def __init__(self, store: Store, workers: int, timeout_s: float, slow_s: float = 0.5):
        self.store, self.timeout_s, self.slow_s = store, timeout_s, slow_s
        self.max_long = max(1, workers // 2)
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._lock = threading.Lock()
        self._long = 0
        self._flushed = (None, 0.0)  # (generation, when) of the last flush
        self._closed = False
        self.running: dict[int, float] = {}  # pid -> start time (what is running now; tests look)
        for _ in range(workers):
            self._idle.put(_Worker(str(store.path)))

    def execute(self, text: str, fmt: str, generation: int) -> tuple[str, bytes]:
        waited_until = time.monotonic() + self.timeout_s  # a slot may be freeing (a fresh worker starting)
        while True:
            try:
                worker = self._idle.get(timeout=max(0.0, waited_until - time.monotonic()))
            except queue.Empty:
                raise QueryBusy() from None
            if worker.proc.poll() is None:
                break
            self._replace(worker)  # it died while idle (killed from outside): not this query's fault
        deadline = time.monotonic() + self.timeout_s
        with self._lock:
            # A worker's read-only open replays the write-ahead log, so it sees every acknowledged
            # write; flushing now and then keeps that log, and so each reopen, short.
            if generation != self._flushed[0] and time.monotonic() - self._flushed[1] > FLUSH_EVERY_S:
                self.store.flush()
                self._flushed = (generation, time.monotonic())
        started = time.monotonic()
        self.running[worker.pid] = started
        cpu_start = cpu_seconds(worker.pid)
        long = lowered = keep = False
        try:
            worker.conn.send((text, fmt, generation))
            while True:
                now = time.monotonic()
                wait = deadline - now if long else min(deadline - now, 0.05)
                if worker.conn.poll(max(0.0, wait)):
                    status, *answer = worker.conn.recv()
                    break
                if time.monotonic() >= deadline:
                    raise QueryTimeout()
                if long:
                    continue
                # Counted in CPU time: a cheap query that waits for a busy CPU is not long.
                cpu_now = cpu_seconds(worker.pid)
                used = cpu_now - cpu_start if cpu_start is not None and cpu_now is not None else now - started
                if used < self.slow_s:
                    continue
                with self._lock:  # the query turns long: is there room for one more?
                    if self._long >= self.max_long:
                        raise QueryTimeout(f"the query used more than {self.slow_s:g} s of CPU while {self._long} "
                                           "long queries were already running; narrow it or retry later",
                                           stopped_early=True)
                    self._long += 1
                    long = True
                lowered = _set_nice(worker.pid, 19)  # let cheap queries go first
            # a lowered worker is raised again where that is allowed (root), else replaced
            keep = not lowered or _set_nice(worker.pid, 0)
        except QueryTimeout as exc:
            LOG.warning("stopped a query after %.1f s (%s): %.200s", time.monotonic() - started,
                        "long lane full" if exc.stopped_early else "timeout", " ".join(text.split()))
            raise
        except (EOFError, OSError):
            LOG.warning("a query worker died on: %.200s", " ".join(text.split()))
            raise QueryCrashed() from None
        finally:
            self.running.pop(worker.pid, None)
            if long:
                with self._lock:
                    self._long -= 1
            if keep:
                self._idle.put(worker)
            else:
                self._replace(worker)
        if status == "error":
            raise StoreError(answer[0])
        return answer[0], answer[1]

    def _replace(self, worker: _Worker) -> None:
        """Kill `worker` (SIGKILL: the CPU is free at once) and start a fresh one beside."""
        worker.kill()

        def start():
            if not self._closed:
                self._idle.put(_Worker(str(self.store.path)))

        threading.Thread(target=start, name="sparql-worker-start", daemon=True).start()

    def shutdown(self) -> None:
        self._closed = True
        while True:
            try:
                self._idle.get_nowait().kill()
            except queue.Empty:
                break


if __name__ == "__main__":  # a worker: python -m registry.query_workers FD STORE_PATH SERVER_PID
    _serve(Connection(int(sys.argv[1])), sys.argv[2], int(sys.argv[3]))
