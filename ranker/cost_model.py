"""Per-board cost model: latency (or energy) from the work in a model's graph.

    latency = exp(eta_board) / clock * sum_k work_k * cycles_k(core, runtime, dtype)

``work_k`` is what the model file says each operator class does per inference
(kg/tflite_model.py, kg/onnx_model.py: MACs of conv, depthwise and dense ops,
output elements of pooling / elementwise / activation ops, plus 1 for the fixed
per-inference overhead); ``cycles_k`` = exp(theta_k + delta_k[core family] +
delta_k[runtime family] + delta_k[data type] + delta_k[accelerator]), the deltas
ridge-shrunk to 0 so a family seen on few boards stays near the global figure;
a light pull on eta sends what boards of one category share into its delta.
The penalties (ridge = eta_ridge = board_ridge = 1, calibration_prior = 0.1)
were set among a handful of values by the leave-one-board-out figures of
benchmarks/hardware_prediction.py (no held-out board is seen by any fit).  Tables without files
(the STM32 zoo) give log-linear metadata terms instead (``log_fields``: weight
bytes, activation bytes, input size), and a model measured on other boards can
carry its own shrunk effect (``model_effect``).  Everything is fitted in log
space (scipy least squares), so a 2x error counts the same on a 1 ms and a 1 s
model.

A board nobody measured gets eta from a ridge regression of the training
boards' eta on their specs (core, runtime and accelerator families, log clock);
``calibrate`` replaces it with the shrunk mean residual of a few records measured
on that board.  Intervals: split-conformal, from out-of-board residuals
(``conformal_quantile``, ``fit_with_interval``): with 90 % coverage the true
figure lies in [pred / exp(q), pred * exp(q)].

The residual learner (``residual="gbr"``, gradient boosting on the log residual)
is used only where the benchmark finds it wins (benchmarks/hardware_prediction.py).
"""
from __future__ import annotations

import math
from typing import Iterable, Mapping, Sequence

import numpy as np

from .hardware import (MeasurementModel, accelerator_kind, core_family, finite_float, quantization_kind,
                       runtime_family)

__all__ = ["WORK_CLASSES", "CostModel", "conformal_quantile", "work_fields", "lobo_predictions",
           "fit_with_interval", "graph_work", "store_work", "HardwarePredictor", "predict_pairs"]

# Work columns of a record: work_<class>; "overhead" (1 per inference) is added by the model.
WORK_CLASSES = ("conv", "depthwise", "dense", "other")
_BOARD_CATS = {"core": core_family, "runtime": runtime_family, "accelerator": accelerator_kind}


def work_fields(operators: Iterable[Mapping]) -> dict[str, float]:
    """work_<class> of a record from a model's operator uses (dicts or OperatorUse-like
    objects with op_class, macs, output_elements): MACs for conv / depthwise / dense,
    output elements of every other op (pooling, elementwise, activation, data movement)."""
    out = {f"work_{c}": 0.0 for c in WORK_CLASSES}
    for op in operators:
        get = op.get if isinstance(op, Mapping) else (lambda k, o=op: getattr(o, k, None))
        cls = get("op_class") or "other"
        if cls in ("conv", "depthwise", "dense"):
            out[f"work_{cls}"] += float(get("macs") or 0)
        else:
            out["work_other"] += float(get("output_elements") or 0)
    return out


def conformal_quantile(abs_residuals: Sequence[float], coverage: float = 0.9) -> float:
    """Split-conformal quantile: the ceil((n+1) * coverage)-th smallest |residual| (inf if n is too small)."""
    r = np.sort(np.abs(np.asarray([x for x in abs_residuals if np.isfinite(x)], dtype=float)))
    k = math.ceil((len(r) + 1) * coverage)
    return float(r[k - 1]) if 0 < k <= len(r) else float("inf")


