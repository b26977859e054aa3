"""Model-Spider-style learned ranker (Zhang et al., NeurIPS 2023), adapted for a registry.

For one task, every candidate model gets the sequence

    [model token ; null token ; task tokens ... ; (hardware token)]

and ONE transformer block (self-attention + residual + LayerNorm, then a
feed-forward + residual + LayerNorm) reads it; the score is a linear head on
the model-token position.  Differences from the paper, and why:

* The model token is an MLP projection of the model's metadata feature vector
  (ImageNet top-1, log params, log FLOPs, ...) rather than a learned per-model
  embedding, so a model added to the registry needs no retraining.
* A learned "null" token is always present, so a task described by no
  features (metadata-only ranking) still has something to attend to.
* Task tokens are any (k, d_task) matrix per task (class prototypes from a
  generic encoder, or task metadata), padded and masked.
* :class:`FusionRanker` adds one hardware token (core/clock/RAM/flash/
  accelerator features) so one scorer gives a hardware-aware score.

Only the model-token output is used, so attention is computed with the model
token as the single query; this equals full self-attention at that position.

Training minimises ListMLE (Plackett-Luce) over models ordered by the label:
L = 1/(M-1) sum_j [-s_pi(j) + log sum_{l>=j} exp s_pi(l)].
Items with equal labels are put in a fresh random order each epoch (seeded),
so the loss expresses no preference between them.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

__all__ = ["RankingTask", "SpiderConfig", "SpiderRanker", "FusionRanker", "list_mle"]

_FORMAT = "arachne-spider/1"


@contextmanager
def _torch_threads(n: int):
    """Run with n intra-op threads, then restore: the networks here are tiny, so
    extra threads cost more in synchronisation than they save (and on a busy
    machine far more)."""
    prev = torch.get_num_threads()
    if n > 0 and n != prev:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != prev:
            torch.set_num_threads(prev)


@dataclass
class RankingTask:
    """One training example: candidates of a task with their (approximate) performance.

    model_features: (M, d_model) metadata features of the candidate models.
    relevance:      (M,) higher = better (e.g. fine-tuned accuracy); NaN = unknown, ignored.
    task_tokens:    (k, d_task) task feature vectors, or None for a task with no features.
    hardware:       (d_hw,) device feature vector (Fusion only).
    """

    model_features: np.ndarray
    relevance: np.ndarray
    task_tokens: np.ndarray | None = None
    hardware: np.ndarray | None = None
    name: str = ""


@dataclass
class SpiderConfig:
    model_dim: int
    task_dim: int = 0
    hw_dim: int = 0
    width: int = 32
    heads: int = 2
    ffn: int = 64
    dropout: float = 0.0
    epochs: int = 300
    lr: float = 3e-3
    weight_decay: float = 1e-3
    seed: int = 0
    threads: int = 1  # intra-op threads during fit/score; 0 = leave torch's setting alone
    # Names of the model features, kept with the weights so a loaded ranker can
    # check it is given the same columns.
    model_feature_names: list[str] = field(default_factory=list)
    task_feature_names: list[str] = field(default_factory=list)
    hw_feature_names: list[str] = field(default_factory=list)


def list_mle(scores: torch.Tensor, order: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean ListMLE loss over a batch of lists.

    scores: (B, M) model scores.  order: (B, M) indices sorting each list best
    first, with invalid (padded/unknown) items placed after the valid ones.
    valid:  (B, M) bool, True for real items, aligned with ``order`` positions
    (i.e. valid[b, j] says whether the j-th item in sorted order is real).
    Each list contributes 1/(M_b - 1) * sum_j [-s_pi(j) + logsumexp_{l>=j} s_pi(l)].
    """
    s = torch.gather(scores, 1, order)
    s = s.masked_fill(~valid, float("-inf"))
    # Reverse cumulative logsumexp gives log sum_{l >= j} exp s_l at each j.
    tail = torch.logcumsumexp(s.flip(1), dim=1).flip(1)
    term = torch.where(valid, tail - s, torch.zeros_like(s))
    m = valid.sum(1).clamp(min=2).to(s.dtype)
    per_list = term.sum(1) / (m - 1)
    return per_list.mean()


