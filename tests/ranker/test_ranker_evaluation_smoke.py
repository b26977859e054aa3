"""Smoke test of the evaluation pipeline on the real shared data (skips without ../shared)."""
import math

import numpy as np
import pytest

from ranker import evaluation as ev


@pytest.fixture(scope="module")
def ptm(shared):
    return ev.load_ptm(shared)


def test_metadata_baselines_reproduce_the_paper_convention(ptm):
    # README: ranking by GFLOPs alone gives mean tau_w 0.750, by parameters 0.747.
    g = ev.ptm_metadata_taus(ptm, "gflops")
    assert set(g) == set(ev.PTM_DATASETS)
    assert np.mean(list(g.values())) == pytest.approx(0.750, abs=0.01)
    assert np.mean(list(ev.ptm_metadata_taus(ptm, "num_params").values())) == pytest.approx(0.747, abs=0.01)
    # LogME from baseline_scores.csv, published 0.676
    logme = np.mean(list(ev.ptm_score_taus(ptm, ptm.baselines["LogME"]).values()))
    assert logme == pytest.approx(0.676, abs=0.01)
    assert ptm.published["ModelSpider"]["Mean"] == pytest.approx(0.800)


def test_header_only_baseline_scores_is_one_clear_error(shared, tmp_path):
    # It used to end in an IndexError traceback.
    import shutil

    d = tmp_path / "ptm-ranking"
    shutil.copytree(shared / "ptm-ranking", d)
    (d / "baseline_scores.csv").write_text("Dataset,Model,LogME\n")
    with pytest.raises(ev.InputError, match="baseline_scores.csv: line 2: .*found only a header"):
        ev.load_ptm(tmp_path)


def test_stm32_accuracy_table_in_the_import_format(shared):
    t = ev.stm32_transfer_table(shared)
    assert len(t.datasets) >= 20 and "imagenet" in t.datasets
    i = t.index("imagenet")
    assert np.isfinite(t.acc[:, i]).sum() >= 60
    # int8 and float variants are separate candidates, with their quantization as metadata.
    assert any(m.endswith("(int8)") for m in t.models) and any(i.get("quantization") == "int8" for i in t.model_info)


def test_mlperf_records_and_lobo(shared):
    recs = ev.mlperf_records(shared)
    assert len(recs) > 300 and len({r["board"] for r in recs}) > 30
    m = ev.mlperf_lobo(recs, kind="ridge", energy=False)
    assert math.isfinite(m["spearman"]) and m["spearman"] > 0.5
    assert math.isfinite(m["median_ape_pct"])


def test_stm32_groups_and_one_held_out_board(shared):
    rows = ev.stm32_rows(shared)
    groups = ev.stm32_groups(rows)
    assert len(groups) >= 14
    key = ("image_classification", "imagenet", "top 1 accuracy", "STM32N6570-DK")
    assert len(groups[key]) >= 60
    gt = ev.stm32_ground_truth(groups[key])
    assert len(gt.order) == len(groups[key])
    res = ev.evaluate_stm32(shared, fusion_epochs=5, kinds=("ridge",), boards=["B-U585I-IOT02A"])
    for name in ("shadow", "fusion", "task_only", "hw_only", "hw_only_oracle", "shadow_true_ram"):
        assert math.isfinite(res[f"stm32_{name}_tau_w"])
    # The curve's ends: as predicted is the headline; with the true figures Shadow IS the
    # ground truth (same voters, same tie-break) and hardware-only is the oracle.
    assert res["stm32_curve_err100pct_shadow_tau_w"] == res["stm32_shadow_tau_w"]
    assert res["stm32_curve_err0pct_shadow_tau_w"] == pytest.approx(1.0)
    assert res["stm32_curve_err0pct_hw_only_tau_w"] == res["stm32_hw_only_oracle_tau_w"]
    low, high = res["stm32_shadow_minus_hw_only_ci95_low"], res["stm32_shadow_minus_hw_only_ci95_high"]
    assert low <= res["stm32_shadow_minus_hw_only_mean"] <= high


def test_stm32_shadow_is_the_products_copeland():
    cands = [{"id": "a", "accuracy": 70.0}, {"id": "b", "accuracy": 80.0}, {"id": "c", "accuracy": 75.0}]
    lat, ram = [0.0, 2.0, 1.0], [0.1, 0.0, 1.0]
    plain = ev.copeland({"task": [70.0, 80.0, 75.0], "latency": lat, "ram": ram}, ["a", "b", "c"],
                        directions=ev.STM32_DIRECTIONS)
    assert ev.stm32_shadow(cands, lat, ram).order == plain.order
    hw = ev.stm32_shadow(cands, lat, ram, task=False)
    assert hw.voters == ["latency", "ram"]


def test_digits_zoo_runs_on_three_models():
    pytest.importorskip("sklearn")
    specs = [("mlp8", "mlp", 8, 3, "full"), ("mlp32", "mlp", 32, 3, "full"),
             ("mlp64_2cls", "mlp", 64, 3, "two_classes")]
    res = ev.digits_zoo_eval(finetune_seeds=1, specs=specs)
    assert all(math.isfinite(res[f"digits_{e}_tau_w"]) for e in ("logme", "leep", "nce", "hscore", "nleep"))
