"""Task fitness from a transfer table: how well will model m do on target dataset t?

A transfer table holds accuracies of models on datasets (the import format: columns
`model`, `target_dataset`, `accuracy_pct`, optional `task`, `params`, `macs`, `family`,
`pretrain_dataset`, `resolution`, `quantization`).  For a (model, target) pair the ranker
knows only

* the model's metadata (parameters, MACs, input resolution, quantization, family, the
  dataset it was pre-trained on);
* the target's descriptors (task, classes, training images, domain: ranker/data/dataset_facts.csv);
* the model's results on OTHER datasets, weighted by how similar those datasets are to the
  target, the similarity computed from descriptors only (collaborative filtering over the
  model-dataset graph); a model with no other result borrows its family's.

No leakage, by construction: `TransferRanker` is built from `table.without(target)`, a copy
whose target column is all NaN, so nothing it computes can read the target's accuracies
(not even a similarity between datasets: those come from descriptors).  The parts are
combined by a stacker: ridge weights over [CF score at each of a few kernel bandwidths,
the metadata features], fitted leave-one-dataset-out inside the visible datasets (each
visible dataset's inputs computed from the others only, as the target's will be), so the
table itself says how far each part can be trusted.  The ridge strength is fixed (RIDGE_ALPHA).

The score is a z-score scale (higher = better).  `predict_accuracy` turns it into percent
for a model with no figure on the target, provenance "predicted", with a split-conformal
interval from leave-one-dataset-out residuals.
"""
from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from kg.errors import InputError

from .hardware import positive_log as _log
from .metrics import ndcg_at_k, paired_bootstrap, top1_regret, weighted_tau

__all__ = ["TransferTable", "TransferRanker", "Prediction", "read_table", "table_from_rows", "dataset_facts",
           "lodo", "summarize", "evaluate_file", "prediction_quality", "popularity_scores", "BASELINES"]

FACTS_CSV = Path(__file__).resolve().parent / "data" / "dataset_facts.csv"
REQUIRED = ("model", "target_dataset", "accuracy_pct")
OPTIONAL = ("task", "params", "macs", "family", "pretrain_dataset", "resolution", "quantization")
NUMERIC = ("accuracy_pct", "params", "macs")
# The stacker's collaborative-filtering inputs: the similarity-weighted mean z at these kernel
# bandwidths (times the median distance between the visible datasets; inf = the plain mean over
# the other datasets, i.e. popularity).
BANDWIDTHS = (0.25, 1.0, 4.0, math.inf)
# Fixed, not tuned: picking it by inner leave-one-dataset-out from {0.1, 1, 10, 100} was measured
# to be noisier on the Model Spider table (8 datasets, mean tau_w 0.791 picked vs 0.813 fixed).
RIDGE_ALPHA = 1.0
MIN_MODELS = 3
BASELINES = ("learned", "popularity", "params", "random")


def _key(name: str | None) -> str:
    return re.sub(r"[^a-z0-9]", "", (name or "").lower())


