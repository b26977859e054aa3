"""Hardware fitness: latency / energy / memory regressors trained on benchmark records.

A record is a flat mapping of model fields and device fields plus the measured
target, e.g.::

    {"model": "resnet8", "device": "NUCLEO-L4R5ZI", "macs": 12.5e6, "params": 78e3,
     "frac_conv": 1.0, "quantization": "int8", "core": "Cortex-M4", "clock_mhz": 120,
     "runtime": "X-CUBE-AI v8.1.0", "latency_ms": 200.1, "energy_uj": 5300.0}

Why this learner.  Latency on a microcontroller is close to multiplicative:
MACs x cycles-per-MAC(core, kernel library, data type) / clock, so every size
and clock enters in log space and the target is log latency.  The default,
``kind="ridge+gbr"``, is two-stage: a ridge regression on those log features
(the physically motivated part, which extrapolates smoothly to a clock or a
model size it has not seen - a new board is exactly that case), then a small,
regularised scikit-learn histogram gradient-boosting model on the ridge
residuals, for interactions (a runtime unusually good on one core, an NPU that
helps convolutions only); boosting also handles missing spec fields natively.
``"ridge"`` and ``"gbr"`` (boosting alone) are kept for comparison.  Measured
leave-one-board-out (benchmarks/ranking_quality.py prints all three): on MLPerf
Tiny, boosting alone ranks held-out boards better (its boards are very
heterogeneous: DSPs, FPGAs, phone SoCs) while the two-stage model has the
lower median error; on the STM32 zoo ridge alone orders latency within a
board better and the two-stage model RAM, with no clear winner.  The default
stays the two-stage model chosen before measuring.

This is "today's regressor" of benchmarks/hardware_prediction.py: the cost model
of ranker/cost_model.py (per-operator-class work read from the model file, one
efficiency per board, calibration from a board's own records, conformal
intervals) is printed beside it, and ``ranker.cost_model.predict_pairs`` uses
the cost model wherever the store's records join models with operator work.

Every prediction carries provenance: "measured" when a training record exists
for the same (model, device) key - the measurement is returned as is - and
"predicted" otherwise.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from itertools import repeat
from typing import Iterable, Mapping, Sequence

import numpy as np

__all__ = [
    "Prediction",
    "MeasurementModel",
    "LatencyModel",
    "memory_headroom",
    "finite_float",
    "core_family",
    "runtime_family",
    "quantization_kind",
    "accelerator_kind",
    "DEFAULT_NUMERIC",
    "DEFAULT_CATEGORICAL",
]

# Numeric fields and whether they enter as log (sizes, clocks) or raw (fractions).
DEFAULT_NUMERIC: dict[str, bool] = {
    "macs": True,
    "params": True,
    "input_size": True,
    "clock_mhz": True,
    "ram_kib": True,
    "flash_kib": True,
    "frac_conv": False,
    "frac_dwconv": False,
    "frac_dense": False,
}
# Categorical fields pass through a normaliser first, so free-text vendor
# strings ("Tensorflow Lite Micro 2.3.1", "TFLM") land in one category.
DEFAULT_CATEGORICAL: tuple[str, ...] = ("quantization", "core", "runtime", "accelerator", "task")


def core_family(text: str | None) -> str:
    """Map a CPU description to a family: cortex-m4, cortex-m7, cortex-a, risc-v, ..."""
    t = (text or "").lower()
    m = re.search(r"cortex[\s-]*m\s*(\d+)(\+?)", t)
    if m:
        return f"cortex-m{m.group(1)}{m.group(2)}"
    if re.search(r"cortex[\s-]*a\s*\d+", t) or "kryo" in t or "oryon" in t:
        return "cortex-a"
    if "risc" in t or re.search(r"\brv\d", t):
        return "risc-v"
    if "hifi" in t or "syntiant" in t:
        return "dsp"
    if "microblaze" in t or "fpga" in t:
        return "fpga-softcore"
    if "rh850" in t or "rxv" in t or "renesas" in t:
        return "renesas"
    return "other" if t else "unknown"


def runtime_family(text: str | None) -> str:
    t = (text or "").lower()
    # Vendor SDKs first: "TensorFlow, Syntiant SDK" runs Syntiant's SDK, not TFLM.
    for key, fam in (("syntiant", "syntiant"), ("x-cube-ai", "x-cube-ai"), ("stedge", "x-cube-ai"),
                     ("stm32cube", "x-cube-ai"),
                     ("plumerai", "plumerai"), ("tvm", "tvm"), ("hale", "hale"), ("onnc", "onnc"),
                     ("finn", "fpga-flow"), ("hls4ml", "fpga-flow"), ("fpgaconvnet", "fpga-flow"),
                     ("qualcomm", "qualcomm"), ("csi-nn", "csi-nn"), ("leip", "leip"),
                     ("tflite", "tflm"), ("tensorflow lite", "tflm"), ("tflm", "tflm"),
                     ("tensorflow", "tflm"), ("onnx", "onnxruntime"), ("openvx", "openvx"),
                     ("linux", "linux")):
        if key in t:
            return fam
    return "other" if t else "unknown"


def quantization_kind(text: str | None) -> str:
    t = (text or "").lower()
    if not t:
        return "unknown"
    if "fp32" in t or "float" in t:
        return "fp32"
    if "fp16" in t:
        return "fp16"
    if "w4a8" in t:
        return "w4a8"
    if "w1" in t or "binary" in t or "w3a3" in t or "low-bit" in t:
        return "low-bit"
    if "hybrid" in t:
        return "hybrid"
    if "int8" in t or "qat" in t or "ptq" in t or "uniform" in t or "quantiz" in t or "calibrat" in t:
        return "int8"
    return "other"


def accelerator_kind(text: str | None) -> str:
    t = (text or "").lower()
    if not t:
        return "none"
    if any(k in t for k in ("npu", "neural", "ne16", "mvp", "syntiant", "sensing hub", "anpu")):
        return "npu"
    if any(k in t for k in ("xc7", "artix", "zynq", "fpga")):
        return "fpga"
    if "gpu" in t:
        return "gpu"
    if "dsp" in t or "hsp" in t:
        return "dsp"
    return "other"


_NORMALISERS = {"core": core_family, "runtime": runtime_family,
                "quantization": quantization_kind, "accelerator": accelerator_kind}


def _plain(text) -> str:
    t = "" if text is None else str(text).strip().lower()
    return t or "unknown"


def memory_headroom(device_ram_bytes: float, arena_bytes: float) -> float:
    """(device RAM - arena) / device RAM: 0.25 = a quarter of RAM left; negative = does not fit."""
    if device_ram_bytes is None or device_ram_bytes <= 0:
        raise ValueError("device RAM must be positive")
    return (float(device_ram_bytes) - float(arena_bytes)) / float(device_ram_bytes)


@dataclass
class Prediction:
    """One predicted (or looked-up) measurement.

    value: in the target's unit (ms for latency); provenance: "measured" or "predicted".
    energy_uj: energy per inference when the model has an energy regressor (else None).
    """

    value: float
    provenance: str
    log_value: float
    energy_uj: float | None = None
    energy_provenance: str | None = None


def positive_log(x) -> float:
    """log(x) of a positive number, or NaN when x is missing, not a number, zero or negative."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return float("nan")
    return math.log(v) if v > 0 else float("nan")