class CostModel:
    """log(target) = log(sum_k work_k * cycles_k) + phi . log_fields + eta_board [+ gamma_model].

    Records are mappings with ``board``, ``model``, ``core``, ``runtime``,
    ``accelerator``, ``quantization``, ``clock_mhz``, the work_<class> fields
    (``work=True``) and the ``log_fields``, plus the positive ``target``.
    """

    def __init__(self, target: str = "latency_ms", *, work: bool = True, log_fields: Sequence[str] = (),
                 model_effect: bool = False, residual: str | None = None, ridge: float = 1.0,
                 board_ridge: float = 1.0, calibration_prior: float = 0.1, board_key: str = "board",
                 eta_ridge: float = 1.0, seed: int = 0):
        self.target, self.work, self.log_fields = target, work, tuple(log_fields)
        self.model_effect, self.residual = model_effect, residual
        self.ridge, self.board_ridge, self.kappa, self.seed = ridge, board_ridge, calibration_prior, seed
        self.eta_ridge = eta_ridge
        self.board_key = board_key  # the field whose value has one efficiency (a board, or board + engine)

    # -- design -----------------------------------------------------------
    def _cats(self, r: Mapping) -> tuple[str, ...]:
        return (core_family(r.get("core")), runtime_family(r.get("runtime")),
                quantization_kind(r.get("quantization")), accelerator_kind(r.get("accelerator")))

    def _work(self, rows) -> np.ndarray:
        """(n, K) work per class, last column the overhead (1)."""
        if not self.work:
            return np.ones((len(rows), 1))
        W = np.array([[max(finite_float(r.get(f"work_{c}")), 0.0) if np.isfinite(finite_float(r.get(f"work_{c}")))
                       else 0.0 for c in WORK_CLASSES] for r in rows])
        return np.concatenate([W, np.ones((len(rows), 1))], axis=1)

    def _logx(self, rows) -> np.ndarray:
        X = np.array([[finite_float(r.get(f)) for f in self.log_fields] for r in rows]).reshape(len(rows), -1)
        X = np.log(np.where(X > 0, X, np.nan))
        return np.where(np.isnan(X), self.x_mean, X) if hasattr(self, "x_mean") else X

    def _log_clock(self, rows) -> np.ndarray:
        c = np.array([finite_float(r.get("clock_mhz")) for r in rows])
        return np.log(np.where(c > 0, c, np.nan))

    def _cycles_log(self, rows, params) -> np.ndarray:
        """(n, K) log cycles per unit of work for each row's core, runtime and dtype."""
        theta, deltas = params
        out = np.tile(theta, (len(rows), 1))
        for j, r in enumerate(rows):
            for a, lv in zip(self._cats(r), self.levels):
                if a in lv:
                    out[j] += deltas[lv[a]]
        return out

    # -- fit ----------------------------------------------------------------
    def fit(self, records: Iterable[Mapping]) -> "CostModel":
        from scipy.optimize import least_squares
        from threadpoolctl import threadpool_limits

        self.__dict__.pop("x_mean", None)  # a refit imputes with its own training mean
        rows = [r for r in records if finite_float(r.get(self.target)) > 0]
        if len(rows) < 3:
            raise ValueError(f"need at least three records with a positive {self.target!r}")
        y = np.log([finite_float(r[self.target]) for r in rows])
        raw = self._logx(rows)
        self.x_mean = np.nan_to_num(np.nanmean(raw, axis=0)) if raw.size else np.zeros(raw.shape[1])
        X = self._logx(rows)
        W = self._work(rows)
        K = W.shape[1]
        # Per-category deltas (core, runtime, dtype): one row of K per level.
        cats = [self._cats(r) for r in rows]
        self.levels, n_lv = [], 0
        for i in range(4):
            lv = {}
            for c in sorted({c[i] for c in cats}):
                lv[c] = n_lv
                n_lv += 1
            self.levels.append(lv)
        idx = np.array([[lv[c[i]] for i, lv in enumerate(self.levels)] for c in cats])
        self.boards = sorted({str(r.get(self.board_key)) for r in rows})
        bidx = np.array([self.boards.index(str(r.get(self.board_key))) for r in rows])
        self.models = sorted({str(r.get("model")) for r in rows}) if self.model_effect else []
        midx = np.array([self.models.index(str(r.get("model"))) for r in rows]) if self.model_effect else None
        lclock = self._log_clock(rows)
        self.mean_log_clock = float(np.nanmean(lclock)) if np.isfinite(lclock).any() else 0.0
        lclock = np.where(np.isnan(lclock), self.mean_log_clock, lclock)
        # Scale work so the initial cycles are O(1): theta starts at the median cycles per unit.
        self.scale = np.array([np.median(W[W[:, k] > 0, k]) if (W[:, k] > 0).any() else 1.0 for k in range(K)])
        Ws = W / self.scale
        nb, nm, nx = len(self.boards), len(self.models), X.shape[1]
        start = float(np.median(y + lclock - np.log(Ws.sum(1) + 1e-12)))

        def unpack(p):
            o = 0
            theta = p[o:o + K]; o += K
            deltas = p[o:o + n_lv * K].reshape(n_lv, K); o += n_lv * K
            phi = p[o:o + nx]; o += nx
            eta = p[o:o + nb]; o += nb
            gam = p[o:o + nm]
            return theta, deltas, phi, eta, gam

        sq = math.sqrt(self.ridge)

        def resid(p):
            theta, deltas, phi, eta, gam = unpack(p)
            lc = theta[None, :] + deltas[idx].sum(axis=1)
            # clipped: a wild step of the solver must not overflow into NaN
            pred = np.log(np.maximum((Ws * np.exp(np.clip(lc, -60, 60))).sum(1), 1e-30)) + X @ phi + eta[bidx] - lclock
            if nm:
                pred = pred + gam[midx]
            return np.concatenate([pred - y, sq * deltas.ravel(), sq * gam,
                                   # theta of a class no training model uses stays near the start
                                   1e-3 * (theta - start),
                                   # a light pull on the board effects: what boards of one core,
                                   # runtime or accelerator share goes to that category's delta,
                                   # which a new board of the category then inherits
                                   se * eta])

        n = len(rows)
        P = K + n_lv * K + nx + nb + nm
        # Constant parts of the Jacobian: penalties, metadata, board and model one-hots.
        se = math.sqrt(self.eta_ridge)
        J0 = np.zeros((n + n_lv * K + nm + K + nb, P))
        J0[n + n_lv * K + nm + K + np.arange(nb), K + n_lv * K + nx + np.arange(nb)] = se
        J0[:n, K + n_lv * K:K + n_lv * K + nx] = X
        J0[np.arange(n), K + n_lv * K + nx + bidx] = 1.0
        if nm:
            J0[np.arange(n), K + n_lv * K + nx + nb + midx] = 1.0
            J0[n + n_lv * K + np.arange(nm), K + n_lv * K + nx + nb + np.arange(nm)] = sq
        J0[n + np.arange(n_lv * K), K + np.arange(n_lv * K)] = sq
        J0[n + n_lv * K + nm + np.arange(K), np.arange(K)] = 1e-3

        onehot = np.zeros((n, n_lv))
        for i in range(idx.shape[1]):
            onehot[np.arange(n), idx[:, i]] = 1.0

        def jac(p):
            theta, deltas = unpack(p)[:2]
            e = Ws * np.exp(np.clip(theta[None, :] + deltas[idx].sum(axis=1), -60, 60))
            share = e / np.maximum(e.sum(1, keepdims=True), 1e-30)  # d pred / d log cycles_k
            J = J0.copy()
            J[:n, :K] = share
            J[:n, K:K + n_lv * K] = (onehot[:, :, None] * share[:, None, :]).reshape(n, n_lv * K)
            return J

        p0 = np.concatenate([np.full(K, start), np.zeros(n_lv * K + nx + nb + nm)])
        try:
            with threadpool_limits(1):  # a few hundred rows: BLAS threads only contend (100x slower here)
                sol = least_squares(resid, p0, jac=jac, method="trf", max_nfev=100, tr_solver="lsmr")
        except (np.linalg.LinAlgError, ValueError) as exc:
            raise ValueError(f"the {self.target} cost model did not converge on these records ({exc})") from exc
        theta, deltas, self.phi, self.eta, self.gamma = unpack(sol.x)
        self.params = (theta, deltas)
        self._fit_board_prior(rows, bidx)
        self.res_learner = None
        if self.residual == "gbr":
            from sklearn.ensemble import HistGradientBoostingRegressor

            r = y - self._base_log(rows, use_fitted_boards=True)
            self.res_learner = HistGradientBoostingRegressor(
                max_iter=100, learning_rate=0.05, max_leaf_nodes=8, min_samples_leaf=5,
                l2_regularization=1.0, random_state=self.seed).fit(self._resid_features(rows), r)
        return self

    def _board_features(self, rows) -> np.ndarray:
        parts = [self._log_clock(rows).reshape(-1, 1)]
        parts[0] = np.where(np.isnan(parts[0]), self.mean_log_clock, parts[0])
        for k, fn in _BOARD_CATS.items():
            lv = self.board_levels[k]
            oh = np.zeros((len(rows), len(lv)))
            for i, r in enumerate(rows):
                v = fn(r.get(k))
                if v in lv:
                    oh[i, lv.index(v)] = 1.0
            parts.append(oh)
        return np.concatenate(parts, axis=1)

    def _fit_board_prior(self, rows, bidx) -> None:
        """Ridge of the fitted board effects on the boards' specs: eta of an unseen board."""
        from sklearn.linear_model import Ridge

        first = {}
        for r, b in zip(rows, bidx):
            first.setdefault(b, r)
        brows = [first[b] for b in range(len(self.boards))]
        self.board_levels = {k: sorted({fn(r.get(k)) for r in brows}) for k, fn in _BOARD_CATS.items()}
        F = self._board_features(brows)
        self.board_prior = Ridge(alpha=self.board_ridge).fit(F, self.eta)

    def _resid_features(self, rows) -> np.ndarray:
        W = np.log1p(self._work(rows)[:, :-1]) if self.work else np.zeros((len(rows), 0))
        return np.concatenate([W, self._logx(rows), self._board_features(rows)], axis=1)

    # -- predict --------------------------------------------------------------
    def _base_log(self, rows, use_fitted_boards: bool = False, eta: np.ndarray | None = None) -> np.ndarray:
        W = self._work(rows) / self.scale
        lc = self._cycles_log(rows, self.params)
        lclock = self._log_clock(rows)
        lclock = np.where(np.isnan(lclock), self.mean_log_clock, lclock)
        out = np.log(np.maximum((W * np.exp(np.clip(lc, -60, 60))).sum(1), 1e-30)) + self._logx(rows) @ self.phi - lclock
        if self.model_effect:
            out += np.array([self.gamma[self.models.index(str(r.get("model")))]
                             if str(r.get("model")) in self.models else 0.0 for r in rows])
        if eta is None:
            prior = self.board_prior.predict(self._board_features(rows))
            eta = np.array([self.eta[self.boards.index(str(r.get(self.board_key)))]
                            if use_fitted_boards and str(r.get(self.board_key)) in self.boards else p
                            for r, p in zip(rows, prior)])
        return out + eta

    def predict_log(self, rows: Sequence[Mapping], calibration: Sequence[Mapping] = ()) -> np.ndarray:
        """log(target) per row.  A row's board seen in training keeps its fitted effect;
        otherwise the specs prior, moved by ``calibration`` records of that board (same
        ``board`` value): eta = (sum of their residuals + kappa * prior) / (n + kappa)."""
        rows = list(rows)
        if not rows:
            return np.zeros(0)
        base = self._base_log(rows, use_fitted_boards=True)
        if self.res_learner is not None:
            base = base + self.res_learner.predict(self._resid_features(rows))
        cal = [c for c in calibration if finite_float(c.get(self.target)) > 0]
        if cal:
            cal_pred = self.predict_log(cal)
            by: dict[str, list[float]] = {}
            for c, p in zip(cal, cal_pred):
                by.setdefault(str(c.get(self.board_key)), []).append(math.log(finite_float(c[self.target])) - p)
            shift = {b: sum(v) / (len(v) + self.kappa) for b, v in by.items()}
            base = base + np.array([shift.get(str(r.get(self.board_key)), 0.0) for r in rows])
        return base


