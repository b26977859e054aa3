"""Recommend pre-trained models for a device and a task, over the knowledge graph.

    recommend(store, Request(device=..., task=...), method="shadow", k=10, data=None)
        -> Recommendation (rows: RankedModel, best first; excluded; voters; notes)

1. Candidates: kg.feasibility.feasible_models (the device, the task, the budgets): the models
   that fit or likely fit (only those that fit for `verified_only`), each row carrying its
   outcome, the unknown figures behind a "likely", notes such as "needs an external camera",
   and the provenance of each figure; the rest come back in `excluded` with their reasons.
2. Facts, in one query for all candidates (ranker.graph_facts.model_facts): name, MACs,
   parameters, arena and file bytes, operators, format, quantization, and accuracy for the
   task with its provenance ("measured" on this device, "reported" by the model's
   description, or "measured-other-device").
3. Hardware fitness, per candidate on this device:
   * latency / energy: the best (minimum) benchmark record of the pair, as the feasibility
     budgets use it ("measured"); otherwise ranker.hardware.LatencyModel's prediction
     ("predicted"), trained on every benchmark record of the graph joined with model and
     device facts. The trained model is cached per content hash of what it is trained on,
     in this process and on disk ($ARACHNE_CACHE, else ~/.cache/arachne);
   * RAM headroom: (device RAM - need) / device RAM, need = RAM measured on this device,
     else the tensor arena (the feasibility check's figure).
4. Task fitness signals: `accuracy`; with `data` (an .npz with X (n, ...) float32 inputs in
   the model's input space and y labels) each candidate's .tflite runs on the host
   (ranker.tflm_forward): `logme` on its penultimate features, `leep` and `nce` on its
   softmax; with a trained ranker file (graph_rankers.default_path() or `ranker_path`)
   the learned task ranker's score `learned`. The task voter is the one signal present, or
   Borda over those present among accuracy, logme, leep, learned. NCE is shown but does not
   vote: it reads the same joint of labels and source classes as LEEP, hard instead of soft.
5. Aggregation (ranker.aggregation) over the voters [task, latency, energy, headroom]
   (energy only when two or more candidates have a figure; a missing hardware figure is an
   abstention, but a candidate without a task figure ranks below those with one):
   shadow = Copeland (tie-break: Borda points, then the task voter's rank, then the name);
   borda, rrf, weighted (equal weights over min-max normalised scores), lexicographic (in the
   voter order, no tolerance); fusion = the trained hardware-aware ranker's score (ties: the
   task voter's rank, then the name). Each row's `why` is ranker.aggregation.explain against
   the next candidate in the full order.
"""
from __future__ import annotations

import math
import os
import pickle
import tempfile
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

from kg.errors import InputError
from kg.feasibility import Request, feasible_models

from . import graph_facts, graph_rankers
from .graph_facts import _num
from .aggregation import (AggregationResult, borda, copeland, explain, lexicographic, reciprocal_rank_fusion,
                          weighted_sum)

METHODS = ("shadow", "fusion", "borda", "rrf", "weighted", "lexicographic")
TASK_SIGNALS = ("accuracy", "logme", "leep", "nce", "learned")
VOTING_TASK_SIGNALS = ("accuracy", "logme", "leep", "learned")
MAX_SAMPLES = 1000


@dataclass
class RankedModel:
    """One recommended model. Units: percent, ms, uJ, bytes; headroom is a fraction of RAM.

    Provenance: accuracy "measured" | "reported" | "measured-other-device"; latency and
    energy "measured" | "predicted"; None with a None value when unknown.
    `scores` maps each voter to the value it voted with (None = abstained), `voter_ranks`
    to the candidate's 1-based position for that voter (ties share the average position);
    `score` is the method's aggregate score; `why` says why this row is above the next."""

    rank: int
    model: str
    name: str
    label: str
    accuracy_pct: float | None
    accuracy_provenance: str | None
    accuracy_metric: str | None
    latency_ms: float | None
    latency_provenance: str | None
    energy_uj: float | None
    energy_provenance: str | None
    ram_need_bytes: int | None
    ram_headroom: float | None
    flash_need_bytes: int | None
    macs: int | None
    params: int | None
    arena_bytes: int | None
    model_bytes: int | None
    format: str | None
    quantization: str | None
    operators: list[str]
    task_signals: dict[str, float | None]
    scores: dict[str, float | None]
    voter_ranks: dict[str, float | None]
    score: float | None
    why: str
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # The feasibility outcome ("fits" | "likely"), the unknown figures behind a "likely", and
    # where each figure the check used comes from (kg.feasibility.PairCheck.provenance).
    outcome: str = "fits"
    unknowns: list[str] = field(default_factory=list)
    provenance: dict = field(default_factory=dict)


