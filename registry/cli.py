"""The `arachne` command line: a thin face over the kg and ranker APIs."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import click
from rich.table import Column
from rich.text import Text

from kg.errors import InputError
from kg.names import make_request, resolve
from kg.store import StoreError
from kg.units import byte_size
from kg.vocab import MODALITIES
from registry import cli_devices, cli_models, cli_predict, cli_ranking, cli_serve
from registry.cli_common import (DEFAULT_STORE, Footnotes, budget_options, col, err,  # noqa: F401
                                 evidence_options, fail, fitted, legend, marked, open_store, out,
                                 print_excluded, print_list, table)

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


def print_results(results, fmt: str, sparql: str = "") -> None:
    """Show SELECT results as a table (default) or csv/tsv/json on stdout. The table shortens
    IRIs with the query's PREFIX declarations and Arachne's usual prefixes (csv/tsv/json keep
    them whole) and folds long values rather than cutting them."""
    if fmt == "table":
        prefixes = re.findall(r"PREFIX\s+([\w.-]*):\s*<([^>\s]*)>", sparql, re.IGNORECASE)
        t = table(*(Column(v, overflow="fold") for v in results.vars))
        for row in results.rows:
            t.add_row(*(Text(_compact(term, prefixes)) for term in row))
        out.print(t)
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


def _compact(term, prefixes) -> str:
    """An IRI as prefix:name (the query's own prefixes first), any other term as its text."""
    from rdflib import URIRef

    from kg.validation import short

    if not isinstance(term, URIRef):
        return "" if term is None else str(term)
    text = str(term)
    for prefix, namespace in prefixes:
        if namespace and text.startswith(namespace) and len(text) > len(namespace):
            return f"{prefix}:{text[len(namespace):]}"
    text = short(term)
    return text[1:-1] if text.startswith("<") else text  # short() writes an IRI it cannot shorten as <IRI>


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
        print_results(answer, fmt, text)


@cli.command()
@click.pass_context
def stats(ctx):
    """Counts of models, devices, benchmarks, tasks and graphs in the store."""
    from kg.loading import stats as compute

    t = table("what", col("count", number=True))
    for key, value in compute(open_store(ctx)).items():
        t.add_row(key, str(value))
    out.print(t)


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
        subject, key = request.device, "model"
    else:
        request = make_request(None, task, modality, max_latency_ms, max_energy_uj, reserve_ram, reserve_flash,
                               verified_only, onboard_sensors)
        subject, key = resolve(store, "model", model), "device"
        ok, excluded = feasibility.feasible_devices(store, subject, request)
    if as_json:
        click.echo(json.dumps([c.to_dict() for c in ok + (excluded if why else [])], indent=2))
        return
    print_checks(store, subject, ok, excluded if why else [], key)


def print_checks(store, subject: str, ok, excluded, key: str) -> None:
    """The feasible pairs of one device (`subject`; rows: its models, `key` "model") or of one
    model (rows: the devices, `key` "device") as a table of titles, outcomes and memory figures,
    their notes as footnotes; then the `excluded` pairs with what keeps each out. A column whose
    value is the same on every row (the device's RAM and flash, often the model's RAM need) goes
    to the title instead."""
    from ranker.graph_facts import device_facts, local_name

    checks = ok + excluded
    devices = device_facts(store, sorted({c.device for c in checks} | ({subject} if key == "model" else set())))

    def device_name(iri: str) -> str:
        return devices.get(iri, {}).get("name") or local_name(iri)

    def name(c) -> str:
        return device_name(c.device) if key == "device" else c.name or local_name(c.model)

    def figures(c) -> dict:
        f, p = c.facts, c.provenance
        flash = not f["linux"]  # Linux-class boards load models from storage: no flash constraint
        return {"RAM need": marked(byte_size(f["needRam"]), p["ram_need"]), "RAM": byte_size(f["ram"]) or "?",
                "flash need": marked(byte_size(f["needFlash"]), p["flash_need"]) if flash else "",
                "flash": (byte_size(f["flash"]) or "?") if flash else ""}

    ok = sorted(ok, key=lambda c: (c.outcome != "fits", name(c).casefold()))
    cells = [figures(c) for c in ok]
    shared = {k: v for k, v in (cells[0] if cells else {}).items() if all(row[k] == v for row in cells)}
    fits = sum(c.outcome == "fits" for c in ok)
    title = device_name(subject) if key == "model" else next((c.name for c in checks if c.name), local_name(subject))
    heading = [f"{title}: {len(ok)} feasible ({fits} fit, {len(ok) - fits} likely)"]
    heading += [f"{k} {'unknown' if v == '?' else v}" for k, v in shared.items() if v]
    columns = [k for k in (cells[0] if cells else {}) if k not in shared]
    notes = Footnotes()

    def build(titles):
        t = table(key, "fit", *(col(k, number=True) for k in columns),
                  title="; ".join(heading))
        for c, row, cell in zip(ok, cells, titles):
            t.add_row(Text(cell), f"{c.outcome} {notes.mark(c.unknowns + c.warnings + c.notes)}".rstrip(),
                      *(row[k] for k in columns))
        return t

    out.print(fitted(out, build, [name(c) for c in ok]), "")
    notes.print(out)
    legend(out, ("measured", "file"))
    print_excluded(out, key, [(name(c), c.outcome, c.why_not + c.warnings) for c in excluded])


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
    print_list(stream, [(f"{kind}:", message) for kind, message in results])
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
    t = table("what", col("count", number=True), title="demo registry")
    for key, value in counts.items():
        t.add_row(key, str(value))
    out.print(t)
    out.print("[bold]example query[/] (kg/queries/examples/best_measured_models.rq): most benchmarked models")
    example = named_query("examples/best_measured_models")
    print_results(store.select(example), "table", example)
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