def fit_with_interval(make, records: Sequence[Mapping], target: str, group: str = "board",
                      folds: int = 10, coverage: float = 0.9, relative: bool = False):
    """(model fitted on every record, log half-width q of its 90 % split-conformal interval).
    q comes from out-of-group residuals: the ``group`` values (boards, devices) are dealt into
    ``folds`` folds, each predicted by a model fitted on the others, so a board never
    calibrates its own interval.  ``relative``: residuals centred within each group, the
    uncertainty of comparing two candidates on the same board (the board's shared offset cancels)."""
    records = [r for r in records if finite_float(r.get(target)) > 0]
    keys = sorted({str(r.get(group)) for r in records})
    fold_of = {k: i % folds for i, k in enumerate(keys)}
    resid = []
    for f in range(min(folds, len(keys))):
        test = [r for r in records if fold_of[str(r.get(group))] == f]
        train = [r for r in records if fold_of[str(r.get(group))] != f]
        try:
            m = make().fit(train)
        except ValueError:
            continue
        r = np.log([finite_float(x[target]) for x in test]) - m.predict_log(test)
        if relative:
            g = np.array([str(x.get(group)) for x in test])
            r = r - np.array([r[g == k].mean() for k in g])
        resid += list(r)
    return make().fit(records), conformal_quantile(np.abs(resid), coverage)


