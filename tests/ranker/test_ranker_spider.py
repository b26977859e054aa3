import math

import numpy as np
import pytest
import torch

from ranker.metrics import weighted_tau
from ranker.spider import FusionRanker, RankingTask, SpiderConfig, SpiderRanker, list_mle


def test_list_mle_matches_formula():
    s = torch.tensor([[2.0, 0.5, 1.0]])
    order = torch.tensor([[0, 2, 1]])           # best first: item0, item2, item1
    valid = torch.tensor([[True, True, True]])
    # 1/(M-1) * sum_j [-s_pi(j) + log sum_{l>=j} exp s_pi(l)], M = 3
    terms = [-2.0 + math.log(math.exp(2) + math.exp(1) + math.exp(0.5)),
             -1.0 + math.log(math.exp(1) + math.exp(0.5)),
             -0.5 + math.log(math.exp(0.5))]
    assert float(list_mle(s, order, valid)) == pytest.approx(sum(terms) / 2, rel=1e-6)
    # Padding is ignored: a 4th invalid slot changes nothing.
    s4 = torch.tensor([[2.0, 0.5, 1.0, 99.0]])
    o4 = torch.tensor([[0, 2, 1, 3]])
    v4 = torch.tensor([[True, True, True, False]])
    assert float(list_mle(s4, o4, v4)) == pytest.approx(sum(terms) / 2, rel=1e-6)


def _tasks(n_tasks, rng, M=8, hw=False, mf=None):
    mf = rng.normal(size=(M, 3)) if mf is None else mf
    tasks = []
    for _ in range(n_tasks):
        tok = rng.normal(size=(2, 2))
        w = np.array([1.0, np.sign(tok[0, 0]), 0.3])   # task decides the sign of feature 1
        rel = mf @ w
        h = None
        if hw:
            h = rng.integers(0, 2, size=1).astype(float)
            rel = rel if h[0] == 0 else -mf[:, 2] * 3   # the device flips what matters
        tasks.append(RankingTask(mf, rel, tok, h))
    return mf, tasks


def _cfg(**kw):
    base = dict(model_dim=3, task_dim=2, width=16, ffn=32, epochs=150, lr=1e-2, seed=0)
    base.update(kw)
    return SpiderConfig(**base)


def test_spider_learns_task_dependent_ranking_and_is_deterministic(tmp_path):
    rng = np.random.default_rng(0)
    mf, train = _tasks(40, rng)
    _, test = _tasks(10, rng, mf=mf)
    a = SpiderRanker(_cfg()).fit(train)
    taus = [weighted_tau(t.relevance, a.score(mf, t.task_tokens)) for t in test]
    assert np.mean(taus) > 0.6
    assert a.history[-1] < a.history[0]
    b = SpiderRanker(_cfg()).fit(train)
    np.testing.assert_array_equal(a.score(mf, test[0].task_tokens), b.score(mf, test[0].task_tokens))
    path = tmp_path / "spider.pt"
    a.save(path)
    c = SpiderRanker.load(path)
    np.testing.assert_array_equal(a.score(mf, test[0].task_tokens), c.score(mf, test[0].task_tokens))
    # A model the ranker never saw is scored from its metadata: no retraining.
    new = rng.normal(size=(1, 3))
    assert a.score(np.vstack([mf, new]), test[0].task_tokens).shape == (9,)


def test_task_without_features_and_nan_labels():
    rng = np.random.default_rng(1)
    mf = rng.normal(size=(6, 3))
    rel = mf[:, 0].copy()
    rel[2] = np.nan   # unknown label: ignored by the loss
    r = SpiderRanker(_cfg(task_dim=0, epochs=100)).fit([RankingTask(mf, rel)] * 3)
    s = r.score(mf)
    assert weighted_tau(mf[:, 0], s) > 0.8
    s_nan = r.score(np.where(np.arange(3) == 1, np.nan, mf))  # missing metadata imputed
    assert np.all(np.isfinite(s_nan))


def test_fusion_uses_the_hardware_token():
    rng = np.random.default_rng(2)
    mf, train = _tasks(60, rng, hw=True)
    r = FusionRanker(_cfg(hw_dim=1, epochs=200)).fit(train)
    tok = train[0].task_tokens
    on = r.score(mf, tok, np.array([1.0]))
    assert weighted_tau(-mf[:, 2], on) > 0.6
    with pytest.raises(ValueError):
        r.score(mf, tok)
    with pytest.raises(ValueError):
        FusionRanker(_cfg(hw_dim=0))


def test_label_count_mismatch():
    with pytest.raises(ValueError):
        SpiderRanker(_cfg(task_dim=0)).fit([RankingTask(np.zeros((3, 3)), np.arange(4.0))])
