import math

import numpy as np
import pytest

from ranker.transferability import (
    h_score,
    ledoit_wolf_covariance,
    leep,
    logme,
    logme_evidence,
    nce,
    nleep,
    shrinkage_h_score,
)


def test_nce_four_sample_joint_by_hand():
    # y = [0,0,1,1], z = [0,0,0,1]: P(0,0)=2/4, P(1,0)=1/4, P(1,1)=1/4, P(z=0)=3/4, P(z=1)=1/4
    # NCE = sum P(y,z) log P(y|z) = 1/2 log(2/3) + 1/4 log(1/3) + 1/4 log(1) = -0.477386
    exp = 0.5 * math.log(2 / 3) + 0.25 * math.log(1 / 3)
    assert nce([0, 0, 0, 1], [0, 0, 1, 1]) == pytest.approx(exp, abs=1e-12)
    assert exp == pytest.approx(-0.477386, abs=1e-6)
    # Same from probabilities (argmax), and label names do not matter.
    probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.7, 0.3], [0.2, 0.8]])
    assert nce(probs, ["a", "a", "b", "b"]) == pytest.approx(exp, abs=1e-12)
    # A perfectly informative source: H(Y|Z) = 0.
    assert nce([0, 0, 1, 1], [5, 5, 7, 7]) == 0.0


def test_leep_two_class_two_source_by_hand():
    theta = np.array([[0.8, 0.2], [0.6, 0.4], [0.3, 0.7], [0.1, 0.9]])
    y = [0, 0, 1, 1]
    # P(y=0,z) = [1.4, 0.6]/4 = [.35, .15]; P(y=1,z) = [0.4, 1.6]/4 = [.10, .40]; P(z) = [.45, .55]
    # P(0|z) = [7/9, 3/11], P(1|z) = [2/9, 8/11]
    # EEP: x1 .8*7/9+.2*3/11, x2 .6*7/9+.4*3/11, x3 .3*2/9+.7*8/11, x4 .1*2/9+.9*8/11
    eep = [0.8 * 7 / 9 + 0.2 * 3 / 11, 0.6 * 7 / 9 + 0.4 * 3 / 11,
           0.3 * 2 / 9 + 0.7 * 8 / 11, 0.1 * 2 / 9 + 0.9 * 8 / 11]
    exp = float(np.mean(np.log(eep)))  # = (2 ln .676768 + 2 ln .575758)/4 = -0.471248
    assert leep(theta, y) == pytest.approx(exp, abs=1e-9)
    assert exp == pytest.approx(-0.471248, abs=1e-6)
    assert leep(theta, y) <= 0


def _separable(n=60, d=8, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    F = rng.normal(scale=0.1, size=(n, d))
    F[np.arange(n), y] += 3.0
    return F, y


@pytest.mark.parametrize("n,d", [(60, 8), (12, 30), (200, 2)])
def test_logme_matches_direct_evidence(n, d):
    rng = np.random.default_rng(n + d)
    F = rng.normal(size=(n, d)) @ rng.normal(size=(d, d))
    y = rng.integers(0, 3, n)
    score, det = logme(F, y, return_details=True)
    Y = np.eye(3)[np.unique(y, return_inverse=True)[1]]
    direct = [logme_evidence(F, Y[:, c], det["alpha"][c], det["beta"][c]) for c in range(Y.shape[1])]
    np.testing.assert_allclose(det["evidence"], direct, rtol=1e-9, atol=1e-9)
    assert score == pytest.approx(np.mean(direct) / n, rel=1e-10)


def test_logme_fixed_point_is_stationary():
    # At convergence alpha = gamma/|m|^2 and beta = (n-gamma)/|Fm-y|^2 hold (to the stopping tolerance).
    F, y = _separable()
    _, det = logme(F, y, return_details=True, max_iter=100, tol=1e-10)
    n, d = F.shape
    for c in range(3):
        a, b = det["alpha"][c], det["beta"][c]
        A = a * np.eye(d) + b * F.T @ F
        yc = (y == c).astype(float)
        m = b * np.linalg.solve(A, F.T @ yc)
        gamma = np.sum(b * np.linalg.eigvalsh(F.T @ F) / (a + b * np.linalg.eigvalsh(F.T @ F)))
        assert a == pytest.approx(gamma / (m @ m), rel=1e-6)
        r = F @ m - yc
        assert b == pytest.approx((n - gamma) / (r @ r), rel=1e-6)


def test_logme_separable_beats_random():
    F, y = _separable()
    rand = np.random.default_rng(1).normal(size=F.shape)
    assert logme(F, y) > logme(rand, y)
    assert shrinkage_h_score(F, y) > shrinkage_h_score(rand, y)
    assert np.isfinite(logme(F[:5], y[:5]))  # n < d still works


def test_logme_regression_targets():
    rng = np.random.default_rng(0)
    F = rng.normal(size=(50, 4))
    good = F @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.01 * rng.normal(size=50)
    assert logme(F, good, regression=True) > logme(F, rng.normal(size=50), regression=True)


def test_h_score_one_dimensional_by_hand():
    # F = [0,2,4,6], y = [0,0,1,1]: var(F) = (9+1+1+9)/4 = 5; class means 1,1,5,5 -> var(G) = 4
    F = np.array([[0.0], [2.0], [4.0], [6.0]])
    y = [0, 0, 1, 1]
    assert h_score(F, y) == pytest.approx(0.8)
    assert shrinkage_h_score(F, y) == pytest.approx(0.8)  # d = 1: nothing to shrink


def test_ledoit_wolf_matches_sklearn():
    sk = pytest.importorskip("sklearn.covariance")
    rng = np.random.default_rng(3)
    for n, d in [(40, 5), (10, 25)]:
        X = rng.normal(size=(n, d)) @ rng.normal(size=(d, d))
        ours, s = ledoit_wolf_covariance(X)
        ref, s_ref = sk.ledoit_wolf(X)
        np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-12)
        assert s == pytest.approx(s_ref)


