"""The learned rankers (ranker.spider) trained on the knowledge graph, and their files.

Training lists.  Benchmark records are grouped by (task, dataset, device): every group with
at least `min_models` models whose accuracy is known is one ranking task.
* the task ranker (SpiderRanker) learns to order a group's models by accuracy;
* the hardware-aware ranker (FusionRanker) learns the joint order of the group: Copeland
  over accuracy (higher), latency and RAM need (lower), the ground truth ranker.evaluation
  uses for the STM32 zoo; it also reads the device's hardware token.
Model tokens are built from model metadata in the graph (MODEL_FEATURES), so a model added
later scores without retraining; the task token is a one-hot of the task name over the
tasks seen in training (an unseen task gets zeros); the hardware token is HW_FEATURES.

Files.  `save(path)` writes the task ranker to `path` and the hardware-aware one beside it
(`fusion_path(path)`: ranker.pt -> ranker.fusion.pt), both in ranker.spider's format, with
their feature names in the config so a file built from other features is refused.
The default path is $ARACHNE_RANKER, else ~/.cache/arachne/ranker.pt.
"""
from __future__ import annotations

import os
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from . import graph_facts
from .aggregation import copeland
from .hardware import accelerator_kind, core_family, finite_float as _f, positive_log as _log

# No accuracy among them: the task ranker's label is the accuracy, and a feature computed from
# the label is leakage (it learned to copy it).  Task fitness from other datasets' figures is
# ranker.transfer's job (`predicted_accuracy` below).
MODEL_FEATURES = ("log_macs", "log_params", "log_act_bytes", "log_model_bytes", "log_input_size",
                  "int8", "float", "frac_conv", "frac_dwconv", "frac_dense")
CORES = ("cortex-m0+", "cortex-m3", "cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55", "cortex-a", "risc-v")
HW_FEATURES = ("log_clock_mhz", "log_ram_bytes", "log_flash_bytes", "fpu", "npu") + tuple(f"core={c}" for c in CORES)
TASK_PREFIX = "task:"


def default_path() -> Path:
    env = os.environ.get("ARACHNE_RANKER")
    return Path(env) if env else Path.home() / ".cache" / "arachne" / "ranker.pt"


def fusion_path(path: str | Path) -> Path:
    p = Path(path)
    return p.with_name(p.stem + ".fusion" + (p.suffix or ".pt"))



def model_features(cands: Sequence[dict]) -> np.ndarray:
    """(M, len(MODEL_FEATURES)) model tokens from metadata only. Each candidate is a graph_facts.model_facts
    dict; `ram_need_bytes` (measured on the device, else the arena) overrides arena_bytes when given."""
    rows = []
    for c in cands:
        q = (c.get("quantization") or "").lower()
        rows.append([_log(c.get("macs")), _log(c.get("params")),
                     _log(c.get("ram_need_bytes") or c.get("arena_bytes")), _log(c.get("model_bytes")),
                     _log(c.get("input_size")),
                     1.0 if q in ("int8", "uint8") else 0.0 if q else float("nan"),
                     1.0 if q.startswith("float") else 0.0 if q else float("nan"),
                     _f(c.get("frac_conv")), _f(c.get("frac_dwconv")), _f(c.get("frac_dense"))])
    return np.array(rows, dtype=np.float64).reshape(len(cands), len(MODEL_FEATURES))


def _dataset_key(name: str) -> str:
    """One key per dataset whichever way the graph names it: a device record's dataset by its IRI's
    local name ('cifar10'), a fine-tuning result's by its schema:name ('CIFAR10'); both minted
    by kg.ids.dataset_iri, i.e. through the same slug."""
    from kg.ids import slug

    return slug(name)


