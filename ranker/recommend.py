"""Recommend pre-trained models for a device and a task, over the knowledge graph.

    recommend(store, Request(device=..., task=...), method="shadow", k=10, data=None)
        -> Recommendation (rows: RankedModel, best first; excluded; voters; notes)

1. Candidates: the models of the task (or modality) that fit or likely fit the device (only
   those that fit for `verified_only`), from the requirement index (kg.feasibility.fast_outcomes);
   the full check (kg.feasibility.check_pairs) runs only for the k rows shown, whose outcome,
   unknown figures behind a "likely", notes such as "needs an external camera" and figure
   provenance it gives, and for the excluded models, whose reasons it gives (why_not=False
   skips those: at registry scale they are most of the cost). `full_check=True` is the
   reference path: feasible_models for every model, Copeland over every pair; tests hold the
   two answers equal.
2. Facts of all candidates as columns (ranker.graph_facts.model_table, read from the store once
   per write of it; a dict per model only for the rows shown, graph_facts.model_facts): name,
   MACs, parameters, arena and file bytes, operators, format, quantization, and accuracy for
   the task with its provenance ("measured" on this device, "reported" by the model's
   description, or "measured-other-device"); the pair's measured figures as the full check
   reads them (graph_facts.pair_figures).
3. Hardware fitness, per candidate on this device:
   * latency / energy: the best (minimum) benchmark record of the pair, as the feasibility
     budgets use it ("measured"); otherwise ranker.cost_model.HardwarePredictor's prediction
     with its 90 % interval ("predicted", with the runtime the full check finds:
     graph_facts.runtime_for): the cost model from the operator work in the model's file, the
     metadata regressor for models known only from tables, fitted on every benchmark record
     of the graph (what `arachne predict` says; ranker.cost_model.hardware_predictor caches it
     per content hash of what it is fitted on, in this process and on disk);
   * RAM headroom: (device RAM - need) / device RAM, need = RAM measured on this device,
     else on ST Edge AI the file's peak activations x the ratio learned from the STM32 zoo
     (ranker.cost_model.runtime_ram, what `predict` says), else the tensor arena (the
     feasibility check's figure).
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
   shadow = Copeland (tie-break: Borda points, then the task voter's rank, then the name; only
   the first k+1 places are worked out, ranker.aggregation.copeland_top);
   borda, rrf, weighted (equal weights over min-max normalised scores), lexicographic (in the
   voter order, no tolerance); fusion = the trained hardware-aware ranker's score (ties: the
   task voter's rank, then the name). Each row's `why` is ranker.aggregation.explain against
   the next candidate in the full order.
"""
from __future__ import annotations

import math
import warnings
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

from kg.errors import InputError
from kg.feasibility import Request, check_pairs, fast_outcomes, feasible_models
from kg.vocab import MODALITY_TERMS

from . import graph_facts, graph_rankers
from .cost_model import hardware_predictor, runtime_ram
from .graph_facts import _num
from .aggregation import (AggregationResult, borda, copeland, copeland_top, explain, lexicographic,
                          reciprocal_rank_fusion, weighted_sum)

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
    # [low, high] of a predicted figure's 90 % interval (None when measured or unknown).
    latency_interval90_ms: list[float] | None = None
    energy_interval90_uj: list[float] | None = None


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
    `task_voter` says how the task voter was formed; `notes` what was missing or assumed;
    `excluded_count` models of the task do not fit, `excluded` lists them with their reasons
    (empty when asked with why_not=False)."""

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
    excluded_count: int = 0  # models of the task that do not fit (listed in `excluded` unless why_not=False)

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
def _aggregate(method: str, voters: dict, labels: list[str], directions: dict, fusion_scores=None,
               top: int | None = None) -> AggregationResult:
    """The method's result; for shadow with `top`, only the first `top` places are worked out."""
    if method == "shadow":
        return copeland(voters, labels, directions) if top is None else copeland_top(voters, labels, directions, top)
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


def _labels(names: list[str], models: list[str]) -> list[str]:
    """Unique short names for the aggregation (they appear in the explanations)."""
    seen = Counter(names)
    return [name if seen[name] == 1 else f"{name} <{model}>" for name, model in zip(names, models)]


