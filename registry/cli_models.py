"""CLI commands that bring model files and benchmark tables into the registry:

    arachne import-model FILE... [--card README.md] [--task T] [--dataset D] [--store PATH]
    arachne import-model FILE --describes MODEL [--store PATH]
    arachne import-benchmarks FILE --format mlperf-tiny|stm32-zoo|csv [--store PATH]

Wire them into the `cli` group with `register(cli)`. Both validate with the SHACL
shapes and write all their graphs in one transaction, or nothing.
"""
from __future__ import annotations

import json
import sys

import click
from rich.console import Console
from rich.table import Table

from kg.errors import InputError
from kg.units import byte_size
from kg.vocab import MODALITIES

out = Console()
err = Console(stderr=True)


def _fail(message: str, also: list[str] = ()) -> None:
    for line in also:
        err.print(f"  {line}", highlight=False, soft_wrap=True)
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    sys.exit(1)


def _store(ctx: click.Context, path: str | None):
    """This command's --store, else the group's (registry.cli.open_store), opened for writing."""
    from kg.store import StoreError
    from registry.cli_common import open_store

    try:
        return open_store(ctx, path, write=True)
    except StoreError as exc:
        _fail(str(exc))


def _validate(graphs: dict) -> list[str]:
    """SHACL violations of every graph, as lines ('<graph>: <violation>')."""
    from kg.validation import validate

    problems = []
    for name, graph in graphs.items():
        problems += [f"{name}: {v}" for v in validate(graph)]
    return problems


@click.command("import-model")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--card", type=click.Path(dir_okay=False, exists=True), help="Hugging Face style model card (README.md with YAML front matter).")
@click.option("--task", help="Task the model performs (overrides the card), e.g. keyword_spotting.")
@click.option("--dataset", help="Training dataset (overrides the card).")
@click.option("--name", help="Model name (one file only; default: the card's, else the file name).")
@click.option("--sensor", "sensors", multiple=True, help="Sensor the model needs (microphone, camera, imu, ...); repeatable.")
@click.option("--modality", type=click.Choice(MODALITIES))
@click.option("--describes", metavar="MODEL", help="Attach the file's facts to this model of the registry (name or IRI) "
              "instead of describing a new one; its name, task and figures stay, a contradiction writes nothing.")
@click.option("--no-ram", is_flag=True, help="Skip the TFLM tensor-arena measurement.")
@click.option("--dry-run", is_flag=True, help="Describe and validate, write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the extracted facts as JSON.")
@click.option("--store", "store_path", help="Store directory (default: the group's --store).")
@click.pass_context
def import_model(ctx, files, card, task, dataset, name, sensors, modality, describes, no_ram, dry_run, as_json,
                 store_path):
    """Describe model files (TFLite, ONNX) and add them to the registry, one graph per model
    (or, with --describes, attach one file to a model the registry describes)."""
    from kg.models import describe_for_import, store_models
    from kg.store import StoreError
    from registry.cli_common import open_store

    if name and len(files) > 1:
        _fail("--name names one model; give one FILE with it")
    store = None
    if describes:  # the description the file joins is read from the store
        try:
            store = open_store(ctx, store_path, write=not dry_run)
        except StoreError as exc:
            _fail(str(exc))
    try:  # read, de-duplicated and SHACL-checked (kg.validation) before anything is written
        results = describe_for_import(files, describes=describes, store=store, card=card, task=task, dataset=dataset,
                                      name=name, sensors=list(sensors) or None, modality=modality,
                                      measure_ram=not no_ram)
    except InputError as exc:
        listed = exc.problems != [(exc.field, exc.message)]  # several problems behind one headline
        _fail(exc.one_line(), [f"{f}: {m}" if f else m for f, m in exc.problems[:20]] if listed else [])
    if as_json:
        click.echo(json.dumps([d.facts for d in results], indent=2, default=str))
    else:
        table = Table("model", "format", "quant.", "params", "MACs", "flash", "RAM", "task")
        for d in results:
            f = d.facts
            ram = ("~" if f["ram_provenance"] == "estimated" else "") + byte_size(f["ram_bytes"])
            table.add_row(d.name, f["format"], f["quantization"] or "?", f"{f['parameter_count']:,}", f"{f['macs']:,}",
                          byte_size(f["model_bytes"]), ram, f.get("task") or "")
        out.print(table)
        for d in results:
            f = d.facts
            lines = [f"TFLM refused it: {f['tflm_refusal']}"] if f.get("tflm_refusal") else []
            if f["ram_provenance"] == "estimated":
                lines.append("RAM ~estimated: the largest sum of activation tensors alive at once (no runtime planned it)")
            if f.get("modality_provenance") == "inferred":
                lines.append(f"modality {f['modality']} inferred from {f['modality_from']}")
            for line in lines + f.get("attach_notes", []) + f["not_inferred"]:
                out.print(f"{d.name}: {line}", highlight=False, soft_wrap=True)
    if dry_run:
        out.print("dry run: nothing written")
        return
    store_models(store or _store(ctx, store_path), results)
    if describes:
        out.print(f"attached {results[0].facts['file_name']} to {results[0].iri} (graph {results[0].graph_iri})",
                  highlight=False, soft_wrap=True)
    else:
        out.print(f"wrote {len(results)} model graph(s)")


