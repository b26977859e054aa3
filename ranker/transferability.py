"""Transferability estimators: score how well a pre-trained model fits a target task.

Definitions follow docs/algorithms.md (shared/docs).  Inputs are numpy arrays:
``F`` (n, d) penultimate-layer features, ``y`` (n,) integer labels, and for
LEEP/NCE ``probs`` (n, Z), the source head's softmax.  Every score is higher =
better and everything runs in float64, vectorised over classes.
"""
from __future__ import annotations

import numpy as np

__all__ = [
    "logme",
    "logme_evidence",
    "leep",
    "nce",
    "nleep",
    "h_score",
    "shrinkage_h_score",
    "ledoit_wolf_covariance",
]

_EPS = 1e-12


def _labels(y: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y).ravel()
    if y.size != n:
        raise ValueError(f"{y.size} labels for {n} samples")
    classes, codes = np.unique(y, return_inverse=True)
    return classes, codes


def _as_features(F) -> np.ndarray:
    F = np.asarray(F, dtype=np.float64)
    if F.ndim != 2:
        raise ValueError("features must be a 2-D (n, d) array")
    if not np.all(np.isfinite(F)):
        raise ValueError("features contain NaN or inf")
    return F


def _targets(F: np.ndarray, y, regression: bool) -> np.ndarray:
    n = F.shape[0]
    if regression:
        Y = np.asarray(y, dtype=np.float64)
        Y = Y.reshape(n, -1)
        return Y
    _, codes = _labels(np.asarray(y), n)
    Y = np.zeros((n, codes.max() + 1))
    Y[np.arange(n), codes] = 1.0
    return Y


def logme(F, y, *, regression: bool = False, max_iter: int = 11, tol: float = 1e-3,
          return_details: bool = False):
    """LogME (You et al., 2021): mean over targets of the log marginal evidence / n.

    One thin SVD of F serves every class (O(n d min(n, d))).  For each one-hot
    target the MacKay fixed point runs from alpha = beta = 1 until alpha/beta
    changes by less than ``tol`` relatively (at most ``max_iter`` updates); the
    evidence is then evaluated at the final (alpha, beta).  When n < d, the
    d - n zero eigenvalues of F^T F still contribute log(alpha) each to log|A|.

    ``regression=True`` treats ``y`` (n,) or (n, k) as real-valued targets.
    With ``return_details`` also returns dict(alpha, beta, evidence) per target.
    """
    F = _as_features(F)
    n, d = F.shape
    Y = _targets(F, y, regression)
    u, s, _ = np.linalg.svd(F, full_matrices=False)
    sigma = (s * s)[:, None]                     # (k, 1) non-zero-capable eigenvalues
    k = sigma.shape[0]
    X = u.T @ Y                                   # (k, C) target in the SVD basis
    x2 = X * X
    y2 = (Y * Y).sum(axis=0)                      # (C,)
    x2sum = x2.sum(axis=0)
    C = Y.shape[1]
    alpha = np.ones(C)
    beta = np.ones(C)
    active = np.ones(C, dtype=bool)

    def stats(t):
        denom = sigma + t[None, :]
        m2 = (sigma * x2 / denom ** 2).sum(axis=0)
        res2 = (x2 * (t[None, :] / denom) ** 2).sum(axis=0) + y2 - x2sum
        gamma = (sigma / denom).sum(axis=0)
        return m2, np.maximum(res2, 0.0), gamma

    for _ in range(max_iter):
        if not active.any():
            break
        t = alpha / beta
        m2, res2, gamma = stats(t)
        new_alpha = gamma / (m2 + _EPS)
        new_beta = (n - gamma) / (res2 + _EPS)
        new_t = new_alpha / new_beta
        # Converged targets are frozen so each behaves as if iterated alone.
        alpha = np.where(active, new_alpha, alpha)
        beta = np.where(active, new_beta, beta)
        active &= np.abs(new_t - t) / t >= tol
    t = alpha / beta
    m2, res2, _ = stats(t)
    logdet = np.log(alpha[None, :] + beta[None, :] * sigma).sum(axis=0) + (d - k) * np.log(alpha)
    evidence = (d / 2.0 * np.log(alpha) + n / 2.0 * np.log(beta) - n / 2.0 * np.log(2 * np.pi)
                - beta / 2.0 * res2 - alpha / 2.0 * m2 - 0.5 * logdet)
    score = float(np.mean(evidence / n))
    if return_details:
        return score, {"alpha": alpha, "beta": beta, "evidence": evidence}
    return score