def finite_float(x) -> float:
    """float(x), or NaN when x is missing, not a number or infinite."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return float("nan")
    return v if math.isfinite(v) else float("nan")


def _floats(values: list) -> np.ndarray:
    """finite_float of each value, as one array (NaN for missing, non-numbers and infinities)."""
    try:
        col = np.array(values, dtype=np.float64)
    except (TypeError, ValueError):
        col = np.array([finite_float(v) for v in values], dtype=np.float64)
    col[~np.isfinite(col)] = np.nan
    return col


@lru_cache(maxsize=1)
def _thread_pools():
    import sklearn.ensemble  # noqa: F401 - its OpenMP runtime must be loaded before the pools are listed
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def one_thread():
    """A context with one BLAS/OpenMP thread: the fits are small, a prediction is one of many
    requests, and more threads only contend (on 2 cores, 10x slower). The thread pools are
    listed once, not on every call (threadpoolctl's plain limit takes ~3 ms to find them)."""
    return _thread_pools().limit(limits=1)


class _Featurizer:
    def __init__(self, numeric: Mapping[str, bool], categorical: Sequence[str]):
        self.numeric = dict(numeric)
        self.categorical = list(categorical)
        self.levels: dict[str, list[str]] = {}
        self.means: np.ndarray | None = None

    def raw(self, rows: Sequence[Mapping] | Mapping[str, Sequence]) -> tuple[np.ndarray, list[list[str]]]:
        """(numeric matrix with logs taken, normalised categories per column): what transform
        reads; it depends on the feature names only, so models with the same ones share it.
        `rows`: row mappings, or the same as columns ({name: values}; a missing name = None)."""
        if isinstance(rows, Mapping):
            n = len(rows["model"])
            column = lambda name: rows.get(name, [None] * n)  # noqa: E731
        else:
            n = len(rows)
            column = lambda name: [r.get(name) for r in rows]  # noqa: E731
        X = np.full((n, len(self.numeric)), np.nan)
        for j, (name, use_log) in enumerate(self.numeric.items()):
            col = _floats(column(name))
            if use_log:
                with np.errstate(invalid="ignore", divide="ignore"):
                    col = np.where(col > 0, np.log(np.where(col > 0, col, 1.0)), np.nan)
            X[:, j] = col
        cats = []
        for c in self.categorical:
            norm, seen = _NORMALISERS.get(c, _plain), {}
            cats.append([seen[v] if v in seen else seen.setdefault(v, norm(v)) for v in column(c)])
        return X, cats

    def fit(self, raw):
        X, cats = raw
        # Columns never observed in training carry no information (and break
        # the boosting model's binning): the tree input drops them.
        self.observed = ~np.isnan(X).all(axis=0)
        self.means = np.nan_to_num(np.nanmean(np.where(self.observed, X, 0.0), axis=0)) \
            if X.size else np.zeros(len(self.numeric))
        self.levels = {c: sorted(set(cats[k])) for k, c in enumerate(self.categorical)}
        return self

    def transform(self, raw, dense: bool) -> np.ndarray:
        """dense=True: NaN imputed with the training mean plus a missing flag (for ridge);
        dense=False: NaN kept (the gradient-boosting model handles it)."""
        X, cats = raw
        parts = []
        if dense:
            miss = np.isnan(X)
            parts += [np.where(miss, self.means, X), miss.astype(float)]
        else:
            parts.append(X[:, self.observed])
        for k, c in enumerate(self.categorical):
            index = {level: j for j, level in enumerate(self.levels[c])}
            codes = np.fromiter(map(index.get, cats[k], repeat(-1)), dtype=np.int64, count=len(cats[k]))
            oh = np.zeros((len(codes), len(index)))
            known = codes >= 0  # unseen level = all zeros = "average" category
            oh[np.flatnonzero(known), codes[known]] = 1.0
            parts.append(oh)
        return np.concatenate(parts, axis=1)


class _LogRegressor:
    """log(target) ~ ridge(features) [+ gradient boosting on the ridge residual]."""

    def __init__(self, feat: _Featurizer, kind: str, seed: int, alpha: float):
        if kind not in ("ridge", "gbr", "ridge+gbr"):
            raise ValueError(f"kind must be ridge, gbr or ridge+gbr, not {kind!r}")
        self.feat, self.kind, self.seed, self.alpha = feat, kind, seed, alpha

    def fit(self, raw, logy: np.ndarray):
        from sklearn.ensemble import HistGradientBoostingRegressor
        from sklearn.linear_model import Ridge

        self.ridge = None
        resid = logy.copy()
        if self.kind in ("ridge", "ridge+gbr"):
            Xd = self.feat.transform(raw, dense=True)
            self.mu, self.sd = Xd.mean(0), Xd.std(0)
            self.sd[self.sd < 1e-12] = 1.0
            self.ridge = Ridge(alpha=self.alpha).fit((Xd - self.mu) / self.sd, logy)
            resid = logy - self.ridge.predict((Xd - self.mu) / self.sd)
        self.gbr = None
        if self.kind in ("gbr", "ridge+gbr") and len(logy) >= 8:
            # Small, strongly regularised trees: the benchmark sets hold a few hundred rows.
            with one_thread():
                self.gbr = HistGradientBoostingRegressor(
                    max_iter=200, learning_rate=0.05, max_leaf_nodes=8, min_samples_leaf=5,
                    l2_regularization=1.0, random_state=self.seed,
                ).fit(self.feat.transform(raw, dense=False), resid)
        return self

    def predict(self, raw) -> np.ndarray:
        out = np.zeros(len(raw[0]))
        if self.ridge is not None:
            Xd = self.feat.transform(raw, dense=True)
            out += self.ridge.predict((Xd - self.mu) / self.sd)
        if self.gbr is not None:
            with one_thread():
                out += self.gbr.predict(self.feat.transform(raw, dense=False))
        return out


class MeasurementModel:
    """Regressor for one positive measurement (``target``: latency_ms, ram_kib, energy_uj, ...).

    fit(records) learns log(target); predict(rows) returns one :class:`Prediction`
    per row.  Records/rows are mappings; ``key_fields`` identify the (model,
    device) pair used for the "measured" lookup.
    """

    def __init__(self, target: str = "latency_ms", *, numeric: Mapping[str, bool] | None = None,
                 categorical: Sequence[str] | None = None,
                 key_fields: Sequence[str] = ("model", "device"), kind: str = "ridge+gbr",
                 ridge_alpha: float = 1.0, seed: int = 0):
        self.target = target
        self.numeric = dict(DEFAULT_NUMERIC if numeric is None else numeric)
        self.categorical = list(DEFAULT_CATEGORICAL if categorical is None else categorical)
        self.key_fields = tuple(key_fields)
        self.kind, self.ridge_alpha, self.seed = kind, ridge_alpha, seed
        self._measured: dict[tuple, list[float]] = {}
        self._reg: _LogRegressor | None = None

    def _key(self, r: Mapping) -> tuple:
        return tuple([str(r.get(k, "")) for k in self.key_fields])

    def fit(self, records: Iterable[Mapping]) -> "MeasurementModel":
        rows = [r for r in records if finite_float(r.get(self.target)) > 0]
        if len(rows) < 2:
            raise ValueError(f"need at least two records with a positive {self.target!r}")
        self._measured = {}
        for r in rows:
            self._measured.setdefault(self._key(r), []).append(finite_float(r[self.target]))
        feat = _Featurizer(self.numeric, self.categorical)
        raw = feat.raw(rows)
        feat.fit(raw)
        logy = np.log([finite_float(r[self.target]) for r in rows])
        self._reg = _LogRegressor(feat, self.kind, self.seed, self.ridge_alpha).fit(raw, logy)
        return self

    def prepare(self, rows: Sequence[Mapping]) -> tuple:
        """What predict reads of the rows (features, pair keys): a model with the same feature
        names and key fields can take it as is."""
        if self._reg is None:
            raise RuntimeError("fit() first")
        return self._reg.feat.raw(rows), [self._key(r) for r in rows]

    def predict_log(self, rows: Sequence[Mapping] | Mapping[str, Sequence], prepared=None) -> np.ndarray:
        """Model output only (no measured lookup): log(target) per row; `rows` may be columns
        ({name: values}, see _Featurizer.raw)."""
        if self._reg is None:
            raise RuntimeError("fit() first")
        return self._reg.predict(prepared[0] if prepared else self._reg.feat.raw(rows))

    def predict(self, rows: Sequence[Mapping], prepared=None) -> list[Prediction]:
        rows = list(rows)
        if not rows:
            return []
        prepared = prepared or self.prepare(rows)
        logp = self.predict_log(rows, prepared)
        out = []
        for key, lp in zip(prepared[1], logp):
            meas = self._measured.get(key)
            if meas:
                # Median of repeated measurements of the same pair; no model involved.
                v = float(np.median(meas))
                out.append(Prediction(v, "measured", math.log(v)))
            else:
                out.append(Prediction(float(math.exp(lp)), "predicted", float(lp)))
        return out


class LatencyModel(MeasurementModel):
    """Latency (ms) regressor plus, when records carry ``energy_uj``, an energy regressor.

    >>> lm = LatencyModel().fit(records)
    >>> p = lm.predict([row])[0]; p.value, p.provenance, p.energy_uj
    """

    def __init__(self, **kw):
        kw.setdefault("target", "latency_ms")
        super().__init__(**kw)
        self.energy: MeasurementModel | None = None

    def fit(self, records: Iterable[Mapping]) -> "LatencyModel":
        records = list(records)
        super().fit(records)
        with_energy = [r for r in records if finite_float(r.get("energy_uj")) > 0]
        self.energy = None
        if len(with_energy) >= 5:
            self.energy = MeasurementModel(
                "energy_uj", numeric=self.numeric, categorical=self.categorical,
                key_fields=self.key_fields, kind=self.kind, ridge_alpha=self.ridge_alpha,
                seed=self.seed).fit(with_energy)
        return self

    def predict(self, rows: Sequence[Mapping], prepared=None) -> list[Prediction]:
        rows = list(rows)
        if not rows:
            return []
        prepared = prepared or self.prepare(rows)  # the energy model reads the same features
        preds = super().predict(rows, prepared)
        if self.energy is not None:
            for p, e in zip(preds, self.energy.predict(rows, prepared)):
                p.energy_uj, p.energy_provenance = e.value, e.provenance
        return preds
