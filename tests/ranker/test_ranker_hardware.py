import math

import numpy as np
import pytest

from ranker.hardware import (
    LatencyModel,
    MeasurementModel,
    accelerator_kind,
    core_family,
    memory_headroom,
    quantization_kind,
    runtime_family,
)
from ranker.metrics import spearman


def _records(seed=0):
    # latency = MACs * cycles/MAC(core) / clock; energy proportional to latency
    rng = np.random.default_rng(seed)
    cpm = {"Cortex-M4": 4.0, "Cortex-M7": 2.0, "Cortex-M33": 3.0}
    recs = []
    for i in range(120):
        core = list(cpm)[i % 3]
        macs = float(10 ** rng.uniform(5, 7.5))
        clock = float(rng.choice([64, 120, 160, 216, 480]))
        lat = macs * cpm[core] / (clock * 1e3) * math.exp(rng.normal(0, 0.05))
        recs.append({"model": f"m{i % 40}", "device": f"{core}@{clock}", "macs": macs,
                     "params": macs / 20, "core": core, "clock_mhz": clock, "quantization": "int8",
                     "runtime": "TFLM", "latency_ms": lat, "energy_uj": lat * 30.0})
    return recs


@pytest.mark.parametrize("kind", ["ridge", "gbr", "ridge+gbr"])
def test_latency_model_ranks_unseen_rows(kind):
    train, test = _records(0), _records(1)
    for r in test:
        r["model"] = "new-" + r["model"]          # no measurement exists for these pairs
    lm = LatencyModel(kind=kind).fit(train)
    preds = lm.predict(test)
    assert {p.provenance for p in preds} == {"predicted"}
    rho = spearman([r["latency_ms"] for r in test], [p.value for p in preds])
    assert rho > 0.9
    assert all(p.energy_uj is not None and p.energy_uj > 0 for p in preds)


def test_measured_pairs_are_returned_as_measured():
    recs = _records(0)
    lm = LatencyModel(kind="ridge").fit(recs)
    p = lm.predict([recs[0]])[0]
    assert p.provenance == "measured"
    same = [r["latency_ms"] for r in recs
            if (r["model"], r["device"]) == (recs[0]["model"], recs[0]["device"])]
    assert p.value == pytest.approx(np.median(same))


def test_missing_fields_and_unseen_categories_still_predict():
    lm = MeasurementModel("latency_ms").fit(_records(0))
    p = lm.predict([{"model": "x", "device": "y", "macs": 1e6, "core": "Xtensa LX7"}])[0]
    assert p.provenance == "predicted" and math.isfinite(p.value) and p.value > 0


def test_memory_headroom():
    assert memory_headroom(256 * 1024, 64 * 1024) == pytest.approx(0.75)
    assert memory_headroom(100, 150) == pytest.approx(-0.5)
    with pytest.raises(ValueError):
        memory_headroom(0, 1)


def test_normalisers():
    assert core_family("Arm Cortex-M7 @ 480MHz") == "cortex-m7"
    assert core_family("RV32IMAC with FPU") == "risc-v"
    assert core_family("Quad core Cortex-A72") == "cortex-a"
    assert runtime_family("Tensorflow Lite Micro 2.3.1") == "tflm"
    assert runtime_family("X-CUBE-AI v8.1.0") == "x-cube-ai"
    assert quantization_kind("TensorFlow Int8 Quantization") == "int8"
    assert quantization_kind("float") == "fp32"
    assert accelerator_kind("") == "none"
    assert accelerator_kind("Neural-ART NPU") == "npu"


def test_fit_needs_targets():
    with pytest.raises(ValueError):
        MeasurementModel().fit([{"macs": 1}])


