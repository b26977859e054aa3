"""Per-board cost model: latency from the work in a model's graph; energy = latency x power.

    latency = exp(b_board + beta . specs) / clock * sum_k work_k * cycles_k * exp(u_board,k)
    cycles_k = exp(theta_k + delta_k[core family] + delta_k[runtime family] + delta_k[data type]
                   + delta_k[accelerator]) * exp(c[core] + c[runtime] + c[data type] + c[accelerator])

``work_k`` is what the model file says each operator class does per inference
(kg/tflite_model.py, kg/onnx_model.py: MACs of conv, depthwise and dense ops, output
elements of pooling / elementwise / activation ops, plus 1 for the fixed per-inference
overhead).  A mixed-effects model in log space: the category effects (a family's speed-up c
and its per-class deltas), the board specs' slope beta (log clock) and theta are shared by
every board; each board has a random intercept b and random per-class slopes u.  Every
effect is shrunk to 0 with the penalty noise variance / its variance, and the variances are
estimated from the training records by a few EM steps (empirical Bayes), so no penalty is
tuned on a held-out board.  The MAC classes' cycles per MAC (theta) are pulled toward their
mean with a prior sd of THETA_SD (fixed before measuring): MLPerf's models hold conv and
depthwise MACs in one proportion, and without the pull a new conv-only or dense-only file got
whatever figure the unidentified class drifted to (leave one model out: 53 % -> 22 % APE).
A board nobody measured gets b = u = 0: the figure its specs and families give.  One or three
records of a board (imported like any record) calibrate it: the model is refitted with them and
the board's b and u are their posterior mode - the Bayesian update of its log-scale offset and
per-class slopes, shrunk by how much boards vary.  The evaluation measures calibration the same
way (ranker/evaluation.py).

Tables without files (the STM32 zoo) give log-linear metadata terms instead (``log_fields``:
weight bytes, activation bytes, input size), and a model measured on other boards can carry
its own shrunk effect (``model_effect``).  Everything is fitted in log space (scipy least
squares, sparse Jacobian), so a 2x error counts the same on a 1 ms and a 1 s model.

Energy (``EnergyModel``): a board draws about the same power whatever model it runs, so energy
is the latency cost model times a power model (a CostModel of energy / latency from the board's
specs and families, ``per_clock=False``: power, like RAM, is not cycles / clock).

Intervals: split-conformal, from out-of-board residuals (``conformal_quantile``,
``fit_with_interval``): with 90 % coverage the true figure lies in [pred / exp(q), pred * exp(q)].
The residual learner (``residual="gbr"``, gradient boosting on the log residual) and the
variants without slopes or with model effects are printed beside the default by
benchmarks/hardware_prediction.py; the default was fixed before measuring.
"""
from __future__ import annotations

import csv
import hashlib
import math
import os
import pickle
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from .hardware import (MeasurementModel, accelerator_kind, core_family, finite_float, one_thread, quantization_kind,
                       runtime_family)

__all__ = ["WORK_CLASSES", "CostModel", "EnergyModel", "power_model", "power_rows", "conformal_quantile",
           "work_fields", "lobo_predictions", "fit_with_interval", "heldout_predictions", "heldout_residuals",
           "measured_device_quantiles", "one_record_residuals", "RuntimeRam", "runtime_ram", "graph_work",
           "store_work", "HardwarePredictor", "hardware_predictor", "predict_pairs"]

