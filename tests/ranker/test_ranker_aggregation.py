import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ranker.aggregation import (
    borda,
    copeland,
    copeland_top,
    explain,
    lexicographic,
    pareto_fronts,
    reciprocal_rank_fusion,
    weighted_sum,
)

# Worked example used by several tests.  Four models, three voters, with ties:
#   accuracy (higher better): A=90  B=85  C=85  D=70   -> positions A1  B2.5 C2.5 D4
#   latency  (lower better):  A=30  B=10  C=20  D=5    -> positions D1  B2   C3   A4
#   ram      (lower better):  A=100 B=100 C=50  D=60   -> positions C1  D2   A3.5 B3.5
IDS = ["A", "B", "C", "D"]
VOTERS = {"accuracy": [90, 85, 85, 70], "latency": [30, 10, 20, 5], "ram": [100, 100, 50, 60]}
DIRS = {"latency": "min", "ram": "min"}


def test_copeland_hand_worked_with_ties():
    # Pairwise majorities (n(x>y) - n(y>x)):
    #   A-B: acc A, lat B, ram tie      -> 1-1 tie
    #   A-C: acc A, lat C, ram C        -> C wins 2-1
    #   A-D: acc A, lat D, ram D        -> D wins 2-1
    #   B-C: acc tie, lat B, ram C      -> 1-1 tie
    #   B-D: acc B, lat D, ram D        -> D wins 2-1
    #   C-D: acc C, lat D, ram C        -> C wins 2-1
    # Copeland = wins - losses: A 0-2=-2, B 0-1=-1, C 2-0=+2, D 2-1=+1
    r = copeland(VOTERS, IDS, directions=DIRS)
    assert r.scores == {"A": -2.0, "B": -1.0, "C": 2.0, "D": 1.0}
    assert r.order == ["C", "D", "B", "A"]
    assert r.extra["wins"] == {"A": 0.0, "B": 0.0, "C": 2.0, "D": 2.0}
    assert r.extra["losses"] == {"A": 2.0, "B": 1.0, "C": 0.0, "D": 1.0}
    # pairwise[i, j] = voters ranking ids[i] strictly above ids[j]
    assert r.pairwise[0, 1] == 1 and r.pairwise[1, 0] == 1
    assert r.pairwise[2, 0] == 2 and r.pairwise[0, 2] == 1
    assert r.voter_ranks["accuracy"] == {"A": 1.0, "B": 2.5, "C": 2.5, "D": 4.0}
    assert r.voter_ranks["ram"] == {"A": 3.5, "B": 3.5, "C": 1.0, "D": 2.0}


def test_borda_hand_worked_with_ties():
    # points = n - pos = 4 - pos per voter:
    #   A: (4-1) + (4-4) + (4-3.5) = 3 + 0 + 0.5 = 3.5
    #   B: (4-2.5) + (4-2) + (4-3.5) = 1.5 + 2 + 0.5 = 4.0
    #   C: (4-2.5) + (4-3) + (4-1) = 1.5 + 1 + 3 = 5.5
    #   D: (4-4) + (4-1) + (4-2) = 0 + 3 + 2 = 5.0
    r = borda(VOTERS, IDS, directions=DIRS)
    assert r.scores == {"A": 3.5, "B": 4.0, "C": 5.5, "D": 5.0}
    assert r.order == ["C", "D", "B", "A"]


def test_rrf_hand_worked_with_ties():
    # RRF = sum 1/(60 + pos), ties keep their average position:
    #   A: 1/61 + 1/64 + 1/63.5      B: 1/62.5 + 1/62 + 1/63.5
    #   C: 1/62.5 + 1/63 + 1/61      D: 1/64 + 1/61 + 1/62
    r = reciprocal_rank_fusion(VOTERS, IDS, directions=DIRS)
    exp = {"A": 1 / 61 + 1 / 64 + 1 / 63.5, "B": 1 / 62.5 + 1 / 62 + 1 / 63.5,
           "C": 1 / 62.5 + 1 / 63 + 1 / 61, "D": 1 / 64 + 1 / 61 + 1 / 62}
    for k, v in exp.items():
        assert r.scores[k] == pytest.approx(v, abs=1e-15)
    # C 0.048266 > D 0.048147 > B 0.047877 > A 0.047766
    assert r.order == ["C", "D", "B", "A"]


