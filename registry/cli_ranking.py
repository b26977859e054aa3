"""CLI commands over the rankers (ranker.recommend, ranker.graph_rankers, ranker.evaluation):

    arachne recommend --device ID --task TASK [--data samples.npz] [budgets] [--method M] [-k 10]
                      [--why] [--why-not] [--json]
    arachne train-ranker [--out FILE] [--epochs N]
    arachne eval [--data-dir DIR] [--fast]
    arachne eval --benchmarks FILE.csv [--json]

Wired into the `cli` group by `register(cli)` (registry/cli.py, _register_faces).
"""
from __future__ import annotations

import json

import click
from rich.table import Table
from rich.text import Text

from ranker.graph_facts import local_name
from registry.cli_common import (Footnotes, budget_options, col, err, evidence_options, fail, fitted, legend,
                                 marked, number, open_store, out, print_excluded, print_list, table)


def _figure(value, provenance) -> str:
    return "-" if value is None else marked(number(value), provenance)


def print_recommendation(rec, why_not: bool, why: bool = False) -> None:
    """The ranked table, what its rows' letters stand for, and with `why` the reason for each
    rank (numbered as the table), with `why_not` the excluded models with their reasons."""
    notes = Footnotes()

    def build(titles):
        t = table(col("#", number=True), "model", "fit", col("accuracy\n%", True),
                  col("latency\nms", True), col("energy\nuJ", True), col("RAM\nfree", True),
                  title=f"{rec.method}: {len(rec.rows)} of {rec.candidates} feasible model(s) for "
                        f"{rec.device_name or local_name(rec.device)}")
        for r, title in zip(rec.rows, titles):
            t.add_row(str(r.rank), Text(title), f"{r.outcome} {notes.mark(r.unknowns + r.warnings + r.notes)}".rstrip(),
                      _figure(r.accuracy_pct, r.accuracy_provenance), _figure(r.latency_ms, r.latency_provenance),
                      _figure(r.energy_uj, r.energy_provenance),
                      "-" if r.ram_headroom is None else f"{100 * r.ram_headroom:.0f}%")
        return t

    out.print(fitted(out, build, [r.name or local_name(r.model) for r in rec.rows]), "")
    notes.print(out)
    legend(out, ("measured", "predicted", "reported", "measured-other-device"))
    out.print(f"voters: {', '.join(rec.voters) or '-'} (task voter: {rec.task_voter}); tie-break: {rec.tiebreak or '-'}",
              style="dim", highlight=False)
    print_list(out, [("note:", note) for note in rec.notes], style="dim")
    if why:
        print_list(out, [(f"{r.rank}.", r.why) for r in rec.rows])
    elif rec.rows:
        out.print("(--why says why each model is above the next)", style="dim")
    if why_not:
        print_excluded(out, "model", [(e.name or local_name(e.model), e.outcome, e.reasons + e.warnings) for e in rec.excluded])
    elif rec.excluded_count:
        out.print(f"{rec.excluded_count} model(s) of this task excluded (--why-not lists them)", style="dim")