def test_input_validation():
    with pytest.raises(ValueError):
        logme(np.ones((3, 2)), [0, 1])
    with pytest.raises(ValueError):
        logme(np.full((3, 2), np.nan), [0, 1, 0])
    with pytest.raises(ValueError):
        leep(np.array([[-0.1, 1.1]]), [0])


def test_nleep_tight_clusters_by_hand():
    # Three tight clusters of 4 points, far apart: the GMM posteriors are one-hot per
    # cluster z, so N-LEEP = sum_z P(z) sum_y P(y|z) log P(y|z) = -H(Y|Z).
    centres = np.array([[0.0, 0.0, 0.0], [100.0, 0.0, 0.0], [0.0, 100.0, 0.0]])
    jitter = 0.01 * np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=float)
    F = (centres[:, None, :] + jitter[None, :, :]).reshape(12, 3)
    y = [0, 0, 0, 1,  1, 1, 2, 2,  2, 2, 2, 2]
    # P(z) = 1/3 each; P(y|z0) = (3/4, 1/4), P(y|z1) = (1/2, 1/2), P(y|z2) = (1)
    # -H(Y|Z) = (1/3)(3/4 ln 3/4 + 1/4 ln 1/4) + (1/3) ln 1/2 + 0
    #         = (1/3)(-0.562335) + (1/3)(-0.693147) = -0.418494
    exp = (0.75 * math.log(0.75) + 0.25 * math.log(0.25) + math.log(0.5)) / 3
    assert exp == pytest.approx(-0.418494, abs=1e-6)
    assert nleep(F, y) == pytest.approx(exp, abs=1e-9)
    one_hot = np.repeat(np.eye(3), 4, axis=0)
    assert nce(one_hot, y) == pytest.approx(exp, abs=1e-12)


def test_nleep_bounded_deterministic_and_ranks():
    rng = np.random.default_rng(7)
    F = rng.normal(size=(80, 6))
    y = rng.integers(0, 4, 80)
    a = nleep(F, y, seed=3)
    assert a <= 1e-12
    assert nleep(F, y, seed=3) == a
    assert nleep(F, y, n_components=8, seed=3) <= 1e-12
    sep, ys = _separable()
    noise = np.random.default_rng(1).normal(size=sep.shape)
    assert nleep(sep, ys) > nleep(noise, ys)


def test_nleep_input_validation():
    with pytest.raises(ValueError):
        nleep(np.ones(5), [0, 1, 0, 1, 0])
    with pytest.raises(ValueError):
        nleep(np.random.default_rng(0).normal(size=(5, 2)), [0, 1, 0])
    with pytest.raises(ValueError):
        nleep(np.random.default_rng(0).normal(size=(5, 2)), [0, 1, 0, 1, 0], variance=1.5)
    with pytest.raises(ValueError):
        nleep(np.random.default_rng(0).normal(size=(5, 2)), [0, 1, 0, 1, 0], n_components=6)