class _SpiderNet(nn.Module):
    def __init__(self, cfg: SpiderConfig):
        super().__init__()
        w = cfg.width
        self.cfg = cfg
        self.model_proj = nn.Sequential(nn.Linear(cfg.model_dim, w), nn.GELU(), nn.Linear(w, w))
        self.task_proj = nn.Linear(cfg.task_dim, w) if cfg.task_dim > 0 else None
        self.hw_proj = (nn.Sequential(nn.Linear(cfg.hw_dim, w), nn.GELU(), nn.Linear(w, w))
                        if cfg.hw_dim > 0 else None)
        self.null = nn.Parameter(torch.zeros(1, 1, w))
        self.type_emb = nn.Parameter(0.02 * torch.randn(4, w))  # model, null, task, hardware
        self.attn = nn.MultiheadAttention(w, cfg.heads, dropout=cfg.dropout, batch_first=True)
        self.ln1 = nn.LayerNorm(w)
        self.ffn = nn.Sequential(nn.Linear(w, cfg.ffn), nn.GELU(), nn.Dropout(cfg.dropout),
                                 nn.Linear(cfg.ffn, w))
        self.ln2 = nn.LayerNorm(w)
        self.head = nn.Linear(w, 1)

    def forward(self, model_x, task_x=None, task_mask=None, hw=None):
        B, M, _ = model_x.shape
        w = self.cfg.width
        m_tok = self.model_proj(model_x) + self.type_emb[0]           # (B, M, w)
        ctx = [self.null.expand(B, 1, w) + self.type_emb[1]]
        keep = [torch.ones(B, 1, dtype=torch.bool)]
        if self.task_proj is not None and task_x is not None and task_x.shape[1] > 0:
            ctx.append(self.task_proj(task_x) + self.type_emb[2])
            keep.append(task_mask)
        if self.hw_proj is not None:
            if hw is None:
                raise ValueError("this ranker needs a hardware vector")
            ctx.append(self.hw_proj(hw)[:, None, :] + self.type_emb[3])
            keep.append(torch.ones(B, 1, dtype=torch.bool))
        ctx_t = torch.cat(ctx, 1)                                      # (B, L, w)
        keep_t = torch.cat(keep, 1)
        L = ctx_t.shape[1]
        q = m_tok.reshape(B * M, 1, w)
        kv = torch.cat([q, ctx_t[:, None].expand(B, M, L, w).reshape(B * M, L, w)], 1)
        pad = ~torch.cat([torch.ones(B * M, 1, dtype=torch.bool),
                          keep_t[:, None].expand(B, M, L).reshape(B * M, L)], 1)
        h, _ = self.attn(q, kv, kv, key_padding_mask=pad, need_weights=False)
        x = self.ln1(q + h)
        x = self.ln2(x + self.ffn(x))
        return self.head(x[:, 0]).reshape(B, M)


def _stats(rows: list[np.ndarray], dim: int) -> tuple[np.ndarray, np.ndarray]:
    if dim == 0 or not rows:
        return np.zeros(dim), np.ones(dim)
    X = np.concatenate([np.asarray(r, dtype=np.float64).reshape(-1, dim) for r in rows], 0)
    mu = np.nanmean(X, axis=0) if X.size else np.zeros(dim)
    sd = np.nanstd(X, axis=0) if X.size else np.ones(dim)
    mu = np.nan_to_num(mu)
    sd = np.where(np.isfinite(sd) & (sd > 1e-12), sd, 1.0)
    return mu, sd