def lobo_predictions(records: Sequence[Mapping], make, target: str = "latency_ms") -> np.ndarray:
    """Leave-one-board-out log predictions of ``target`` (NaN where a board's fit failed):
    each board's records predicted by ``make()`` fitted on every other board."""
    records = list(records)
    out = np.full(len(records), np.nan)
    for b in sorted({str(r.get("board")) for r in records}):
        train = [r for r in records if str(r.get("board")) != b and finite_float(r.get(target)) > 0]
        idx = [i for i, r in enumerate(records) if str(r.get("board")) == b]
        try:
            m = make().fit(train)
        except ValueError:
            continue
        out[idx] = m.predict_log([records[i] for i in idx])
    return out


# ---------------------------------------------------------------------------
# The product: figures for (model, device) pairs of a store
# ---------------------------------------------------------------------------
_WORK_QUERY = """PREFIX ar: <https://w3id.org/arachne#>
SELECT ?model ?cls (SUM(?macs) AS ?m) (SUM(?out) AS ?o) WHERE {
  #VALUES#
  ?model ar:hasOperatorUse ?u . ?u ar:operatorClass ?cls ; ar:operatorMacs ?macs ; ar:operatorOutputElements ?out .
} GROUP BY ?model ?cls"""


def _read_work(store) -> tuple[dict[str, dict[str, float]], str]:
    import hashlib

    work = graph_work(store)
    return work, hashlib.sha256(repr(sorted((m, sorted(w.items())) for m, w in work.items())).encode()).hexdigest()


