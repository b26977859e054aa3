"""Rank aggregation: merge several voters' opinions about the same candidates.

A *voter* is one criterion (a task ranker, predicted latency, RAM, ...).  Every
function takes ``voters: dict[str, Sequence]`` and ``ids: Sequence[str]``:

* a numeric sequence aligned with ``ids`` is a per-candidate score, higher is
  better unless ``directions[voter] == "min"`` (e.g. latency);
  ``NaN`` means the voter abstains on that candidate;
* a sequence of candidate ids is a ranking, best first; ids it omits are
  abstentions.

Each function returns an :class:`AggregationResult` holding the final order,
the per-candidate aggregate score and every voter's rank of every candidate,
so a caller can say *why* one model is above another (:func:`explain`).

Tie-breaks are deterministic and documented per method; the common chain is
aggregate score, then the FIRST voter's rank (put the task ranker first), then
the candidate id (ascending string order).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations
from typing import Mapping, Sequence

import numpy as np

from .metrics import average_positions

__all__ = [
    "AggregationResult",
    "copeland",
    "copeland_top",
    "borda",
    "reciprocal_rank_fusion",
    "weighted_sum",
    "lexicographic",
    "pareto_fronts",
    "explain",
    "voter_matrix",
]

RRF_K = 60.0


@dataclass
class AggregationResult:
    """Outcome of one aggregation.

    ids:          candidates in input order.
    order:        candidate ids, best first (ties already broken).
    scores:       aggregate score per id (Copeland: wins - losses; Borda: points; ...).
    voter_ranks:  voter -> id -> 1-based position in that voter's own ranking
                  (ties share their average position; NaN = abstained).
    voters:       voter names in the order given (the first one is the tie-break voter).
    pairwise:     Copeland only: pairwise[i, j] = number of voters ranking ids[i]
                  strictly above ids[j].
    tiebreak:     human-readable description of the tie-break chain used.
    exact:        how many leading places of ``order`` are the method's own (None: all);
                  copeland_top computes only those.
    """

    method: str
    ids: list[str]
    order: list[str]
    scores: dict[str, float]
    voter_ranks: dict[str, dict[str, float]]
    voters: list[str]
    pairwise: np.ndarray | None = None
    tiebreak: str = ""
    extra: dict[str, dict[str, float]] = field(default_factory=dict)
    exact: int | None = None

    def position(self, cid: str) -> int:
        """1-based final position of a candidate."""
        return self.order.index(cid) + 1

    def positions(self) -> np.ndarray:
        """Final positions aligned with ``ids`` (1 = best)."""
        pos = {c: i + 1 for i, c in enumerate(self.order)}
        return np.array([pos[c] for c in self.ids], dtype=np.float64)

    def order_scores(self) -> np.ndarray:
        """n - position + 1 aligned with ``ids``: a strict, higher-is-better score of the final order."""
        return len(self.ids) + 1 - self.positions()


def voter_matrix(
    voters: Mapping[str, Sequence],
    ids: Sequence[str],
    directions: Mapping[str, str] | None = None,
) -> tuple[list[str], np.ndarray]:
    """Normalise voters into a (V, n) float matrix, higher = better, NaN = abstain."""
    ids = [str(c) for c in ids]
    if len(set(ids)) != len(ids):
        raise ValueError("candidate ids must be unique")
    index = {c: i for i, c in enumerate(ids)}
    directions = dict(directions or {})
    names = list(voters)
    if not names:
        raise ValueError("at least one voter is required")
    mat = np.full((len(names), len(ids)), np.nan)
    for v, name in enumerate(names):
        vals = list(voters[name])
        if vals and all(isinstance(x, str) for x in vals):
            # A ranking (best first): convert to a score so position 0 scores highest.
            for pos, cid in enumerate(vals):
                if cid not in index:
                    raise ValueError(f"voter {name!r} ranks unknown candidate {cid!r}")
                mat[v, index[cid]] = -float(pos)
            continue
        if len(vals) != len(ids):
            raise ValueError(f"voter {name!r} has {len(vals)} scores for {len(ids)} candidates")
        row = np.array([np.nan if x is None else float(x) for x in vals])
        d = directions.get(name, "max")
        if d not in ("max", "min"):
            raise ValueError(f"direction for {name!r} must be 'max' or 'min', got {d!r}")
        mat[v] = -row if d == "min" else row
    unknown = set(directions) - set(names)
    if unknown:
        raise ValueError(f"directions given for unknown voters: {sorted(unknown)}")
    return names, mat


def _positions(mat: np.ndarray) -> list[np.ndarray]:
    """Each voter's 1-based average-tie positions (NaN = abstained), computed once per aggregation."""
    return [average_positions(row) for row in mat]


