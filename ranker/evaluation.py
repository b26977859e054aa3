"""Offline evaluation of every ranker on the real data in ``../shared/data``.

Run ``python benchmarks/ranking_quality.py [DATA_DIR]`` (which also draws a chart) or ``arachne eval``:
one ``name: value`` line per figure on stdout, progress on stderr.  The
shipped product never calls this module; it reads the benchmark CSVs only here.

Protocols (all seeded, nothing tuned on a held-out split):

* transfer tables (the Model Spider table, finetune_multi_source.csv, the STM32
  accuracy table): weighted tau (ground truth first, scipy ``rank=None``
  convention) per target dataset, leave-one-dataset-out, of the learned task
  ranker (ranker.transfer) beside popularity (mean z-scored accuracy on the other
  datasets), parameter count, MACs/GFLOPs and random, with a paired bootstrap
  interval over datasets of learned minus each baseline; and the predicted
  accuracy (error in points, interval coverage) of a seeded random half of each
  dataset's models, their figures hidden.
* MLPerf Tiny: latency regression, leave-one-board-out over ``board_canonical``;
  ``evaluate_hardware_prediction`` (benchmarks/hardware_prediction.py): the cost
  model on the records joined to their .tflite files beside today's regressor,
  with 0, 1 and 3 calibration records of the held-out submission, conformal
  intervals, energy, and the STM32 zoo's latency and RAM; X-CUBE-AI's RAM from the file
  (``evaluate_runtime_ram``), leave one architecture out, on the zoo's rows whose architecture
  matches a file in ../shared.
* STM32 model zoo: per (task, dataset, metric, board) group with >= 3
  candidates, ground truth = Copeland over true accuracy, latency and RAM;
  leave-one-board-out, the held-out board's latency/RAM are predicted (headline:
  the cost model; ``_ridge_gbr``: today's regressor); Shadow is plain Copeland over
  accuracy and the two predictions, as in the product (``shadow_interval``, the
  hardware votes weighed by the probability one candidate is faster, is measured
  beside it and loses, so the product keeps plain Copeland).  The budget decision:
  latency budgets at each group's 25/50/75th percentile, RAM = the board's, regret
  against the oracle and the share of picks that break the budget.  Fusion gets no
  feature computed from accuracy (the label its ground truth includes).
* digits: a small zoo trained here; estimator scores vs. real fine-tuned accuracy.
"""
from __future__ import annotations

import csv
import math
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from kg.errors import InputError

from .aggregation import copeland
from .hardware import LatencyModel, MeasurementModel, core_family, finite_float as _f
from .metrics import ndcg_at_k, paired_bootstrap, spearman, top1_regret, weighted_tau
from .spider import FusionRanker, RankingTask, SpiderConfig, _torch_threads
from .transfer import TransferTable, lodo, prediction_quality, summarize, table_from_rows
from .transferability import leep, logme, nce, nleep, shrinkage_h_score

PACKAGE_DATA = Path(__file__).resolve().parent / "data"
PTM_DATASETS = ("Aircraft", "Caltech101", "Cars", "CIFAR10", "CIFAR100", "DTD", "Pet", "SUN397")
_PUBLISHED_NAME = {"Pet": "Pets"}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def default_data_dir() -> Path:
    """$ARACHNE_SHARED_DATA, else ../shared/data beside the project root."""
    env = os.environ.get("ARACHNE_SHARED_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "data"


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))



def _nanmean(xs: Iterable[float]) -> float:
    a = np.array([x for x in xs if x is not None and np.isfinite(x)], dtype=float)
    return float(a.mean()) if a.size else float("nan")


# ---------------------------------------------------------------------------
# ptm-ranking: the Model Spider single-source table
# ---------------------------------------------------------------------------
@dataclass
class PtmTable:
    models: list[str]
    spec: dict[str, dict[str, float]]
    acc: dict[str, np.ndarray]               # dataset -> (M,) fine-tuned score, higher better
    train_ranks: dict[str, np.ndarray]       # Model Spider training task -> (M,) rank, higher better
    baselines: dict[str, dict[str, np.ndarray]]
    published: dict[str, dict[str, float]]


def load_ptm(data_dir: Path) -> PtmTable:
    d = Path(data_dir) / "ptm-ranking"
    specs = read_csv(d / "model_specs_single_source.csv")
    models = [r["model"] for r in specs]
    spec = {r["model"]: {k: _f(v) for k, v in r.items() if k not in ("model", "source")} for r in specs}
    idx = {m: i for i, m in enumerate(models)}

    def table(rows, key, col, val):
        out: dict[str, np.ndarray] = {}
        for r in rows:
            out.setdefault(r[key], np.full(len(models), np.nan))[idx[r[col]]] = _f(r[val])
        return out

    acc = table(read_csv(d / "finetune_single_source.csv"), "dataset", "model", "finetune_acc")
    ranks = table(read_csv(d / "train_tasks_single_source_ftrank.csv"), "task", "model", "ft_rank")
    base_rows = read_csv(d / "baseline_scores.csv")
    if not base_rows:
        raise InputError(str(d / "baseline_scores.csv"), "line 2", "expected one row per (Dataset, Model) "
                         "with its transferability scores, found only a header")
    methods = [c for c in base_rows[0] if c not in ("Dataset", "Model")]
    baselines = {m: table(base_rows, "Dataset", "Model", m) for m in methods}
    published = {r["method"]: {k: _f(v) for k, v in r.items() if k != "method"}
                 for r in read_csv(d / "published_weighted_tau.csv")}
    return PtmTable(models, spec, acc, ranks, baselines, published)


def ptm_score_taus(t: PtmTable, scores: Mapping[str, np.ndarray] | np.ndarray) -> dict[str, float]:
    """Weighted tau per evaluation dataset for one score vector (or one per dataset)."""
    out = {}
    for ds in PTM_DATASETS:
        s = scores[ds] if isinstance(scores, Mapping) else scores
        out[ds] = weighted_tau(t.acc[ds], s)
    return out


def ptm_metadata_taus(t: PtmTable, field: str) -> dict[str, float]:
    return ptm_score_taus(t, np.array([t.spec[m][field] for m in t.models]))


def _family(arch: str) -> str:
    return re.sub(r"(_v?\d.*|\d+)$", "", arch)


def ptm_transfer_table(t: PtmTable, forward_scores: bool = False) -> TransferTable:
    """The 8 classification datasets of the Model Spider table in the import format, with the
    models' metadata (parameters, GFLOPs as MACs, family, ImageNet pre-training, input size).
    With ``forward_scores`` the LogME, NCE and H-Score columns of baseline_scores.csv ride along
    as per-pair scores: they need forward passes on the target's data, so the headline leaves them out."""
    rows = []
    for ds in PTM_DATASETS:
        for m, a in zip(t.models, t.acc[ds]):
            s = t.spec[m]
            rows.append({"model": m, "target_dataset": ds, "accuracy_pct": str(a), "task": "image_classification",
                         "params": str(s["num_params"]), "macs": str(s["gflops"] * 1e9), "family": _family(m),
                         "pretrain_dataset": "ImageNet", "resolution": "299x299" if m == "inception_v3" else "224x224"})
    table = table_from_rows(rows, "ptm-ranking/finetune_single_source.csv")
    if forward_scores:
        for method in ("LogME", "NCE", "H-Score"):
            table.extra[method] = np.array([t.baselines[method][ds] for ds in PTM_DATASETS]).T
    return table


def multi_source_table(data_dir: Path) -> TransferTable:
    """finetune_multi_source.csv: 66 (architecture, source dataset) models on 7 targets; params and
    GFLOPs of the architecture from model_specs_single_source.csv."""
    d = Path(data_dir) / "ptm-ranking"
    spec = {r["model"]: r for r in read_csv(d / "model_specs_single_source.csv")}
    rows = []
    for r in read_csv(d / "finetune_multi_source.csv"):
        s = spec.get(r["arch"], {})
        rows.append({"model": r["model_name"], "target_dataset": r["dataset"], "accuracy_pct": r["finetune_acc"],
                     "task": "image_classification", "family": r["arch"], "pretrain_dataset": r["source_dataset"],
                     "params": s.get("num_params", ""), "macs": str(_f(s["gflops"]) * 1e9) if s else ""})
    return table_from_rows(rows, str(d / "finetune_multi_source.csv"))