@click.command("import-benchmarks")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", required=True, type=click.Choice(["mlperf-tiny", "stm32-zoo", "csv"]))
@click.option("--systems", type=click.Path(dir_okay=False, exists=True), help="mlperf-tiny: the systems table (default: mlperf_tiny_systems.csv beside FILE).")
@click.option("--accuracy", type=click.Path(dir_okay=False, exists=True), help="stm32-zoo: the accuracy table (default: stm32_accuracy.csv beside FILE).")
@click.option("--dry-run", is_flag=True, help="Read and validate, write nothing.")
@click.option("--store", "store_path", help="Store directory (default: the group's --store).")
@click.pass_context
def import_benchmarks_cmd(ctx, file, fmt, systems, accuracy, dry_run, store_path):
    """Import a benchmark table: one named graph of ar:BenchmarkRecord per source, replacing what
    the source held before (kg.benchmarks describes the CSV format)."""
    from kg.benchmarks import import_benchmarks, resolve_files

    store = None
    try:
        result = import_benchmarks(file, fmt, systems=systems, accuracy=accuracy)
        if any(r["model"].startswith("sha256:") for r in result.records):  # files named by hash
            store = _store(ctx, store_path)
            resolve_files(result, store, file)
    except InputError as exc:
        _fail(exc.one_line(), [f"also: {f}: {m}" for f, m in exc.problems[1:]])
    graphs = result.graphs()
    problems = _validate(graphs)
    if problems:
        _fail("the records do not conform to the shapes; nothing written", problems[:20])
    out.print(f"{len(result.records)} record(s), {len(result.models)} model(s) -> {', '.join(result.graph_names)}",
              highlight=False, soft_wrap=True)
    if result.skipped:
        reasons = {}
        for _, why in result.skipped:
            reasons[why] = reasons.get(why, 0) + 1
        out.print("skipped: " + "; ".join(f"{n} row(s): {why}" for why, n in reasons.items()))
    if dry_run:
        out.print("dry run: nothing written")
        return
    store = store or _store(ctx, store_path)
    left_out = result.keep_file_figures(store)
    if left_out:  # file-derived figures win over the table's
        out.print(f"kept the file-derived parameters/MACs of {len(left_out)} model(s): "
                  + ", ".join(sorted(left_out)[:10]) + (" ..." if len(left_out) > 10 else ""), highlight=False, soft_wrap=True)
        graphs = result.graphs()
    unknown = _unknown_devices(store, graphs)
    if unknown:
        names = sorted(unknown, key=lambda d: -unknown[d])
        out.print(f"warning: {sum(unknown.values())} record(s) name {len(unknown)} device(s) the registry does not "
                  f"hold (import their Thing Descriptions to use them): " + ", ".join(names[:10])
                  + (f" and {len(names) - 10} more" if len(names) > 10 else ""), highlight=False, soft_wrap=True)
    before = _records_per_graph(store, graphs)
    store.put_graphs(graphs)
    for name in graphs:
        out.print(f"wrote graph {name}" + (f" (replacing {before[name]} record(s))" if name in before else ""),
                  highlight=False, soft_wrap=True)


def _unknown_devices(store, graphs) -> dict[str, int]:
    """{device IRI: record count} of the records' devices that are not ar:Device in the store."""
    from kg.ids import AR

    counts: dict[str, int] = {}
    for g in graphs.values():
        for device in g.objects(None, AR.onDevice):
            counts[str(device)] = counts.get(str(device), 0) + 1
    if not counts:
        return {}
    values = " ".join(f"<{d}>" for d in counts)
    known = set(store.select(f"SELECT ?d WHERE {{ VALUES ?d {{ {values} }} ?d a <{AR.Device}> }}").column("d"))
    return {d: n for d, n in counts.items() if d not in known}


def _records_per_graph(store, graphs) -> dict[str, int]:
    """{graph IRI: benchmark records it holds} of those of `graphs` the store has."""
    values = " ".join(f"<{g}>" for g in graphs)
    rows = store.select(f"SELECT ?g (COUNT(?r) AS ?n) WHERE {{ VALUES ?g {{ {values} }} "
                        f"GRAPH ?g {{ ?r a <https://w3id.org/arachne#BenchmarkRecord> }} }} GROUP BY ?g").values()
    return {g: int(n) for g, n in rows}


def register(cli: click.Group) -> None:
    """Add import-model and import-benchmarks to the `arachne` group."""
    cli.add_command(import_model)
    cli.add_command(import_benchmarks_cmd)