def _voter_ranks(names: list[str], ids: list[str], pos: list[np.ndarray]) -> dict[str, dict[str, float]]:
    return {name: dict(zip(ids, pos[v].tolist())) for v, name in enumerate(names)}


def _borda_points(pos: list[np.ndarray], n: int) -> np.ndarray:
    """Per-candidate Borda points summed over voters: sum_v (n - pos_v).

    pos_v is the 1-based average-tie position among the candidates the voter
    scored.  An abstention gets the voter's mean points (n-1)/2, i.e. it is
    neutral: abstaining neither lifts nor sinks a candidate relative to the
    field (consistent with Copeland, where an abstention is no preference).
    """
    pts = np.zeros(n)
    for p in pos:
        pts += np.where(np.isnan(p), (n - 1) / 2.0, n - p)
    return pts


def _final_order(
    ids: list[str], keys: Sequence[np.ndarray]
) -> list[str]:
    """Sort candidates by successive keys (each higher = better), then by id ascending."""
    n = len(ids)
    # np.lexsort sorts by the LAST key first; ids rank ascending as the final fallback.
    id_rank = np.empty(n)
    id_rank[np.argsort(np.array(ids, dtype=object), kind="stable")] = np.arange(n)
    cols = [id_rank] + [-np.nan_to_num(k, nan=-np.inf) for k in reversed(keys)]
    order = np.lexsort(cols)
    return [ids[i] for i in order]


def _first_voter_key(pos: list[np.ndarray]) -> np.ndarray:
    # Lower position is better; an abstention by the first voter sorts last.
    return -np.where(np.isnan(pos[0]), np.inf, pos[0])


def _ranked_by_score(method: str, ids: list[str], names: list[str], pos: list[np.ndarray],
                     score: np.ndarray) -> AggregationResult:
    """The result of a method that orders by one aggregate score (higher = better),
    tie-broken by the first voter's rank, then the id."""
    order = _final_order(ids, [score, _first_voter_key(pos)])
    return AggregationResult(method, ids, order, dict(zip(ids, score.tolist())),
                             _voter_ranks(names, ids, pos), names,
                             tiebreak="first voter's rank, then candidate id")


def copeland(
    voters: Mapping[str, Sequence],
    ids: Sequence[str],
    directions: Mapping[str, str] | None = None,
) -> AggregationResult:
    """Copeland's method: score = pairwise wins - pairwise losses.

    For candidates a, b, n(a>b) counts voters that score a strictly above b
    (voters abstaining on either are ignored for that pair).  a beats b when
    n(a>b) > n(b>a).  O(V n^2).

    Tie-break (deterministic, in this order):
      1. Borda points (see :func:`borda`; rewards margins Copeland ignores),
      2. the first voter's rank (the task ranker by convention; abstained last),
      3. candidate id, ascending.
    """
    ids = [str(c) for c in ids]
    names, mat = voter_matrix(voters, ids, directions)
    # (V, n, n) votes: +1 = voter scores i above j, -1 below, 0 tie or abstention (NaN).
    sign = np.nan_to_num(np.sign(mat[:, :, None] - mat[:, None, :]))
    pair = (sign > 0).sum(axis=0)
    wins = (pair > pair.T).sum(axis=1)
    losses = (pair < pair.T).sum(axis=1)
    score = (wins - losses).astype(np.float64)
    pos = _positions(mat)
    bp = _borda_points(pos, len(ids))
    order = _final_order(ids, [score, bp, _first_voter_key(pos)])
    return _copeland_result(ids, names, order, score, wins, losses, bp, pos, pairwise=pair)