def stm32_transfer_table(data_dir: Path) -> TransferTable:
    """stm32_accuracy.csv in the import format: one model per (model id, format), one metric per
    (task, dataset) (the first of _METRIC_PREFERENCE present); parameters from the footprint
    table's weight bytes (1 byte per int8 weight, 4 per float one) where they join."""
    bench = Path(data_dir) / "benchmarks"
    weights: dict[tuple, float] = {}
    for r in read_csv(bench / "stm32_footprints.csv"):
        w = _f(r["weights_flash_kib"])
        if w > 0:
            weights.setdefault((r["zoo_release"], r["model_key"], r["format"]), w)
    acc_rows = read_csv(bench / "stm32_accuracy.csv")
    metrics: dict[tuple, set] = {}
    for a in acc_rows:
        if np.isfinite(_f(a["value"])):
            metrics.setdefault((a["task"], a["dataset"]), set()).add(_metric_name(a["metric"]))
    pick = {k: next((p for p in _METRIC_PREFERENCE if p in v), None) for k, v in metrics.items()}
    rows = []
    for a in acc_rows:
        if not np.isfinite(_f(a["value"])) or _metric_name(a["metric"]) != pick.get((a["task"], a["dataset"])):
            continue
        w = weights.get((a["zoo_release"], a["model_key"], a["format"]))
        rows.append({"model": f"{a['model_id']} ({a['format']})", "target_dataset": a["dataset"],
                     "accuracy_pct": a["value"], "task": a["task"], "family": a["family"],
                     "resolution": a["resolution"], "quantization": a["format"],
                     "params": str(w * 1024 / (1 if a["format"] == "int8" else 4)) if w else ""})
    return table_from_rows(rows, str(bench / "stm32_accuracy.csv"))


def _ranking_summary(truth: Mapping[str, np.ndarray], pred: Mapping[str, np.ndarray], keys) -> dict:
    return {
        "tau_w": _nanmean(weighted_tau(truth[k], pred[k]) for k in keys),
        "ndcg5": _nanmean(ndcg_at_k(truth[k], pred[k], 5) for k in keys),
        "regret": _nanmean(top1_regret(truth[k], pred[k]) for k in keys),
    }


def evaluate_ptm(data_dir: Path) -> dict[str, float]:
    """The Model Spider table, leave-one-dataset-out: the learned ranker (ranker.transfer, no forward
    passes) beside popularity, parameters, GFLOPs, random, the transferability scores and the
    published Model Spider; then the same ranker given the forward-pass scores (a variant)."""
    t = load_ptm(data_dir)
    res: dict[str, float] = {}
    table = ptm_transfer_table(t)
    log("ptm: learned ranker, leave-one-dataset-out")
    s = summarize(lodo(table), "spider_table")
    s = {k.replace("spider_table_macs", "spider_table_gflops"): v for k, v in s.items()}
    s = {k.replace("_minus_macs_", "_minus_gflops_"): v for k, v in s.items()}
    res.update(s)
    res.update({f"spider_table_{k}": v for k, v in prediction_quality(table).items()})
    res["spider_table_imagenet_top1_tau_w"] = _nanmean(ptm_metadata_taus(t, "imagenet_top1").values())
    for method, name in (("LogME", "logme"), ("NCE", "nce"), ("H-Score", "hscore"), ("LEEP", "leep")):
        res[f"spider_table_{name}_tau_w"] = _nanmean(ptm_score_taus(t, t.baselines[method]).values())
    pub = t.published["ModelSpider"]
    res["spider_table_published_model_spider_tau_w"] = pub.get("Mean", _nanmean(
        pub[_PUBLISHED_NAME.get(ds, ds)] for ds in PTM_DATASETS))
    log("ptm: learned ranker with the forward-pass scores (LogME, NCE, H-Score)")
    fw = lodo(ptm_transfer_table(t, forward_scores=True))
    res["spider_table_learned_with_forward_scores_tau_w"] = _nanmean(r["learned"]["tau_w"] for r in fw.values())
    for ds, r in fw.items():
        res[f"spider_table_learned_with_forward_scores_tau_w@{ds}"] = r["learned"]["tau_w"]
    return res


def evaluate_transfer_tables(data_dir: Path) -> dict[str, float]:
    """Every other transfer table in ../shared, leave-one-dataset-out, learned beside the baselines."""
    res: dict[str, float] = {}
    for prefix, build in (("multi_source", multi_source_table), ("stm32_accuracy", stm32_transfer_table)):
        log(f"{prefix}: learned ranker, leave-one-dataset-out")
        table = build(data_dir)
        res.update(summarize(lodo(table), prefix))
        log(f"{prefix}: predicted accuracy of half of each dataset's models")
        res.update({f"{prefix}_{k}": v for k, v in prediction_quality(table).items()})
    return res


# ---------------------------------------------------------------------------
# MLPerf Tiny: latency / energy regression, leave one board out
# ---------------------------------------------------------------------------
def _mlperf_model_facts() -> dict[str, dict[str, float]]:
    return {r["task"]: {k: _f(v) for k, v in r.items() if k not in ("task", "model", "derivation")}
            for r in read_csv(PACKAGE_DATA / "mlperf_reference_models.csv")}


def mlperf_records(data_dir: Path) -> list[dict]:
    """Closed-division rows of the four reference models with a measured latency.

    Submitter-specific open-division networks and the streaming wake-word model
    are left out: their MACs are not in the shipped model facts.
    """
    from .hardware import runtime_family

    bench = Path(data_dir) / "benchmarks"
    facts = _mlperf_model_facts()
    named_runtime = lambda name: name if runtime_family(name) != "other" else ""  # noqa: E731
    systems = {(r["round"], r["division"], r["submitter"], r["system_name"]): r
               for r in read_csv(bench / "mlperf_tiny_systems.csv")}
    out = []
    for r in read_csv(bench / "mlperf_tiny.csv"):
        task = r["task"]
        if task not in facts or "(reference" not in r["model"] or "open-division" in r["model"]:
            continue
        lat = _f(r["latency_ms"])
        if not lat > 0 or not r["board_canonical"]:
            continue
        sysr = systems.get((r["round"], r["division"], r["submitter"], r["system_name"]), {})
        pick = lambda k: r.get(k) or sysr.get(k, "")
        quant = pick("quantization")
        v = r.get("variant", "").lower()
        # A float run names itself in the variant, the model or the system ("..._float").
        if "fp32" in v or "[fp32]" in r["model"] or "_float" in r["system_name"].lower():
            quant = "fp32"
        elif "int8" in v or "[int8]" in r["model"]:
            quant = "int8"
        rec = dict(facts[task])
        rec.update({
            "model": task + ("/fp32" if quant == "fp32" else ""),
            "device": r["system_name"] + "@" + r["round"],
            "board": r["board_canonical"],
            "task": task,
            "core": pick("cpu_core") or pick("processor"),
            "clock_mhz": _f(pick("clock_mhz")),
            "ram_kib": _f(pick("ram_kib")),
            "flash_kib": _f(pick("flash_kib")),
            # a blank framework: the runtime the system's name gives ("..._X-CUBE-AI-8.0", "microtvm_native/...")
            "runtime": pick("framework") or pick("software_libraries") or named_runtime(r["system_name"]),
            "accelerator": pick("accelerator"),
            "quantization": quant,
            "latency_ms": lat,
            "energy_uj": _f(r["energy_uj_per_inf"]),
        })
        out.append(rec)
    return out


def mlperf_lobo(records: list[dict], kind: str = "ridge+gbr", energy: bool = True) -> dict[str, float]:
    """Leave-one-board-out latency (and energy) prediction quality."""
    boards = sorted({r["board"] for r in records})
    pred = np.full(len(records), np.nan)
    epred = np.full(len(records), np.nan)
    for b in boards:
        train = [r for r in records if r["board"] != b]
        test_idx = [i for i, r in enumerate(records) if r["board"] == b]
        lm = LatencyModel(kind=kind).fit(train) if energy else \
            MeasurementModel("latency_ms", kind=kind).fit(train)
        ps = lm.predict([records[i] for i in test_idx])
        for i, p in zip(test_idx, ps):
            assert p.provenance == "predicted"
            pred[i] = p.value
            if getattr(p, "energy_uj", None) is not None:
                epred[i] = p.energy_uj
    true = np.array([r["latency_ms"] for r in records])
    ape = np.abs(pred - true) / true * 100
    within = []
    for task in sorted({r["task"] for r in records}):
        m = np.array([r["task"] == task for r in records])
        within.append(spearman(true[m], pred[m]))
    etrue = np.array([r["energy_uj"] for r in records])
    em = np.isfinite(etrue) & np.isfinite(epred)
    return {
        "spearman": spearman(true, pred),
        "median_ape_pct": float(np.median(ape)),
        "within_task_spearman": _nanmean(within),
        "energy_spearman": spearman(etrue[em], epred[em]) if em.sum() > 2 else float("nan"),
        "energy_median_ape_pct": float(np.median(np.abs(epred[em] - etrue[em]) / etrue[em] * 100))
        if em.any() else float("nan"),
        "rows": float(len(records)),
        "boards": float(len(boards)),
    }