def dataset_facts(path: Path = FACTS_CSV) -> dict[str, dict]:
    """Descriptor rows keyed by normalised name and alias: num_classes, train_size, domain."""
    out = {}
    with open(path, newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            row = {"num_classes": float(r["num_classes"]), "train_size": float(r["train_size"]),
                   "domain": r["domain"]}
            for n in [r["dataset"]] + [a for a in r["aliases"].split(";") if a]:
                out[_key(n)] = row
    return out


@dataclass
class TransferTable:
    """acc[m, d]: accuracy of models[m] on datasets[d] (NaN = unknown).  `extra` holds optional
    per-pair scores that need only forward passes on the target's data (e.g. LogME), same shape."""

    models: list[str]
    datasets: list[str]
    acc: np.ndarray
    model_info: list[dict]
    dataset_task: list[str]
    source: str = ""
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def index(self, dataset: str) -> int:
        try:
            return self.datasets.index(dataset)
        except ValueError:
            raise KeyError(f"no dataset {dataset!r} in {self.source or 'the table'}") from None

    def without(self, dataset: str) -> "TransferTable":
        """A copy in which nothing of `dataset`'s accuracies is left."""
        acc = self.acc.copy()
        acc[:, self.index(dataset)] = np.nan
        return replace(self, acc=acc)

    def hide(self, models: Sequence[str], dataset: str) -> "TransferTable":
        """A copy without the figures of `models` on `dataset`."""
        acc = self.acc.copy()
        acc[[self.models.index(m) for m in models], self.index(dataset)] = np.nan
        return replace(self, acc=acc)

    def known(self, dataset: str) -> np.ndarray:
        return np.flatnonzero(np.isfinite(self.acc[:, self.index(dataset)]))


def _num(v: str, where: str, col: str, source: str) -> float:
    if v is None or v.strip() == "":
        return float("nan")
    try:
        x = float(v)
    except ValueError:
        raise InputError(source, f"{where}, column {col}", f"expected a number, found {v!r}") from None
    if not math.isfinite(x) or (col != "accuracy_pct" and x <= 0):
        raise InputError(source, f"{where}, column {col}", f"expected a positive finite number, found {v!r}")
    return x


def table_from_rows(rows: Sequence[Mapping[str, str]], source: str = "", first_line: int = 2) -> TransferTable:
    """Build a table from import-format rows; InputError names the row and column of bad data.
    Repeated (model, dataset) figures are averaged."""
    if not rows:
        raise InputError(source, "line 1", "no data rows: expected a header with columns "
                         + ", ".join(REQUIRED) + " and one row per (model, target_dataset)")
    models: dict[str, int] = {}
    datasets: dict[str, int] = {}
    info: list[dict] = []
    tasks: dict[str, str] = {}
    cells: dict[tuple[int, int], list[float]] = {}
    for i, r in enumerate(rows):
        where = f"line {first_line + i}"
        for col in REQUIRED:
            if not (r.get(col) or "").strip():
                raise InputError(source, f"{where}, column {col}", "expected a value, found an empty cell")
        acc = _num(r["accuracy_pct"], where, "accuracy_pct", source)
        m, d = r["model"].strip(), r["target_dataset"].strip()
        if m not in models:
            models[m] = len(models)
            info.append({"model": m})
        mi = info[models[m]]
        for col in ("params", "macs"):
            x = _num(r.get(col), where, col, source)
            if math.isfinite(x):
                mi[col] = x
        for col in ("family", "pretrain_dataset", "resolution", "quantization"):
            if (r.get(col) or "").strip():
                mi[col] = r[col].strip()
        datasets.setdefault(d, len(datasets))
        if (r.get("task") or "").strip():
            tasks.setdefault(d, r["task"].strip())
        cells.setdefault((models[m], datasets[d]), []).append(acc)
    acc = np.full((len(models), len(datasets)), np.nan)
    for (mi, di), v in cells.items():
        acc[mi, di] = float(np.mean(v))
    return TransferTable(list(models), list(datasets), acc, info, [tasks.get(d, "") for d in datasets], source)


def read_table(path: str | Path) -> TransferTable:
    """Read an import-format CSV (see the module docstring); InputError on bad data."""
    from kg.benchmarks import read_rows

    return table_from_rows(read_rows(path, REQUIRED, OPTIONAL), str(path))


# ---------------------------------------------------------------------------
# Features: nothing here reads a column the caller has hidden.
# ---------------------------------------------------------------------------
def _zcols(acc: np.ndarray) -> np.ndarray:
    """Each dataset's accuracies as z-scores over its known models (NaN where unknown or constant)."""
    known = np.isfinite(acc)
    n = known.sum(0, keepdims=True)
    mu = np.where(known, acc, 0.0).sum(0, keepdims=True) / np.maximum(n, 1)
    sd = np.sqrt((np.where(known, acc - mu, 0.0) ** 2).sum(0, keepdims=True) / np.maximum(n, 1))
    ok = (n >= 2) & (sd > 1e-12)
    return np.where(ok, (acc - mu) / np.where(ok, sd, 1.0), np.nan)


def _zlist(v: np.ndarray) -> np.ndarray:
    """z-score over the finite entries of one list; NaN entries become 0 (the list's mean)."""
    v = np.asarray(v, dtype=float)
    ok = np.isfinite(v)
    out = np.zeros_like(v)
    if ok.sum() >= 2 and v[ok].std() > 1e-12:
        out[ok] = (v[ok] - v[ok].mean()) / v[ok].std()
    return out


def _resolution(res: str | None) -> float:
    dims = [int(x) for x in re.findall(r"\d+", res or "")][:2]
    return float(np.prod(dims)) if dims else float("nan")


def descriptor_distance(table: TransferTable, facts: Mapping[str, dict] | None = None) -> np.ndarray:
    """(D, D) squared distances between datasets from descriptors only: standardised log classes
    and log training images, +1 for another domain, +4 for another task; a descriptor known on
    one side only counts 1."""
    facts = dataset_facts() if facts is None else facts
    D = len(table.datasets)
    f = [facts.get(_key(d), {}) for d in table.datasets]
    num = np.array([[_log(x.get("num_classes")), _log(x.get("train_size"))] for x in f]).reshape(D, 2)
    for j in range(2):
        col = num[:, j]
        ok = np.isfinite(col)
        if ok.sum() >= 2 and col[ok].std() > 0:
            num[:, j] = (col - col[ok].mean()) / col[ok].std()
    dist = np.zeros((D, D))
    for j in range(2):
        diff = (num[:, None, j] - num[None, :, j]) ** 2
        dist += np.where(np.isfinite(diff), diff, 1.0)
    dom = [x.get("domain") or "" for x in f]
    task = table.dataset_task
    for a in range(D):
        for b in range(D):
            if dom[a] and dom[b] and dom[a] != dom[b]:
                dist[a, b] += 1.0
            if task[a] and task[b] and task[a] != task[b]:
                dist[a, b] += 4.0
    np.fill_diagonal(dist, 0.0)
    return dist


def _pretrain_similarity(table: TransferTable, dist_facts: Mapping[str, dict]) -> np.ndarray:
    """(M, D): 1 where the model was pre-trained on the target itself, else a descriptor kernel
    between its pre-training dataset and the target (0 when unknown)."""
    M, D = table.acc.shape
    out = np.zeros((M, D))
    pre = [_key(i.get("pretrain_dataset")) for i in table.model_info]
    if not any(pre):
        return out
    names = sorted({p for p in pre if p} | {_key(d) for d in table.datasets})
    # A table over every dataset named (targets and pre-training sets), descriptors only.
    tmp = TransferTable(names, names, np.zeros((0, len(names))), [], [""] * len(names))
    dd = descriptor_distance(tmp, dist_facts)
    med = np.median(dd[np.triu_indices(len(names), 1)]) if len(names) > 1 else 1.0
    k = np.exp(-dd / max(med, 1e-9))
    idx = {n: i for i, n in enumerate(names)}
    for m, p in enumerate(pre):
        if p:
            for d, dn in enumerate(table.datasets):
                out[m, d] = k[idx[p], idx[_key(dn)]]
    return out


@dataclass
class _Features:
    Z: np.ndarray               # (M, D) z-scores of the visible table
    dist: np.ndarray            # (D, D) descriptor distances
    family: np.ndarray          # (M,) family code, -1 where unknown
    prior_x: np.ndarray         # (M, D, k) accuracy-free pair features


def _prior_features(table: TransferTable, facts: Mapping[str, dict]) -> np.ndarray:
    """(M, D, k) pair features that read no accuracy: metadata z-scored over the table's models,
    their interaction with the target's size, and the pre-training match."""
    M, D = table.acc.shape
    info = table.model_info
    meta = np.array([[_log(i.get("params")), _log(i.get("macs")), _log(_resolution(i.get("resolution"))),
                      1.0 if (i.get("quantization") or "").lower() in ("int8", "uint8", "w4a8") else 0.0]
                     for i in info]).reshape(M, 4)
    meta = np.stack([_zlist(meta[:, j]) for j in range(4)], 1)
    size = np.array([_log(facts.get(_key(d), {}).get("train_size")) for d in table.datasets])
    size = _zlist(size)
    pre = _pretrain_similarity(table, facts)
    X = np.zeros((M, D, 8 + len(table.extra)))
    X[:, :, 0:4] = meta[:, None, :]
    X[:, :, 4] = meta[:, None, 0] * size[None, :]
    X[:, :, 5] = meta[:, None, 1] * size[None, :]
    X[:, :, 6] = pre
    X[:, :, 7] = (pre >= 1.0)
    for j, name in enumerate(sorted(table.extra)):
        # Forward-pass scores are comparable only within one target: z-score per column.
        E = table.extra[name]
        X[:, :, 8 + j] = np.stack([_zlist(E[:, d]) for d in range(D)], 1)
    return X


def _features(table: TransferTable, facts: Mapping[str, dict] | None) -> _Features:
    facts = dataset_facts() if facts is None else facts
    names = [(i.get("family") or "").lower() for i in table.model_info]
    codes = {f: k for k, f in enumerate(sorted(set(names) - {""}))}
    family = np.array([codes.get(f, -1) for f in names], dtype=int)
    return _Features(_zcols(table.acc), descriptor_distance(table, facts), family, _prior_features(table, facts))


def _cf(F: _Features, target: int, visible: np.ndarray, bw: float) -> np.ndarray:
    """Similarity-weighted mean z of each model over the visible datasets (never `target`); a model
    with none borrows the mean over its family's other models; NaN when neither exists."""
    vis = np.array([d for d in visible if d != target], dtype=int)
    M = F.Z.shape[0]
    if vis.size == 0:
        return np.full(M, np.nan)
    if math.isinf(bw):
        w = np.ones(vis.size)
    else:
        others = F.dist[np.ix_(vis, vis)][np.triu_indices(vis.size, 1)]
        med = float(np.median(others)) if others.size else 1.0
        w = np.exp(-F.dist[target, vis] / max(bw * med, 1e-9))
    Zv = F.Z[:, vis]
    ok = np.isfinite(Zv)
    den = (ok * w).sum(1)
    cf = np.where(den > 0, np.nansum(np.where(ok, Zv, 0) * w, 1) / np.where(den > 0, den, 1), np.nan)
    # A model without a figure borrows its family's mean (its own figure is NaN, so only mates count).
    has = np.isfinite(cf) & (F.family >= 0)
    n_fam = np.bincount(F.family[has], minlength=F.family.max() + 2)
    sum_fam = np.bincount(F.family[has], weights=cf[has], minlength=F.family.max() + 2)
    lend = ~np.isfinite(cf) & (F.family >= 0)
    lend &= n_fam[np.where(lend, F.family, 0)] > 0
    cf[lend] = sum_fam[F.family[lend]] / n_fam[F.family[lend]]
    return cf


def _stack_x(F: _Features, target: int, visible: np.ndarray) -> np.ndarray:
    """(M, k) the stacker's inputs for `target` from the `visible` datasets: the CF score at each
    bandwidth (0, the list's mean, where it has no opinion) and the accuracy-free prior features."""
    cf = np.stack([_cf(F, target, visible, bw) for bw in BANDWIDTHS], 1)
    return np.concatenate([np.where(np.isfinite(cf), cf, 0.0), F.prior_x[:, target]], 1)


def _fit_stack(F: _Features, visible: np.ndarray) -> np.ndarray:
    """Ridge weights of the stacker: each visible dataset's z-scores are labels, its inputs
    computed from the OTHER visible datasets only, so the weights say how much each part is worth
    on a dataset it has not seen (as the target will be)."""
    k = len(BANDWIDTHS) + F.prior_x.shape[2]
    A = RIDGE_ALPHA * np.eye(k)
    b = np.zeros(k)
    for d in visible:
        ok = np.isfinite(F.Z[:, d])
        X = _stack_x(F, d, visible[visible != d])[ok]
        A += X.T @ X
        b += X.T @ F.Z[ok, d]
    return np.linalg.solve(A, b)


def _rankable(F: _Features, datasets: Sequence[int]) -> list[int]:
    return [d for d in datasets if np.isfinite(F.Z[:, d]).sum() >= MIN_MODELS]


@dataclass
class Prediction:
    """A predicted accuracy in percent with its interval (split conformal, `level` coverage)."""

    value: float
    low: float
    high: float
    level: float
    provenance: str = "predicted"
    basis: str = ""


class TransferRanker:
    """Task ranker over a transfer table, for one target at a time.

    >>> r = TransferRanker(table.without("Pet"))     # or any table that lacks the target's figures
    >>> r.score("Pet")                               # (M,) higher = better, every model of the table
    >>> r.predict_accuracy("resnet50", "Pet")        # Prediction(value, low, high, provenance="predicted")
    """

    def __init__(self, table: TransferTable, facts: Mapping[str, dict] | None = None, level: float = 0.9):
        self.table = table
        self.facts = dataset_facts() if facts is None else facts
        self.level = level
        self._F = _features(table, self.facts)
        self._scores: dict[int, np.ndarray] = {}
        self._calib: dict[int, tuple[float, float]] = {}

    def _visible(self, target: int) -> np.ndarray:
        return np.array([d for d in _rankable(self._F, range(len(self.table.datasets))) if d != target], dtype=int)

    def _ensemble(self, target: int, visible: np.ndarray) -> np.ndarray:
        return _zlist(_stack_x(self._F, target, visible) @ _fit_stack(self._F, visible))

    def score(self, target: str) -> np.ndarray:
        """Scores (M,) of every model of the table for `target`, higher = better (z scale)."""
        t = self.table.index(target)
        if t not in self._scores:
            self._scores[t] = self._ensemble(t, self._visible(t))
        return self._scores[t].copy()

    # -- predicted accuracy --------------------------------------------------
    def _calibration(self, target: int) -> tuple[float, float]:
        """(slope, residual quantile) in z units from leave-one-dataset-out over the visible
        datasets: z_true ~ slope * score, the quantile of |z_true - slope * score| at `level`."""
        vis = self._visible(target)
        F = self._F
        s_all, z_all = [], []
        for d in vis:
            rest = vis[vis != d]
            if rest.size == 0:
                continue
            s = self._ensemble(d, rest)
            ok = np.isfinite(F.Z[:, d])
            s_all.append(s[ok])
            z_all.append(F.Z[ok, d])
        if not s_all:
            return 0.0, 1.0
        s, z = np.concatenate(s_all), np.concatenate(z_all)
        slope = float((s @ z) / (s @ s)) if s @ s > 0 else 0.0
        res = np.abs(z - slope * s)
        n = res.size
        q = float(np.quantile(res, min(1.0, math.ceil((n + 1) * self.level) / n)))
        return slope, q

    def predict_accuracy(self, model: str, target: str) -> Prediction:
        """Accuracy (percent) of `model` on `target`, provenance "predicted".

        Uses the target's known figures for its scale when two or more models have one; else
        the similarity-weighted mean and spread of the other datasets (wider, less sure)."""
        t = self.table.index(target)
        m = self.table.models.index(model)
        s = self.score(target)
        if t not in self._calib:
            self._calib[t] = self._calibration(t)
        slope, q = self._calib[t]
        col = self.table.acc[:, t]
        known = np.isfinite(col)
        known[m] = False
        if known.sum() >= 2 and col[known].std() > 1e-12:
            # The scale comes from k known figures: the sample sd, and the mean's own error
            # (1/k) added, so a short list gives a wider interval rather than a falsely sure one.
            k = int(known.sum())
            mu, sd = float(col[known].mean()), float(col[known].std(ddof=1) * math.sqrt(1 + 1 / k))
            centre = float(s[known].mean())
            basis = f"scale of the {int(known.sum())} known figures on {target}"
        else:
            vis = self._visible(t)
            if vis.size == 0:
                raise ValueError(f"nothing to predict {target!r} from: no other dataset has {MIN_MODELS} figures")
            w = np.exp(-self._F.dist[t, vis] / max(float(np.median(self._F.dist[np.ix_(vis, vis)])), 1e-9))
            mus = np.array([np.nanmean(self.table.acc[:, d]) for d in vis])
            sds = np.array([np.nanstd(self.table.acc[:, d]) for d in vis])
            mu, sd = float(w @ mus / w.sum()), float(w @ sds / w.sum())
            centre = 0.0
            basis = f"no figures on {target}: scale of similar datasets"
        value = mu + sd * slope * (float(s[m]) - centre)
        return Prediction(value, value - q * sd, value + q * sd, self.level,
                          basis=basis + f"; conformal residual {q:.2f} sd at {self.level:.0%}")


# ---------------------------------------------------------------------------
# Leave-one-dataset-out evaluation with the simple baselines beside it
# ---------------------------------------------------------------------------
def popularity_scores(table: TransferTable, target: str) -> np.ndarray:
    """Mean z-scored accuracy on the other datasets (0 for a model with none): popularity."""
    t = table.index(target)
    Z = _zcols(table.acc)
    Z[:, t] = np.nan
    ok = np.isfinite(Z).any(1)
    out = np.zeros(len(table.models))
    out[ok] = np.nanmean(Z[ok], 1)
    return out


def _filled(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    ok = np.isfinite(v)
    return np.where(ok, v, np.median(v[ok]) if ok.any() else 0.0)


def _tau(truth, pred) -> float:
    """weighted_tau, 0 for a prediction that cannot order the list (all equal): such a ranker
    knows nothing, and dropping it from a mean would flatter it."""
    v = weighted_tau(truth, pred)
    return 0.0 if np.isnan(v) and np.ptp(np.asarray(truth, dtype=float)) > 0 else v


def lodo(table: TransferTable, targets: Sequence[str] | None = None, random_draws: int = 200,
         seed: int = 0) -> dict[str, dict[str, dict[str, float]]]:
    """Leave-one-dataset-out over `targets` (default: every dataset with >= 3 known figures).

    Returns {dataset: {method: {"tau_w", "ndcg5", "regret"}}} for the methods of BASELINES
    (plus "macs" when the table has MACs); regret is in accuracy points; random is the mean
    over `random_draws` seeded permutations; a method that ties every candidate scores tau 0."""
    rng = np.random.default_rng(seed)
    if targets is None:
        targets = [d for d in table.datasets if table.known(d).size >= MIN_MODELS]
    params = np.array([_log(i.get("params")) for i in table.model_info])
    macs = np.array([_log(i.get("macs")) for i in table.model_info])
    out = {}
    for d in targets:
        idx = table.known(d)
        truth = table.acc[idx, table.index(d)]
        preds = {"learned": TransferRanker(table.without(d)).score(d)[idx],
                 "popularity": popularity_scores(table, d)[idx],
                 "params": _filled(params[idx])}
        if np.isfinite(macs).any():
            preds["macs"] = _filled(macs[idx])
        res = {k: {"tau_w": _tau(truth, p), "ndcg5": ndcg_at_k(truth, p, 5), "regret": top1_regret(truth, p)}
               for k, p in preds.items()}
        draws = [rng.permutation(idx.size).astype(float) for _ in range(random_draws)]
        res["random"] = {m: float(np.mean([f(truth, p) for p in draws]))
                         for m, f in (("tau_w", _tau), ("ndcg5", lambda a, b: ndcg_at_k(a, b, 5)),
                                      ("regret", top1_regret))}
        out[d] = res
    return out


def summarize(result: Mapping[str, Mapping[str, Mapping[str, float]]], prefix: str = "") -> dict[str, float]:
    """Flat `name: value` figures of a `lodo` result: per method the mean tau_w, NDCG@5 and top-1
    regret (points), per dataset the tau_w of each method, and the paired bootstrap interval
    (over datasets) of learned minus each baseline."""
    p = prefix + "_" if prefix else ""
    methods = list(next(iter(result.values()))) if result else []
    res: dict[str, float] = {}
    for m in methods:
        for metric in ("tau_w", "ndcg5", "regret"):
            vals = [r[m][metric] for r in result.values()]
            res[f"{p}{m}_{metric}"] = float(np.nanmean(vals)) if np.isfinite(vals).any() else float("nan")
    for m in methods:
        if m == "learned":
            continue
        mean, lo, hi = paired_bootstrap([r["learned"]["tau_w"] for r in result.values()],
                                        [r[m]["tau_w"] for r in result.values()])
        res[f"{p}learned_minus_{m}_tau_w_mean"] = mean
        res[f"{p}learned_minus_{m}_tau_w_ci95_low"] = lo
        res[f"{p}learned_minus_{m}_tau_w_ci95_high"] = hi
    for d, r in result.items():
        for m in methods:
            res[f"{p}{m}_tau_w@{d}"] = r[m]["tau_w"]
    res[f"{p}datasets"] = float(len(result))
    return res


def evaluate_file(path: str | Path) -> dict[str, dict[str, dict[str, float]]]:
    """`lodo` of an import-format CSV; InputError when the file is bad or has nothing to rank."""
    table = read_table(path)
    per = lodo(table)
    if not per:
        raise InputError(str(path), "target_dataset", f"nothing to evaluate: expected at least one target_dataset "
                         f"with {MIN_MODELS} or more models with an accuracy_pct, found none")
    return per


def prediction_quality(table: TransferTable, seed: int = 0) -> dict[str, float]:
    """How good `predict_accuracy` is where it will be used: on each dataset with >= 4 figures,
    a seeded random half of its models lose their figure there and are predicted from
    everything else.  Mean absolute error (points), interval coverage and mean width."""
    rng = np.random.default_rng(seed)
    err, hit, width = [], [], []
    for d in table.datasets:
        idx = table.known(d)
        if idx.size < 4:
            continue
        hidden = [table.models[i] for i in rng.choice(idx, idx.size // 2, replace=False)]
        ranker = TransferRanker(table.hide(hidden, d))
        for m in hidden:
            p = ranker.predict_accuracy(m, d)
            true = table.acc[table.models.index(m), table.index(d)]
            err.append(abs(p.value - true))
            hit.append(p.low <= true <= p.high)
            width.append(p.high - p.low)
    if not err:
        return {}
    return {"predicted_mae_pts": float(np.mean(err)), "predicted_coverage": float(np.mean(hit)),
            "predicted_interval_width_pts": float(np.mean(width)), "predicted_cells": float(len(err))}