def logme_evidence(F, y_col, alpha: float, beta: float) -> float:
    """Direct O(d^3) evaluation of the LogME evidence L(alpha, beta) for one target column.

    Slow reference used by tests to check the SVD shortcut in :func:`logme`.
    """
    F = _as_features(F)
    n, d = F.shape
    yc = np.asarray(y_col, dtype=np.float64).ravel()
    A = alpha * np.eye(d) + beta * F.T @ F
    m = beta * np.linalg.solve(A, F.T @ yc)
    _, logdet = np.linalg.slogdet(A)
    r = F @ m - yc
    return float(d / 2 * np.log(alpha) + n / 2 * np.log(beta) - n / 2 * np.log(2 * np.pi)
                 - beta / 2 * r @ r - alpha / 2 * m @ m - 0.5 * logdet)


def _probs(probs) -> np.ndarray:
    P = np.asarray(probs, dtype=np.float64)
    if P.ndim != 2:
        raise ValueError("source probabilities must be (n, Z)")
    if np.any(P < 0):
        raise ValueError("source probabilities must be non-negative")
    return P


def leep(probs, y, eps: float = 1e-12) -> float:
    """LEEP (Nguyen et al., 2020): (1/n) sum_i log sum_z P(y_i|z) theta(x_i)_z, always <= 0 (up to eps).

    ``probs`` is the source head's softmax on the target samples.  ``eps`` guards
    empty source classes (P(z) = 0) and log(0).
    """
    P = _probs(probs)
    n = P.shape[0]
    _, codes = _labels(np.asarray(y), n)
    Y = np.zeros((n, codes.max() + 1))
    Y[np.arange(n), codes] = 1.0
    joint = Y.T @ P / n                            # (C, Z) empirical P(y, z)
    cond = joint / (joint.sum(axis=0, keepdims=True) + eps)   # P(y | z)
    eep = (P * cond[codes]).sum(axis=1)            # sum_z P(y_i|z) theta_z
    return float(np.mean(np.log(eep + eps)))


def nce(source_pred, y) -> float:
    """Negative conditional entropy NCE = -H(Y|Z) (Tran et al., 2019), with 0 log 0 = 0.

    ``source_pred`` is either hard source labels z (n,) or source probabilities
    (n, Z), from which z = argmax.
    """
    z = np.asarray(source_pred)
    if z.ndim == 2:
        z = np.argmax(z, axis=1)
    n = z.size
    _, ycode = _labels(np.asarray(y), n)
    _, zcode = np.unique(z, return_inverse=True)
    joint = np.zeros((ycode.max() + 1, zcode.max() + 1))
    np.add.at(joint, (ycode, zcode), 1.0)
    joint /= n
    pz = joint.sum(axis=0, keepdims=True)
    nz = joint > 0
    return float(np.sum(joint[nz] * np.log((joint / pz)[nz])))