def evaluate_mlperf(data_dir: Path) -> dict[str, float]:
    recs = mlperf_records(data_dir)
    res: dict[str, float] = {}
    for kind, suffix in (("ridge+gbr", ""), ("gbr", "_gbr"), ("ridge", "_ridge")):
        log(f"mlperf: leave-one-board-out, {kind}")
        m = mlperf_lobo(recs, kind, energy=not suffix)
        res[f"mlperf_latency_spearman{suffix}"] = m["spearman"]
        res[f"mlperf_latency_median_ape_pct{suffix}"] = m["median_ape_pct"]
        if not suffix:
            res["mlperf_latency_within_task_spearman"] = m["within_task_spearman"]
            res["mlperf_energy_spearman"] = m["energy_spearman"]
            res["mlperf_energy_median_ape_pct"] = m["energy_median_ape_pct"]
            res["mlperf_rows"] = m["rows"]
            res["mlperf_boards"] = m["boards"]
    return res


# ---------------------------------------------------------------------------
# Hardware prediction from the model file (ranker/cost_model.py), leave one board out
# ---------------------------------------------------------------------------
def mlperf_file_features(data_dir: Path) -> dict[str, dict[str, float]]:
    """mlperf_records' model key (task, task/fp32) -> work_<class> and sizes read from the
    reference .tflite files (mlperf-tiny-models/manifest.csv); {} without the files."""
    from kg.tflite_model import read_tflite

    from .cost_model import work_fields

    d = Path(data_dir) / "mlperf-tiny-models"
    if not (d / "manifest.csv").is_file():
        return {}
    out = {}
    for m in read_csv(d / "manifest.csv"):
        if m["role"] not in ("reference", "reference-float"):
            continue
        f = read_tflite((d / m["file"]).read_bytes(), m["file"], measure_ram=False)
        out[m["task"] + ("/fp32" if m["role"] == "reference-float" else "")] = dict(
            work_fields(f.operators), weight_bytes=float(sum(o.weight_bytes for o in f.operators)),
            peak_activation_bytes=float(f.peak_activation_bytes or 0), input_bytes=float(f.input_bytes or 0))
    return out


def _ape(true_log: np.ndarray, pred_log: np.ndarray) -> np.ndarray:
    return np.abs(np.exp(pred_log - true_log) - 1.0) * 100.0


def _conformal_lobo(records: list[dict], y: np.ndarray, pred: np.ndarray, coverage: float = 0.9):
    """Coverage and median width (% of the prediction) of split-conformal intervals: each
    held-out board's half-width is the quantile of the OTHER boards' LOBO residuals."""
    from .cost_model import conformal_quantile

    boards = np.array([r["board"] for r in records])
    inside, width = [], []
    for b in sorted(set(boards)):
        m = boards == b
        q = conformal_quantile((y - pred)[~m], coverage)
        inside += list(np.abs(y[m] - pred[m]) <= q)
        width += [(math.exp(q) - math.exp(-q)) * 100] * int(m.sum())
    return float(np.mean(inside)), float(np.median(width))


def _lobo_with_calibration(records: list[dict], make, target: str = "latency_ms", n_cals=(1, 3)):
    """Leave-one-board-out log predictions with 0 calibration records (NaN without a ``target``),
    and for each n in ``n_cals`` (true log, predicted log) of every held-out device's other records after n of
    its records (seeded random choice) joined the training records and the model was refitted:
    what the product does when a user imports n records of a new board (HardwarePredictor fits
    on every record of the store), with the log half-width of the product's 90 % interval for a
    device with records (one-record or leave-pairs-out residuals of the training boards): (true,
    predicted, half-width).
    A device is one submission (board + software stack + round)."""
    from .cost_model import conformal_quantile, heldout_residuals, one_record_residuals

    rng = np.random.default_rng(0)
    pred0 = np.full(len(records), np.nan)
    cal = {n: ([], [], []) for n in n_cals}
    for b in sorted({r["board"] for r in records}):
        train = [r for r in records if r["board"] != b]
        idx = [i for i, r in enumerate(records) if r["board"] == b and _f(r.get(target)) > 0]
        if not idx:
            continue
        pred0[idx] = make().fit(train).predict_log([records[i] for i in idx])
        # The interval the product gives a device with records of its own (the test records'
        # models are measured on other boards), from the training boards alone: one record, or more.
        pairs, _ = heldout_residuals(make, train, target, lambda r: (r["device"], r["model"]), 5, shuffle=True)
        q = {1: conformal_quantile(np.abs(one_record_residuals(make, train, target, "device"))),
             "more": conformal_quantile(np.abs(pairs))}
        for dev in sorted({records[i]["device"] for i in idx}):
            test = [records[i] for i in idx if records[i]["device"] == dev]
            for n in n_cals:
                if len(test) <= n:
                    continue
                pick = set(rng.choice(len(test), n, replace=False).tolist())
                rest = [test[i] for i in range(len(test)) if i not in pick]
                cal[n][1].extend(make().fit(train + [test[i] for i in pick]).predict_log(rest))
                cal[n][0].extend(np.log([r[target] for r in rest]))
                cal[n][2].extend([q.get(n, q["more"])] * len(rest))
    return pred0, {n: tuple(map(np.array, c)) for n, c in cal.items()}


def _lomo_predictions(records: list[dict], make, target: str = "latency_ms") -> np.ndarray:
    """Leave-one-model-out log predictions: each task's model (int8 and float files together)
    predicted by a fit on the other tasks' records, every board seen: a new model file."""
    from .cost_model import heldout_predictions

    return heldout_predictions(make, records, target, lambda r: r["task"])


def evaluate_hardware_prediction(data_dir: Path) -> dict[str, float]:
    """The figures of benchmarks/hardware_prediction.py: MLPerf Tiny latency / energy and
    the STM32 zoo's latency / RAM, leave-one-board-out, today's regressor beside the cost model."""
    from .cost_model import lobo_predictions, power_model, power_rows

    res: dict[str, float] = {}
    feats = mlperf_file_features(data_dir)
    recs = [dict(r, **feats[r["model"]]) for r in mlperf_records(data_dir) if r["model"] in feats]
    y = np.log([r["latency_ms"] for r in recs])
    log("hardware: mlperf latency, leave-one-board-out, today's regressor")
    preds = {"today": lobo_predictions(recs, lambda: LatencyModel())}
    # The learner is fixed in advance (the mixed-effects cost model, no residual learner); the
    # alternatives are printed beside it, none is picked by these held-out figures.
    log("hardware: mlperf latency, leave-one-board-out, cost (0, 1, 3 calibration records)")
    preds["cost"], cals = _lobo_with_calibration(recs, lambda: mlperf_cost_model())
    for name, kw in (("cost_gbr", {"residual": "gbr"}), ("cost_no_slopes", {"slopes": False}),
                     ("cost_model_effect", {"model_effect": True})):
        log(f"hardware: mlperf latency, leave-one-board-out, {name}")
        preds[name] = lobo_predictions(recs, lambda kw=kw: mlperf_cost_model(**kw))
    for name, p in preds.items():
        sfx = "" if name == "cost" else f"_{name}"
        res[f"mlperf_lobo_latency_spearman{sfx}"] = spearman(y, p)
        res[f"mlperf_lobo_latency_median_ape_pct{sfx}"] = float(np.nanmedian(_ape(y, p)))
    for n, (t, p, q) in cals.items():
        res[f"mlperf_lobo_cal{n}_latency_spearman"] = spearman(t, p)
        res[f"mlperf_lobo_cal{n}_latency_median_ape_pct"] = float(np.median(_ape(t, p)))
        res[f"mlperf_lobo_cal{n}_rows"] = float(len(t))
        res[f"interval90_coverage_cal{n}"] = float(np.mean(np.abs(t - p) <= q))
        res[f"interval90_median_width_pct_cal{n}"] = float(np.median((np.exp(q) - np.exp(-q)) * 100))
    log("hardware: mlperf latency, leave-one-model-out (every board seen, the model new)")
    lomo = _lomo_predictions(recs, lambda: mlperf_cost_model())
    res["mlperf_lomo_latency_median_ape_pct"] = float(np.nanmedian(_ape(y, lomo)))
    res["mlperf_lomo_latency_spearman"] = spearman(y, lomo)
    for name in ("today", "cost"):
        cov, width = _conformal_lobo(recs, y, preds[name])
        sfx = "" if name == "cost" else "_today"
        res[f"interval90_coverage{sfx}"] = cov
        res[f"interval90_median_width_pct{sfx}"] = width
    has_e = np.array([_f(r.get("energy_uj")) > 0 for r in recs])
    if has_e.sum() > 5:
        # Every record trains (the latency part of energy = latency x power uses them all); the
        # records with an energy are scored.
        log("hardware: mlperf energy, leave-one-board-out (latency x power; 0, 1, 3 calibration records)")
        ey = np.log([r["energy_uj"] for r in recs if _f(r.get("energy_uj")) > 0])
        ep, ecals = _lobo_with_calibration(recs, lambda: mlperf_energy_model(), "energy_uj")
        eps = {"": ep[has_e],
               "_cost_direct": lobo_predictions(recs, lambda: mlperf_cost_model("energy_uj"), "energy_uj")[has_e],
               "_today": lobo_predictions(recs, lambda: MeasurementModel("energy_uj"), "energy_uj")[has_e]}
        for sfx, p in eps.items():
            res[f"mlperf_lobo_energy_median_ape_pct{sfx}"] = float(np.nanmedian(_ape(ey, p)))
            res[f"mlperf_lobo_energy_spearman{sfx}"] = spearman(ey, p)
        for n, (t, p, q) in ecals.items():
            res[f"mlperf_lobo_cal{n}_energy_median_ape_pct"] = float(np.median(_ape(t, p)))
            res[f"energy_interval90_coverage_cal{n}"] = float(np.mean(np.abs(t - p) <= q))
        # A pair whose latency was measured: energy = that latency x the held-out board's predicted power.
        prows = power_rows(recs)
        pp = lobo_predictions(prows, lambda: power_model(board_key="device"), "power_mw")
        ml = ey - np.log([r["power_mw"] for r in prows]) + pp  # log measured latency + predicted log power
        res["mlperf_lobo_energy_from_measured_latency_median_ape_pct"] = float(np.nanmedian(_ape(ey, ml)))
        cov, width = _conformal_lobo([r for r in recs if _f(r.get("energy_uj")) > 0], ey, eps[""])
        res["energy_interval90_coverage"], res["energy_interval90_median_width_pct"] = cov, width
        res["mlperf_energy_rows"] = float(has_e.sum())
    res["mlperf_rows"] = float(len(recs))
    res["mlperf_boards"] = float(len({r["board"] for r in recs}))
    res.update(evaluate_stm32_hardware(data_dir))
    return res


