"""`arachne import-td` and `arachne export-td`: Thing Descriptions in and out of the registry.

Wiring: registry/cli.py calls `register(cli)`. The store comes from the group's global
`--store` (ctx.obj['store']); each command also accepts its own `--store` for use on its own.
"""
from __future__ import annotations

import json
import sys
from collections import Counter

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from registry.cli_common import col, err, open_store, out, table


def _store(ctx: click.Context, option: str | None, write: bool = False):
    """This command's --store, else the group's (registry.cli_common.open_store)."""
    return open_store(ctx, option, write=write)


def _print_problem(source: str, problem, style: str) -> None:
    field = f"{problem.field}: " if problem.field else ""
    err.print(f"[{style}]{source}[/]: {field}{problem.message} [dim]({problem.kind})[/]", highlight=False, soft_wrap=True)


def _summary(report, show_all: bool) -> None:
    t = table("result", col("count", number=True), title=f"{len(report.outcomes)} file(s) in {report.seconds:.1f} s")
    kinds = Counter(o.kind for o in report.imported)
    t.add_row("imported", str(len(report.imported)))
    t.add_row("  of which Thing Models", str(kinds["tm"]))
    t.add_row("rejected", str(len(report.rejected)))
    for reason, count in sorted(report.by_reason().items(), key=lambda x: (-x[1], x[0])):
        t.add_row(f"  {reason}", str(count), style="red")
    for kind, count in sorted(report.warnings_by_kind().items(), key=lambda x: (-x[1], x[0])):
        t.add_row(f"warnings: {kind}", str(count), style="yellow")
    out.print(t)
    shown = report.rejected if show_all else report.rejected[:20]
    for outcome in shown:
        for problem in outcome.problems[: (None if show_all else 3)]:
            _print_problem(outcome.source, problem, "red")
        if not show_all and len(outcome.problems) > 3:
            err.print(f"  ... and {len(outcome.problems) - 3} more problem(s)", highlight=False)
    if len(report.rejected) > len(shown):
        err.print(f"... {len(report.rejected) - len(shown)} more rejected file(s); use --verbose to list them all",
                  highlight=False)


def register(cli: click.Group) -> None:
    """Add the Thing Description commands to the `arachne` click group."""

    @cli.command("import-td")
    @click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
    @click.option("--strict", is_flag=True, help="Stop at the first invalid file and write nothing.")
    @click.option("--lenient", is_flag=True, help="Accept JSON5 (comments, trailing commas), with a warning.")
    @click.option("--store", "store_option", help="Store directory (default: the global --store).")
    @click.option("--workers", type=int, default=None, help="Processes for validation (default: CPU count).")
    @click.option("--verbose", is_flag=True, help="List every problem of every rejected file.")
    @click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON on stdout.")
    @click.pass_context
    def import_td(ctx, paths, strict, lenient, store_option, workers, verbose, as_json):
        """Import W3C Thing Descriptions / Thing Models (files or folders).

        Each document is checked against the W3C JSON Schema, the TD rules the schema misses and
        Arachne's device shapes, converted to RDF offline, and stored as one named graph with its
        JSON kept verbatim. Valid documents are imported and the others reported with every
        problem and its JSON path. Exit status: 0 all imported, 2 some rejected, 1 --strict stop or a store that failed
        (the one-line error says how many files were imported before)."""
        sys.exit(_import(ctx, paths, strict, lenient, store_option, workers, verbose, as_json))

    def _import(ctx, paths, strict, lenient, store_option, workers, verbose, as_json) -> int:
        """The import itself; returns the exit status (the store is released before exiting)."""
        from kg.td import expand_paths, import_paths

        store = _store(ctx, store_option, write=True)
        files = expand_paths(paths)
        if not files:
            err.print("no JSON files found", highlight=False)
            return 1
        progress = Progress(TextColumn("[bold]importing TDs"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[status]}"), TimeRemainingColumn(), console=err,
                            transient=True, disable=as_json)
        with progress:
            task = progress.add_task("import", total=len(files), status="")
            counts = {"ok": 0, "bad": 0}

            def tick(outcome):
                counts["ok" if not outcome.problems else "bad"] += 1
                progress.update(task, advance=1, status=f"[green]{counts['ok']} ok[/] [red]{counts['bad']} rejected[/]")

            report = import_paths(store, files, strict=strict, lenient=lenient, workers=workers, progress=tick)
        if as_json:
            click.echo(json.dumps({"imported": len(report.imported), "rejected": len(report.rejected),
                                   "seconds": round(report.seconds, 3), "by_reason": dict(report.by_reason()),
                                   "files": [o.as_dict() for o in report.outcomes]}, indent=2))
        elif strict and report.stopped_early:
            bad = report.outcomes[-1]
            for problem in bad.problems:
                _print_problem(bad.source, problem, "red")
            err.print(f"[bold red]stopped[/] at the first invalid file (--strict); nothing was written "
                      f"({len(report.outcomes) - 1} valid file(s) before it)", highlight=False)
        else:
            _summary(report, verbose)
        if strict and report.stopped_early:
            return 1
        return 2 if report.rejected else 0

    @cli.command("export-td")
    @click.argument("ident")
    @click.option("--rdf", "rdf_format", type=click.Choice(["turtle", "nt", "json-ld", "xml"]),
                  help="Export the RDF view instead of the submitted JSON.")
    @click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to a file instead of stdout.")
    @click.option("--store", "store_option", help="Store directory (default: the global --store).")
    @click.pass_context
    def export_td(ctx, ident, rdf_format, output, store_option):
        """Print a Thing Description exactly as it was imported (byte for byte), or its RDF.

        IDENT is the Thing's id (IRI) or a device name such as arduino-nano-33-ble-sense."""
        from kg.td import export_td as verbatim, export_td_rdf

        store = _store(ctx, store_option)
        data = export_td_rdf(store, ident, rdf_format) if rdf_format else verbatim(store, ident)
        if output:
            with open(output, "wb") as fh:
                fh.write(data)
        else:
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()

    _ = (import_td, export_td)  # registered on `cli` by the decorators


__all__ = ["register"]
