"""The `arachne` command line: a thin face over the kg and ranker APIs."""
from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.table import Table

from kg.errors import InputError
from kg.names import make_request, resolve
from kg.store import StoreError
from kg.units import byte_size
from kg.vocab import MODALITIES
from registry import cli_devices, cli_models, cli_predict, cli_ranking, cli_serve
from registry.cli_common import (DEFAULT_STORE, budget_options, err, evidence_options, fail,  # noqa: F401
                                 open_store, out)

class ArachneGroup(click.Group):
    """The `arachne` group: whatever command fails on bad input, the store or a file ends with one
    line on stderr and exit status 1 (see `fail`), never a traceback. The messages say what was
    written before the failure (the store's and the importers' errors carry it)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except InputError as exc:
            for field, message in exc.problems[1:]:
                err.print(f"  also: {field}: {message}", highlight=False, soft_wrap=True)
            fail(exc.one_line())
        except StoreError as exc:
            fail(str(exc))
        except BrokenPipeError:  # `arachne export | head`: the reader has gone; nothing to say
            sys.exit(1)
        except OSError as exc:  # a file the command reads or writes (disk full, permissions)
            fail(f"{exc.filename}: {exc.strerror}" if exc.filename and exc.strerror else str(exc))


@click.group(cls=ArachneGroup)
@click.option(
    "--store",
    envvar="ARACHNE_STORE",
    default=DEFAULT_STORE,
    show_default=True,
    help="Store directory (embedded Oxigraph), an http(s):// SPARQL endpoint, or ':memory:' for a throw-away store.",
)
@click.pass_context
def cli(ctx: click.Context, store: str) -> None:
    """Arachne: a knowledge-graph registry of TinyML models and IoT devices."""
    ctx.ensure_object(dict)
    ctx.obj["store"] = None if store == ":memory:" else store


@cli.command()
@click.pass_context
def init(ctx):
    """Create the store (if needed) and load the ontology into it."""
    from kg.loading import init_store

    store = open_store(ctx, write=True)
    init_store(store)
    out.print(f"store ready at {ctx.obj['store'] or 'memory'} ({store.count()} quads)")


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.pass_context
def load(ctx, files):
    """Validate RDF files (Turtle, JSON-LD, N-Triples, ...) and load them, all or nothing."""
    from kg.loading import load_files

    report = load_files(open_store(ctx, write=True), list(files))
    out.print(f"loaded {report.files} file(s), {report.triples} triples")


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
def validate(files):
    """Check RDF files against the shapes without loading them."""
    from kg.loading import check_file

    bad = 0
    for path in files:
        try:
            check_file(path)
            out.print(f"{path}: ok")
        except InputError as exc:
            bad += 1
            for field, message in exc.problems:
                err.print(f"{path}: {field}: {message}", highlight=False, soft_wrap=True)
    if bad:
        sys.exit(1)


def print_results(results, fmt: str) -> None:
    """Show SELECT results as a table (default) or csv/tsv/json on stdout."""
    if fmt == "table":
        table = Table(*results.vars, show_lines=False)
        for row in results.rows:
            table.add_row(*("" if t is None else str(t) for t in row))
        out.print(table)
        out.print(f"{len(results)} row(s)", style="dim")
    else:
        import csv
        import json

        if fmt == "json":
            click.echo(json.dumps(results.dicts(), indent=2, default=str))
            return
        writer = csv.writer(sys.stdout, delimiter="\t" if fmt == "tsv" else ",", lineterminator="\n")
        writer.writerow(results.vars)
        for row in results.values():
            writer.writerow(["" if v is None else v for v in row])


@cli.command()
@click.argument("sparql", required=False)
@click.option("-f", "--file", "query_file", type=click.File("r"), help="Read the query from a file.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "tsv", "json"]), default="table")
@click.pass_context
def query(ctx, sparql, query_file, fmt):
    """Run a SPARQL query over the registry."""
    from rdflib import Graph

    if bool(sparql) == bool(query_file):
        fail("give a query or -f FILE (exactly one)")
    text = query_file.read() if query_file else sparql
    from kg.sparql_guard import check

    check(text)  # a query nested too deeply would crash Oxigraph's parser: refuse it first
    answer = open_store(ctx).query(text)
    if isinstance(answer, bool):
        click.echo("true" if answer else "false")
    elif isinstance(answer, Graph):
        click.echo(answer.serialize(format="turtle"))
    else:
        print_results(answer, fmt)


@cli.command()
@click.pass_context
def stats(ctx):
    """Counts of models, devices, benchmarks, tasks and graphs in the store."""
    from kg.loading import stats as compute

    table = Table("what", "count")
    for key, value in compute(open_store(ctx)).items():
        table.add_row(key, str(value))
    out.print(table)


@cli.command()
@click.pass_context
def reindex(ctx):
    """Rebuild the requirement index the fast feasibility query uses (kg/requirements.py).

    Arachne keeps it up to date on every write it makes; run this after other tools wrote
    models into the store (a bulk load straight into Oxigraph, SPARQL updates)."""
    from kg.requirements import reindex as rebuild

    out.print(f"indexed {rebuild(open_store(ctx, write=True), progress=True)} models")


@cli.command()
@click.option("--format", "fmt", type=click.Choice(["turtle", "nquads", "trig", "jsonld", "ntriples"]), default="nquads")
@click.option("--graph", help="Export one named graph only.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to a file instead of stdout.")
@click.pass_context
def export(ctx, fmt, graph, output):
    """Export the store (or one graph) as Turtle, N-Quads, TriG, JSON-LD or N-Triples."""
    data = open_store(ctx).export(fmt, graph)
    if output:
        Path(output).write_bytes(data)
    else:
        sys.stdout.buffer.write(data)


@cli.command()
@click.option("--device", help="Device IRI or name: which models fit it?")
@click.option("--model", help="Model IRI or name: which devices can run it?")
@click.option("--task", help="Only models for this task (name or IRI).")
@click.option("--modality", type=click.Choice(MODALITIES))
@budget_options
@evidence_options
@click.option("--why", is_flag=True, help="Also list the excluded candidates and the constraints they violate.")
@click.option("--ids", is_flag=True, help="With --device: only the feasible models' IRIs, one per line, from the "
              "requirement index (fast on large registries; no figures).")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@click.pass_context
def feasible(ctx, device, model, task, modality, max_latency_ms, max_energy_uj, reserve_ram, reserve_flash,
             verified_only, onboard_sensors, why, ids, as_json):
    """Feasible models for a device, or feasible devices for a model: each fits (on measured or
    file-derived figures), is likely to fit (some figure unknown: named) or does not fit."""
    import json

    from kg import feasibility

    if bool(device) == bool(model):
        fail("give --device or --model (exactly one)")
    store = open_store(ctx)
    if ids and (model or task or modality or why):
        fail("--ids lists the feasible models of a --device (without --task, --modality or --why)")
    if device:
        request = make_request(resolve(store, "device", device), task, modality, max_latency_ms, max_energy_uj,
                               reserve_ram, reserve_flash, verified_only, onboard_sensors)
        if ids:
            click.echo("\n".join(sorted(feasibility.fast_feasible_models(store, request.validated()))))
            return
        ok, excluded = feasibility.feasible_models(store, request)
        key = "model"
    else:
        request = make_request(None, task, modality, max_latency_ms, max_energy_uj, reserve_ram, reserve_flash,
                               verified_only, onboard_sensors)
        ok, excluded = feasibility.feasible_devices(store, resolve(store, "model", model), request)
        key = "device"
    if as_json:
        click.echo(json.dumps([c.to_dict() for c in ok + (excluded if why else [])], indent=2))
        return
    fits = sum(c.outcome == "fits" for c in ok)
    table = Table(key, "outcome", "RAM need/have", "flash need/have", "unknown / notes",
                  title=f"{len(ok)} feasible ({fits} fit, {len(ok) - fits} likely)")
    for c in ok:
        f, p = c.facts, c.provenance
        table.add_row(getattr(c, key) if key == "device" else (c.name or c.model), c.outcome,
                      f"{byte_size(f['needRam']) or '?'} ({p['ram_need']}) / {byte_size(f['ram']) or '?'}",
                      f"{byte_size(f['needFlash'])} ({p['flash_need']}) / {byte_size(f['flash']) or '?'}"
                      if f["needFlash"] and not f["linux"] else "",
                      "; ".join(c.unknowns + c.notes + c.warnings))
    out.print(table)
    if why and excluded:
        table = Table(key, "outcome", "why not", title=f"{len(excluded)} excluded")
        for c in excluded:
            table.add_row(getattr(c, key) if key == "device" else (c.name or c.model), c.outcome, "; ".join(c.why_not))
        out.print(table)


@cli.command()
@click.argument("model")
@click.argument("device")
@budget_options
@click.option("--onboard-sensors", is_flag=True, help="A missing on-board sensor for the model's input is a violation.")
@click.pass_context
def check(ctx, model, device, max_latency_ms, max_energy_uj, reserve_ram, reserve_flash, onboard_sensors):
    """Validate one model-device pair with the SHACL feasibility shapes: prints the outcome (fits /
    likely / does not fit) and each result; exit status 2 when it does not fit."""
    from kg.feasibility import DOES_NOT_FIT, check_pair_shacl, shacl_outcome

    store = open_store(ctx)
    request = make_request(None, None, None, max_latency_ms, max_energy_uj, reserve_ram, reserve_flash,
                           onboard_sensors=onboard_sensors)
    results = check_pair_shacl(store, resolve(store, "model", model), resolve(store, "device", device), request)
    outcome = shacl_outcome(results)
    stream = err if outcome == DOES_NOT_FIT else out
    stream.print(f"{outcome}" + ("" if results else ": every constraint holds"))
    for kind, message in results:
        stream.print(f"{kind}: {message}", highlight=False, soft_wrap=True)
    if outcome == DOES_NOT_FIT:
        sys.exit(2)


@cli.command()
@click.pass_context
def demo(ctx):
    """Build the bundled demo registry, then show its stats and an example query."""
    from kg.demo_registry import build
    from kg.feasibility import named_query

    store = open_store(ctx, write=True)
    with out.status("building the demo registry"):
        counts = build(store)
    table = Table("what", "count", title="demo registry")
    for key, value in counts.items():
        table.add_row(key, str(value))
    out.print(table)
    out.print("[bold]example query[/] (kg/queries/examples/best_measured_models.rq): most benchmarked models")
    print_results(store.select(named_query("examples/best_measured_models")), "table")
    from kg.ids import device_iri
    from ranker.recommend import recommend
    from registry.cli_ranking import print_recommendation

    out.print("[bold]example recommendation[/]: arachne recommend --device arduino-nano-33-ble-sense --task keyword_spotting -k 5")
    request = make_request(device_iri("Arduino-Nano-33-BLE-Sense"), "keyword_spotting")
    print_recommendation(recommend(store, request, k=5), why_not=False)


# Commands that live beside their subject (models, devices, the server, ranking, prediction).
for _module in (cli_models, cli_devices, cli_serve, cli_ranking, cli_predict):
    _module.register(cli)


def main() -> None:
    cli(obj={})


if __name__ == "__main__":
    main()