def _floats(values) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def _excluded(checks) -> list[Excluded]:
    return [Excluded(c.model, c.name, list(c.why_not), list(c.warnings), c.outcome) for c in checks]


def _runtimes(store, device: dict, table, rows: np.ndarray) -> list[str | None]:
    """The runtime (IRI) the full check finds for each of the models `rows` on `device`."""
    runtimes = graph_facts.device_runtimes(store, device["device"])
    found: dict[int, str | None] = {}  # the runtime depends on formats and operators only: few distinct ones
    for code in np.unique(table.need[rows]).tolist():
        formats, operators = table.needs[code]
        found[code] = graph_facts.runtime_for({"formats": formats, "operators": operators}, runtimes)
    return [found[c] for c in table.need[rows].tolist()]


def _predict(store, device: dict, table, rows: np.ndarray, runtimes: list[str | None], arena: np.ndarray,
             model_bytes: np.ndarray, latency: np.ndarray) -> dict:
    """{target: [(value, low, high, how) or None per row]} of the hardware predictor, for the
    models `rows` (of graph_facts.model_table) on `device`, in their `runtimes`; a row's
    measured ``latency`` (NaN: none) gives its energy with the board's power."""
    predictor = hardware_predictor(store)
    batch = graph_facts.prediction_columns(table, rows, device, runtimes, arena, model_bytes)
    return {t: predictor.predict(batch, t, measured_latency=latency) for t in predictor.TARGETS}


def _mapped_ram(table, rows: np.ndarray, runtimes: list[str | None]) -> tuple[np.ndarray, list[str]]:
    """RAM of the models `rows` on a runtime that plans its own buffers (ST Edge AI), as `predict`
    maps it from the file's peak activations (NaN where no mapping applies), and how it was mapped."""
    mapping = runtime_ram()
    out, how = np.full(len(rows), np.nan), {}
    peak = table.numbers["peak_activation_bytes"][rows]
    texts = [graph_facts.runtime_text(rt) for rt in runtimes]
    for text in set(texts):
        at = np.flatnonzero(np.array([t == text for t in texts]) & (peak > 0))
        got = mapping.factor(text) if at.size else None
        if got is not None:
            out[at] = peak[at] * got[0]
            how[got[2]] = None
    return out, list(how)