# Work columns of a record: work_<class>; "overhead" (1 per inference) is added by the model.
WORK_CLASSES = ("conv", "depthwise", "dense", "other")
THETA_SD = 1.0  # prior sd of the log cycles per MAC of one MAC class around the MAC classes' mean


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
    """log(target) = log(sum_k work_k * cycles_k * exp(u_board,k)) - log clock + beta . specs
    + b_board + phi . log_fields [+ gamma_model].

    A mixed-effects model: the fixed part (theta, the category deltas, beta, phi) is shared by
    every board; each board (``board_key``) has a random intercept b and random per-class
    slopes u, ridge-shrunk to 0 with penalties sigma^2 / tau^2 whose variances are estimated
    from the training records themselves (empirical Bayes, a few EM steps): nothing is tuned
    on a held-out board.  A board without records gets b = u = 0, i.e. the figure its specs
    give; a board with one or three records gets their posterior mode, which is how imported
    records calibrate it (the product refits with them; evaluation does the same).

    Records are mappings with ``board``, ``model``, ``core``, ``runtime``, ``accelerator``,
    ``quantization``, the ``board_fields`` (log, standardised; missing = the mean), the
    work_<class> fields (``work=True``) and the ``log_fields``, plus the positive ``target``.
    """

    def __init__(self, target: str = "latency_ms", *, work: bool = True, log_fields: Sequence[str] = (),
                 board_fields: Sequence[str] = ("clock_mhz",), model_effect: bool = False,
                 residual: str | None = None, slopes: bool = True, ridge: float = 1.0,
                 board_key: str = "board", em_steps: int = 4, seed: int = 0, per_clock: bool = True):
        self.target, self.work, self.log_fields = target, work, tuple(log_fields)
        self.board_fields, self.model_effect, self.residual = tuple(board_fields), model_effect, residual
        self.slopes, self.ridge, self.board_key, self.em_steps, self.seed = slopes, ridge, board_key, em_steps, seed
        # cycles / clock: latency and energy are; RAM and power are not (the clock is then a spec like any other)
        self.per_clock = per_clock

    # -- design -----------------------------------------------------------
    def _cats(self, r: Mapping) -> tuple[str, ...]:
        return (core_family(r.get("core")), runtime_family(r.get("runtime")),
                quantization_kind(r.get("quantization")), accelerator_kind(r.get("accelerator")))

    def _work(self, rows) -> np.ndarray:
        """(n, K) work per class, last column the overhead (1)."""
        if not self.work:
            return np.ones((len(rows), 1))
        W = np.array([[finite_float(r.get(f"work_{c}")) for c in WORK_CLASSES] for r in rows]).reshape(len(rows), -1)
        W = np.where(np.isfinite(W) & (W > 0), W, 0.0)
        return np.concatenate([W, np.ones((len(rows), 1))], axis=1)

    @staticmethod
    def _logs(rows, fields) -> np.ndarray:
        X = np.array([[finite_float(r.get(f)) for f in fields] for r in rows]).reshape(len(rows), -1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.log(np.where(X > 0, X, np.nan))

    def _logx(self, rows) -> np.ndarray:
        X = self._logs(rows, self.log_fields)
        return np.where(np.isnan(X), self.x_mean, X)

    def _log_clock(self, rows) -> np.ndarray:
        """log clock (the training mean where missing); 0 for a figure that is not cycles / clock."""
        if not self.per_clock:
            return np.zeros(len(rows))
        c = self._logs(rows, ("clock_mhz",))[:, 0]
        return np.where(np.isnan(c), self.mean_log_clock, c)

    def _specs(self, rows) -> np.ndarray:
        """Standardised log board fields (0 = the training mean, also for a missing one)."""
        F = (self._logs(rows, self.board_fields) - self.f_mean) / self.f_sd
        return np.where(np.isnan(F), 0.0, F)

    def _cat_index(self, rows) -> np.ndarray:
        """(n, 4) level index of each row's core, runtime, dtype and accelerator (-1: unseen level)."""
        return np.array([[lv.get(c, -1) for c, lv in zip(self._cats(r), self.levels)] for r in rows],
                        dtype=int).reshape(len(rows), 4)

    def _keys(self, rows, key, known) -> np.ndarray:
        """Index of each row's ``key`` value in ``known`` (-1: not seen in training)."""
        pos = {k: i for i, k in enumerate(known)}
        return np.array([pos.get(str(r.get(key)), -1) for r in rows], dtype=int)

    # -- fit ----------------------------------------------------------------
    def fit(self, records: Iterable[Mapping]) -> "CostModel":
        from scipy.optimize import least_squares

        rows = [r for r in records if finite_float(r.get(self.target)) > 0]
        if len(rows) < 3:
            raise ValueError(f"need at least three records with a positive {self.target!r}")
        y = np.log([finite_float(r[self.target]) for r in rows])
        raw = self._logs(rows, self.log_fields)
        self.x_mean = np.nan_to_num(np.nanmean(raw, axis=0)) if raw.size else np.zeros(raw.shape[1])
        X = self._logx(rows)
        lc = self._logs(rows, ("clock_mhz",))
        self.mean_log_clock = float(np.nanmean(lc)) if np.isfinite(lc).any() else 0.0
        lclock = self._log_clock(rows)
        self.boards = sorted({str(r.get(self.board_key)) for r in rows})
        bidx = self._keys(rows, self.board_key, self.boards)
        first = {}
        for r, b in zip(rows, bidx):
            first.setdefault(b, r)
        braw = self._logs([first[b] for b in range(len(self.boards))], self.board_fields)
        with np.errstate(invalid="ignore"):
            self.f_mean = np.nan_to_num(np.nanmean(braw, axis=0)) if braw.size else np.zeros(braw.shape[1])
            sd = np.nanstd(braw, axis=0) if braw.size else np.ones(braw.shape[1])
        self.f_sd = np.where(np.isfinite(sd) & (sd > 1e-9), sd, 1.0)
        F = self._specs(rows)
        W = self._work(rows)
        K = W.shape[1]
        cats = [self._cats(r) for r in rows]
        self.levels = [{c: i for i, c in enumerate(sorted({c[j] for c in cats}))} for j in range(4)]
        offs = np.cumsum([0] + [len(lv) for lv in self.levels])
        idx = self._cat_index(rows) + offs[:-1]
        n_lv = int(offs[-1])
        self.models = sorted({str(r.get("model")) for r in rows}) if self.model_effect else []
        midx = self._keys(rows, "model", self.models)
        # Work scaled so the starting cycles per unit are O(1).
        self.scale = np.array([np.median(W[W[:, k] > 0, k]) if (W[:, k] > 0).any() else 1.0 for k in range(K)])
        Ws = W / self.scale
        n, nb, nm, nx, nf = len(rows), len(self.boards), len(self.models), X.shape[1], F.shape[1]
        nu = nb * K if self.slopes and self.work else 0  # without work one class: u would repeat b
        start = float(np.median(y + lclock - np.log(Ws.sum(1) + 1e-12)))
        sizes = dict(theta=K, deltas=n_lv * K, c=n_lv, phi=nx, beta=nf, b=nb, u=nu, gamma=nm)
        at, o = {}, 0
        for k, s in sizes.items():
            at[k], o = slice(o, o + s), o + s
        P = o
        onehot = np.zeros((n, n_lv))
        for j in range(4):
            onehot[np.arange(n), idx[:, j]] = 1.0
        rows_u = (bidx[:, None] * K + np.arange(K)[None, :]) if nu else None

        def log_cycles(p):
            lc_ = p[at["theta"]][None, :] + p[at["deltas"]].reshape(n_lv, K)[idx].sum(axis=1)
            if nu:
                lc_ = lc_ + p[at["u"]].reshape(nb, K)[bidx]
            return lc_

        def shares(p):
            e = Ws * np.exp(np.clip(log_cycles(p), -60, 60))  # clipped: a wild solver step must not overflow
            tot = np.maximum(e.sum(1), 1e-30)
            return np.log(tot), e / tot[:, None]

        def resid(p, lam):
            lt, _ = shares(p)
            pred = lt - lclock + X @ p[at["phi"]] + F @ p[at["beta"]] + p[at["b"]][bidx] + onehot @ p[at["c"]]
            if nm:
                pred = pred + p[at["gamma"]][midx]
            return np.concatenate([pred - y, lam["d"] * p[at["deltas"]], lam["c"] * p[at["c"]],
                                   sq * p[at["gamma"]],
                                   sq * p[at["beta"]],
                                   # theta of a class no training model uses stays near the start
                                   1e-3 * (p[at["theta"]] - start),
                                   lam["b"] * p[at["b"]], lam["u"] * p[at["u"]],
                                   # the MAC classes' cycles near their mean: what the records cannot tell apart
                                   lam["t"] * spread(p)])

        def spread(p):  # log cycles per MAC of the MAC classes around their mean (theta is per scaled unit)
            per_mac = p[at["theta"]][mac] - log_scale[mac]
            return per_mac - per_mac.mean() if mac.size else per_mac

        sq = math.sqrt(self.ridge)
        # Sparse Jacobian (a record touches ~40 of the parameters): its pattern once, the work
        # shares (d pred / d log cycles_k) per call.
        npen = n_lv * K + n_lv + nm + nf + K + nb + nu
        rr = np.arange(n)[:, None]
        share_cols = [np.arange(K)[None, :].repeat(n, 0)]  # theta
        share_cols += [at["deltas"].start + idx[:, [j]] * K + np.arange(K)[None, :] for j in range(4)]
        if nu:
            share_cols.append(at["u"].start + rows_u)
        fixed_cols = [at["c"].start + idx, at["phi"].start + np.arange(nx)[None, :].repeat(n, 0),
                      at["beta"].start + np.arange(nf)[None, :].repeat(n, 0), at["b"].start + bidx[:, None]]
        fixed_vals = [np.ones((n, 4)), X, F, np.ones((n, 1))]
        if nm:
            fixed_cols.append(at["gamma"].start + midx[:, None])
            fixed_vals.append(np.ones((n, 1)))
        pen_cols = np.concatenate([np.arange(P)[at[k]] for k in ("deltas", "c", "gamma", "beta", "theta", "b", "u")])
        cols = np.concatenate([np.concatenate(share_cols + fixed_cols, axis=1).ravel(), pen_cols])
        n_sh = len(share_cols)
        jrows = np.concatenate([(rr + 0 * np.concatenate(share_cols + fixed_cols, axis=1)).ravel(),
                                n + np.arange(npen)])
        fixed = np.concatenate(fixed_vals, axis=1)
        # The MAC classes (conv, depthwise, dense): their log cycles are pulled toward their mean with
        # sd THETA_SD, so a class the records cannot separate from another (kws and vww hold conv and
        # depthwise in the same proportion) does not take an arbitrary figure.
        mac = np.arange(3) if self.work else np.arange(0)
        log_scale = np.log(self.scale)
        centre = np.eye(len(mac)) - 1.0 / max(len(mac), 1)
        t_rows = (n + npen + np.arange(len(mac)))[:, None].repeat(len(mac), 1)
        t_cols = (at["theta"].start + mac)[None, :].repeat(len(mac), 0)

        def jac(p, lam):
            from scipy.sparse import csr_matrix

            _, sh = shares(p)
            vals = np.concatenate([np.tile(sh, (1, n_sh)), fixed], axis=1)
            return csr_matrix((np.concatenate([vals.ravel(), lam["diag"], lam["t"] * centre.ravel()]),
                               (np.concatenate([jrows, t_rows.ravel()]), np.concatenate([cols, t_cols.ravel()]))),
                              shape=(n + npen + len(mac), P))

        # Empirical Bayes: the variance of a record's noise (s), of the category deltas (one per
        # category: core, runtime, dtype, accelerator), of the board intercepts (b) and slopes (u),
        # by EM steps on the training records; each penalty is the ratio s / tau^2.
        var = {"s": 0.1, "b": 0.5, "u": 0.1, "d": np.full(4, 0.1), "c": np.full(4, 0.5)}
        lv_of = np.repeat(np.arange(4), np.diff(offs))  # the category of each level
        p = np.concatenate([np.full(K, start), np.zeros(P - K)])
        counts = np.bincount(bidx, minlength=nb).astype(float)
        for step in range(max(self.em_steps, 1)):
            ld = np.sqrt(var["s"] / var["d"])[lv_of]
            lam = {"d": np.repeat(ld, K), "c": np.sqrt(var["s"] / var["c"])[lv_of],
                   "b": math.sqrt(var["s"] / var["b"]), "u": math.sqrt(var["s"] / var["u"])}
            lam["t"] = math.sqrt(var["s"]) / THETA_SD
            lam["diag"] = np.concatenate([lam["d"], lam["c"], np.full(nm + nf, sq), np.full(K, 1e-3),
                                          np.full(nb, lam["b"]), np.full(nu, lam["u"])])
            try:
                with one_thread():  # a few hundred rows: BLAS threads only contend
                    sol = least_squares(resid, p, jac=jac, args=(lam,), method="trf",
                                        max_nfev=100 if step == 0 else 30, tr_solver="lsmr")
            except (np.linalg.LinAlgError, ValueError) as exc:
                raise ValueError(f"the {self.target} cost model did not converge on these records ({exc})") from exc
            p = sol.x
            r = sol.fun[:n]
            _, sh = shares(p)
            vb = var["s"] / (counts + lam["b"] ** 2)
            var_s = (r @ r + counts @ vb) / n
            var["b"] = max(float(np.mean(p[at["b"]] ** 2 + vb)), 1e-4)
            sd_ = np.zeros((n_lv, K))
            for j in range(4):
                np.add.at(sd_, idx[:, j], sh ** 2)
            vd = (var["s"] / (sd_ + lam["d"].reshape(n_lv, K) ** 2))
            d2 = p[at["deltas"]].reshape(n_lv, K) ** 2 + vd
            var["d"] = np.array([max(float(d2[lv_of == j].mean()), 1e-4) if (lv_of == j).any() else 0.5
                                 for j in range(4)])
            nc = onehot.sum(0)
            c2 = p[at["c"]] ** 2 + var["s"] / (nc + lam["c"] ** 2)
            var["c"] = np.array([max(float(c2[lv_of == j].mean()), 1e-4) if (lv_of == j).any() else 0.5
                                 for j in range(4)])
            if nu:
                su = np.zeros((nb, K))
                np.add.at(su, bidx, sh ** 2)
                vu = var["s"] / (su + lam["u"] ** 2)
                var["u"] = max(float(np.mean(p[at["u"]].reshape(nb, K) ** 2 + vu)), 1e-4)
            var["s"] = max(float(var_s), 1e-4)
        self.variances = dict(var)
        self.params = {k: p[s].copy() for k, s in at.items()}
        self.K = K
        self.res_learner = None
        if self.residual == "gbr":
            from sklearn.ensemble import HistGradientBoostingRegressor

            res = y - self._base_log(rows)
            self.res_learner = HistGradientBoostingRegressor(
                max_iter=100, learning_rate=0.05, max_leaf_nodes=8, min_samples_leaf=5,
                l2_regularization=1.0, random_state=self.seed).fit(self._resid_features(rows), res)
        return self

    def _resid_features(self, rows) -> np.ndarray:
        W = np.log1p(self._work(rows)[:, :-1]) if self.work else np.zeros((len(rows), 0))
        cats = self._cat_index(rows).astype(float)
        return np.concatenate([W, self._logx(rows), self._specs(rows), cats], axis=1)

    # -- predict --------------------------------------------------------------
    def _base_log(self, rows) -> np.ndarray:
        p, K = self.params, self.K
        idx = self._cat_index(rows)
        offs = np.cumsum([0] + [len(lv) for lv in self.levels])[:-1]
        deltas = p["deltas"].reshape(-1, K)
        lc = np.tile(p["theta"], (len(rows), 1))
        for j in range(4):
            seen = idx[:, j] >= 0  # an unseen level: the global figure
            lc[seen] += deltas[idx[seen, j] + offs[j]]
        bidx = self._keys(rows, self.board_key, self.boards)
        seen = bidx >= 0
        if p["u"].size:
            lc[seen] += p["u"].reshape(-1, K)[bidx[seen]]
        W = self._work(rows) / self.scale
        out = np.log(np.maximum((W * np.exp(np.clip(lc, -60, 60))).sum(1), 1e-30)) - self._log_clock(rows)
        out += self._logx(rows) @ p["phi"] + self._specs(rows) @ p["beta"]
        out[seen] += p["b"][bidx[seen]]
        for j in range(4):
            known = idx[:, j] >= 0
            out[known] += p["c"][idx[known, j] + offs[j]]
        if self.model_effect:
            midx = self._keys(rows, "model", self.models)
            out[midx >= 0] += p["gamma"][midx[midx >= 0]]
        return out

    def predict_log(self, rows: Sequence[Mapping]) -> np.ndarray:
        """log(target) per row: a board seen in training (however few its records) with its
        fitted effects, any other board from its specs alone."""
        rows = list(rows)
        if not rows:
            return np.zeros(0)
        out = self._base_log(rows)
        if self.res_learner is not None:
            out = out + self.res_learner.predict(self._resid_features(rows))
        return out


def power_model(**kw) -> CostModel:
    """A board's power (mW) while it runs a model: no work terms, not cycles / clock."""
    return CostModel("power_mw", work=False, per_clock=False, **kw)


def power_rows(records: Iterable[Mapping]) -> list[dict]:
    """The records with both a latency and an energy, with their power_mw = energy / latency."""
    return [dict(r, power_mw=finite_float(r.get("energy_uj")) / finite_float(r.get("latency_ms")))
            for r in records if finite_float(r.get("energy_uj")) > 0 and finite_float(r.get("latency_ms")) > 0]


class EnergyModel:
    """log energy = log latency + log power.  A board draws about the same power whatever model
    it runs (MLPerf Tiny's energy runs: within 10 % on a board, 5 to 160 mW across boards), so
    energy is the latency cost model (fitted on every record with a latency, energy or not)
    times a power model: CostModel of ``power_mw`` = energy / latency without work terms (the
    board's core, runtime, data type, accelerator and clock; one intercept per board), fitted on
    the records that have both.  One energy record of a board fixes its power, and latency
    records alone calibrate the latency part."""

    def __init__(self, target: str = "energy_uj", **latency_kw):
        if target != "energy_uj":
            raise ValueError("EnergyModel predicts energy_uj")
        self.target, self.latency_kw = target, latency_kw

    def fit(self, records: Iterable[Mapping]) -> "EnergyModel":
        records = list(records)
        self.latency = CostModel("latency_ms", **self.latency_kw).fit(records)
        self.power = power_model(board_key=self.latency.board_key).fit(power_rows(records))
        return self

    def predict_log(self, rows: Sequence[Mapping]) -> np.ndarray:
        rows = list(rows)
        return self.latency.predict_log(rows) + self.power.predict_log(rows) if rows else np.zeros(0)


def heldout_predictions(make, records: Sequence[Mapping], target: str, key, folds: int | None = None,
                        shuffle: bool = False) -> np.ndarray:
    """Log predictions of ``target`` for the records that have one (NaN elsewhere and where a
    fold's fit failed), each by ``make()`` fitted on the other folds: the groups (``key(record)``:
    a board, a (board, model) pair, a model) are dealt into ``folds`` folds (None: one per group;
    sorted, or shuffled with a fixed seed).  Every record trains, a target or not (EnergyModel's
    latency part uses the records without an energy)."""
    records = list(records)
    keys = sorted({key(r) for r in records if finite_float(r.get(target)) > 0})
    if shuffle:
        keys = [keys[j] for j in np.random.default_rng(0).permutation(len(keys))]
    folds = folds or len(keys)
    fold_of = {k: i % folds for i, k in enumerate(keys)}
    out = np.full(len(records), np.nan)
    for f in range(min(folds, len(keys))):
        idx = [i for i, r in enumerate(records) if fold_of.get(key(r)) == f and finite_float(r.get(target)) > 0]
        try:
            m = make().fit([r for r in records if fold_of.get(key(r)) != f])
        except ValueError:
            continue
        out[idx] = m.predict_log([records[i] for i in idx])
    return out


def heldout_residuals(make, records: Sequence[Mapping], target: str, key, folds: int | None = None,
                      shuffle: bool = False) -> tuple[np.ndarray, list]:
    """(log residuals, their groups) of heldout_predictions, where it predicted."""
    records = list(records)
    pred = heldout_predictions(make, records, target, key, folds, shuffle)
    ok = np.isfinite(pred)
    y = np.log([finite_float(r.get(target)) if o else 1.0 for r, o in zip(records, ok)])
    return (y - pred)[ok], [key(r) for r, o in zip(records, ok) if o]


def fit_with_interval(make, records: Sequence[Mapping], target: str, group: str = "board",
                      folds: int = 10, coverage: float = 0.9, relative: bool = False):
    """(model fitted on every record, log half-width q of its 90 % split-conformal interval).
    q comes from out-of-group residuals (heldout_residuals: whole ``group`` values - boards,
    devices - held out), so a board never calibrates its own interval.  ``relative``: residuals
    centred within each group, the uncertainty of comparing two candidates on the same board
    (the board's shared offset cancels)."""
    r, g = heldout_residuals(make, records, target, lambda x: str(x.get(group)), folds)
    if relative and len(r):
        g = np.array(g)
        r = r - np.array([r[g == k].mean() for k in g])
    return make().fit(records), conformal_quantile(np.abs(r), coverage)


def one_record_residuals(make, records: Sequence[Mapping], target: str, group: str = "board",
                         folds: int = 5) -> np.ndarray:
    """Log residuals of a device that has one record of its own: the devices (``group`` values)
    are dealt into ``folds`` folds; a fold's devices keep one random record each in training and
    their other records are predicted by the fit."""
    records = list(records)
    scored = [r for r in records if finite_float(r.get(target)) > 0]
    devices = sorted({str(r.get(group)) for r in scored})
    rng = np.random.default_rng(0)
    fold_of = {devices[j]: i % folds for i, j in enumerate(rng.permutation(len(devices)))}
    resid = []
    for f in range(min(folds, len(devices))):
        mine: dict[str, list] = {}
        for r in scored:
            if fold_of[str(r.get(group))] == f:
                mine.setdefault(str(r.get(group)), []).append(r)
        kept = {id(rs[int(rng.integers(len(rs)))]) for rs in mine.values()}
        test = [r for rs in mine.values() for r in rs if id(r) not in kept]
        if not test:
            continue
        try:
            m = make().fit([r for r in records if fold_of.get(str(r.get(group))) != f or id(r) in kept])
        except ValueError:
            continue
        resid += list(np.log([finite_float(r[target]) for r in test]) - m.predict_log(test))
    return np.array(resid)


def measured_device_quantiles(make, records: Sequence[Mapping], target: str, group: str = "board",
                              folds: int = 5, coverage: float = 0.9) -> tuple[float, float, float]:
    """Log half-widths of the 90 % split-conformal intervals on a device that has records of its
    own (its offset is known, the better the more records): (one record, a model measured on
    other devices; two or more records, the same: (device, model) pairs held out; a model
    measured nowhere: whole models held out).  A device nobody measured: fit_with_interval."""
    one = one_record_residuals(make, records, target, group, folds)
    pair, _ = heldout_residuals(make, records, target, lambda x: (str(x.get(group)), str(x.get("model"))),
                                folds, shuffle=True)
    model, _ = heldout_residuals(make, records, target, lambda x: str(x.get("model")), folds, shuffle=True)
    return tuple(conformal_quantile(np.abs(r), coverage) for r in (one, pair, model))


def lobo_predictions(records: Sequence[Mapping], make, target: str = "latency_ms") -> np.ndarray:
    """Leave-one-board-out log predictions of ``target`` (NaN where a board's fit failed or a
    record has no ``target``): each board's records predicted by ``make()`` fitted on every other board."""
    return heldout_predictions(make, records, target, lambda r: str(r.get("board")))


# ---------------------------------------------------------------------------
# RAM on runtimes that plan their own buffers (X-CUBE-AI / ST Edge AI)
# ---------------------------------------------------------------------------
RUNTIME_RAM_DATA = Path(__file__).resolve().parent / "data" / "runtime_ram.csv"


class RuntimeRam:
    """The RAM a runtime other than TFLM needs for a model, from its file: log RAM = log(the file's
    ``field`` bytes) + c, c per runtime family the mean log ratio of the rows where that runtime's
    RAM was measured for a model whose file we have (ranker/data/runtime_ram.csv: X-CUBE-AI and
    ST Edge AI figures of the STM32 zoo, matched to files by architecture; ranker.evaluation.
    runtime_ram_rows).  The 90 % interval is a normal-theory prediction interval (Student t on the
    log ratios): a split-conformal 90 % band needs at least nine pairs, the table has six."""

    def __init__(self, rows: Iterable[Mapping], field: str = "peak_activation_bytes", coverage: float = 0.9):
        from scipy.stats import t

        ratios: dict[str, list[float]] = {}
        for r in rows:
            x, y = finite_float(r.get(field)), finite_float(r.get("ram_kib")) * 1024
            if x > 0 and y > 0:
                ratios.setdefault(runtime_family(r.get("runtime")), []).append(math.log(y / x))
        self.field, self.coverage = field, coverage
        self.fits: dict[str, tuple[float, float, int]] = {}
        for family, v in ratios.items():
            if len(v) >= 2:
                a = np.array(v)
                q = t.ppf((1 + coverage) / 2, len(a) - 1) * a.std(ddof=1) * math.sqrt(1 + 1 / len(a))
                self.fits[family] = (float(a.mean()), float(q), len(a))

    def factor(self, runtime: str | None) -> tuple[float, float, str] | None:
        """(RAM / the file's figure, the interval's x/÷ factor, how) on ``runtime`` (its name or
        label); None for a runtime without measured pairs."""
        fit = self.fits.get(runtime_family(runtime))
        if fit is None:
            return None
        c, q, n = fit
        what = "peak activation bytes" if self.field == "peak_activation_bytes" else self.field
        how = (f"ram_bytes on {runtime} = the file's {what} x {math.exp(c):.2f}, the mean ratio of {n} figures "
               f"that runtime measured for models whose files we have (STM32 model zoo); 90 % interval = "
               f"prediction x/÷ {math.exp(q):.2f} (Student t on the log ratios)")
        return math.exp(c), math.exp(q), how

    def predict(self, runtime: str | None, file_bytes: float) -> tuple[float, float, float, str] | None:
        """(RAM bytes, low, high, how) on ``runtime``; None for a runtime without measured pairs
        or a file without the figure."""
        got = self.factor(runtime) if file_bytes > 0 else None
        if got is None:
            return None
        ratio, spread, how = got
        value = file_bytes * ratio
        return value, value / spread, value * spread, how


@lru_cache(maxsize=1)
def runtime_ram() -> RuntimeRam:
    """RuntimeRam fitted on the shipped table (what predict_pairs uses)."""
    with open(RUNTIME_RAM_DATA, newline="", encoding="utf-8") as fh:
        return RuntimeRam(list(csv.DictReader(fh)))


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
    models known only from tables; each with its split-conformal 90 % interval.  Energy is
    latency x the board's power: where the pair's latency was measured, that latency x the power
    model alone (``measured_latency``).  Each (target, kind) is fitted on first use, so a
    question about one model pays for one fit."""

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

            if target == "power_mw":  # a board's power whatever the model: every record with both figures
                usable = [dict(r, board=r["device"]) for r in power_rows(self.rows)]
                make, how = power_model, "power model"
            elif with_work:
                # Energy = latency x power: its latency part learns from every record with a latency.
                usable = [dict(r, board=r["device"], **self.work[r["model"]]) for r in self.rows
                          if r["model"] in self.work]
                make, how = ((EnergyModel, "cost model x power model") if target == "energy_uj"
                             else ((lambda: CostModel(target)), "cost model"))
            else:
                usable = [dict(r, board=r["device"]) for r in self.rows if finite_float(r.get(target)) > 0]
                make = lambda: MeasurementModel(target, numeric=graph_facts.LATENCY_NUMERIC,  # noqa: E731
                                                categorical=graph_facts.LATENCY_CATEGORICAL)
                how = "metadata regressor"
            fit = None
            measured = [r for r in usable if finite_float(r.get(target)) > 0]
            if len({r["board"] for r in measured}) >= 2:  # the interval needs an out-of-board residual
                try:
                    model, q = fit_with_interval(make, usable, target)
                    how = (f"{target} predicted by the {how} fitted on {len(measured)} records; 90 % interval = "
                           f"prediction x/÷ {math.exp(q):.2f} (split-conformal, leave-devices-out)")
                    # A device with records of its own knows its offset: narrower intervals, one for a
                    # model measured elsewhere, one for a model measured nowhere (the metadata regressor
                    # answers measured pairs with their records: one interval).
                    bands = measured_device_quantiles(make, usable, target) \
                        if with_work or target == "power_mw" else (q, q, q)
                    q_one, q_pair, q_new = (min(b, q) for b in bands)
                    if min(bands) < q:
                        how += (f"; on a device with records: x/÷ {math.exp(q_one):.2f} (one record) or "
                                f"{math.exp(q_pair):.2f} (more)")
                        if target != "power_mw":  # a board's power does not depend on the model
                            how += (f" for a model measured elsewhere, x/÷ {math.exp(q_new):.2f} for one "
                                    "measured nowhere")
                    counts: dict[str, int] = {}
                    for r in measured:
                        counts[r["board"]] = counts.get(r["board"], 0) + 1
                    fit = (model, q, how, (q_one, q_pair, q_new), counts, {r["model"] for r in measured})
                except ValueError:  # too few records for the cost model (it needs three)
                    fit = None
            if fit is None and with_work:  # too few boards measured models with files: the metadata regressor
                fit = self._fit(target, False)
            self._fits[key] = fit
        return self._fits[key]

    def predict(self, rows: Sequence[Mapping] | Mapping[str, Sequence], target: str,
                measured_latency: Sequence[float] | None = None) -> list[tuple[float, float, float, str] | None]:
        """(value, low, high, how it was predicted) of ``target`` per row: graph_facts.prediction_row
        dicts, or their columns (graph_facts.prediction_columns: tens of thousands of models on
        one device); the model's work is joined here. None where too few devices were measured
        to fit anything.  ``measured_latency`` (energy only; NaN where none): a row with a
        measured latency gets that latency x the predicted power, with the power's interval."""
        cols = rows if isinstance(rows, Mapping) else None
        models = cols["model"] if cols is not None else [r["model"] for r in rows]
        out: list = [None] * len(models)
        devices = cols["device"] if cols is not None else [r["device"] for r in rows]
        kind = np.fromiter((m in self.work for m in models), dtype=np.int8, count=len(models))
        lat = np.full(len(models), np.nan) if measured_latency is None else np.asarray(measured_latency, float)
        if target == "energy_uj" and self._fit("power_mw", False) is not None:
            kind[np.isfinite(lat) & (lat > 0)] = 2
        for k in (1, 0, 2):  # the cost model (the file's work), the metadata regressor, measured latency x power
            idx = np.flatnonzero(kind == k).tolist()
            fit = (self._fit("power_mw", False) if k == 2 else self._fit(target, bool(k))) if idx else None
            if fit is None:
                continue
            model, q, how, (q_one, q_pair, q_new), counts, seen_models = fit
            qs: float | np.ndarray = q
            if min(q_one, q_pair, q_new) < q:
                def band(i):  # the device's own records: none, one, more; the model measured elsewhere or not
                    n = counts.get(devices[i], 0)
                    known = q_one if n == 1 else q_pair
                    return q if n == 0 else known if models[i] in seen_models or k == 2 else max(known, q_new)
                qs = np.array([band(i) for i in idx])
            if cols is not None and k == 0:  # the metadata regressor reads the columns as they are
                batch = cols if len(idx) == len(models) else {f: [v[i] for i in idx] for f, v in cols.items()}
            else:
                row = (lambda i: {f: v[i] for f, v in cols.items()}) if cols is not None else rows.__getitem__
                batch = [dict(r, board=r["device"], **self.work.get(r["model"], {})) for r in map(row, idx)]
            logs = np.asarray(model.predict_log(batch), dtype=np.float64)
            if k == 2:
                logs, how = logs + np.log(lat[idx]), f"energy_uj = the measured latency x {how}"
            for i, v, lo, hi in zip(idx, np.exp(logs).tolist(), np.exp(logs - qs).tolist(), np.exp(logs + qs).tolist()):
                out[i] = (v, lo, hi, how)
        return out

    def fit_all(self) -> "HardwarePredictor":
        """Fit every predictor now (before the predictor is cached for many questions)."""
        for target in self.TARGETS:
            for with_work in (True, False):
                self._fit(target, with_work)
        self._fit("power_mw", False)
        return self


# ---------------------------------------------------------------------------
# Hardware fitness: the predictor, cached by content hash
# ---------------------------------------------------------------------------
_PREDICTORS: dict[str, object] = {}


def cache_dir() -> Path:
    env = os.environ.get("ARACHNE_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "arachne"


@lru_cache(maxsize=1)
def _predictor_code() -> bytes:
    """The predictors' source, part of the cache key: a pickle of an older version unpickles into
    the new classes without error, and fails only when it predicts."""
    return b"".join((Path(__file__).parent / name).read_bytes() for name in ("cost_model.py", "hardware.py"))


def hardware_predictor(store) -> HardwarePredictor:
    """HardwarePredictor fitted on the graph's benchmark records (what recommend and predict_pairs
    share), reused while the records, the facts they join with and the models' operator work are
    unchanged: cached in this process and on disk ($ARACHNE_CACHE, else ~/.cache/arachne)."""
    import sklearn

    from . import graph_facts

    key = hashlib.sha256((graph_facts.training_fingerprint(store) + store_work(store)[1]
                          + sklearn.__version__).encode() + _predictor_code()).hexdigest()
    if key in _PREDICTORS:
        return _PREDICTORS[key]
    path = cache_dir() / f"hardware-{key[:32]}.pkl"
    result = None
    if path.is_file():
        try:
            with open(path, "rb") as fh:  # our own cache file, written below
                result = pickle.load(fh)
        except Exception:  # noqa: BLE001 - a stale or broken cache is refitted
            result = None
    if result is None:
        result = HardwarePredictor.from_store(store).fit_all()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, suffix=".tmp") as fh:
                pickle.dump(result, fh)
            os.replace(fh.name, path)
            # Every change to the records makes a new file: keep the few most recent.
            old = sorted(path.parent.glob("hardware-*.pkl"), key=lambda p: p.stat().st_mtime, reverse=True)
            for stale in old[4:]:
                stale.unlink(missing_ok=True)
        except OSError:
            pass  # a read-only home only costs a refit next time
    _PREDICTORS[key] = result
    return result


def _figure(value, provenance, low=None, high=None, unit="") -> dict:
    return {"value": value, "unit": unit, "provenance": provenance, "interval90": [low, high] if low is not None else None}


def predict_pairs(store, model: str, devices: Sequence[str]) -> dict:
    """Latency (ms), energy (uJ), RAM and flash (bytes) of ``model`` on each of ``devices``
    (IRIs), each with its provenance: "measured" (the pair's benchmark records, the best one as
    the feasibility check and recommend read it), "from the file" (flash = file size; RAM = the
    TFLM arena read at import) or "predicted" (HardwarePredictor, with its 90 % interval; an
    energy from the measured latency where there is one; RAM on ST Edge AI from the file's
    activations, RuntimeRam).  What /predict returns."""
    from . import graph_facts

    facts = graph_facts.model_facts(store, [model]).get(model)
    if facts is None:
        raise KeyError(model)
    devs = graph_facts.device_facts(store, list(devices))
    records = [r for r in graph_facts.benchmark_records(store) if r["model"] == model]
    predictor = hardware_predictor(store)  # what recommend predicts with, fitted once per write
    # The runtime the feasibility check finds on each device, as recommend predicts with it.
    runtimes = [graph_facts.runtime_for(facts, graph_facts.device_runtimes(store, dev)) for dev in devices]
    rows = [graph_facts.prediction_row(facts, devs.get(dev) or {"device": dev}, rt) for dev, rt in zip(devices, runtimes)]
    by_device = {dev: [r for r in records if r["device"] == dev] for dev in devices}
    latency = [min(v) if (v := [r["latency_ms"] for r in by_device[dev] if r.get("latency_ms")])
               else math.nan for dev in devices]  # a measured latency makes energy = it x the board's power
    predicted = {t: predictor.predict(rows, t, measured_latency=latency) for t in HardwarePredictor.TARGETS}
    out, notes = [], {}
    for i, dev in enumerate(devices):
        meas = by_device[dev]
        pair = {"device": dev, "device_name": (devs.get(dev) or {}).get("name")}
        for target, unit in (("latency_ms", "ms"), ("energy_uj", "uJ")):
            vals = [r[target] for r in meas if r.get(target)]
            p = None if vals else predicted[target][i]
            pair[target] = (_figure(float(min(vals)), "measured", unit=unit) if vals
                            else _figure(p[0], "predicted", p[1], p[2], unit) if p is not None else None)
            if p is not None:
                notes[p[3]] = None
        for target, key, file_key in (("ram_bytes", "ram_bytes", "arena_bytes"), ("flash_bytes", "flash_bytes", "model_bytes")):
            vals = [r[key] for r in meas if r.get(key)]
            # RAM on a runtime that plans its own buffers: mapped from the file's activations.
            mapped = runtime_ram().predict(rows[i]["runtime"], finite_float(facts.get("peak_activation_bytes"))) \
                if target == "ram_bytes" and not vals else None
            if vals:
                pair[target] = _figure(float(min(vals)), "measured", unit="byte")
            elif mapped is not None:
                pair[target] = _figure(mapped[0], "predicted", mapped[1], mapped[2], "byte")
                notes[mapped[3]] = None
            elif finite_float(facts.get(file_key)) > 0:
                if target == "ram_bytes" and runtime_family(rows[i]["runtime"]) not in ("tflm", "unknown"):
                    notes[f"ram_bytes from the file is TFLM's tensor arena; {rows[i]['runtime']} may need more or "
                          "less (no figures of that runtime to learn from)"] = None
                pair[target] = _figure(float(facts[file_key]), "from the file", unit="byte")
            else:
                pair[target] = None
        out.append(pair)
    notes.update((f"no {t} prediction: fewer than two devices with a measured {t}", None)
                 for t in HardwarePredictor.TARGETS if any(p[t] is None for p in out))
    return {"model": model, "model_name": facts.get("name"), "pairs": out, "notes": list(notes)}