def transfer_table(store):
    """The graph's accuracies as a ranker.transfer table: one row per model (every model, with or
    without a figure), one column per dataset, from two kinds of record: device benchmarks (a
    model's figure on the dataset it was trained on, the mean over devices) and fine-tuning
    results (kg.benchmarks.fine_tuning_results: a model's figure on its record's target dataset).
    Repeated figures of a (model, dataset) are averaged."""
    from kg.benchmarks import fine_tuning_results

    from .transfer import TransferTable

    facts = graph_facts.model_facts(store)
    cells: dict[tuple[str, str], list[float]] = {}
    names: dict[str, str] = {}     # dataset key -> column name (a device record's local name first)
    task: dict[str, str] = {}
    for r in graph_facts.benchmark_records(store):
        m = facts.get(r["model"])
        if m is not None and m.get("dataset") and r["accuracy_pct"] is not None:
            name = graph_facts.local_name(m["dataset"]) or m["dataset"]
            key = _dataset_key(name)
            names.setdefault(key, name)
            cells.setdefault((r["model"], key), []).append(r["accuracy_pct"])
            if m.get("task_name"):
                task.setdefault(key, m["task_name"])
    tuned: dict[str, dict] = {}    # what the fine-tuning rows say of a model the graph's facts lack
    for r in fine_tuning_results(store):
        key = _dataset_key(r["target_dataset"])
        names.setdefault(key, r["target_dataset"])
        cells.setdefault((r["model"], key), []).append(float(r["accuracy_pct"]))
        if r["task"]:
            task.setdefault(key, r["task"])
        info = tuned.setdefault(r["model"], {})
        for col in ("params", "macs", "family", "pretrain_dataset", "quantization"):
            if r[col] and not info.get(col):
                info[col] = float(r[col]) if col in ("params", "macs") else r[col]
    models = sorted(set(facts) | set(tuned))
    keys = sorted(names, key=lambda k: names[k])
    acc = np.full((len(models), len(keys)), np.nan)
    mi, di = {m: i for i, m in enumerate(models)}, {k: i for i, k in enumerate(keys)}
    for (m, k), v in cells.items():
        acc[mi[m], di[k]] = float(np.mean(v))
    info = []
    for m in models:
        f, t = facts.get(m, {}), tuned.get(m, {})
        info.append({"model": m, "params": f.get("params") or t.get("params"), "macs": f.get("macs") or t.get("macs"),
                     "family": f.get("family") or t.get("family"),
                     "quantization": f.get("quantization") or t.get("quantization"),
                     "pretrain_dataset": t.get("pretrain_dataset"),
                     "resolution": str(int(f["input_size"])) if f.get("input_size") else None})
    return TransferTable(models, [names[k] for k in keys], acc, info, [task.get(k, "") for k in keys], "the registry")


def transfer_quality(store) -> dict[str, float]:
    """ranker.transfer.summarize of leave-one-dataset-out over the graph's datasets with 3 or more
    benchmarked models ({} when there are fewer than two such datasets: nothing to transfer from)."""
    from .transfer import MIN_MODELS, lodo, summarize

    table = transfer_table(store)
    targets = [d for d in table.datasets if table.known(d).size >= MIN_MODELS]
    return summarize(lodo(table, targets)) if len(targets) >= 2 else {}


def predicted_accuracy(store, models: Sequence[str], dataset: str) -> dict:
    """{model IRI: ranker.transfer.Prediction} for `models` on `dataset` (an IRI or local name of
    a dataset the graph has figures on), provenance "predicted": from the models' metadata and
    their (or their family's) figures on other datasets, never their own figure on `dataset`.
    Models the graph does not know are left out; ValueError when the dataset has no figures."""
    from .transfer import TransferRanker

    table = transfer_table(store)
    asked = _dataset_key(graph_facts.local_name(dataset) or dataset)
    name = next((d for d in table.datasets if _dataset_key(d) == asked), None)
    if name is None:
        raise ValueError(f"no benchmark accuracy on dataset {dataset!r} in the registry")
    known = [m for m in models if m in table.models]
    # The asked models' own figures on the target (if any) are hidden: a prediction, not a lookup.
    ranker = TransferRanker(table.hide(known, name))
    return {m: ranker.predict_accuracy(m, name) for m in known}