def mlperf_cost_model(target: str = "latency_ms", **kw):
    """The product's cost model (HardwarePredictor's) on records joined to model files: one
    board effect per submission (board + software stack), calibrated by its own records."""
    from .cost_model import CostModel

    return CostModel(target, board_key="device", **kw)


def mlperf_energy_model():
    """The product's energy predictor (HardwarePredictor's): latency cost model x power model."""
    from .cost_model import EnergyModel

    return EnergyModel(board_key="device")


def stm32_cost_model(target: str = "latency_ms") -> "CostModel":
    """The STM32 zoo has no files: log-linear metadata terms (weight bytes, activation bytes,
    input size) and a shrunk effect per model measured on other boards."""
    from .cost_model import CostModel

    # One efficiency per board: the engine (CPU, NPU ...) enters as the accelerator category.
    # RAM: the activation arena maps to the runtime's RAM; where the table has no arena
    # (NPU exports) the weights, the input size and the model's RAM on other boards stand in.
    return CostModel(target, work=False, log_fields=("weights_kib", "act_kib", "input_size"), model_effect=True,
                     per_clock=target != "ram_kib")


def _stm32_lobo(rows: list[dict], target: str):
    """Leave-one-board-out log predictions of ``target`` on the STM32 rows: today's
    regressor (with its other-board features) and the cost model."""
    from .cost_model import lobo_predictions

    today = np.full(len(rows), np.nan)
    for b in sorted({r["board"] for r in rows}):
        pool = [r for r in rows if r["board"] != b]
        train = _add_other_board_features(pool, pool, {b})
        idx = [i for i, r in enumerate(rows) if r["board"] == b]
        test = _add_other_board_features([rows[i] for i in idx], pool, {b})
        m = MeasurementModel(target, numeric=STM32_NUMERIC, categorical=STM32_CATEGORICAL).fit(train)
        today[idx] = m.predict_log(test)
    return today, lobo_predictions(rows, lambda: stm32_cost_model(target), target)


def evaluate_stm32_hardware(data_dir: Path) -> dict[str, float]:
    res: dict[str, float] = {}
    rows = [r for r in stm32_rows(data_dir) if r["latency_ms"] > 0]
    log("hardware: stm32 latency and RAM, leave-one-board-out")
    y = np.log([r["latency_ms"] for r in rows])
    boards = np.array([r["board"] for r in rows])
    for name, p in zip(("today", "cost"), _stm32_lobo(rows, "latency_ms")):
        sfx = "" if name == "cost" else "_today"
        res[f"stm32_lobo_latency_spearman_within_board{sfx}"] = _nanmean(
            spearman(y[boards == b], p[boards == b]) for b in sorted(set(boards)) if (boards == b).sum() > 2)
        res[f"stm32_lobo_latency_median_ape_pct{sfx}"] = float(np.nanmedian(_ape(y, p)))
    # RAM: the activation arena -> the runtime's measured RAM (X-CUBE-AI, NPUs), learned.
    rrows = [r for r in rows if r["ram_kib"] > 0 and r["act_kib"] > 0]
    ry = np.log([r["ram_kib"] for r in rrows])
    for name, p in zip(("today", "cost"), _stm32_lobo(rrows, "ram_kib")):
        sfx = "" if name == "cost" else "_today"
        res[f"stm32_ram_spearman{sfx}"] = spearman(ry, p)
        res[f"stm32_ram_median_ape_pct{sfx}"] = float(np.nanmedian(_ape(ry, p)))
    arena = np.log([r["act_kib"] for r in rrows])  # the runtime's own activation buffer, as the RAM figure
    res["stm32_ram_spearman_arena_only"] = spearman(ry, arena)
    res["stm32_ram_median_ape_pct_arena_only"] = float(np.median(_ape(ry, arena)))
    res["stm32_hw_rows"] = float(len(rows))
    log("hardware: X-CUBE-AI RAM from the file, leave one architecture out")
    res.update(evaluate_runtime_ram(runtime_ram_rows(data_dir)))
    return res


# ---------------------------------------------------------------------------
# RAM on X-CUBE-AI / ST Edge AI from the model file (item 6 of the hardware issue)
# ---------------------------------------------------------------------------
# STM32 zoo models whose architecture and input shape are those of a file in ../shared: their
# X-CUBE-AI RAM figures pair with the file's own activations.  The zoo's weights (KiB) equal the
# file's to the classifier head (which the weight-match figure checks); activations do not depend
# on the trained weights.
RUNTIME_RAM_MATCHES = {
    "resnet_v1_8_32_tfs": "mlperf-tiny-models/pretrainedResnet_quant.tflite",
    "resnet8_32_tfs": "mlperf-tiny-models/pretrainedResnet_quant.tflite",
    "mobilenet_v1_0.25_96_fft": "mlperf-tiny-models/vww_96_int8.tflite",
    "mobilenetv1_a025_96_fft": "mlperf-tiny-models/vww_96_int8.tflite",
    "mobilenet_v1_0.25_96_grayscale_tfs": "tinyml-models/Person_Detection.tflite",
    "mobilenetv1_a025_96_grayscale_tfs": "tinyml-models/Person_Detection.tflite",
}
RUNTIME_RAM_COLUMNS = ("runtime", "zoo_model_id", "zoo_release", "board", "activation_ram_kib", "ram_kib",
                       "zoo_weights_kib", "reference_file", "weight_bytes", "peak_activation_bytes", "arena_bytes",
                       "source_path")


def runtime_ram_rows(data_dir: Path) -> list[dict[str, str]]:
    """The STM32 zoo's int8 MCU rows of RUNTIME_RAM_MATCHES beside their matched file's weight,
    peak-activation and TFLM-arena bytes (blank where TFLM refuses the file): what
    ranker/data/runtime_ram.csv ships (tests/ranker/test_runtime_ram.py checks they agree)."""
    from kg.tflite_model import read_tflite

    files: dict[str, object] = {}
    out = []
    for r in read_csv(Path(data_dir) / "benchmarks" / "stm32_footprints.csv"):
        ref = RUNTIME_RAM_MATCHES.get(r["model_id"])
        if ref is None or r["format"] != "int8" or r["table_kind"] != "mcu" or not _f(r["total_ram_kib"]) > 0:
            continue
        if ref not in files:
            path = Path(data_dir) / ref
            files[ref] = read_tflite(path.read_bytes(), path.name)
        f = files[ref]
        tool = (f"X-CUBE-AI {r['stm32cube_ai_version']}" if r["stm32cube_ai_version"]
                else f"STEdgeAI Core {r['stedgeai_core_version']}")
        out.append({"runtime": tool, "zoo_model_id": r["model_id"], "zoo_release": r["zoo_release"],
                    "board": r["board_canonical"], "activation_ram_kib": r["activation_ram_kib"],
                    "ram_kib": r["total_ram_kib"], "zoo_weights_kib": r["weights_flash_kib"], "reference_file": ref,
                    "weight_bytes": str(sum(o.weight_bytes for o in f.operators)),
                    "peak_activation_bytes": str(f.peak_activation_bytes),
                    "arena_bytes": str(f.arena_bytes or ""), "source_path": r["source_path"]})
    return out