def _copeland_result(ids, names, order, score, wins, losses, bp, pos, **kw) -> AggregationResult:
    """The answer of copeland and copeland_top (scores, wins and losses as floats)."""
    return AggregationResult(
        method="copeland", ids=ids, order=order, scores=dict(zip(ids, score.astype(float).tolist())),
        voter_ranks=_voter_ranks(names, ids, pos), voters=names,
        tiebreak="Borda points, then first voter's rank, then candidate id",
        extra={"wins": dict(zip(ids, wins.astype(float).tolist())),
               "losses": dict(zip(ids, losses.astype(float).tolist())),
               "borda": dict(zip(ids, bp.tolist()))}, **kw)


def _strictly_above(mat: np.ndarray, h: int) -> np.ndarray:
    """For each candidate a, a lower bound of max over h-voter subsets S of #{b: every voter
    of S scores b strictly above a}, from histograms (b in a strictly higher bin of each
    voter of S than a scores strictly higher there): O(n) per subset instead of O(n^2)."""
    V, n = mat.shape
    if h > V:
        return np.zeros(n, dtype=np.int64)
    bins = 1 + int(2 ** (16 / h))  # at most 2^16 cells a subset
    cell = np.full((V, n), -1)
    size = np.zeros(V, dtype=np.int64)
    for v in range(V):
        ok = ~np.isnan(mat[v])
        values = np.sort(mat[v][ok])
        if values.size:
            edges = np.unique(values[np.linspace(0, values.size - 1, min(bins, values.size)).astype(int)])
            cell[v, ok] = np.searchsorted(edges, mat[v][ok], side="right")  # 1..len(edges)
            size[v] = edges.size + 2  # room for the empty bin above the top one
    best = np.zeros(n, dtype=np.int64)
    for S in combinations(range(V), h):
        S = list(S)
        ok = (cell[S] >= 0).all(axis=0)
        if not ok.any():
            continue
        shape = tuple(size[S])
        counts = np.bincount(np.ravel_multi_index(cell[S][:, ok], shape), minlength=int(np.prod(shape)))
        above = counts.reshape(shape)
        for axis in range(h):  # counts at bins >= (i_1 .. i_h) in every voter of S
            above = np.flip(np.cumsum(np.flip(above, axis), axis=axis), axis)
        got = above[tuple(cell[S][:, ok] + 1)]  # strictly higher bins
        best[ok] = np.maximum(best[ok], got)
    return best


