"""`arachne predict`: latency, energy, RAM and flash of a model on one or more boards.

Wiring: registry/cli.py calls `register(cli)`. A thin face over
ranker.cost_model.predict_pairs (the function /predict should call too).
"""
from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

out = Console()


def _cell(fig: dict | None, scale: float = 1.0, digits: int = 1) -> str:
    if not fig:
        return "-"
    v = f"{fig['value'] / scale:.{digits}f}"
    if fig.get("interval90"):
        lo, hi = fig["interval90"]
        v += f" [{lo / scale:.{digits}f}-{hi / scale:.{digits}f}]"
    return f"{v} ({fig['provenance']})"


def register(cli: click.Group) -> None:
    from registry import cli_common as base
    from kg.names import resolve

    @cli.command()
    @click.option("--model", required=True, help="Model IRI or name.")
    @click.option("--device", "devices", multiple=True,
                  help="Device IRI or name (repeatable; default: every device in the registry).")
    @click.option("--json", "as_json", is_flag=True, help="JSON output.")
    @click.pass_context
    def predict(ctx, model, devices, as_json):
        """Latency, energy, RAM and flash of a model on boards: measured, from the file, or
        predicted with a 90 % interval."""
        from ranker import graph_facts
        from ranker.cost_model import predict_pairs

        store = base.open_store(ctx)
        m = resolve(store, "model", model)
        devs = [resolve(store, "device", d) for d in devices] or sorted(graph_facts.device_facts(store))
        res = predict_pairs(store, m, devs)
        if as_json:
            click.echo(json.dumps(res, indent=2))
            return
        t = Table(title=f"{res['model_name']} (90 % interval in brackets)")
        for col in ("device", "latency ms", "energy uJ", "RAM KiB", "flash KiB"):
            t.add_column(col)
        for p in res["pairs"]:
            t.add_row(p["device_name"] or p["device"], _cell(p["latency_ms"], 1, 2), _cell(p["energy_uj"], 1, 1),
                      _cell(p["ram_bytes"], 1024), _cell(p["flash_bytes"], 1024))
        out.print(t)
        for n in res["notes"]:
            out.print(f"[dim]{n}[/]")