def store_work(store) -> tuple[dict[str, dict[str, float]], str]:
    """(graph_work of every model, a digest of it), read once per write of the store."""
    from . import graph_facts

    return graph_facts.cached(store, _read_work)


def graph_work(store, models: Sequence[str] | None = None) -> dict[str, dict[str, float]]:
    """{model IRI: work_<class>} from the operator classes stored at import (one query);
    a model known only from benchmark tables falls back to MACs x the conv / depthwise /
    dense shares (kg.graph_facts), and is absent when it has neither."""
    from . import graph_facts

    values = f"VALUES ?model {{ {' '.join(f'<{m}>' for m in models)} }}" if models is not None else ""
    out: dict[str, dict[str, float]] = {}
    for r in store.select(_WORK_QUERY.replace("#VALUES#", values)).dicts():
        ops = [{"op_class": r["cls"], "macs": finite_float(r["m"]), "output_elements": finite_float(r["o"])}]
        w = out.setdefault(r["model"], {f"work_{c}": 0.0 for c in WORK_CLASSES})
        for k, v in work_fields(ops).items():
            w[k] += v
    for m, f in graph_facts.model_facts(store, models).items():
        macs = finite_float(f.get("macs"))
        if m not in out and macs > 0:
            shares = [finite_float(f.get(k)) for k in ("frac_conv", "frac_dwconv", "frac_dense")]
            shares = [s if np.isfinite(s) else 0.0 for s in shares]
            conv = shares[0] if sum(shares) > 0 else 1.0  # no breakdown: all MACs count as conv
            out[m] = {"work_conv": macs * conv, "work_depthwise": macs * shares[1],
                      "work_dense": macs * shares[2], "work_other": 0.0}
    return out