def test_copeland_tie_broken_by_borda_not_by_first_voter_or_id():
    # v0: A=1 B=3 C=2 -> B1 C2 A3;  v1: A=1 B=3 C=3 -> B,C 1.5, A3;  v2: A=3 B=1 C=3 -> A,C 1.5, B3
    # A-B: v0 B, v1 B, v2 A -> B wins;  A-C: v0 C, v1 C, v2 tie -> C wins;  B-C: v0 B, v1 tie, v2 C -> tie
    # Copeland: A -2, B +1, C +1.  Borda (3 - pos): B = 2 + 1.5 + 0 = 3.5, C = 1 + 1.5 + 1.5 = 4.0
    # so C precedes B although the first voter and the id order both prefer B.
    r = copeland({"v0": [1, 3, 2], "v1": [1, 3, 3], "v2": [3, 1, 3]}, ["A", "B", "C"])
    assert r.scores == {"A": -2.0, "B": 1.0, "C": 1.0}
    assert r.extra["borda"] == {"A": 1.5, "B": 3.5, "C": 4.0}
    assert r.order == ["C", "B", "A"]


def test_copeland_full_tie_falls_back_to_first_voter_then_id():
    # Two opposite voters: every pair ties, every Borda total is 2 -> first voter's order.
    r = copeland({"task": [3, 2, 1], "hw": [1, 2, 3]}, ["X", "Y", "Z"])
    assert set(r.scores.values()) == {0.0}
    assert r.order == ["X", "Y", "Z"]
    # Identical candidates on every voter -> candidate id decides.
    r = copeland({"task": [1, 1], "hw": [2, 2]}, ["b", "a"])
    assert r.order == ["a", "b"]


def test_nan_abstains():
    # hw abstains on C: C vs others is decided by "task" alone.
    # A-B: task B, hw A -> tie; A-C: task A -> A wins; B-C: task B -> B wins.
    r = copeland({"task": [2, 3, 1], "hw": [5, 1, float("nan")]}, ["A", "B", "C"])
    assert r.scores == {"A": 1.0, "B": 1.0, "C": -2.0}
    assert math.isnan(r.voter_ranks["hw"]["C"])
    # Borda: task A 1, B 2, C 0; hw A 2, B 1, C neutral (n-1)/2 = 1 -> A 3, B 3 -> first voter: B
    assert r.order == ["B", "A", "C"]
    # RRF: an abstention adds nothing.
    rr = reciprocal_rank_fusion({"task": [2, 3, 1], "hw": [5, 1, float("nan")]}, ["A", "B", "C"])
    assert rr.scores["C"] == pytest.approx(1 / 63)


def test_rankings_as_voters():
    r = copeland({"task": ["B", "A", "C"], "hw": ["A", "B", "C"]}, ["A", "B", "C"])
    assert r.scores == {"A": 1.0, "B": 1.0, "C": -2.0}
    assert r.order == ["B", "A", "C"]  # Borda tie (3 each) -> first voter prefers B
    # A ranking that omits a candidate abstains on it.
    r = borda({"task": ["B", "A"]}, ["A", "B", "C"])
    assert math.isnan(r.voter_ranks["task"]["C"])


def test_bad_input():
    with pytest.raises(ValueError):
        copeland({"a": [1, 2]}, ["x", "y", "z"])
    with pytest.raises(ValueError):
        copeland({"a": [1, 2]}, ["x", "x"])
    with pytest.raises(ValueError):
        copeland({"a": [1, 2]}, ["x", "y"], directions={"a": "down"})
    with pytest.raises(ValueError):
        copeland({"a": ["x", "q"]}, ["x", "y"])


def test_weighted_sum():
    # accuracy normalised: A 1, B 0.75, C 0.75, D 0; latency (min): A 0, B 0.8, C 0.4, D 1
    r = weighted_sum({"accuracy": [90, 85, 85, 70], "latency": [30, 10, 20, 5]}, IDS,
                     weights={"accuracy": 3, "latency": 1}, directions={"latency": "min"})
    assert r.scores["A"] == pytest.approx(0.75)
    assert r.scores["B"] == pytest.approx((3 * 0.75 + 0.8) / 4)
    assert r.scores["D"] == pytest.approx(0.25)
    assert r.order[0] == "B"


def test_lexicographic_tolerance():
    # Within 5 points of the best accuracy (A, B, C) latency decides: B (10) first.
    r = lexicographic(VOTERS, IDS, tolerance={"accuracy": 5, "latency": 0}, directions=DIRS)
    assert r.order[0] == "B"
    # No tolerance: accuracy alone, B/C tie broken by latency.
    r = lexicographic(VOTERS, IDS, directions=DIRS)
    assert r.order == ["A", "B", "C", "D"]


def test_pareto_fronts():
    r = pareto_fronts({"acc": [3, 2, 1, 1], "lat": [3, 1, 2, 1]}, ["A", "B", "C", "D"])
    # A dominates all; B, C are not comparable; D is dominated by B and C.
    assert r.extra["front"] == {"A": 1.0, "B": 2.0, "C": 2.0, "D": 3.0}
    assert r.order[0] == "A" and r.order[-1] == "D"


