"""`arachne predict`: latency, energy, RAM and flash of a model on one or more boards.

Wiring: registry/cli.py calls `register(cli)`. A thin face over
ranker.cost_model.predict_pairs (the function /predict should call too).
"""
from __future__ import annotations

import json

import click
from rich.text import Text

from ranker.graph_facts import local_name
from registry.cli_common import col, fitted, legend, marked, number, out, print_list, table

# predict's provenance words, as the markers of the other tables (registry.cli_common.MARKS)
_MARK = {"from the file": "file"}


def _cell(fig: dict | None, scale: float = 1.0) -> str:
    """The figure with its provenance marker; a prediction's 90 % interval on the line below."""
    if not fig:
        return "-"
    text = marked(number(fig["value"] / scale), _MARK.get(fig["provenance"], fig["provenance"]))
    if fig.get("interval90"):
        lo, hi = fig["interval90"]
        text += f"\n{number(lo / scale)}-{number(hi / scale)}"
    return text


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

        def build(titles):
            t = table("device", *(col(c, number=True) for c in ("latency ms", "energy uJ", "RAM KiB", "flash KiB")),
                      title=f"{res['model_name']}: 90 % interval under each prediction")
            for p, title in zip(res["pairs"], titles):
                t.add_row(Text(title), _cell(p["latency_ms"]), _cell(p["energy_uj"]), _cell(p["ram_bytes"], 1024),
                          _cell(p["flash_bytes"], 1024))
            return t

        out.print(fitted(out, build, [p["device_name"] or local_name(p["device"]) for p in res["pairs"]]), "")
        legend(out, ("measured", "file", "predicted"))
        print_list(out, [("note:", n) for n in res["notes"]], style="dim")