def evaluate_runtime_ram(rows: Sequence[Mapping[str, str]]) -> dict[str, float]:
    """X-CUBE-AI's RAM (activations + runtime) from the file, leave one architecture out: the
    product's mapping (peak activation x the learned ratio, ranker.cost_model.RuntimeRam) beside
    the peak activation and TFLM's arena taken as they are, and the arena x a learned ratio."""
    from .cost_model import RuntimeRam

    res: dict[str, float] = {}
    ram = np.array([_f(r["ram_kib"]) * 1024 for r in rows])
    arch = np.array([r["reference_file"] for r in rows])
    pred = {k: np.full(len(rows), np.nan) for k in ("", "_arena_ratio")}
    low, high = np.full(len(rows), np.nan), np.full(len(rows), np.nan)
    for a in sorted(set(arch)):
        train = [r for r, x in zip(rows, arch) if x != a]
        for sfx, field in (("", "peak_activation_bytes"), ("_arena_ratio", "arena_bytes")):
            m = RuntimeRam(train, field)
            for i in np.flatnonzero(arch == a):
                got = m.predict(rows[i]["runtime"], _f(rows[i][field]))
                if got is not None:
                    pred[sfx][i] = got[0]
                    if not sfx:
                        low[i], high[i] = got[1], got[2]
    pred["_peak_only"] = np.array([_f(r["peak_activation_bytes"]) for r in rows])
    pred["_arena_only"] = np.array([_f(r["arena_bytes"]) for r in rows])
    for sfx, p in pred.items():
        ok = np.isfinite(p) & (p > 0)
        res[f"xcubeai_ram_from_file_median_ape_pct{sfx}"] = float(np.median(np.abs(p[ok] / ram[ok] - 1) * 100))
        res[f"xcubeai_ram_from_file_rows{sfx}"] = float(ok.sum())
    ok = np.isfinite(low)
    res["xcubeai_ram_interval90_coverage"] = float(np.mean((low[ok] <= ram[ok]) & (ram[ok] <= high[ok])))
    res["xcubeai_ram_interval90_median_width_pct"] = float(np.median((high[ok] - low[ok]) / pred[""][ok] * 100))
    res["xcubeai_ram_architectures"] = float(len(set(arch)))
    res["xcubeai_ram_weight_match_max_pct"] = float(max(
        abs(_f(r["weight_bytes"]) / (_f(r["zoo_weights_kib"]) * 1024) - 1) * 100 for r in rows))
    return res


# ---------------------------------------------------------------------------
# STM32 model zoo: hardware-aware recommendation, leave one board out
# ---------------------------------------------------------------------------
# One primary quality metric per candidate, so a group never mixes metrics.
_METRIC_PREFERENCE = ("top 1 accuracy", "clip-level accuracy", "ap", "ap50", "map", "average iou",
                      "oks", "accuracy", "rank-1 accuracy")


def _metric_name(m: str) -> str:
    return re.sub(r"\s*\(%\)\s*$", "", m.strip()).lower()


def _width(model_id: str) -> float:
    """Width multiplier from zoo naming conventions (a035, 0.25, x050, w025); NaN if none."""
    s = model_id.lower()
    for pat, scale in ((r"_a(\d{3})(?:_|$)", 100), (r"_w(\d{3})(?:_|$)", 100), (r"_x(\d{3})(?:_|$)", 100),
                       (r"_d\d{3}_w(\d{3})", 100), (r"[ _](\d\.\d+)(?:[ _]|$)", 1)):
        m = re.search(pat, s)
        if m:
            return float(m.group(1)) / scale
    return float("nan")


def _input_size(res: str) -> float:
    dims = [int(x) for x in re.findall(r"\d+", res or "")]
    return float(np.prod(dims)) if dims else float("nan")


def _board_facts() -> dict[str, dict[str, str]]:
    return {r["board"]: r for r in read_csv(PACKAGE_DATA / "stm32_boards.csv")}


def stm32_rows(data_dir: Path) -> list[dict]:
    """Every footprint row (with a board) as a flat record; accuracy attached where it joins."""
    bench = Path(data_dir) / "benchmarks"
    acc_rows = read_csv(bench / "stm32_accuracy.csv")
    acc: dict[tuple, list[dict]] = {}
    for a in acc_rows:
        acc.setdefault((a["zoo_release"], a["model_key"], a["format"]), []).append(a)
    boards = _board_facts()
    out, seen = [], set()
    for r in read_csv(bench / "stm32_footprints.csv"):
        b = r["board_canonical"]
        if not b:
            continue
        engine = (r["board_config"] or r["execution_engine"] or "").strip()
        cid = "|".join([r["zoo_release"], r["model_key"], r["format"], r["resolution"], engine])
        if (b, cid) in seen:
            continue  # duplicate table row of the same configuration
        seen.add((b, cid))
        # Join on (release, key, format); when both sides name a resolution they must agree.
        matches = [a for a in acc.get((r["zoo_release"], r["model_key"], r["format"]), [])
                   if not a["resolution"] or not r["resolution"] or a["resolution"] == r["resolution"]]
        quality, metric = float("nan"), ""
        by_metric: dict[str, list[float]] = {}
        for a in matches:
            if np.isfinite(_f(a["value"])):
                by_metric.setdefault(_metric_name(a["metric"]), []).append(_f(a["value"]))
        for pref in _METRIC_PREFERENCE:
            if pref in by_metric:
                metric, quality = pref, float(np.mean(by_metric[pref]))
                break
        bf = boards.get(b, {})
        e = engine.lower()
        accel = "NPU" if "npu" in e else "HSP" if "hsp" in e and "without" not in e else \
            "GPU" if "gpu" in e else ""
        clock = _f(r["frequency_mhz"])
        out.append({
            "id": cid, "board": b, "model": f"{r['model_id']}|{r['format']}|{r['resolution']}",
            "device": b + "|" + engine, "task": r["task"], "dataset": r["dataset"], "metric": metric,
            "family": r["family"], "quantization": r["format"], "input_size": _input_size(r["resolution"]),
            "width": _width(r["model_id"]), "accuracy": quality,
            "latency_ms": _f(r["inference_ms"]), "ram_kib": _f(r["ram_total_kib_derived"]),
            "weights_kib": _f(r["weights_flash_kib"]), "act_kib": _f(r["activation_ram_kib"]),
            "clock_mhz": clock if np.isfinite(clock) else _f(bf.get("cpu_clock_mhz")),
            "core": bf.get("core", ""), "accelerator": accel, "board_ram_kib": _f(bf.get("ram_kib")),
            "n_cpu": 2.0 if "2 cpu" in e else _f(bf.get("n_cpu")), "kind": r["table_kind"],
            "runtime": r["mpu_framework"] or ("x-cube-ai" if r["table_kind"] in ("mcu", "npu", "combined")
                                              else ""),
        })
    # Accuracy is a model/dataset property, known for every candidate: its
    # z-score within (dataset, metric) is a usable proxy for model size.
    by: dict[tuple, list[float]] = {}
    for r in out:
        if np.isfinite(r["accuracy"]):
            by.setdefault((r["dataset"], r["metric"]), []).append(r["accuracy"])
    for r in out:
        v = by.get((r["dataset"], r["metric"]))
        r["acc_z"] = (float((r["accuracy"] - np.mean(v)) / (np.std(v) + 1e-9))
                      if v and np.isfinite(r["accuracy"]) else float("nan"))
    return out