def recommend(store, request: Request, method: str = "shadow", k: int = 10, data=None,
              ranker_path: str | Path | None = None, model_dirs: Iterable[str | Path] = (),
              why_not: bool = True, full_check: bool = False) -> Recommendation:
    """Rank the feasible models of `request` (see the module docstring). InputError on a bad
    request, method or data file, or for method='fusion' without a trained ranker.

    why_not=False leaves `excluded` empty (`excluded_count` still counts them): their reasons
    need the full check of every excluded model, the one cost that grows with the registry.
    full_check=True is the reference path (the full check of every model of the device, and
    Copeland over every pair): the same answer, slower; tests hold the two equal.
    The candidates are columns (numpy arrays over graph_facts.model_table), a dict each only
    for the rows shown and for the optional signals that need one (data, a trained ranker)."""
    if method not in METHODS:
        raise InputError("request", "method", f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    if not request.device:
        raise InputError("request", "device", "a recommendation needs a device")
    if k < 1:
        raise InputError("request", "k", f"k must be at least 1, found {k}")
    request.validated()
    device = graph_facts.device_facts(store, [request.device]).get(request.device)
    if device is None:
        raise InputError("request", "device", f"no device {request.device} in the registry")
    samples = load_samples(data) if data is not None else None
    rankers = graph_rankers.load(ranker_path)
    if method == "fusion" and rankers.fusion is None:
        raise InputError(str(graph_rankers.fusion_path(rankers.path)), "--method fusion",
                         "needs the trained hardware-aware ranker: run `arachne train-ranker` first"
                         + (f" ({rankers.problems[0]})" if rankers.problems else ""))

    table = graph_facts.model_table(store)
    if full_check:
        feasible, infeasible = feasible_models(store, request)
        checks = {c.model: c for c in feasible}
        models = [c.model for c in feasible]
        excluded, n_excluded = (_excluded(infeasible) if why_not else []), len(infeasible)
        # What the ranking reads of each pair: the check's own figures.
        need_ram, need_flash, latency, energy, measured_ram = (
            _floats([_num(c.facts.get(key)) for c in feasible])
            for key in ("needRam", "needFlash", "latency", "energy", "mram"))
        rows = table.rows(models)
    else:
        # Candidates from the requirement index; the full check only for the rows shown (and
        # the excluded models, when their reasons are asked for).
        checks = {}
        modality = MODALITY_TERMS.get(request.modality) if request.modality else None
        wanted = graph_facts.models_of(store, request.task, str(modality) if modality is not None else None)
        outcomes = fast_outcomes(store, request, checks)
        models = [m for m in wanted if m in outcomes]
        excluded, n_excluded = [], len(wanted) - len(models)
        if why_not and n_excluded:
            others = [m for m in wanted if m not in outcomes]
            excluded = _excluded(check_pairs(store, device=request.device, request=request, models=others))
        # The full check's figures: the device's records, else the model's arena for RAM.
        rows = table.rows(models)
        need_ram = table.numbers["arena_bytes"][rows]
        need_flash, latency, energy, measured_ram = (np.full(len(models), np.nan) for _ in range(4))
        position = {m: i for i, m in enumerate(models)}
        for m, got in graph_facts.pair_figures(store, request.device).items():
            i = position.get(m)
            if i is not None:
                for column, key in ((need_ram, "mram"), (measured_ram, "mram"), (need_flash, "mflash"),
                                    (latency, "latency"), (energy, "energy")):
                    if _num(got.get(key)) is not None:
                        column[i] = _num(got[key])
    notes: list[str] = list(rankers.problems)
    req = {"device": request.device, "task": request.task, "modality": request.modality,
           "max_latency_ms": request.max_latency_ms, "max_energy_uj": request.max_energy_uj,
           "reserved_ram_bytes": request.reserved_ram_bytes, "reserved_flash_bytes": request.reserved_flash_bytes,
           "verified_only": request.verified_only, "onboard_sensors": request.onboard_sensors}

    def answer(rows, voters, directions, tiebreak, task_voter):
        return Recommendation(request.device, device.get("name"), request.task, method, k, voters, directions,
                              tiebreak, task_voter, len(models), rows, excluded, notes, req, n_excluded)

    if not models:
        notes.append("no feasible model for this request" + (f"; {n_excluded} excluded" if n_excluded else ""))
        return answer([], [], {}, "", "")

    n = len(models)
    names = [table.name[r] or graph_facts.local_name(m) for r, m in zip(rows.tolist(), models)]
    labels = _labels(names, models)
    cand_notes: dict[int, list[str]] = {}

    # Hardware fitness: the measured figure, else the predictor's with its 90 % interval.
    figures = {"latency": latency, "energy": energy}
    provenance = {key: np.where(np.isnan(col), None, "measured").astype(object) for key, col in figures.items()}
    predicted: dict[str, tuple[list, np.ndarray]] = {}  # key -> (predictions, candidate -> its index there or -1)
    unmeasured = np.flatnonzero(np.isnan(latency) | np.isnan(energy))
    used: dict[str, None] = {}  # how the figures shown were predicted, once each
    no_ram = np.flatnonzero(np.isnan(measured_ram))
    wanted = np.union1d(unmeasured, no_ram)
    runtime_of = dict(zip(wanted.tolist(), _runtimes(store, device, table, rows[wanted]))) if wanted.size else {}
    if unmeasured.size:
        # Benchmark-only models have no file facts: the feasibility check's needs stand in.
        def fallback(own, need):
            return np.where(np.isnan(own) | (own == 0), need, own)
        sub = rows[unmeasured]
        preds = _predict(store, device, table, sub, [runtime_of[i] for i in unmeasured.tolist()],
                         fallback(table.numbers["arena_bytes"][sub], need_ram[unmeasured]),
                         fallback(table.numbers["model_bytes"][sub], need_flash[unmeasured]), latency[unmeasured])
        for target, key in (("latency_ms", "latency"), ("energy_uj", "energy")):
            got = preds[target]
            take = np.flatnonzero(np.isnan(figures[key][unmeasured])
                                  & np.fromiter((p is not None for p in got), bool, len(got)))
            at = np.full(n, -1)
            at[unmeasured[take]] = take
            figures[key][unmeasured[take]] = [got[j][0] for j in take.tolist()]
            provenance[key][unmeasured[take]] = "predicted"
            predicted[key] = (got, at)
            used.update(dict.fromkeys(got[j][3] for j in take.tolist()))

    def interval(key: str, i: int) -> list[float] | None:
        got, at = predicted.get(key, ([], None))
        return None if at is None or at[i] < 0 else [got[at[i]][1], got[at[i]][2]]
    notes.extend(used)
    if np.isnan(latency[unmeasured]).any():
        notes.append("no latency prediction: fewer than two devices with a measured latency")
    if no_ram.size:  # RAM on ST Edge AI: the file's activations mapped, as `predict` says (not the TFLM arena)
        mapped, how = _mapped_ram(table, rows[no_ram], [runtime_of[i] for i in no_ram.tolist()])
        take = np.isfinite(mapped)
        need_ram[no_ram[take]] = mapped[take]
        notes.extend(how)
    ram = device.get("ram_bytes")
    headroom = (ram - need_ram) / ram if ram else np.full(n, np.nan)

    # Task fitness.
    accuracy, accuracy_provenance = table.accuracy_for(models, rows, request.device)
    signals = {s: np.full(n, np.nan) for s in TASK_SIGNALS}
    signals["accuracy"] = accuracy
    mf = None
    if samples is not None or rankers.spider is not None or rankers.fusion is not None:
        # These signals read each candidate's facts as a dict (its file, its metadata).
        facts = graph_facts.model_facts(store, models, request.device)
        cands = [dict(facts.get(m) or {"model": m}, ram_need_bytes=_num(r), signals={}, notes=[])
                 for m, r in zip(models, need_ram.tolist())]
        if samples is not None:
            X, y, sample_notes = samples
            notes.extend(sample_notes)
            _transfer_scores(cands, X, y, model_dirs)
            for i, c in enumerate(cands):
                for s, v in c["signals"].items():
                    signals[s][i] = v
                if c["notes"]:
                    cand_notes[i] = c["notes"]
        if rankers.spider is not None or rankers.fusion is not None:
            mf = graph_rankers.model_features(cands)
            tok = graph_rankers.task_token(graph_facts.local_name(request.task), rankers.task_vocab)
            if rankers.spider is not None:
                signals["learned"] = np.asarray(rankers.spider.score(mf, tok), dtype=np.float64)
                notes.append(f"learned task ranker: {rankers.path}")
    fusion_scores = None
    if method == "fusion":
        fusion_scores = rankers.fusion.score(mf, tok, graph_rankers.hardware_vector(device))

    present = [s for s in VOTING_TASK_SIGNALS if (~np.isnan(signals[s])).any()]
    voters: dict[str, np.ndarray] = {}
    if len(present) == 1:
        task_voter = present[0]
        voters["task"] = signals[present[0]].copy()
    elif present:
        sub = borda({s: signals[s] for s in present}, labels)
        # Candidates no task signal speaks for abstain rather than get Borda's neutral points.
        spoken = ~np.isnan(np.vstack([signals[s] for s in present])).all(axis=0)
        voters["task"] = np.where(spoken, np.array([sub.scores[lab] for lab in labels]), np.nan)
        task_voter = "Borda over " + ", ".join(present)
    else:
        task_voter = "none"
        notes.append("no task fitness signal (no accuracy, data or trained ranker): ranked on hardware only")
    unknown_task = np.zeros(n, dtype=bool)
    if "task" in voters and np.isnan(voters["task"]).any():
        # Unknown never wins by abstention: a candidate the task voter has no figure for ranks
        # below every candidate with one (the voter orders; the value itself is shown as None).
        unknown_task = np.isnan(voters["task"])
        voters["task"][unknown_task] = np.nanmin(voters["task"]) - 1.0
    no_task_note = ("no task figure (accuracy or other task signal): "
                    "ranked below every candidate with one on the task voter")
    if (~np.isnan(figures["latency"])).any():
        voters["latency"] = figures["latency"]
    present_energy = int((~np.isnan(figures["energy"])).sum())
    if present_energy >= 2:
        voters["energy"] = figures["energy"]
    elif present_energy == 1:
        notes.append("energy does not vote: only one candidate has an energy figure")
    if (~np.isnan(headroom)).any():
        voters["headroom"] = headroom
    for v in list(voters):
        vals = voters[v]
        if np.unique(vals[np.isfinite(vals)]).size == 1 and n > 1:
            # One figure for every candidate (e.g. an energy regressor with nothing to go on):
            # it cannot order them, and would only add "ties on ..." to every explanation.
            del voters[v]
            notes.append(f"{v} does not vote: every candidate with a figure has the same one")
    directions = {v: "min" for v in ("latency", "energy") if v in voters}
    if not voters and method != "fusion":
        voters["none"] = np.zeros(n)  # nothing tells the candidates apart: the tie-break orders them
    # The rows shown and the one after the last (its explanation compares them) must be exact.
    result = _aggregate(method, voters, labels, directions, fusion_scores, None if full_check else k + 1)
    if method == "fusion":
        signals["fusion"] = np.asarray(fusion_scores, dtype=np.float64)

    index = {lab: i for i, lab in enumerate(labels)}
    order = result.order
    shown = [models[index[lab]] for lab in order[:k]]
    if not full_check:
        unchecked = [m for m in shown if m not in checks]
        if unchecked:
            checks.update((c.model, c) for c in check_pairs(store, device=request.device, request=request,
                                                            models=unchecked))
    facts = graph_facts.model_facts(store, shown, request.device)
    out = []
    for pos, lab in enumerate(order[:k]):
        i = index[lab]
        m = models[i]
        f, check = facts.get(m) or {"model": m}, checks[m]
        if pos + 1 < len(order):
            why = explain(result, lab, order[pos + 1])
        else:
            why = f"last of the {len(order)} feasible candidates" if len(order) > 1 else "the only feasible candidate"
        scores = {v: None if v == "task" and unknown_task[i] else _num(vals[i]) for v, vals in voters.items()}
        if method == "fusion":
            scores = {"fusion": float(result.scores[lab]), **scores}
        vr = {v: (None if math.isnan(r[lab]) else float(r[lab])) for v, r in result.voter_ranks.items()}
        out.append(RankedModel(
            rank=pos + 1, model=m, name=names[i], label=lab,
            accuracy_pct=_num(accuracy[i]), accuracy_provenance=accuracy_provenance[i],
            accuracy_metric=f.get("accuracy_metric"),
            latency_ms=_num(figures["latency"][i]), latency_provenance=provenance["latency"][i],
            energy_uj=_num(figures["energy"][i]), energy_provenance=provenance["energy"][i],
            latency_interval90_ms=interval("latency", i), energy_interval90_uj=interval("energy", i),
            ram_need_bytes=_int(need_ram[i]), ram_headroom=_num(headroom[i]),
            flash_need_bytes=_int(check.facts.get("needFlash")),
            macs=_int(f.get("macs")), params=_int(f.get("params")), arena_bytes=_int(f.get("arena_bytes")),
            model_bytes=_int(f.get("model_bytes")), format=f.get("format"), quantization=f.get("quantization"),
            operators=list(f.get("operators") or []),
            task_signals={s: _num(v[i]) for s, v in signals.items()}, scores=scores,
            voter_ranks=vr, score=_num(result.scores[lab]), why=why,
            warnings=list(check.warnings),
            notes=list(check.notes) + cand_notes.get(i, []) + ([no_task_note] if unknown_task[i] else []),
            outcome=check.outcome,
            unknowns=list(check.unknowns), provenance=dict(check.provenance)))
    return answer(out, list(result.voters), directions, result.tiebreak, task_voter)