class SpiderRanker:
    """Learned task-aware model ranker.

    >>> r = SpiderRanker(SpiderConfig(model_dim=3, task_dim=2)).fit(tasks)
    >>> r.score(model_features, task_tokens)        # (M,) higher = better
    >>> r.save("spider.pt"); SpiderRanker.load("spider.pt")

    Features are standardised with statistics from ``fit``; a NaN feature is
    replaced by the training mean (imputation), so partial metadata still scores.
    """

    def __init__(self, config: SpiderConfig):
        self.config = config
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            self.net = _SpiderNet(config)
        dm, dt, dh = config.model_dim, config.task_dim, config.hw_dim
        self._norm = {"model": (np.zeros(dm), np.ones(dm)), "task": (np.zeros(dt), np.ones(dt)),
                      "hw": (np.zeros(dh), np.ones(dh))}
        self.history: list[float] = []

    # -- tensors -----------------------------------------------------------
    def _norm_array(self, kind: str, x, dim: int) -> np.ndarray:
        mu, sd = self._norm[kind]
        x = np.asarray(x, dtype=np.float64).reshape(-1, dim)
        return np.nan_to_num((x - mu) / sd, nan=0.0)

    def _batch(self, tasks: Sequence[RankingTask]):
        cfg = self.config
        B = len(tasks)
        M = max(len(t.relevance) for t in tasks)
        K = max((0 if t.task_tokens is None else np.asarray(t.task_tokens).reshape(-1, cfg.task_dim).shape[0])
                for t in tasks) if cfg.task_dim else 0
        mx = np.zeros((B, M, cfg.model_dim))
        mvalid = np.zeros((B, M), dtype=bool)
        tx = np.zeros((B, K, cfg.task_dim))
        tmask = np.zeros((B, K), dtype=bool)
        hw = np.zeros((B, cfg.hw_dim))
        for b, t in enumerate(tasks):
            f = self._norm_array("model", t.model_features, cfg.model_dim)
            mx[b, : f.shape[0]] = f
            mvalid[b, : f.shape[0]] = True
            if K and t.task_tokens is not None:
                tt = self._norm_array("task", t.task_tokens, cfg.task_dim)
                tx[b, : tt.shape[0]] = tt
                tmask[b, : tt.shape[0]] = True
            if cfg.hw_dim:
                if t.hardware is None:
                    raise ValueError(f"task {t.name!r} lacks the hardware vector this ranker needs")
                hw[b] = self._norm_array("hw", t.hardware, cfg.hw_dim)[0]
        as_t = lambda a: torch.as_tensor(a, dtype=torch.float32)
        return as_t(mx), torch.as_tensor(mvalid), as_t(tx), torch.as_tensor(tmask), as_t(hw)

    # -- training ----------------------------------------------------------
    def fit(self, tasks: Sequence[RankingTask], epochs: int | None = None) -> "SpiderRanker":
        """Train on (task, candidate relevance) lists with ListMLE, full batch, AdamW."""
        with _torch_threads(self.config.threads):
            return self._fit(tasks, epochs)

    def _fit(self, tasks: Sequence[RankingTask], epochs: int | None) -> "SpiderRanker":
        cfg = self.config
        tasks = [t for t in tasks if np.sum(np.isfinite(np.asarray(t.relevance, float))) >= 2]
        if not tasks:
            raise ValueError("need at least one task with two or more labelled candidates")
        for t in tasks:
            if np.asarray(t.model_features).reshape(-1, cfg.model_dim).shape[0] != len(t.relevance):
                raise ValueError(f"task {t.name!r}: {len(t.relevance)} labels for "
                                 f"{np.asarray(t.model_features).reshape(-1, cfg.model_dim).shape[0]} models")
        self._norm = {
            "model": _stats([t.model_features for t in tasks], cfg.model_dim),
            "task": _stats([t.task_tokens for t in tasks if t.task_tokens is not None], cfg.task_dim),
            "hw": _stats([t.hardware for t in tasks if t.hardware is not None], cfg.hw_dim),
        }
        # Tasks whose inputs are identical (same candidates, same task and
        # hardware tokens; e.g. metadata-only tasks over one zoo) need only one
        # forward pass per epoch; their scores are shared.  Exact, and it makes
        # training cost scale with distinct inputs rather than with labels.
        sig_index: dict[bytes, int] = {}
        uniq: list[RankingTask] = []
        which = []
        for t in tasks:
            sig = b"|".join(np.ascontiguousarray(np.asarray(a, dtype=np.float64)).tobytes()
                            if a is not None else b"-" for a in (t.model_features, t.task_tokens, t.hardware))
            if sig not in sig_index:
                sig_index[sig] = len(uniq)
                uniq.append(t)
            which.append(sig_index[sig])
        which_t = torch.as_tensor(which)
        mx, _, tx, tmask, hw = self._batch(uniq)
        B = len(tasks)
        M = max(len(t.relevance) for t in tasks)
        rel = np.full((B, M), np.nan)
        for b, t in enumerate(tasks):
            rel[b, : len(t.relevance)] = np.asarray(t.relevance, dtype=np.float64)
        known = np.isfinite(rel)
        rng = np.random.default_rng(cfg.seed)
        opt = torch.optim.AdamW(self.net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        n_valid = torch.as_tensor(known.sum(1))
        pos = torch.arange(M)[None, :]
        valid_sorted = pos < n_valid[:, None]
        self.net.train()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            for _ in range(epochs or cfg.epochs):
                # Random secondary key shuffles tied labels; unknown items sort last.
                noise = rng.random((B, M))
                key = np.where(known, -np.nan_to_num(rel), np.inf)
                order = np.lexsort((noise, key), axis=1)
                scores = self.net(mx, tx, tmask, hw)[which_t]
                loss = list_mle(scores, torch.as_tensor(order), valid_sorted)
                opt.zero_grad()
                loss.backward()
                opt.step()
                self.history.append(loss.item())
        self.net.eval()
        return self

    # -- inference ---------------------------------------------------------
    def score(self, model_features, task_tokens=None, hardware=None) -> np.ndarray:
        """Scores (M,) for the candidate models of one task (higher = better)."""
        mf = np.asarray(model_features, dtype=np.float64).reshape(-1, self.config.model_dim)
        task = RankingTask(mf, np.zeros(mf.shape[0]), task_tokens, hardware)
        mx, _, tx, tmask, hw = self._batch([task])
        self.net.eval()
        with torch.no_grad(), _torch_threads(self.config.threads):
            return self.net(mx, tx, tmask, hw)[0].double().numpy()

    # -- persistence -------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """One file: format tag, config, normalisation statistics and the state dict."""
        norm = {f"{k}_{i}": torch.as_tensor(v[i]) for k, v in self._norm.items() for i in (0, 1)}
        torch.save({"format": _FORMAT, "class": type(self).__name__, "config": asdict(self.config),
                    "norm": norm, "state_dict": self.net.state_dict()}, str(path))

    @classmethod
    def load(cls, path: str | Path) -> "SpiderRanker":
        blob = torch.load(str(path), weights_only=True)
        if blob.get("format") != _FORMAT:
            raise ValueError(f"{path}: not an Arachne spider ranker file")
        obj = cls(SpiderConfig(**blob["config"]))
        obj.net.load_state_dict(blob["state_dict"])
        obj._norm = {k: (blob["norm"][f"{k}_0"].numpy(), blob["norm"][f"{k}_1"].numpy())
                     for k in ("model", "task", "hw")}
        obj.net.eval()
        return obj


class FusionRanker(SpiderRanker):
    """Hardware-aware variant: the task input also carries one device token.

    Trained on joint (task, device) rankings; ``score`` needs ``hardware``.
    """

    def __init__(self, config: SpiderConfig):
        if config.hw_dim <= 0:
            raise ValueError("FusionRanker needs hw_dim > 0")
        super().__init__(config)

    def score(self, model_features, task_tokens=None, hardware=None) -> np.ndarray:
        if hardware is None:
            raise ValueError("FusionRanker.score needs the device's hardware vector")
        return super().score(model_features, task_tokens, hardware)