def _add_other_board_features(rows: list[dict], pool: list[dict], exclude: set[str]) -> list[dict]:
    """Copy rows adding what OTHER boards measured for the same model (NaN if none).

    other_log_weights / other_log_act: mean log weights-flash / activation RAM;
    other_speed: mean of (log latency - that board's median log latency), i.e.
    how slow this model is relative to the other models on the same board.
    Boards in ``exclude`` (the held-out board, and the row's own board) never
    contribute, so no held-out measurement leaks into a feature.
    """
    med = {}
    for b in {p["board"] for p in pool}:
        lat = [math.log(p["latency_ms"]) for p in pool if p["board"] == b and p["latency_ms"] > 0]
        med[b] = float(np.median(lat)) if lat else float("nan")
    by_model: dict[str, list[dict]] = {}
    for p in pool:
        by_model.setdefault(p["model"], []).append(p)
    out = []
    for r in rows:
        others = [p for p in by_model.get(r["model"], []) if p["board"] not in exclude | {r["board"]}]
        lw = [math.log(p["weights_kib"]) for p in others if p["weights_kib"] > 0]
        la = [math.log(p["act_kib"]) for p in others if p["act_kib"] > 0]
        sp = [math.log(p["latency_ms"]) - med[p["board"]] for p in others if p["latency_ms"] > 0]
        q = dict(r)
        q["other_log_weights"] = float(np.mean(lw)) if lw else float("nan")
        q["other_log_act"] = float(np.mean(la)) if la else float("nan")
        q["other_speed"] = float(np.mean(sp)) if sp else float("nan")
        out.append(q)
    return out


# weights_kib is the model's weight bytes (parameters x bytes per weight): a property
# of the model file, which Arachne reads at import and its latency regressor uses
# (as `params`).  The zoo has no files, so the table's figure stands in; it is the
# same on every board within ~10 % (30 % for one NPU layout).  Latency and RAM, the
# measurements to predict, are never features.
STM32_NUMERIC = {"input_size": True, "width": False, "acc_z": False, "weights_kib": True,
                 "clock_mhz": True, "board_ram_kib": True, "n_cpu": False,
                 "other_log_weights": False, "other_log_act": False, "other_speed": False}
STM32_CATEGORICAL = ("task", "family", "quantization", "core", "accelerator", "runtime", "kind")