def test_explain_one_line():
    r = copeland(VOTERS, IDS, directions=DIRS)
    line = explain(r, "C", "D")
    assert line.startswith("C is above D: beats D on 2 of 3 voters (accuracy, ram)")
    assert "loses on latency" in line and "\n" not in line
    line = explain(r, "A", "B")
    assert "A is below B" in line and "ties on ram" in line
    r2 = copeland({"v0": [1, 3, 2], "v1": [1, 3, 3], "v2": [3, 1, 3]}, ["A", "B", "C"])
    assert "Borda 4 vs 3.5" in explain(r2, "C", "B")


def test_deterministic_and_order_scores():
    a = copeland(VOTERS, IDS, directions=DIRS)
    b = copeland(VOTERS, IDS, directions=DIRS)
    assert a.order == b.order
    np.testing.assert_array_equal(a.order_scores(), [1, 2, 4, 3])


# -- Copeland without the n^2 pairs: the same first places as the exact version -----------------


@st.composite
def ballots(draw):
    """Voters over n candidates with many ties (few levels) and abstentions (None), some voters
    'min'; ids in a random order, so the id tie-break is exercised; `top` up to past n."""
    n = draw(st.integers(1, 40))
    voters, directions = {}, {}
    for v in range(draw(st.integers(1, 6))):
        level = st.integers(0, draw(st.integers(0, 6))).map(float) | st.floats(-5, 5, allow_nan=False)
        voters[f"v{v}"] = draw(st.lists(st.none() | level, min_size=n, max_size=n))
        if draw(st.booleans()):
            directions[f"v{v}"] = "min"
    ids = draw(st.permutations([f"m{i:02d}" for i in range(n)]))
    return voters, ids, directions, draw(st.integers(1, n + 2))


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


@settings(max_examples=400, deadline=None)
@given(ballots())
def test_copeland_top_has_the_exact_first_places_and_scores(ballot):
    voters, ids, directions, top = ballot
    exact, fast = copeland(voters, ids, directions), copeland_top(voters, ids, directions, top)
    t = min(top, len(ids))
    assert fast.exact == t and sorted(fast.order) == sorted(ids)
    assert fast.order[:t] == exact.order[:t]
    for c in fast.order[:t]:
        assert fast.scores[c] == exact.scores[c]
        assert fast.extra["wins"][c] == exact.extra["wins"][c]
        assert fast.extra["losses"][c] == exact.extra["losses"][c]
    # Whatever was scored is scored right; ranks and Borda points are computed for all.
    assert all(_same(s, exact.scores[c]) or math.isnan(s) for c, s in fast.scores.items())
    assert fast.extra["borda"] == exact.extra["borda"]
    assert all(_same(fast.voter_ranks[v][c], exact.voter_ranks[v][c]) for v in exact.voters for c in ids)
    # So the explanations of the rows shown are the same too.
    for a, b in zip(fast.order[:t - 1], fast.order[1:t]):
        assert explain(fast, a, b) == explain(exact, a, b)


def test_copeland_top_scores_few_candidates_when_the_voters_agree():
    # Latency, energy and RAM follow model size, accuracy too (the usual trade-off): a
    # candidate with many others smaller in two of them cannot reach the first places.
    rng = np.random.default_rng(3)
    n = 3000
    size = rng.lognormal(0, 1, n)
    voters = {"task": np.log(size) + rng.normal(0, 0.3, n), "latency": size * rng.lognormal(0, 0.2, n),
              "energy": size * rng.lognormal(0, 0.2, n), "headroom": 1 - size / 100}
    ids = [f"m{i:04d}" for i in range(n)]
    dirs = {"latency": "min", "energy": "min"}
    fast = copeland_top(voters, ids, dirs, top=11)
    scored = sum(not math.isnan(s) for s in fast.scores.values())
    assert scored < n / 10
    exact = copeland(voters, ids, dirs)
    assert fast.order[:11] == exact.order[:11]


@settings(max_examples=200, deadline=None)
@given(ballots())
def test_lexicographic_without_tolerance_is_the_narrowing_order(ballot):
    # Integer levels only: a tolerance far below 1 narrows exactly as none does, but walks the
    # candidate-by-candidate narrowing the sort replaces.
    voters, ids, directions, _ = ballot
    voters = {v: [None if x is None else float(round(x)) for x in xs] for v, xs in voters.items()}
    sort = lexicographic(voters, ids, directions=directions)
    walk = lexicographic(voters, ids, tolerance=1e-9, directions=directions)
    assert sort.order == walk.order and sort.scores == walk.scores