def nleep(F, y, *, n_components: int | None = None, variance: float = 0.8, seed: int = 0,
          eps: float = 1e-12) -> float:
    """N-LEEP (Li et al., 2021): LEEP with the source head replaced by GMM posteriors on F.

    Works for models without a usable source head.  F is centred and reduced by
    PCA to the fewest components explaining ``variance`` of its variance (0.8, as
    the paper); a Gaussian mixture with ``n_components`` components (default:
    one per target class, the 1x end of the paper's multiples) is fitted there
    and its posteriors play theta in :func:`leep`.  Covariances are "full" when
    there are at least 5 samples per component per reduced dimension
    (n >= 5 * n_components * k), else "diag": with fewer samples a full
    covariance is near-singular and held up only by reg_covar.  Deterministic
    for a fixed ``seed`` (single-threaded BLAS, one initialisation).
    """
    F = _as_features(F)
    n = F.shape[0]
    classes, _ = _labels(np.asarray(y), n)
    if not 0.0 < variance < 1.0:
        raise ValueError(f"variance must be in (0, 1), got {variance}")
    if n < 2:
        raise ValueError("N-LEEP needs at least 2 samples")
    if not np.any(F.var(axis=0) > 0):
        raise ValueError("features have zero variance; PCA is undefined")
    m = classes.size if n_components is None else int(n_components)
    if not 1 <= m <= n:
        raise ValueError(f"n_components must be in [1, n={n}], got {m}")
    from sklearn.decomposition import PCA
    from sklearn.mixture import GaussianMixture
    from threadpoolctl import threadpool_limits

    # One BLAS thread: the fit is small, and thread count must not change the result.
    with threadpool_limits(1):
        Z = PCA(n_components=variance, svd_solver="full").fit_transform(F)
        k = Z.shape[1]
        cov_type = "full" if n >= 5 * m * k else "diag"
        gmm = GaussianMixture(n_components=m, covariance_type=cov_type, reg_covar=1e-6,
                              n_init=1, random_state=seed)
        posteriors = gmm.fit(Z).predict_proba(Z)
    return leep(posteriors, y, eps)


def _class_mean_rows(F: np.ndarray, y) -> np.ndarray:
    _, codes = _labels(np.asarray(y), F.shape[0])
    sums = np.zeros((codes.max() + 1, F.shape[1]))
    np.add.at(sums, codes, F)
    means = sums / np.bincount(codes)[:, None]
    return means[codes]


def _cov(X: np.ndarray) -> np.ndarray:
    Xc = X - X.mean(axis=0)
    return Xc.T @ Xc / X.shape[0]


def h_score(F, y) -> float:
    """Raw H-score tr(cov(F)^+ cov(G)), G = rows replaced by their class mean (Bao et al., 2019).

    Uses the pseudo-inverse; ill-conditioned when n <~ d and grows with d, which
    is why :func:`shrinkage_h_score` is preferred for model selection.
    """
    F = _as_features(F)
    G = _class_mean_rows(F, y)
    return float(np.trace(np.linalg.pinv(_cov(F), rcond=1e-12, hermitian=True) @ _cov(G)))


def ledoit_wolf_covariance(X) -> tuple[np.ndarray, float]:
    """Ledoit-Wolf shrunk covariance (1 - s) S + s mu I and the shrinkage s.

    S is the 1/n empirical covariance, mu = tr(S)/d; s is the closed-form
    optimum of Ledoit & Wolf (2004), clipped to [0, 1].  Same estimator as
    sklearn.covariance.ledoit_wolf (written here to keep the ranker numpy-only).
    """
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    Xc = X - X.mean(axis=0)
    S = Xc.T @ Xc / n
    mu = np.trace(S) / d
    # delta: distance of S from the scaled identity; beta: variance of S around its mean.
    delta = ((S - mu * np.eye(d)) ** 2).sum() / d
    X2 = Xc * Xc
    beta = ((X2.T @ X2).sum() / n - (S * S).sum()) / (n * d)
    beta = min(beta, delta)
    s = 0.0 if delta == 0 else float(beta / delta)
    return (1.0 - s) * S + s * mu * np.eye(d), s


def shrinkage_h_score(F, y) -> float:
    """H-score with a Ledoit-Wolf covariance of F: tr(LW(F)^-1 cov(G)).

    Shrinkage keeps the inverse well conditioned when n is small relative to d
    (Ibrahim et al., 2022), so scores compare across models of different width.
    """
    F = _as_features(F)
    G = _class_mean_rows(F, y)
    cov_f, _ = ledoit_wolf_covariance(F)
    return float(np.trace(np.linalg.solve(cov_f, _cov(G))))