def register(cli: click.Group) -> None:
    """Add recommend, train-ranker and eval to the `arachne` group."""
    from kg.names import make_request, resolve
    from kg.vocab import MODALITIES
    from ranker.recommend import METHODS

    @cli.command()
    @click.option("--device", required=True, help="Device IRI or name, e.g. arduino-nano-33-ble-sense.")
    @click.option("--task", help="Task name or IRI, e.g. keyword_spotting.")
    @click.option("--modality", type=click.Choice(MODALITIES),
                  help="Input modality (instead of, or besides, --task).")
    @click.option("--data", type=click.Path(dir_okay=False),
                  help="samples.npz with X (n, ...) float32 model inputs and y labels: adds LogME/LEEP/NCE "
                       "from running each candidate's .tflite on this machine.")
    @budget_options
    @evidence_options
    @click.option("--method", type=click.Choice(METHODS), default="shadow", show_default=True,
                  help="shadow = Copeland over task and hardware voters; fusion = the trained hardware-aware ranker.")
    @click.option("-k", "k", type=int, default=10, show_default=True, help="How many models to show.")
    @click.option("--ranker", "ranker_path", type=click.Path(dir_okay=False),
                  help="Trained ranker file (default: $ARACHNE_RANKER or ~/.cache/arachne/ranker.pt, if present).")
    @click.option("--model-dir", "model_dirs", multiple=True, type=click.Path(file_okay=False),
                  help="Folder holding model files for --data (repeatable; also $ARACHNE_MODEL_PATH).")
    @click.option("--why", is_flag=True, help="Also say why each model is above the next (numbered as the table).")
    @click.option("--why-not", is_flag=True, help="Also list the excluded models and the constraints they violate.")
    @click.option("--json", "as_json", is_flag=True, help="JSON output.")
    @click.pass_context
    def recommend(ctx, device, task, modality, data, max_latency_ms, max_energy_uj, reserve_ram, reserve_flash,
                  verified_only, onboard_sensors, method, k, ranker_path, model_dirs, why, why_not, as_json):
        """Rank the models that fit a device for a task: task fitness and hardware fitness, merged."""
        from ranker.recommend import recommend as run

        if not task and not modality:
            fail("give --task (or --modality)")
        store = open_store(ctx)
        request = make_request(resolve(store, "device", device), task, modality, max_latency_ms,
                               max_energy_uj, reserve_ram, reserve_flash, verified_only, onboard_sensors)
        # The excluded models' reasons cost a full check each: only when they are asked for.
        options = dict(method=method, k=k, ranker_path=ranker_path, model_dirs=model_dirs, why_not=why_not or as_json)
        if data:
            with err.status("running the candidates on your data"):
                rec = run(store, request, data=data, **options)
        else:
            rec = run(store, request, **options)
        if as_json:
            click.echo(json.dumps(rec.to_dict(), indent=2))
        else:
            print_recommendation(rec, why_not, why)

    @cli.command("train-ranker")
    @click.option("--out", "out_path", type=click.Path(dir_okay=False),
                  help="Where to write the task ranker (default: $ARACHNE_RANKER or ~/.cache/arachne/ranker.pt); "
                       "the hardware-aware ranker goes beside it as <name>.fusion.pt.")
    @click.option("--epochs", type=int, default=300, show_default=True)
    @click.option("--seed", type=int, default=0, show_default=True)
    @click.pass_context
    def train_ranker(ctx, out_path, epochs, seed):
        """Train the learned rankers on the graph's benchmark records ((task, dataset, device) groups of >= 3 models)."""
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from ranker import graph_rankers

        store = open_store(ctx)
        bars: dict = {}
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("epochs"),
                      TimeElapsedColumn(), console=err, transient=True) as progress:
            def on_progress(name, done, total):
                if name not in bars:
                    bars[name] = progress.add_task(f"training the {name}", total=total)
                progress.update(bars[name], completed=done)

            try:
                report = graph_rankers.train(store, out_path, epochs=epochs, seed=seed, progress=on_progress)
            except ValueError as exc:
                fail(str(exc))
        out.print(f"trained on {report.groups} (task, dataset, device) group(s): {len(report.tasks)} task(s), "
                  f"{report.devices} device(s); final ListMLE loss {report.spider_loss:.3f} (task), "
                  f"{report.fusion_loss:.3f} (hardware-aware)", highlight=False)
        out.print(f"wrote {report.spider_path} and {report.fusion_path}", highlight=False)
        fit = graph_rankers.transfer_quality(store)
        if fit:
            out.print(f"task fitness from other datasets (predicted accuracy), leave-one-dataset-out over "
                      f"{int(fit['datasets'])} dataset(s): tau_w {fit['learned_tau_w']:.3f} "
                      f"(popularity {fit['popularity_tau_w']:.3f}, parameters {fit['params_tau_w']:.3f})",
                      highlight=False)

    @cli.command("eval")
    @click.option("--data-dir", type=click.Path(file_okay=False),
                  help="The benchmark data (default: $ARACHNE_SHARED_DATA, else ../shared/data beside the project).")
    @click.option("--fast", is_flag=True, help="Fewer epochs and fine-tuning seeds (a quicker, rougher table).")
    @click.option("--benchmarks", "table_path", type=click.Path(dir_okay=False),
                  help="Instead: evaluate the task ranker leave-one-dataset-out on this transfer table (CSV with "
                       "model, target_dataset, accuracy_pct; optional task, params, macs, family, pretrain_dataset).")
    @click.option("--json", "as_json", is_flag=True, help="JSON output (with --benchmarks).")
    def eval_(data_dir, fast, table_path, as_json):
        """Offline evaluation of every ranker on the shared benchmark data: `name: value` lines."""
        from pathlib import Path

        if table_path:
            _eval_table(table_path, as_json)
            return
        if data_dir and not Path(data_dir).is_dir():  # before importing torch and friends
            fail(f"benchmark data not found at {data_dir} (give --data-dir DIR or set ARACHNE_SHARED_DATA)")
        from ranker import evaluation

        path = Path(data_dir) if data_dir else evaluation.default_data_dir()
        if not path.is_dir():
            fail(f"benchmark data not found at {path}: `arachne eval` reads ../shared/data "
                      "(give --data-dir DIR or set ARACHNE_SHARED_DATA)")
        try:
            results = evaluation.run_all(path, fast=fast)
        except (FileNotFoundError, KeyError) as exc:
            fail(f"{path}: incomplete benchmark data ({exc})")
        click.echo(evaluation.format_results(results))


_COLUMNS = [(m, metric) for m in ("learned", "popularity", "params", "random") for metric in ("tau_w", "ndcg5", "regret")]


def _eval_table(path: str, as_json: bool) -> None:
    """`arachne eval --benchmarks FILE`: per dataset and mean, learned beside the baselines
    (InputError on bad data ends in one line, see registry.cli.ArachneGroup)."""
    from ranker import transfer

    per = transfer.evaluate_file(path)
    summary = transfer.summarize(per)
    mean = {f"{m}_{metric}": summary[f"{m}_{metric}"] for m, metric in _COLUMNS}
    if as_json:
        click.echo(json.dumps({"file": path, "datasets": {d: {f"{m}_{k}": v for m, r in res.items() for k, v in r.items()}
                                                          for d, res in per.items()},
                               "mean": mean,
                               "learned_minus": {b: {k: summary[f"learned_minus_{b}_tau_w_{k}"]
                                                     for k in ("mean", "ci95_low", "ci95_high")}
                                                 for b in ("popularity", "params", "random")}}, indent=2))
        return
    t = Table("target_dataset", *(f"{m}_{metric}" for m, metric in _COLUMNS),
              title=f"{path}: leave-one-dataset-out, {len(per)} dataset(s); regret in accuracy points")
    for d, res in per.items():
        t.add_row(d, *(f"{res[m][metric]:.3f}" for m, metric in _COLUMNS))
    t.add_row("mean", *(f"{mean[f'{m}_{metric}']:.3f}" for m, metric in _COLUMNS), style="bold")
    out.print(t)
    for b in ("popularity", "params"):
        out.print(f"learned - {b} tau_w: {summary[f'learned_minus_{b}_tau_w_mean']:+.3f} "
                  f"(95% paired bootstrap over datasets {summary[f'learned_minus_{b}_tau_w_ci95_low']:+.3f} .. "
                  f"{summary[f'learned_minus_{b}_tau_w_ci95_high']:+.3f})", highlight=False)