def stm32_groups(rows: list[dict], min_candidates: int = 3) -> dict[tuple, list[dict]]:
    """(task, dataset, metric, board) -> candidates with accuracy, latency and RAM all known."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        if r["metric"] and all(np.isfinite(r[k]) and r[k] > 0 for k in ("accuracy", "latency_ms", "ram_kib")):
            groups.setdefault((r["task"], r["dataset"], r["metric"], r["board"]), []).append(r)
    return {k: sorted(v, key=lambda r: r["id"]) for k, v in groups.items() if len(v) >= min_candidates}


def stm32_ground_truth(cands: list[dict]):
    """Copeland over true accuracy (higher), latency and RAM (lower); tie-break Borda, accuracy rank, id."""
    return copeland({"accuracy": [c["accuracy"] for c in cands],
                     "latency": [c["latency_ms"] for c in cands],
                     "ram": [c["ram_kib"] for c in cands]},
                    [c["id"] for c in cands], directions={"latency": "min", "ram": "min"})


STM32_DIRECTIONS = {"latency": "min", "ram": "min"}
# Prediction-quality curve: the share of the prediction error kept (1 = as predicted,
# 0 = the true figures), to show how Shadow's standing depends on the hardware regressor.
STM32_ERROR_SHARES = (1.0, 0.75, 0.5, 0.25, 0.0)


def stm32_shadow(cands: list[dict], lat, ram, task: bool = True):
    """Shadow: Copeland over the task voter (accuracy), latency and RAM - exactly what
    ``arachne recommend --method shadow`` computes; ``task=False``: hardware only."""
    voters = {"task": [c["accuracy"] for c in cands]} if task else {}
    voters.update({"latency": lat, "ram": ram})
    return copeland(voters, [c["id"] for c in cands], directions=STM32_DIRECTIONS)


def interval_copeland(accuracy, lat_log, ram_log, q_lat: float, q_ram: float) -> np.ndarray:
    """Copeland where the hardware voters weigh each pair by the probability that one is
    faster (smaller): a normal error with the 90 % conformal half-width q (sd = q / 1.645)
    on each log prediction.  Two candidates whose intervals overlap much get ~1/2 a vote
    each way, so the task voter decides them.  Scores: wins - losses (ties: accuracy)."""
    from scipy.stats import norm

    acc = np.asarray(accuracy, dtype=float)
    pair = (acc[:, None] > acc[None, :]).astype(float)
    for v, q in ((np.asarray(lat_log), q_lat), (np.asarray(ram_log), q_ram)):
        sd = max(q, 1e-9) / 1.645 * math.sqrt(2)
        pair += norm.cdf((v[None, :] - v[:, None]) / sd)  # P(row smaller than column)
    np.fill_diagonal(pair, 0.0)
    score = (pair > pair.T + 1e-12).sum(1) - (pair < pair.T - 1e-12).sum(1)
    return score + 1e-3 * (acc - acc.min()) / (np.ptp(acc) + 1e-12)


def _stm32_fit_hw(train_rows: list[dict], kind: str):
    if kind == "cost":
        from .cost_model import fit_with_interval

        # (model, conformal half-width of within-board comparisons, from out-of-board residuals)
        return tuple(fit_with_interval(lambda t=target: stm32_cost_model(t), train_rows, target, folds=5,
                                       relative=True)
                     for target in ("latency_ms", "ram_kib"))
    return tuple(MeasurementModel(target, numeric=STM32_NUMERIC, categorical=STM32_CATEGORICAL,
                                  key_fields=("model", "device"), kind=kind).fit(train_rows)
                 for target in ("latency_ms", "ram_kib"))


def _shrink_error(true: np.ndarray, pred: np.ndarray, share: float) -> np.ndarray:
    """pred with its error scaled to ``share``; the ends are exact (rounding would break ties)."""
    return pred if share == 1 else true if share == 0 else true + share * (pred - true)


_CORES = ("cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55", "cortex-a")


def _fusion_vectors(group: list[dict], tasks_vocab: list[str]):
    """Model tokens, task token and hardware token for the Fusion ranker.

    No token is computed from the candidates' accuracy: the ground truth it learns to
    predict includes accuracy (an earlier version fed the z-scored accuracy and leaked it)."""
    # The model's own weight bytes, as the product's model tokens carry log_model_bytes.
    mf = np.array([[math.log(c["input_size"]) if c["input_size"] > 0 else np.nan, c["width"],
                    math.log(c["weights_kib"]) if c["weights_kib"] > 0 else np.nan,
                    c["other_log_weights"], c["other_log_act"], c["other_speed"],
                    1.0 if "int8" in c["quantization"] else 0.0]
                   for c in group])
    c0 = group[0]
    task = np.array([[1.0 if c0["task"] == t else 0.0 for t in tasks_vocab]])
    fam = core_family(c0["core"])
    hw = np.array([math.log(c0["clock_mhz"]) if c0["clock_mhz"] > 0 else np.nan,
                   math.log(c0["board_ram_kib"]) if c0["board_ram_kib"] > 0 else np.nan,
                   1.0 if c0["accelerator"] == "NPU" else 0.0, 1.0 if c0["accelerator"] == "HSP" else 0.0,
                   1.0 if c0["kind"] == "mpu" else 0.0] + [1.0 if fam == k else 0.0 for k in _CORES])
    return mf, task, hw


STM32_BUDGET_PCTS = (25, 50, 75)


def stm32_budget_pick(cands: list[dict], score, lat_log, ram_log, budget_ms: float, ram_kib: float) -> int:
    """The product's budget rule: keep the candidates whose predicted latency and RAM fit
    (all of them when none is predicted to fit), take the one the method scores highest."""
    fit = [i for i in range(len(cands)) if math.exp(lat_log[i]) <= budget_ms and math.exp(ram_log[i]) <= ram_kib]
    pool = fit or list(range(len(cands)))
    return max(pool, key=lambda i: (score[i], -i))


def _budget_outcomes(test: list[dict], scores: Mapping[str, np.ndarray], plat, pram) -> dict[str, list]:
    """Per method, (regret points, violated) for budgets at the group's latency percentiles.
    Oracle: the most accurate candidate whose TRUE latency and RAM fit (board RAM); a budget
    nothing fits is skipped.  Regret is clipped at 0: a pick that breaks the budget earns nothing."""
    lat = np.array([c["latency_ms"] for c in test])
    ram = np.array([c["ram_kib"] for c in test])
    acc = np.array([c["accuracy"] for c in test])
    board_ram = test[0]["board_ram_kib"] if np.isfinite(test[0]["board_ram_kib"]) else float("inf")
    out: dict[str, list] = {}
    for pct in STM32_BUDGET_PCTS:
        budget = float(np.percentile(lat, pct))
        ok = (lat <= budget) & (ram <= board_ram)
        if not ok.any():
            continue
        best = acc[ok].max()
        for name, sc in scores.items():
            i = stm32_budget_pick(test, sc, plat, pram, budget, board_ram)
            out.setdefault(name, []).append((max(best - acc[i], 0.0), bool(not ok[i])))
    return out


def evaluate_stm32(data_dir: Path, fusion_epochs: int = 150,
                   kinds: Sequence[str] = ("cost", "ridge+gbr", "ridge", "gbr"),
                   boards: Sequence[str] | None = None,
                   details: dict | None = None) -> dict[str, float]:
    """Leave-one-board-out hardware-aware ranking on the STM32 zoo.

    For each held-out board the latency and RAM regressors (one per ``kinds``
    entry; the first, the product's default, is the headline) are fitted on
    every other board's rows, and the Fusion ranker on the other boards'
    groups.  Figures are means over the held-out groups; ``boards`` restricts
    the held-out boards (tests).

    Beside the headline figures, three diagnostics say what limits Shadow:
    ``hw_only_oracle`` (hardware-only with the true figures; Shadow's is 1 by
    construction), ``*_true_ram`` (RAM known, latency predicted: Arachne's own
    RAM figure comes from the model file through the TFLM interpreter, no board
    needed) and the curve ``curve_err{p}pct`` (each prediction's error scaled
    to p % of itself).  ``details`` (optional) receives per-group taus
    ``{name: [(board, group key, tau_w), ...]}``.
    """
    rows = stm32_rows(data_dir)
    groups = stm32_groups(rows)
    tasks_vocab = sorted({k[0] for k in groups})
    eval_boards = sorted({k[3] for k in groups})
    if boards is not None:
        eval_boards = [b for b in eval_boards if b in set(boards)]
    per: dict[str, dict[str, list[float]]] = {}
    per_group: dict[str, list[tuple]] = {}
    budget: dict[str, list[tuple]] = {}

    def record(name, truth, pred, held, key):
        d = per.setdefault(name, {"tau_w": [], "ndcg5": [], "regret": []})
        d["tau_w"].append(weighted_tau(truth, pred))
        d["ndcg5"].append(ndcg_at_k(truth, pred, 5))
        d["regret"].append(top1_regret(truth, pred))
        per_group.setdefault(name, []).append((held, key, d["tau_w"][-1]))

    def record_pair(prefix, truth, test, lat, ram, held, key):
        record("shadow" + prefix, truth, stm32_shadow(test, lat, ram).order_scores(), held, key)
        record("hw_only" + prefix, truth, stm32_shadow(test, lat, ram, task=False).order_scores(), held, key)

    for held in eval_boards:
        log(f"stm32: held-out board {held}")
        pool = [r for r in rows if r["board"] != held]
        train = _add_other_board_features(pool, pool, {held})
        regs = {kind: _stm32_fit_hw(train, kind) for kind in kinds}
        q_hw = {}
        if "cost" in regs:
            (lat_m, q_lat), (ram_m, q_ram) = regs["cost"]
            regs["cost"], q_hw = (lat_m, ram_m), {"lat": q_lat, "ram": q_ram}
        # Fusion: trained on the other boards' groups (their true hardware numbers are known).
        fus_tasks = []
        for key, g in groups.items():
            if key[3] == held:
                continue
            gg = _add_other_board_features(g, pool, {held})
            mf, tk, hw = _fusion_vectors(gg, tasks_vocab)
            fus_tasks.append(RankingTask(mf, stm32_ground_truth(gg).order_scores(), tk, hw, name=str(key)))
        fusion = None
        if fus_tasks:
            cfg = SpiderConfig(model_dim=fus_tasks[0].model_features.shape[1], task_dim=len(tasks_vocab),
                               hw_dim=fus_tasks[0].hardware.shape[0], epochs=fusion_epochs, seed=0,
                               weight_decay=1e-2)
            fusion = FusionRanker(cfg).fit(fus_tasks)
        for key, g in groups.items():
            if key[3] != held:
                continue
            test = _add_other_board_features(g, pool, {held})
            truth = stm32_ground_truth(test).order_scores()
            record("task_only", truth, np.array([c["accuracy"] for c in test]), held, key)
            if fusion is not None:
                mf, tk, hw = _fusion_vectors(test, tasks_vocab)
                record("fusion", truth, fusion.score(mf, tk, hw), held, key)
            true_lat = np.log([c["latency_ms"] for c in test])
            true_ram = np.log([c["ram_kib"] for c in test])
            for i, kind in enumerate(kinds):
                sfx = "" if i == 0 else "_" + kind.replace("+", "_")
                plat, pram = regs[kind][0].predict_log(test), regs[kind][1].predict_log(test)
                record_pair(sfx, truth, test, plat, pram, held, key)
                per.setdefault("lat_sp" + sfx, {"tau_w": []})["tau_w"].append(spearman(true_lat, plat))
                per.setdefault("ram_sp" + sfx, {"tau_w": []})["tau_w"].append(spearman(true_ram, pram))
                if i:
                    continue
                record_pair("_true_ram", truth, test, plat, true_ram, held, key)
                for share in STM32_ERROR_SHARES:
                    record_pair(f"_curve_err{round(100 * share)}pct", truth, test, _shrink_error(true_lat, plat, share),
                                _shrink_error(true_ram, pram, share), held, key)
            plat0, pram0 = regs[kinds[0]][0].predict_log(test), regs[kinds[0]][1].predict_log(test)
            scores = {"shadow": stm32_shadow(test, plat0, pram0).order_scores(),
                      "hw_only": stm32_shadow(test, plat0, pram0, task=False).order_scores(),
                      "task_only": np.array([c["accuracy"] for c in test])}
            if fusion is not None:
                scores["fusion"] = fusion.score(mf, tk, hw)
            if q_hw and kinds[0] == "cost":
                scores["shadow_interval"] = interval_copeland([c["accuracy"] for c in test], plat0, pram0,
                                                              q_hw["lat"], q_hw["ram"])
                record("shadow_interval", truth, scores["shadow_interval"], held, key)
            for name, outs in _budget_outcomes(test, scores, plat0, pram0).items():
                budget.setdefault(name, []).extend(outs)
            oracle = copeland({"latency": true_lat, "ram": true_ram}, [c["id"] for c in test],
                              directions=STM32_DIRECTIONS)
            record("hw_only_oracle", truth, oracle.order_scores(), held, key)
    res: dict[str, float] = {}
    for name in ("shadow", "fusion", "task_only", "hw_only"):
        for m in ("tau_w", "ndcg5", "regret"):
            res[f"stm32_{name}_{m}"] = _nanmean(per[name][m])
    if "shadow_interval" in per:
        res["stm32_shadow_interval_tau_w"] = _nanmean(per["shadow_interval"]["tau_w"])
    for name in ("hw_only_oracle", "shadow_true_ram", "hw_only_true_ram"):
        res[f"stm32_{name}_tau_w"] = _nanmean(per[name]["tau_w"])
    for i, kind in enumerate(kinds):
        sfx = "" if i == 0 else "_" + kind.replace("+", "_")
        if i:
            res[f"stm32_shadow_tau_w{sfx}"] = _nanmean(per["shadow" + sfx]["tau_w"])
            res[f"stm32_hw_only_tau_w{sfx}"] = _nanmean(per["hw_only" + sfx]["tau_w"])
        res[f"stm32_pred_latency_within_group_spearman{sfx}"] = _nanmean(per["lat_sp" + sfx]["tau_w"])
        res[f"stm32_pred_ram_within_group_spearman{sfx}"] = _nanmean(per["ram_sp" + sfx]["tau_w"])
    for share in STM32_ERROR_SHARES:
        p = f"_curve_err{round(100 * share)}pct"
        res[f"stm32{p}_shadow_tau_w"] = _nanmean(per["shadow" + p]["tau_w"])
        res[f"stm32{p}_hw_only_tau_w"] = _nanmean(per["hw_only" + p]["tau_w"])
    # Per held-out board, so a mean is never read without its spread.
    for held in eval_boards:
        for name in ("shadow", "hw_only", "task_only"):
            res[f"stm32_{name}_tau_w@{held}"] = _nanmean(t for b, _, t in per_group[name] if b == held)
    # Paired bootstrap over the groups: is a lead more than the spread between groups?
    taus = {name: [t for _, _, t in per_group[name]] for name in per_group}
    for a, b in (("shadow", "hw_only"), ("shadow", "task_only"), ("shadow_true_ram", "hw_only_true_ram"),
                 ("shadow_interval", "shadow")):
        if a not in taus:
            continue
        mean, lo, hi = paired_bootstrap(taus[a], taus[b])
        res[f"stm32_{a}_minus_{b}_mean"] = mean
        res[f"stm32_{a}_minus_{b}_ci95_low"] = lo
        res[f"stm32_{a}_minus_{b}_ci95_high"] = hi
    for name, outs in budget.items():
        res[f"stm32_budget_top1_regret_pts_{name}"] = float(np.mean([o[0] for o in outs]))
        res[f"stm32_budget_violation_rate_{name}"] = float(np.mean([o[1] for o in outs]))
    res["stm32_budget_decisions"] = float(len(budget.get("shadow", [])))
    res["stm32_groups"] = float(sum(1 for k in groups if k[3] in set(eval_boards)))
    res["stm32_boards"] = float(len(eval_boards))
    if details is not None:
        details["per_group"] = per_group
    return res


# ---------------------------------------------------------------------------
# digits: an end-to-end zoo trained here, estimators vs. real fine-tuned accuracy
# ---------------------------------------------------------------------------
def _digits_zoo_specs():
    # (name, architecture, width, source epochs, source variant) - varied so transfer quality varies.
    return [
        ("mlp8", "mlp", 8, 30, "full"), ("mlp16", "mlp", 16, 30, "full"),
        ("mlp32", "mlp", 32, 30, "full"), ("mlp64", "mlp", 64, 30, "full"),
        ("mlp128", "mlp", 128, 30, "full"), ("mlp64_e2", "mlp", 64, 2, "full"),
        ("mlp64_e150", "mlp", 64, 150, "full"), ("mlp64_shuffled", "mlp", 64, 30, "shuffled"),
        ("mlp64_2cls", "mlp", 64, 30, "two_classes"), ("cnn8", "cnn", 8, 30, "full"),
        ("cnn16", "cnn", 16, 30, "full"), ("cnn16_e2", "cnn", 16, 2, "full"),
    ]


def _digits_net(arch: str, width: int, n_out: int):
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            if arch == "mlp":
                self.body = nn.Sequential(nn.Linear(64, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU())
            else:
                self.body = nn.Sequential(
                    nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, width, 3, padding=1), nn.ReLU(),
                    nn.MaxPool2d(2), nn.Conv2d(width, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                    nn.Flatten(), nn.Linear(width * 4, 32), nn.ReLU())
            self.feat_dim = width if arch == "mlp" else 32
            self.head = nn.Linear(self.feat_dim, n_out)

        def forward(self, x):
            return self.head(self.body(x))

    return Net()


def _train(net, X, y, epochs: int, lr: float, seed: int, batch: int = 64, params=None):
    import torch
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(params if params is not None else net.parameters(), lr=lr)
    n = X.shape[0]
    for _ in range(epochs):
        perm = torch.randperm(n, generator=g)
        for i in range(0, n, batch):
            b = perm[i:i + batch]
            loss = torch.nn.functional.cross_entropy(net(X[b]), y[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return net


def digits_zoo_eval(seed: int = 0, shots: int = 20, finetune_seeds: int = 3,
                    specs: Sequence[tuple] | None = None) -> dict[str, float]:
    """Train a 12-model zoo on digits 0-4, rank it for the target task digits 5-9.

    Ground truth: test accuracy after fine-tuning every model (new 5-way head,
    all layers, 40 epochs, Adam 1e-3) on ``shots`` images per target class,
    averaged over ``finetune_seeds`` seeds.  The estimators see only the same
    few-shot training images (features / source softmax), never the test set.
    """
    import torch
    from sklearn.datasets import load_digits

    with torch.random.fork_rng(devices=[]), _torch_threads(1):
        torch.manual_seed(seed)
        X, y = load_digits(return_X_y=True)
        X = (X / 16.0).astype(np.float32)
        rng = np.random.default_rng(seed)
        src = y < 5
        Xs, ys = torch.tensor(X[src]), torch.tensor(y[src])
        tgt_idx = np.flatnonzero(~src)
        train_idx = np.concatenate([rng.choice(tgt_idx[y[tgt_idx] == c], shots, replace=False)
                                    for c in range(5, 10)])
        test_idx = np.setdiff1d(tgt_idx, train_idx)
        Xt, yt = torch.tensor(X[train_idx]), torch.tensor(y[train_idx] - 5)
        Xe, ye = torch.tensor(X[test_idx]), torch.tensor(y[test_idx] - 5)
        names, truth, n_params = [], [], []
        scores = {"logme": [], "leep": [], "nce": [], "hscore": [], "nleep": []}
        for k, (name, arch, width, ep, variant) in enumerate(specs or _digits_zoo_specs()):
            torch.manual_seed(seed * 1000 + k)
            ys_v = ys.clone()
            Xs_v = Xs
            if variant == "shuffled":
                ys_v = ys[torch.randperm(len(ys))]
            elif variant == "two_classes":
                keep = ys < 2
                Xs_v, ys_v = Xs[keep], ys[keep]
            net = _digits_net(arch, width, 5)
            _train(net, Xs_v, ys_v, ep, 3e-3, seed * 1000 + k)
            net.eval()
            with torch.no_grad():
                F = net.body(Xt).double().numpy()
                P = torch.softmax(net.head(net.body(Xt)), 1).double().numpy()
            ytn = yt.numpy()
            scores["logme"].append(logme(F, ytn))
            scores["leep"].append(leep(P, ytn))
            scores["nce"].append(nce(P, ytn))
            scores["hscore"].append(shrinkage_h_score(F, ytn))
            scores["nleep"].append(nleep(F, ytn, seed=seed))
            accs = []
            state = {k2: v.clone() for k2, v in net.state_dict().items()}
            for fs in range(finetune_seeds):
                torch.manual_seed(10_000 + fs)
                ft = _digits_net(arch, width, 5)
                ft.load_state_dict(state)
                ft.head.reset_parameters()  # new head for the target classes
                ft.train()
                _train(ft, Xt, yt, 40, 1e-3, 10_000 + fs, batch=25)
                ft.eval()
                with torch.no_grad():
                    accs.append(float((ft(Xe).argmax(1) == ye).float().mean()) * 100)
            truth.append(float(np.mean(accs)))
            n_params.append(float(sum(p.numel() for p in net.body.parameters())))
            names.append(name)
            log(f"digits: {name:15s} fine-tuned acc {truth[-1]:.1f}  logme {scores['logme'][-1]:.3f}")
    res = {}
    for est, vals in scores.items():
        res[f"digits_{est}_tau_w"] = weighted_tau(truth, vals)
        res[f"digits_{est}_ndcg5"] = ndcg_at_k(truth, vals, 5)
        res[f"digits_{est}_regret"] = top1_regret(truth, vals)
    # The simple baselines beside the estimators: bigger is better, and chance.
    res["digits_params_tau_w"] = weighted_tau(truth, n_params)
    res["digits_params_ndcg5"] = ndcg_at_k(truth, n_params, 5)
    res["digits_params_regret"] = top1_regret(truth, n_params)
    draws = [np.random.default_rng(seed + i).permutation(len(truth)).astype(float) for i in range(200)]
    res["digits_random_tau_w"] = float(np.mean([weighted_tau(truth, p) for p in draws]))
    res["digits_models"] = float(len(names))
    return res


# ---------------------------------------------------------------------------
def run_all(data_dir: Path | None = None, fast: bool = False) -> dict[str, float]:
    import torch

    data_dir = Path(data_dir) if data_dir else default_data_dir()
    if not data_dir.is_dir():
        raise FileNotFoundError(f"shared data not found at {data_dir} (set ARACHNE_SHARED_DATA)")
    # Every network here is tiny: thread start-up costs more than it saves, and
    # one thread keeps results identical from machine to machine.
    torch.set_num_threads(1)
    res: dict[str, float] = {}
    t0 = time.time()
    res.update(evaluate_ptm(data_dir))
    res.update(evaluate_transfer_tables(data_dir))
    log(f"  transfer tables done at {time.time() - t0:.0f}s")
    res.update(evaluate_mlperf(data_dir))
    log(f"  mlperf done at {time.time() - t0:.0f}s")
    res.update(evaluate_stm32(data_dir, fusion_epochs=60 if fast else 150))
    log(f"  stm32 done at {time.time() - t0:.0f}s")
    res.update(digits_zoo_eval(finetune_seeds=1 if fast else 3))
    log(f"  digits done at {time.time() - t0:.0f}s")
    return res


def format_results(res: Mapping[str, float]) -> str:
    lines = []
    for k, v in res.items():
        if float(v).is_integer() and (k.endswith("_rows") or k.endswith("_boards") or k.endswith("_groups")
                                       or k.endswith("_models") or k.endswith("_datasets") or k.endswith("_cells")):
            lines.append(f"{k}: {int(v)}")
        else:
            lines.append(f"{k}: {v:.3f}")
    return "\n".join(lines)
