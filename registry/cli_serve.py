"""`arachne serve`: the registry service (SPARQL endpoint, Thing Description Directory, model API,
web explorer) on waitress, a production WSGI server, never Flask's development server."""
from __future__ import annotations

import click

DEFAULT_THREADS = 12  # SSE subscribers each hold a thread; queries release the GIL in Oxigraph


def build_app(store_location, config: dict | None = None):
    """The Flask app over the store at `store_location` (a directory, a SPARQL URL, or None for memory)."""
    from kg.store import open_store
    from registry.app import create_app

    return create_app(open_store(store_location), config or {})


def warm_up() -> None:
    """Compile what the first TD write would otherwise pay for (JSON Schemas, SHACL shapes, TD
    contexts: a second or two) before the server takes requests."""
    try:
        from kg import td
    except ImportError:
        return
    td.prepare()


def run_server(app, host: str, port: int, threads: int = DEFAULT_THREADS, **adjustments) -> None:
    """Serve `app` with waitress until interrupted."""
    from waitress import serve as waitress_serve

    waitress_serve(app, host=host, port=port, threads=threads, ident="arachne",
                   channel_timeout=120, connection_limit=512, backlog=1024,
                   asyncore_use_poll=True, **adjustments)


class BackgroundServer:
    """waitress serving `app` on a free loopback port in a daemon thread (tests, benchmarks).

    with BackgroundServer(app) as server: urlopen(server.url + "/sparql?query=...")"""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0, threads: int = DEFAULT_THREADS):
        import threading

        from waitress.server import create_server

        self.server = create_server(app, host=host, port=port, threads=threads, ident="arachne",
                                    channel_timeout=60, connection_limit=512, backlog=1024, asyncore_use_poll=True)
        self.url = f"http://{host}:{self.server.effective_port}"
        self._thread = threading.Thread(target=self._run, name="waitress", daemon=True)

    def _run(self) -> None:
        try:
            self.server.run()
        except (OSError, ValueError):  # the socket map is torn down by close()
            pass

    def start(self) -> "BackgroundServer":
        self._thread.start()
        return self

    def close(self) -> None:
        self.server.task_dispatcher.shutdown(timeout=0.5)  # workers first: they may still pull the trigger
        self.server.close()

    def __enter__(self) -> "BackgroundServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


def register(cli: click.Group) -> None:
    """Add the `serve` command to the `arachne` group."""

    @cli.command()
    @click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on (0.0.0.0 for all).")
    @click.option("--port", default=8080, show_default=True, type=int)
    @click.option("--store", "store_path", type=click.Path(file_okay=False),
                  help="Store directory (overrides the group's --store / ARACHNE_STORE).")
    @click.option("--threads", default=DEFAULT_THREADS, show_default=True, type=int, help="waitress worker threads.")
    @click.option("--sparql-timeout", default=10.0, show_default=True, type=float,
                  help="Seconds a SPARQL query may run before the client gets 503.")
    @click.option("--row-cap", default=10000, show_default=True, type=int, help="Most rows a SPARQL answer holds.")
    @click.option("--federation-allow", "federation", multiple=True, metavar="URL",
                  help="A SPARQL endpoint that queries may call with SERVICE (repeatable; default: none, SERVICE is refused).")
    @click.pass_context
    def serve(ctx, host, port, store_path, threads, sparql_timeout, row_cap, federation):
        """Run the registry service: /sparql, /things, /models, /feasible, /recommend and the explorer at /.

        Writes need `Authorization: Bearer $ARACHNE_TOKEN` when ARACHNE_TOKEN is set."""
        import os

        root = ctx.find_root().obj or {}
        location = store_path or root.get("store")
        if location == ":memory:":
            location = None
        app = build_app(location, {"SPARQL_TIMEOUT_S": sparql_timeout, "SPARQL_ROW_CAP": row_cap,
                                   "SPARQL_FEDERATION_ALLOW": tuple(federation)})
        where = location or "memory"
        auth = "token required for writes" if os.environ.get("ARACHNE_TOKEN") else "open (set ARACHNE_TOKEN to protect writes)"
        warm_up()
        click.echo(f"arachne: serving store {where} on http://{host}:{port}/ ({threads} threads; writes {auth})", err=True)
        run_server(app, host, port, threads)