def hardware_vector(device: dict) -> np.ndarray:
    fam = core_family(device.get("core"))
    fpu = device.get("fpu")
    return np.array([_log(device.get("clock_mhz")), _log(device.get("ram_bytes")), _log(device.get("flash_bytes")),
                     float("nan") if fpu is None else float(bool(fpu)),
                     1.0 if accelerator_kind(device.get("accelerator")) == "npu" else 0.0]
                    + [1.0 if fam == c else 0.0 for c in CORES])


def task_token(task_name: str | None, vocab: Sequence[str]) -> np.ndarray:
    return np.array([[1.0 if task_name and v == TASK_PREFIX + task_name else 0.0 for v in vocab]])


@dataclass
class Group:
    """One training list: the models benchmarked for a (task, dataset) on one device."""

    task: str
    dataset: str | None
    device: str
    cands: list[dict]            # model facts + accuracy_pct, latency_ms, ram_need_bytes for this device

    @property
    def name(self) -> str:
        return f"{self.task}/{graph_facts.local_name(self.dataset) or '-'}@{graph_facts.local_name(self.device)}"


def training_groups(store, min_models: int = 3) -> list[Group]:
    """(task, dataset, device) groups of benchmarked models with a known accuracy (see the module docstring)."""
    records = graph_facts.benchmark_records(store)
    models = graph_facts.model_facts(store)
    pairs: dict[tuple[str, str], list[dict]] = {}
    for r in records:
        pairs.setdefault((r["model"], r["device"]), []).append(r)
    groups: dict[tuple, list[dict]] = {}
    for (model, device), recs in sorted(pairs.items()):
        m = models.get(model)
        if not m or not m.get("task_name"):
            continue
        acc = [r["accuracy_pct"] for r in recs if r["accuracy_pct"] is not None]
        lat = [r["latency_ms"] for r in recs if r["latency_ms"]]
        ram = [r["ram_bytes"] for r in recs if r["ram_bytes"]]
        cand = dict(m)
        cand["accuracy_pct"] = float(np.mean(acc)) if acc else m.get("accuracy_pct")
        if cand["accuracy_pct"] is None:
            continue
        cand["latency_ms"] = min(lat) if lat else None
        cand["ram_need_bytes"] = min(ram) if ram else m.get("arena_bytes")
        groups.setdefault((m["task_name"], m.get("dataset"), device), []).append(cand)
    return [Group(t, d, dev, c) for (t, d, dev), c in sorted(groups.items(), key=lambda kv: str(kv[0]))
            if len(c) >= min_models]


def fusion_label(cands: Sequence[dict]) -> np.ndarray:
    """Joint order of a group as scores (higher = better): Copeland over accuracy, latency, RAM."""
    res = copeland({"accuracy": [c["accuracy_pct"] for c in cands],
                    "latency": [c.get("latency_ms") for c in cands],
                    "ram": [c.get("ram_need_bytes") for c in cands]},
                   [str(i) for i in range(len(cands))], directions={"latency": "min", "ram": "min"})
    return res.order_scores()


@dataclass
class LearnedRankers:
    """The trained rankers found at `path` (either may be missing)."""

    path: Path
    spider: object | None = None
    fusion: object | None = None
    task_vocab: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def load(path: str | Path | None = None) -> LearnedRankers:
    """Load the rankers at `path` (default_path() when None); missing files are simply absent,
    files built from other features are refused with a note in `problems`."""
    path = Path(path) if path else default_path()
    out = LearnedRankers(path)
    for attr, p in (("spider", path), ("fusion", fusion_path(path))):
        if not p.is_file():
            continue
        from .spider import FusionRanker, SpiderRanker  # torch only when there is a file to read

        cls = SpiderRanker if attr == "spider" else FusionRanker
        try:
            r = cls.load(p)
        except Exception as exc:  # noqa: BLE001 - a broken file is reported, never fatal
            out.problems.append(f"{p}: cannot load ({exc})")
            continue
        cfg = r.config
        if list(cfg.model_feature_names) != list(MODEL_FEATURES) or (
                attr == "fusion" and list(cfg.hw_feature_names) != list(HW_FEATURES)):
            out.problems.append(f"{p}: trained on other features; run `arachne train-ranker` again")
            continue
        setattr(out, attr, r)
        out.task_vocab = list(cfg.task_feature_names)
    return out