@dataclass
class Excluded:
    """An infeasible model of the request's task, with the constraints it violates (or, for a
    verified-only request, the figures that are unknown: outcome "likely")."""

    model: str
    name: str | None
    reasons: list[str]
    warnings: list[str] = field(default_factory=list)
    outcome: str = "does not fit"


@dataclass
class Recommendation:
    """The answer to one request: `rows` (at most k, best first) out of `candidates` feasible
    models; `voters` in aggregation order with their `directions` ('max'/'min');
    `task_voter` says how the task voter was formed; `notes` what was missing or assumed."""

    device: str
    device_name: str | None
    task: str | None
    method: str
    k: int
    voters: list[str]
    directions: dict[str, str]
    tiebreak: str
    task_voter: str
    candidates: int
    rows: list[RankedModel]
    excluded: list[Excluded]
    notes: list[str]
    request: dict

    def to_dict(self) -> dict:
        """JSON-ready (NaN and inf become None)."""
        return _clean(asdict(self))


def _clean(x):
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, (float, np.floating)):
        x = float(x)
        return x if math.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    return x


def _int(v) -> int | None:
    x = _num(v)
    return int(x) if x is not None else None


# ---------------------------------------------------------------------------
# Hardware fitness: the latency model, cached by content hash
# ---------------------------------------------------------------------------
_LATENCY_MODELS: dict[str, object] = {}