class HardwarePredictor:
    """Latency (ms) and energy (uJ) of (model, device) rows, fitted on a store's benchmark records:
    what `recommend`, `predict` and /predict share.  The cost model for models whose file gave
    their operator work; today's metadata regressor (ranker.hardware.MeasurementModel) for
    models known only from tables; each with its split-conformal 90 % interval.  Each (target,
    kind) is fitted on first use, so a question about one model pays for one fit."""

    TARGETS = ("latency_ms", "energy_uj")

    def __init__(self, rows: Sequence[Mapping], work: Mapping[str, Mapping[str, float]]):
        self.rows, self.work = list(rows), dict(work)
        self._fits: dict[tuple[str, bool], tuple | None] = {}

    @classmethod
    def from_store(cls, store) -> "HardwarePredictor":
        from . import graph_facts

        return cls(graph_facts.latency_training_rows(store), store_work(store)[0])

    def _fit(self, target: str, with_work: bool):
        key = (target, with_work)
        if key not in self._fits:
            from . import graph_facts

            if with_work:
                usable = [dict(r, board=r["device"], **self.work[r["model"]]) for r in self.rows
                          if r["model"] in self.work and finite_float(r.get(target)) > 0]
                make, how = (lambda: CostModel(target)), "cost model"
            else:
                usable = [dict(r, board=r["device"]) for r in self.rows if finite_float(r.get(target)) > 0]
                make = lambda: MeasurementModel(target, numeric=graph_facts.LATENCY_NUMERIC,  # noqa: E731
                                                categorical=graph_facts.LATENCY_CATEGORICAL)
                how = "metadata regressor"
            fit = None
            if len({r["board"] for r in usable}) >= 2:  # the interval needs an out-of-board residual
                model, q = fit_with_interval(make, usable, target)
                fit = (model, q, f"{target} predicted by the {how} fitted on {len(usable)} records; 90 % "
                                 f"interval = prediction x/÷ {math.exp(q):.2f} (split-conformal, leave-devices-out)")
            elif with_work:  # too few boards measured models with files: the metadata regressor
                fit = self._fit(target, False)
            self._fits[key] = fit
        return self._fits[key]

    def predict(self, rows: Sequence[Mapping], target: str) -> list[tuple[float, float, float, str] | None]:
        """(value, low, high, how it was predicted) of ``target`` per row (graph_facts.prediction_row
        dicts: the model's work is joined here); None where too few devices were measured to fit anything."""
        out: list = [None] * len(rows)
        for with_work in (True, False):
            idx = [i for i, r in enumerate(rows) if (r["model"] in self.work) == with_work]
            fit = self._fit(target, with_work) if idx else None
            if fit is None:
                continue
            model, q, how = fit
            batch = [dict(rows[i], board=rows[i]["device"], **self.work.get(rows[i]["model"], {})) for i in idx]
            for i, v in zip(idx, model.predict_log(batch)):
                out[i] = (math.exp(v), math.exp(v - q), math.exp(v + q), how)
        return out

    def fit_all(self) -> "HardwarePredictor":
        """Fit every predictor now (before the predictor is cached for many questions)."""
        for target in self.TARGETS:
            for with_work in (True, False):
                self._fit(target, with_work)
        return self


def _figure(value, provenance, low=None, high=None, unit="") -> dict:
    return {"value": value, "unit": unit, "provenance": provenance, "interval90": [low, high] if low is not None else None}


def predict_pairs(store, model: str, devices: Sequence[str]) -> dict:
    """Latency (ms), energy (uJ), RAM and flash (bytes) of ``model`` on each of ``devices``
    (IRIs), each with its provenance: "measured" (a benchmark record of the pair, median of
    repeats), "from the file" (flash = file size; RAM = the TFLM arena read at import) or
    "predicted" (HardwarePredictor, with its 90 % interval).  What /predict returns."""
    from . import graph_facts

    facts = graph_facts.model_facts(store, [model]).get(model)
    if facts is None:
        raise KeyError(model)
    devs = graph_facts.device_facts(store, list(devices))
    records = graph_facts.benchmark_records(store)
    predictor = HardwarePredictor.from_store(store)
    # The runtime the feasibility check finds on each device, as recommend predicts with it.
    rows = [graph_facts.prediction_row(facts, devs.get(dev) or {"device": dev},
                                       graph_facts.runtime_for(facts, graph_facts.device_runtimes(store, dev)))
            for dev in devices]
    predicted = {t: predictor.predict(rows, t) for t in HardwarePredictor.TARGETS}
    out, notes = [], {}
    for i, dev in enumerate(devices):
        meas = [r for r in records if r["model"] == model and r["device"] == dev]
        pair = {"device": dev, "device_name": (devs.get(dev) or {}).get("name")}
        for target, unit in (("latency_ms", "ms"), ("energy_uj", "uJ")):
            vals = [r[target] for r in meas if r.get(target)]
            p = None if vals else predicted[target][i]
            pair[target] = (_figure(float(np.median(vals)), "measured", unit=unit) if vals
                            else _figure(p[0], "predicted", p[1], p[2], unit) if p is not None else None)
            if p is not None:
                notes[p[3]] = None
        for target, key, file_key in (("ram_bytes", "ram_bytes", "arena_bytes"), ("flash_bytes", "flash_bytes", "model_bytes")):
            vals = [r[key] for r in meas if r.get(key)]
            if vals:
                pair[target] = _figure(float(np.median(vals)), "measured", unit="byte")
            elif finite_float(facts.get(file_key)) > 0:
                pair[target] = _figure(float(facts[file_key]), "from the file", unit="byte")
            else:
                pair[target] = None
        out.append(pair)
    notes.update((f"no {t} prediction: fewer than two devices with a measured {t}", None)
                 for t in HardwarePredictor.TARGETS if any(p[t] is None for p in out))
    return {"model": model, "model_name": facts.get("name"), "pairs": out, "notes": list(notes)}
