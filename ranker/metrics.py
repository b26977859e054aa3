"""Ranking-quality metrics used to evaluate every ranker in this package.

All functions take the ground truth FIRST and the prediction second; both are
per-candidate scores where higher means better (pass ``-latency`` for a
lower-is-better quantity).  Candidates where either value is NaN are dropped
before scoring, so a ranker that abstains on a candidate is not rewarded or
punished for it.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["weighted_tau", "ndcg_at_k", "top1_regret", "spearman", "average_positions", "paired_bootstrap"]


def _pair(truth: Sequence[float], pred: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(truth, dtype=np.float64).ravel()
    p = np.asarray(pred, dtype=np.float64).ravel()
    if t.shape != p.shape:
        raise ValueError(f"truth and prediction differ in length: {t.size} vs {p.size}")
    keep = np.isfinite(t) & np.isfinite(p)
    return t[keep], p[keep]


def weighted_tau(truth: Sequence[float], pred: Sequence[float]) -> float:
    """Weighted Kendall's tau, identical to ``scipy.stats.weightedtau(truth, pred, rank=None)``.

    This is the convention Model Spider reports (docs/algorithms.md): additive
    hyperbolic weigher 1/(r+1) where r is the position of the element in the
    decreasing lexicographic order by (truth, pred), so agreement at the top of
    the ground truth counts most.  A pair (i, j) weighs w_i + w_j and

        tau = sum_pairs w_ij sgn(dt) sgn(dp) / sqrt(sum_{dt!=0} w_ij * sum_{dp!=0} w_ij)

    which is Kendall's tau-b with weights.  O(n^2) but exact, and n (models in
    a zoo) is small.  Returns NaN when either side is constant.
    """
    t, p = _pair(truth, pred)
    n = t.size
    if n < 2:
        return float("nan")
    # scipy ranks by a stable ascending lexsort on (t, p), reversed: exact
    # duplicates with a larger index therefore get the better (smaller) rank.
    perm = np.lexsort((p, t))
    rank = np.empty(n, dtype=np.int64)
    rank[perm[::-1]] = np.arange(n)
    w = 1.0 / (rank + 1.0)
    iu, ju = np.triu_indices(n, k=1)
    pw = w[iu] + w[ju]
    dt = np.sign(t[iu] - t[ju])
    dp = np.sign(p[iu] - p[ju])
    den_t = pw[dt != 0].sum()
    den_p = pw[dp != 0].sum()
    if den_t == 0 or den_p == 0:
        return float("nan")
    tau = (pw * dt * dp).sum() / np.sqrt(den_t) / np.sqrt(den_p)
    return float(min(1.0, max(-1.0, tau)))


def _order(pred: np.ndarray) -> np.ndarray:
    # Best first; equal predictions keep input order so results are reproducible.
    return np.argsort(-pred, kind="stable")


def ndcg_at_k(truth: Sequence[float], pred: Sequence[float], k: int = 5) -> float:
    """NDCG@k with linear gains = truth - min(truth).

    The true scores (accuracies, Copeland positions, ...) can be negative or
    sit on an arbitrary offset, so they are shifted to make the worst candidate
    gain 0; the best then gains the full spread.  Discount 1/log2(pos+1) with
    pos starting at 1.  Returns 1.0 when every candidate is equally good.
    """
    t, p = _pair(truth, pred)
    if t.size == 0:
        return float("nan")
    gains = t - t.min()
    k = min(k, t.size)
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = (gains[_order(p)][:k] * disc).sum()
    idcg = (np.sort(gains)[::-1][:k] * disc).sum()
    return float(dcg / idcg) if idcg > 0 else 1.0


def top1_regret(truth: Sequence[float], pred: Sequence[float]) -> float:
    """Best true score minus the true score of the candidate ranked first (0 is perfect)."""
    t, p = _pair(truth, pred)
    if t.size == 0:
        return float("nan")
    return float(t.max() - t[_order(p)[0]])


def average_positions(values: Sequence[float]) -> np.ndarray:
    """1-based positions in DEScending order of value, ties sharing their average position.

    NaN values get NaN positions and do not occupy a slot.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    out = np.full(v.size, np.nan)
    idx = np.flatnonzero(np.isfinite(v))
    if idx.size == 0:
        return out
    vals = v[idx]
    order = np.argsort(-vals, kind="stable")
    sorted_vals = vals[order]
    # Runs of equal values [start, end) share the mean of positions start+1..end.
    starts = np.flatnonzero(np.r_[True, sorted_vals[1:] != sorted_vals[:-1]])
    ends = np.r_[starts[1:], sorted_vals.size]
    res = np.empty(idx.size)
    res[order] = np.repeat((starts + 1 + ends) / 2.0, ends - starts)
    out[idx] = res
    return out


def spearman(truth: Sequence[float], pred: Sequence[float]) -> float:
    """Spearman's rho: Pearson correlation of average-tie ranks (NaN if a side is constant)."""
    t, p = _pair(truth, pred)
    if t.size < 2:
        return float("nan")
    rt, rp = average_positions(t), average_positions(p)
    rt -= rt.mean()
    rp -= rp.mean()
    den = np.sqrt((rt * rt).sum() * (rp * rp).sum())
    return float((rt * rp).sum() / den) if den > 0 else float("nan")


def paired_bootstrap(a: Sequence[float], b: Sequence[float], seed: int = 0, n: int = 10_000):
    """Mean of a - b over paired items (NaN pairs dropped) and its 95 % percentile bootstrap
    interval (seeded): (mean, low, high), NaN when no pair is left."""
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    diff = diff[np.isfinite(diff)]
    if diff.size == 0:
        return float("nan"), float("nan"), float("nan")
    boot = np.random.default_rng(seed).choice(diff, (n, diff.size)).mean(axis=1)
    return float(diff.mean()), float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))