def cache_dir() -> Path:
    env = os.environ.get("ARACHNE_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "arachne"


def latency_model(store):
    """(LatencyModel or None, note) trained on the graph's benchmark records; reused while
    the records and the facts they join with are unchanged (see the module docstring)."""
    import sklearn

    from .hardware import LatencyModel

    key = graph_facts.training_fingerprint(store) + "-" + sklearn.__version__
    if key in _LATENCY_MODELS:
        return _LATENCY_MODELS[key]
    path = cache_dir() / f"latency-{key[:32]}.pkl"
    result = None
    if path.is_file():
        try:
            with open(path, "rb") as fh:  # our own cache file, written below
                result = pickle.load(fh)
        except Exception:  # noqa: BLE001 - a stale or broken cache is retrained
            result = None
    if result is None:
        rows = graph_facts.latency_training_rows(store)
        if len(rows) < 2:
            result = (None, "no latency prediction: the graph holds fewer than two benchmark records with a latency")
        else:
            lm = LatencyModel(numeric=graph_facts.LATENCY_NUMERIC, categorical=graph_facts.LATENCY_CATEGORICAL)
            lm.fit(rows)
            energy = f", energy from {sum(1 for r in rows if r.get('energy_uj'))}" if lm.energy else ""
            result = (lm, f"latency predicted by a LatencyModel trained on {len(rows)} benchmark records{energy}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, suffix=".tmp") as fh:
                pickle.dump(result, fh)
            os.replace(fh.name, path)
            # Every change to the records makes a new file: keep the few most recent.
            old = sorted(path.parent.glob("latency-*.pkl"), key=lambda p: p.stat().st_mtime, reverse=True)
            for stale in old[4:]:
                stale.unlink(missing_ok=True)
        except OSError:
            pass  # a read-only home only costs a retraining next time
    _LATENCY_MODELS[key] = result
    return result


# ---------------------------------------------------------------------------
# Task fitness from user data
# ---------------------------------------------------------------------------
def load_samples(data) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(X float32 (n, ...), y (n,), notes) from an .npz path or a mapping with X and y."""
    name = str(data) if isinstance(data, (str, Path)) else "data"
    notes: list[str] = []
    if isinstance(data, (str, Path)):
        try:
            with np.load(data, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except FileNotFoundError as exc:
            raise InputError(name, None, "file not found") from exc
        except (OSError, ValueError) as exc:
            raise InputError(name, None, f"not a NumPy .npz file ({exc})") from exc
    elif isinstance(data, Mapping):
        arrays = dict(data)
    else:
        raise InputError(name, None, "expected an .npz path or a mapping with X and y")
    for key in ("X", "y"):
        if key not in arrays:
            raise InputError(name, key, f"missing array {key!r}; expected X (n, ...) float32 inputs and y (n,) labels")
    X, y = np.asarray(arrays["X"]), np.asarray(arrays["y"]).ravel()
    if X.ndim < 2 or X.shape[0] < 2:
        raise InputError(name, "X", f"expected (n, ...) inputs with n >= 2, found shape {list(X.shape)}")
    if y.shape[0] != X.shape[0]:
        raise InputError(name, "y", f"{y.shape[0]} labels for {X.shape[0]} samples")
    if X.dtype.kind not in "fiu" or not np.all(np.isfinite(X)):
        raise InputError(name, "X", "inputs must be finite numbers")
    if len(np.unique(y)) < 2:
        raise InputError(name, "y", "the labels need at least two classes")
    if X.shape[0] > MAX_SAMPLES:
        idx = np.sort(np.random.default_rng(0).choice(X.shape[0], MAX_SAMPLES, replace=False))
        X, y = X[idx], y[idx]
        notes.append(f"transferability on a seeded random subset of {MAX_SAMPLES} samples")
    return X.astype(np.float32), y, notes


def _transfer_scores(cands: list[dict], X: np.ndarray, y: np.ndarray, model_dirs) -> None:
    """Fill each candidate's logme / leep / nce (or a note saying why not)."""
    from .tflm_forward import forward_many
    from .transferability import leep, logme, nce

    per_sample = int(np.prod(X.shape[1:]))
    runnable = []
    for c in cands:
        if (c.get("format") or "").lower() != "tflite":
            c["notes"].append("transferability: only TFLite files run on the host")
            continue
        if c.get("input_size") is not None and int(c["input_size"]) != per_sample:
            c["notes"].append(f"transferability: the data has {per_sample} values per sample, "
                              f"the model takes {int(c['input_size'])}")
            continue
        path, why = graph_facts.model_file(c, model_dirs)
        if path is None:
            c["notes"].append(f"transferability: {why}")
            continue
        runnable.append((c, path))
    results = forward_many([p for _, p in runnable], X) if runnable else []
    for (c, _), res in zip(runnable, results):
        if res.error:
            c["notes"].append(f"transferability: {res.error}")
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                c["signals"]["logme"] = float(logme(res.features, y))
                if res.probs is not None:
                    c["signals"]["leep"] = float(leep(res.probs, y))
                    c["signals"]["nce"] = float(nce(res.probs, y))
        except (ValueError, np.linalg.LinAlgError) as exc:
            c["notes"].append(f"transferability: {exc}")
            continue
        c["notes"].append(f"transferability from {res.feature_kind} features"
                          + ("" if res.probs is not None else "; no classifier head, so no LEEP/NCE"))


# ---------------------------------------------------------------------------
# Aggregation
# ---------------------------------------------------------------------------
def _aggregate(method: str, voters: dict, labels: list[str], directions: dict, fusion_scores=None) -> AggregationResult:
    if method == "shadow":
        return copeland(voters, labels, directions)
    if method == "borda":
        return borda(voters, labels, directions)
    if method == "rrf":
        return reciprocal_rank_fusion(voters, labels, directions)
    if method == "weighted":
        return weighted_sum(voters, labels, directions=directions)
    if method == "lexicographic":
        return lexicographic(voters, labels, directions=directions)
    # fusion: order by the learned score; voter ranks (for explain) as every method computes them
    allv = {"fusion": list(fusion_scores), **voters}
    base = borda(allv, labels, directions)
    first = list(voters)[0] if voters else "fusion"
    rank_first = base.voter_ranks[first]
    score = dict(zip(labels, (float(s) for s in fusion_scores)))
    order = sorted(labels, key=lambda c: (-score[c], math.inf if math.isnan(rank_first[c]) else rank_first[c], c))
    return AggregationResult("fusion", list(labels), order, score, base.voter_ranks, base.voters,
                             tiebreak=f"{first} voter's rank, then candidate id")


def _labels(cands: list[dict]) -> list[str]:
    """Unique short names for the aggregation (they appear in the explanations)."""
    seen: dict[str, int] = {}
    for c in cands:
        seen[c["name"]] = seen.get(c["name"], 0) + 1
    out = []
    for c in cands:
        out.append(c["name"] if seen[c["name"]] == 1 else f"{c['name']} <{c['model']}>")
    return out


def _present(values: list) -> int:
    return sum(1 for v in values if v is not None and not (isinstance(v, float) and math.isnan(v)))


def recommend(store, request: Request, method: str = "shadow", k: int = 10, data=None,
              ranker_path: str | Path | None = None, model_dirs: Iterable[str | Path] = ()) -> Recommendation:
    """Rank the feasible models of `request` (see the module docstring). InputError on a bad
    request, method or data file, or for method='fusion' without a trained ranker."""
    if method not in METHODS:
        raise InputError("request", "method", f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    if not request.device:
        raise InputError("request", "device", "a recommendation needs a device")
    if k < 1:
        raise InputError("request", "k", f"k must be at least 1, found {k}")
    device = graph_facts.device_facts(store, [request.device]).get(request.device)
    if device is None:
        raise InputError("request", "device", f"no device {request.device} in the registry")
    samples = load_samples(data) if data is not None else None
    rankers = graph_rankers.load(ranker_path)
    if method == "fusion" and rankers.fusion is None:
        raise InputError(str(graph_rankers.fusion_path(rankers.path)), "--method fusion",
                         "needs the trained hardware-aware ranker: run `arachne train-ranker` first"
                         + (f" ({rankers.problems[0]})" if rankers.problems else ""))

    feasible, infeasible = feasible_models(store, request)
    notes: list[str] = list(rankers.problems)
    excluded = [Excluded(c.model, c.name, list(c.why_not), list(c.warnings), c.outcome) for c in infeasible]
    req = {"device": request.device, "task": request.task, "modality": request.modality,
           "max_latency_ms": request.max_latency_ms, "max_energy_uj": request.max_energy_uj,
           "reserved_ram_bytes": request.reserved_ram_bytes, "reserved_flash_bytes": request.reserved_flash_bytes,
           "verified_only": request.verified_only, "onboard_sensors": request.onboard_sensors}

    def answer(rows, voters, directions, tiebreak, task_voter):
        return Recommendation(request.device, device.get("name"), request.task, method, k, voters, directions,
                              tiebreak, task_voter, len(feasible), rows, excluded, notes, req)

    if not feasible:
        notes.append("no feasible model for this request" + (f"; {len(excluded)} excluded" if excluded else ""))
        return answer([], [], {}, "", "")

    facts = graph_facts.model_facts(store, [c.model for c in feasible], request.device)
    cands = []
    for c in feasible:
        f = dict(facts.get(c.model) or {"model": c.model, "name": c.name})
        f["name"] = f.get("name") or c.name or graph_facts.local_name(c.model)
        f["check"] = c
        f["ram_need_bytes"] = _num(c.facts.get("needRam"))
        f["signals"] = {s: None for s in TASK_SIGNALS}
        f["signals"]["accuracy"] = f.get("accuracy_pct")
        f["notes"] = list(c.notes)
        cands.append(f)
    labels = _labels(cands)

    # Hardware fitness.
    lm, lm_note = latency_model(store)
    unmeasured = [f for f in cands if _num(f["check"].facts.get("latency")) is None
                  or _num(f["check"].facts.get("energy")) is None]
    preds = {}
    if lm is not None and unmeasured:
        # Benchmark-only models have no file facts: the feasibility check's needs stand in.
        rows = []
        for f in unmeasured:
            pf = f["check"].facts
            m = {**f, "arena_bytes": f.get("arena_bytes") or f["ram_need_bytes"],
                 "model_bytes": f.get("model_bytes") or _num(pf.get("needFlash"))}
            rows.append(graph_facts.prediction_row(m, device, pf.get("runtime")))
        preds = {f["model"]: p for f, p in zip(unmeasured, lm.predict(rows))}
    n_pred = 0
    for f in cands:
        pf, p = f["check"].facts, preds.get(f["model"])
        lat, en = _num(pf.get("latency")), _num(pf.get("energy"))
        f["latency_ms"], f["latency_provenance"] = (lat, "measured") if lat is not None else \
            ((p.value, p.provenance) if p is not None else (None, None))
        f["energy_uj"], f["energy_provenance"] = (en, "measured") if en is not None else \
            ((p.energy_uj, p.energy_provenance) if p is not None and p.energy_uj is not None else (None, None))
        n_pred += f["latency_provenance"] == "predicted"
        ram = _num(pf.get("ram"))
        f["ram_headroom"] = (ram - f["ram_need_bytes"]) / ram if ram and f["ram_need_bytes"] is not None else None
    if n_pred or lm is None:
        notes.append(lm_note)

    # Task fitness.
    if samples is not None:
        X, y, sample_notes = samples
        notes.extend(sample_notes)
        _transfer_scores(cands, X, y, model_dirs)
    mf = None
    if rankers.spider is not None or rankers.fusion is not None:
        mf = graph_rankers.model_features(cands)
        tok = graph_rankers.task_token(graph_facts.local_name(request.task), rankers.task_vocab)
        if rankers.spider is not None:
            for f, s in zip(cands, rankers.spider.score(mf, tok)):
                f["signals"]["learned"] = float(s)
            notes.append(f"learned task ranker: {rankers.path}")
    fusion_scores = None
    if method == "fusion":
        fusion_scores = rankers.fusion.score(mf, tok, graph_rankers.hardware_vector(device))

    present = [s for s in VOTING_TASK_SIGNALS if _present([f["signals"][s] for f in cands])]
    voters: dict[str, list] = {}
    if len(present) == 1:
        task_voter = present[0]
        voters["task"] = [f["signals"][present[0]] for f in cands]
    elif present:
        sub = borda({s: [f["signals"][s] for f in cands] for s in present}, labels)
        # Candidates no task signal speaks for abstain rather than get Borda's neutral points.
        voters["task"] = [sub.scores[lab] if any(f["signals"][s] is not None for s in present) else None
                          for lab, f in zip(labels, cands)]
        task_voter = "Borda over " + ", ".join(present)
    else:
        task_voter = "none"
        notes.append("no task fitness signal (no accuracy, data or trained ranker): ranked on hardware only")
    unknown_task: set[int] = set()
    if "task" in voters and None in voters["task"]:
        # Unknown never wins by abstention: a candidate the task voter has no figure for ranks
        # below every candidate with one (the voter orders; the value itself is shown as None).
        known = [v for v in voters["task"] if v is not None]
        unknown_task = {i for i, v in enumerate(voters["task"]) if v is None}
        voters["task"] = [min(known) - 1.0 if v is None else v for v in voters["task"]]
        for i in unknown_task:
            cands[i]["notes"].append("no task figure (accuracy or other task signal): "
                                     "ranked below every candidate with one on the task voter")
    lat = [f["latency_ms"] for f in cands]
    if _present(lat):
        voters["latency"] = lat
    energy = [f["energy_uj"] for f in cands]
    if _present(energy) >= 2:
        voters["energy"] = energy
    elif _present(energy) == 1:
        notes.append("energy does not vote: only one candidate has an energy figure")
    head = [f["ram_headroom"] for f in cands]
    if _present(head):
        voters["headroom"] = head
    for v in list(voters):
        vals = {float(x) for x in voters[v] if _num(x) is not None}
        if len(vals) == 1 and len(cands) > 1:
            # One figure for every candidate (e.g. an energy regressor with nothing to go on):
            # it cannot order them, and would only add "ties on ..." to every explanation.
            del voters[v]
            notes.append(f"{v} does not vote: every candidate with a figure has the same one")
    directions = {v: "min" for v in ("latency", "energy") if v in voters}
    if not voters and method != "fusion":
        voters["none"] = [0.0] * len(cands)  # nothing tells the candidates apart: the tie-break orders them
    result = _aggregate(method, voters, labels, directions, fusion_scores)
    if method == "fusion":
        for f, s in zip(cands, fusion_scores):
            f["signals"]["fusion"] = float(s)

    by_label = dict(zip(labels, cands))
    index = {lab: i for i, lab in enumerate(labels)}
    order = result.order
    rows = []
    for pos, lab in enumerate(order[:k]):
        f = by_label[lab]
        if pos + 1 < len(order):
            why = explain(result, lab, order[pos + 1])
        else:
            why = f"last of the {len(order)} feasible candidates" if len(order) > 1 else "the only feasible candidate"
        scores = {v: None if v == "task" and index[lab] in unknown_task else _num(vals[index[lab]])
                  for v, vals in voters.items()}
        if method == "fusion":
            scores = {"fusion": float(result.scores[lab]), **scores}
        vr = {v: (None if math.isnan(r[lab]) else float(r[lab])) for v, r in result.voter_ranks.items()}
        rows.append(RankedModel(
            rank=pos + 1, model=f["model"], name=f["name"], label=lab,
            accuracy_pct=f.get("accuracy_pct"), accuracy_provenance=f.get("accuracy_provenance"),
            accuracy_metric=f.get("accuracy_metric"),
            latency_ms=f["latency_ms"], latency_provenance=f["latency_provenance"],
            energy_uj=f["energy_uj"], energy_provenance=f["energy_provenance"],
            ram_need_bytes=_int(f["ram_need_bytes"]), ram_headroom=f["ram_headroom"],
            flash_need_bytes=_int(f["check"].facts.get("needFlash")),
            macs=_int(f.get("macs")), params=_int(f.get("params")), arena_bytes=_int(f.get("arena_bytes")),
            model_bytes=_int(f.get("model_bytes")), format=f.get("format"), quantization=f.get("quantization"),
            operators=list(f.get("operators") or []), task_signals=dict(f["signals"]), scores=scores,
            voter_ranks=vr, score=_num(result.scores[lab]), why=why,
            warnings=list(f["check"].warnings), notes=f["notes"], outcome=f["check"].outcome,
            unknowns=list(f["check"].unknowns), provenance=dict(f["check"].provenance)))
    return answer(rows, list(result.voters), directions, result.tiebreak, task_voter)