@dataclass
class TrainReport:
    groups: int
    tasks: list[str]
    devices: int
    spider_path: Path
    fusion_path: Path
    spider_loss: float
    fusion_loss: float


def _fit_watched(ranker, tasks, epochs: int, name: str, progress: Callable | None):
    """fit() in a thread while the caller's progress callback follows ranker.history (one
    entry per epoch), so the training itself stays ranker.spider's, unchanged."""
    if progress is None:
        return ranker.fit(tasks, epochs=epochs)
    errors: list[BaseException] = []

    def run():
        try:
            ranker.fit(tasks, epochs=epochs)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            errors.append(exc)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    while t.is_alive():
        progress(name, len(ranker.history), epochs)
        t.join(0.1)
    if errors:
        raise errors[0]
    progress(name, epochs, epochs)
    return ranker


def train(store, out: str | Path | None = None, epochs: int = 300, seed: int = 0, min_models: int = 3,
          progress: Callable[[str, int, int], None] | None = None) -> TrainReport:
    """Train both rankers on the graph's benchmark groups and save them (see the module docstring).

    Raises ValueError when the graph holds no group of >= min_models benchmarked models."""
    from .spider import FusionRanker, RankingTask, SpiderConfig, SpiderRanker

    groups = training_groups(store, min_models)
    if not groups:
        raise ValueError(f"no (task, dataset, device) group with {min_models} or more benchmarked models of known "
                         "accuracy: import benchmark tables first (arachne import-benchmarks)")
    vocab = sorted({TASK_PREFIX + g.task for g in groups})
    devices = graph_facts.device_facts(store)
    spider_tasks, fusion_tasks = [], []
    for g in groups:
        mf = model_features(g.cands)
        tok = task_token(g.task, vocab)
        acc = np.array([c["accuracy_pct"] for c in g.cands], dtype=np.float64)
        spider_tasks.append(RankingTask(mf, acc, tok, name=g.name))
        hw = hardware_vector(devices.get(g.device, {"device": g.device}))
        fusion_tasks.append(RankingTask(mf, fusion_label(g.cands), tok, hw, name=g.name))
    common = dict(model_dim=len(MODEL_FEATURES), task_dim=len(vocab), epochs=epochs, seed=seed,
                  model_feature_names=list(MODEL_FEATURES), task_feature_names=vocab)
    with warnings.catch_warnings():
        # A feature no training model has (e.g. MACs of benchmark-only models) is all NaN:
        # ranker.spider imputes it, numpy warns about the empty mean.
        warnings.simplefilter("ignore", RuntimeWarning)
        spider = _fit_watched(SpiderRanker(SpiderConfig(**common)), spider_tasks, epochs, "task ranker", progress)
        fusion = _fit_watched(FusionRanker(SpiderConfig(hw_dim=len(HW_FEATURES), hw_feature_names=list(HW_FEATURES),
                                                        weight_decay=1e-2, **common)),
                              fusion_tasks, epochs, "hardware-aware ranker", progress)
    path = Path(out) if out else default_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    spider.save(path)
    fusion.save(fusion_path(path))
    return TrainReport(len(groups), sorted({g.task for g in groups}), len({g.device for g in groups}),
                       path, fusion_path(path), spider.history[-1], fusion.history[-1])