def _copeland_rows(mat: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact (wins, losses) of the candidates `rows` against every candidate: O(V n) each."""
    wins = np.zeros(rows.size, dtype=np.int64)
    losses = np.zeros(rows.size, dtype=np.int64)
    step = max(1, 2_000_000 // max(1, mat.shape[1]))
    for start in range(0, rows.size, step):
        part = rows[start:start + step]
        margin = np.zeros((part.size, mat.shape[1]), dtype=np.int16)
        for x in mat:  # NaN compares False both ways: an abstention is no preference
            margin += (x[part, None] > x[None, :]).astype(np.int16)
            margin -= (x[part, None] < x[None, :]).astype(np.int16)
        wins[start:start + step] = (margin > 0).sum(axis=1)
        losses[start:start + step] = (margin < 0).sum(axis=1)
    return wins, losses


def copeland_top(
    voters: Mapping[str, Sequence],
    ids: Sequence[str],
    directions: Mapping[str, str] | None = None,
    top: int = 10,
) -> AggregationResult:
    """The first `top` places of :func:`copeland`, with their scores, without the n^2 pairs.

    Why it is exact: with V voters, a beats b only if fewer than V/2 voters score b strictly
    above a, and b surely beats a if more than V/2 do. So counting, for each a, the b that
    some ceil(V/2) voters all score strictly above it (and the b some floor(V/2)+1 voters
    do) bounds a's score from above without comparing pairs (`_strictly_above`). Candidates
    get their exact score (O(V n) each) in the order of that bound, then Borda points, then
    first voter's rank, then id, until the next bound cannot reach the `top`-th exact key:
    no candidate left can enter the first `top` places. On voters that agree (latency,
    energy and RAM do) few candidates need exact work; on unrelated ones it degrades to all.

    Same result as copeland for order[:top] and those candidates' scores (tests compare
    them on random instances); `exact` = top. The rest of `order` follows the tie-break chain
    (Borda points, ...), and candidates never scored have NaN scores, wins and losses.
    """
    ids = [str(c) for c in ids]
    names, mat = voter_matrix(voters, ids, directions)
    n, V = len(ids), len(names)
    pos = _positions(mat)
    bp = _borda_points(pos, n)
    first = _first_voter_key(pos)
    id_rank = np.empty(n)
    id_rank[np.argsort(np.array(ids, dtype=object), kind="stable")] = np.arange(n)
    bound = (n - 1) - _strictly_above(mat, (V + 1) // 2) - _strictly_above(mat, V // 2 + 1)
    # Best first by (bound, Borda, first voter, id): the order of exact work.
    queue = np.lexsort((id_rank, -first, -bp, -bound))
    score = np.full(n, np.nan)
    wins = np.full(n, np.nan)
    losses = np.full(n, np.nan)
    done = 0
    batch = max(2 * top, 32)
    while done < n:
        rows = queue[done:done + batch]
        w, lo = _copeland_rows(mat, rows)
        wins[rows], losses[rows], score[rows] = w, lo, w - lo
        done += rows.size
        seen = queue[:done]
        if done >= n or seen.size < top:
            continue
        # The top-th best exact key so far against the best bound left.
        kth = seen[np.lexsort((id_rank[seen], -first[seen], -bp[seen], -score[seen]))[top - 1]]
        nxt = queue[done]
        if (bound[nxt], bp[nxt], first[nxt], -id_rank[nxt]) < (score[kth], bp[kth], first[kth], -id_rank[kth]):
            break
    seen = queue[:done]
    head = seen[np.lexsort((id_rank[seen], -first[seen], -bp[seen], -score[seen]))[:top]]
    rest = np.setdiff1d(np.arange(n), head)
    rest = rest[np.lexsort((id_rank[rest], -first[rest], -bp[rest]))]
    order = [ids[i] for i in head] + [ids[i] for i in rest]
    return _copeland_result(ids, names, order, score, wins, losses, bp, pos, exact=min(top, n))


def borda(
    voters: Mapping[str, Sequence],
    ids: Sequence[str],
    directions: Mapping[str, str] | None = None,
) -> AggregationResult:
    """Borda count: sum over voters of (n - pos_v), ties sharing the average position.

    Abstentions are neutral ((n-1)/2 points).  Tie-break: first voter's rank, then id.
    """
    ids = [str(c) for c in ids]
    names, mat = voter_matrix(voters, ids, directions)
    pos = _positions(mat)
    return _ranked_by_score("borda", ids, names, pos, _borda_points(pos, len(ids)))


def reciprocal_rank_fusion(
    voters: Mapping[str, Sequence],
    ids: Sequence[str],
    directions: Mapping[str, str] | None = None,
    k: float = RRF_K,
) -> AggregationResult:
    """Reciprocal rank fusion: sum over voters of 1/(k + pos_v), k = 60.

    pos_v is the 1-based average-tie position; an abstention contributes 0
    (as in retrieval, where an unretrieved item earns nothing).  Tie-break:
    first voter's rank, then id.
    """
    ids = [str(c) for c in ids]
    names, mat = voter_matrix(voters, ids, directions)
    pos = _positions(mat)
    tot = np.zeros(len(ids))
    for p in pos:
        tot += np.where(np.isnan(p), 0.0, 1.0 / (k + np.nan_to_num(p)))
    return _ranked_by_score("rrf", ids, names, pos, tot)


def weighted_sum(
    voters: Mapping[str, Sequence],
    ids: Sequence[str],
    weights: Mapping[str, float] | None = None,
    directions: Mapping[str, str] | None = None,
) -> AggregationResult:
    """Weighted scalarisation of min-max normalised scores.

    Each voter's scores are mapped to [0, 1] (best = 1; a constant voter maps
    to 0.5).  The aggregate is the weighted mean over the voters that did not
    abstain on the candidate, so an abstention does not count as a zero.
    Ranking voters are normalised from their positions.  Default weights are
    equal.  Tie-break: first voter's rank, then id.
    """
    ids = [str(c) for c in ids]
    names, mat = voter_matrix(voters, ids, directions)
    w = np.array([float((weights or {}).get(nm, 1.0)) for nm in names])
    if np.any(w < 0):
        raise ValueError("weights must be non-negative")
    lo = np.nanmin(np.where(np.isnan(mat), np.inf, mat), axis=1, keepdims=True)
    hi = np.nanmax(np.where(np.isnan(mat), -np.inf, mat), axis=1, keepdims=True)
    span = hi - lo
    with np.errstate(invalid="ignore", divide="ignore"):
        norm = np.where(span > 0, (mat - lo) / np.where(span > 0, span, 1.0), 0.5)
    norm = np.where(np.isnan(mat), np.nan, norm)
    present = ~np.isnan(norm)
    num = (np.nan_to_num(norm) * w[:, None]).sum(axis=0)
    den = (present * w[:, None]).sum(axis=0)
    agg = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return _ranked_by_score("weighted_sum", ids, names, _positions(mat), agg)


def lexicographic(
    voters: Mapping[str, Sequence],
    ids: Sequence[str],
    tolerance: float | Mapping[str, float] = 0.0,
    directions: Mapping[str, str] | None = None,
) -> AggregationResult:
    """Lexicographic order over voters in the given order, with tolerance.

    Repeatedly pick the next candidate: keep those within ``tolerance`` (absolute,
    in the voter's own units, per voter or one value for all) of the best
    remaining score on voter 1, narrow that set on voter 2, and so on; the
    survivor with the best last-voter score (then smallest id) is placed next.
    The tolerance makes "88.1 % vs 88.0 % accuracy" a tie that the next
    criterion (e.g. latency) decides.  An abstention counts as the worst score.
    Aggregate score = n - position.
    """
    ids = [str(c) for c in ids]
    names, mat = voter_matrix(voters, ids, directions)
    tol = np.array([
        float(tolerance.get(nm, 0.0)) if isinstance(tolerance, Mapping) else float(tolerance)
        for nm in names
    ])
    filled = np.where(np.isnan(mat), -np.inf, mat)
    remaining = list(range(len(ids)))
    order_idx: list[int] = []
    if not tol.any():
        # Without tolerance the repeated narrowing is a sort by the voters in turn, then the id.
        id_rank = np.empty(len(ids))
        id_rank[np.argsort(np.array(ids, dtype=object), kind="stable")] = np.arange(len(ids))
        order_idx, remaining = np.lexsort([id_rank] + [-row for row in filled[::-1]]).tolist(), []
    while remaining:
        cand = np.array(remaining)
        for v in range(len(names)):
            vals = filled[v, cand]
            best = vals.max()
            cand = cand[vals >= best - tol[v]] if np.isfinite(best) else cand
        last = filled[-1, cand]
        cand = cand[last == last.max()]
        pick = min(cand.tolist(), key=lambda i: ids[i])
        order_idx.append(pick)
        remaining.remove(pick)
    order = [ids[i] for i in order_idx]
    n = len(ids)
    scores = {c: float(n - p) for p, c in enumerate(order)}
    return AggregationResult("lexicographic", ids, order, scores,
                             _voter_ranks(names, ids, _positions(mat)), names,
                             tiebreak="later voters within tolerance, then candidate id")


def pareto_fronts(
    voters: Mapping[str, Sequence],
    ids: Sequence[str],
    directions: Mapping[str, str] | None = None,
) -> AggregationResult:
    """Pareto non-dominated sorting.

    a dominates b when, over the voters that scored both, a is never worse and
    strictly better at least once (no shared voter = no dominance).  Front 1 is
    the non-dominated set, front 2 is non-dominated once front 1 is removed,
    etc.  Aggregate score = -front.  Within a front: Borda points, then first
    voter's rank, then id.
    """
    ids = [str(c) for c in ids]
    names, mat = voter_matrix(voters, ids, directions)
    both = ~np.isnan(mat[:, :, None]) & ~np.isnan(mat[:, None, :])
    ge = np.where(both, mat[:, :, None] >= mat[:, None, :], True).all(axis=0)
    gt = (np.where(both, mat[:, :, None] > mat[:, None, :], False)).any(axis=0)
    dom = ge & gt & both.any(axis=0)  # dom[a, b]: a dominates b
    n = len(ids)
    front = np.zeros(n)
    left = np.ones(n, dtype=bool)
    level = 0
    while left.any():
        level += 1
        dominated = (dom[left][:, left]).any(axis=0)
        cur = np.flatnonzero(left)[~dominated]
        front[cur] = level
        left[cur] = False
    score = -front
    pos = _positions(mat)
    bp = _borda_points(pos, n)
    order = _final_order(ids, [score, bp, _first_voter_key(pos)])
    return AggregationResult("pareto", ids, order, dict(zip(ids, score.tolist())),
                             _voter_ranks(names, ids, pos), names,
                             tiebreak="Borda points, then first voter's rank, then candidate id",
                             extra={"front": dict(zip(ids, front.tolist())),
                                    "borda": dict(zip(ids, bp.tolist()))})


def _fmt(x: float) -> str:
    return f"{x:g}"


def explain(result: AggregationResult, a: str, b: str) -> str:
    """One line saying why ``a`` sits where it does relative to ``b``.

    Example: "A is above B: beats B on 2 of 3 voters (accuracy, latency); loses on ram".
    """
    if a not in result.scores or b not in result.scores:
        raise KeyError(f"unknown candidate: {a if a not in result.scores else b}")
    above = result.position(a) < result.position(b)
    better, worse, tied, absent = [], [], [], []
    for v in result.voters:
        ra, rb = result.voter_ranks[v][a], result.voter_ranks[v][b]
        if np.isnan(ra) or np.isnan(rb):
            absent.append(v)
        elif ra < rb:
            better.append(v)
        elif ra > rb:
            worse.append(v)
        else:
            tied.append(v)
    n_v = len(result.voters)
    head = f"{a} is {'above' if above else 'below'} {b}: "
    parts = [f"beats {b} on {len(better)} of {n_v} voters"
             + (f" ({', '.join(better)})" if better else "")]
    if worse:
        parts.append(f"loses on {', '.join(worse)}")
    if tied:
        parts.append(f"ties on {', '.join(tied)}")
    if absent:
        parts.append(f"no vote from {', '.join(absent)}")
    line = head + "; ".join(parts)
    sa, sb = result.scores[a], result.scores[b]
    if sa == sb and a != b:
        # Same aggregate score: the tie-break decided, so say so.
        if result.method in ("copeland", "pareto") and "borda" in result.extra:
            ba, bb = result.extra["borda"][a], result.extra["borda"][b]
            if ba != bb:
                return line + f"; {result.method} score tied at {_fmt(sa)}, Borda {_fmt(ba)} vs {_fmt(bb)}"
        return line + f"; {result.method} score tied at {_fmt(sa)}, decided by {result.tiebreak}"
    return line + f"; {result.method} score {_fmt(sa)} vs {_fmt(sb)}"
