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




# --- the STM32 hardware-aware evaluation (ranker/evaluation.py) -------------------------
def _cands(acc, lat, ram):
    return [{"id": f"c{i}", "accuracy": a, "latency_ms": l, "ram_kib": r, "board_ram_kib": 1000.0,
             "input_size": 3072.0, "width": 1.0, "weights_kib": 100.0 + i, "other_log_weights": 1.0,
             "other_log_act": 1.0, "other_speed": 0.1 * i, "quantization": "int8", "task": "ic",
             "core": "Cortex-M7", "clock_mhz": 480.0, "accelerator": "", "kind": "mcu"}
            for i, (a, l, r) in enumerate(zip(acc, lat, ram))]


def test_fusion_tokens_are_not_computed_from_accuracy():
    """The ground truth includes accuracy: no Fusion feature may change when it does."""
    from ranker.evaluation import _fusion_vectors

    a = _cands([70, 80, 90], [10, 20, 30], [100, 200, 300])
    b = _cands([95, 60, 75], [10, 20, 30], [100, 200, 300])
    for x, y in zip(_fusion_vectors(a, ["ic"]), _fusion_vectors(b, ["ic"])):
        np.testing.assert_array_equal(x, y)


def test_budget_pick_regret_and_violation():
    """Budget at the group's latency percentiles; the oracle knows the true figures, a method
    keeps the candidates predicted to fit and takes its top-scored one."""
    from ranker.evaluation import _budget_outcomes, stm32_budget_pick

    c = _cands([70, 80, 90, 95], [10, 20, 30, 40], [100, 100, 100, 2000])  # the best breaks RAM
    true_lat = np.log([10, 20, 30, 40])
    ram = np.log([100, 100, 100, 2000])
    # predictions say c2 is as fast as c0: a budget of 15 ms lets an accuracy-first method pick it
    plat = np.log([10, 20, 12, 40])
    assert stm32_budget_pick(c, [70, 80, 90, 95], plat, ram, 15.0, 1000.0) == 2
    out = _budget_outcomes(c, {"acc": np.array([70, 80, 90, 95.0]), "fast": -true_lat}, plat, ram)
    # budgets 17.5 / 25 / 32.5 ms: oracle picks 70, 80, 90; "acc" picks c2 (90) every time
    assert [o[1] for o in out["acc"]] == [True, True, False]
    assert [o[0] for o in out["acc"]] == [0.0, 0.0, 0.0]  # a violating pick earns no negative regret
    assert [o for o in out["fast"]] == [(0.0, False), (10.0, False), (20.0, False)]


def test_interval_copeland_defers_to_accuracy_when_intervals_overlap():
    from ranker.evaluation import interval_copeland

    acc = [90, 80, 70]
    lat = np.log([30, 20, 10])  # the least accurate is the fastest and smallest
    ram = np.log([300, 200, 100])
    wide = interval_copeland(acc, lat, ram, q_lat=50.0, q_ram=50.0)
    assert list(np.argsort(-wide)) == [0, 1, 2]  # hardware votes ~1/2 each way: accuracy decides
    sharp = interval_copeland(acc, lat, ram, q_lat=1e-6, q_ram=1e-6)
    assert list(np.argsort(-sharp)) == [2, 1, 0]  # two sure hardware votes beat the task vote


def test_stm32_hardware_section_on_one_held_out_board(shared):
    """The cost model as Shadow's predictor, the interval rule and the budget decision run
    end to end on the real zoo table (one held-out board, a short Fusion training)."""
    from ranker.evaluation import evaluate_stm32

    res = evaluate_stm32(shared, fusion_epochs=5, kinds=("cost",), boards=["B-U585I-IOT02A"])
    assert res["stm32_boards"] == 1 and res["stm32_budget_decisions"] > 0
    for name in ("shadow", "hw_only", "task_only", "fusion", "shadow_interval"):
        assert 0.0 <= res[f"stm32_budget_violation_rate_{name}"] <= 1.0
        assert res[f"stm32_budget_top1_regret_pts_{name}"] >= 0.0
    assert -1.0 <= res["stm32_shadow_interval_tau_w"] <= 1.0


def test_mlperf_records_join_their_model_files(shared):
    from ranker.evaluation import mlperf_file_features, mlperf_records

    feats = mlperf_file_features(shared)
    assert set(feats) == {"ad", "ad/fp32", "ic", "ic/fp32", "kws", "kws/fp32", "vww", "vww/fp32", "sww"}
    recs = mlperf_records(shared)
    assert all(r["model"] in feats for r in recs)
    assert feats["kws"]["work_depthwise"] == 288000 and feats["ad"]["work_conv"] == 0
