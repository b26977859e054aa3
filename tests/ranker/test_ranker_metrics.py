import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import rankdata

from ranker.metrics import average_positions, ndcg_at_k, spearman, top1_regret, weighted_tau


def test_weighted_tau_by_hand():
    # truth [1,2,3], pred [1,3,2].  Ranks by decreasing truth: i2 -> 0, i1 -> 1, i0 -> 2,
    # weights 1/(r+1): w0 = 1/3, w1 = 1/2, w2 = 1.  Pair weights w_i + w_j:
    #   (0,1) concordant 5/6, (0,2) concordant 4/3, (1,2) discordant 3/2
    # tau = (5/6 + 4/3 - 3/2) / (5/6 + 4/3 + 3/2) = (2/3) / (11/3) = 2/11
    assert weighted_tau([1, 2, 3], [1, 3, 2]) == pytest.approx(2 / 11)
    assert weighted_tau([1, 2, 3], [10, 20, 30]) == pytest.approx(1.0)
    assert weighted_tau([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(weighted_tau([1, 1, 1], [1, 2, 3]))


def test_weighted_tau_equals_scipy_rank_none_truth_first():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    for _ in range(300):
        n = int(rng.integers(3, 12))
        t = rng.integers(0, 4, n).astype(float)   # many ties on both sides
        p = rng.integers(0, 4, n).astype(float)
        ref = stats.weightedtau(t, p, rank=None)[0]
        ours = weighted_tau(t, p)
        assert (math.isnan(ref) and math.isnan(ours)) or ours == pytest.approx(ref, abs=1e-12)
    # The argument order matters (truth supplies the weights): not symmetric.
    t, p = [1, 2, 3, 4, 5], [5, 1, 2, 3, 4]
    assert weighted_tau(t, p) == pytest.approx(0.368613, abs=1e-6)
    assert weighted_tau(p, t) == pytest.approx(-0.156934, abs=1e-6)


def test_nan_pairs_are_dropped():
    assert weighted_tau([1, 2, np.nan, 3], [1, 2, 5, 3]) == pytest.approx(1.0)


def test_ndcg_by_hand():
    # truth [3,1,2] -> gains [2,0,1]; pred order: idx1, idx2, idx0
    # DCG@2 = 0/log2(2) + 1/log2(3); IDCG@2 = 2/log2(2) + 1/log2(3)
    exp = (1 / math.log2(3)) / (2 + 1 / math.log2(3))
    assert ndcg_at_k([3, 1, 2], [1, 3, 2], k=2) == pytest.approx(exp)
    assert ndcg_at_k([3, 1, 2], [3, 1, 2], k=5) == pytest.approx(1.0)
    assert ndcg_at_k([5, 5, 5], [1, 2, 3]) == 1.0


def test_regret_and_spearman():
    assert top1_regret([3, 1, 2], [1, 3, 2]) == 2
    assert top1_regret([3, 1, 2], [9, 0, 0]) == 0
    assert spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)  # 1 - 6*2/(4*15)
    np.testing.assert_array_equal(average_positions([5, 7, 7, np.nan]), [3, 1.5, 1.5, np.nan])


@given(st.lists(st.one_of(st.integers(-3, 3).map(float), st.floats(-1e6, 1e6), st.just(math.nan)), max_size=40))
def test_average_positions_are_scipys_average_ranks_of_the_negated_values(values):
    """Few distinct integers make long runs of ties; NaN takes no position."""
    got = average_positions(values)
    v = np.asarray(values, dtype=float)
    finite = np.isfinite(v)
    assert np.isnan(got[~finite]).all()
    if finite.any():
        np.testing.assert_array_equal(got[finite], rankdata(-v[finite], method="average"))
