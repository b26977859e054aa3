"""RAM on X-CUBE-AI / ST Edge AI from the model file (ranker.cost_model.RuntimeRam): the shipped
table agrees with the shared data it came from, the mapping and its interval, and what
`predict` says for a board whose runtime plans its own buffers."""
import csv
import math

import numpy as np
import pytest

from ranker.cost_model import RUNTIME_RAM_DATA, RuntimeRam, predict_pairs, runtime_ram
from ranker.evaluation import RUNTIME_RAM_COLUMNS, default_data_dir, evaluate_runtime_ram, runtime_ram_rows


def shipped() -> list[dict]:
    with open(RUNTIME_RAM_DATA, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_shipped_table_is_what_the_shared_data_gives():
    data = default_data_dir()
    if not (data / "benchmarks" / "stm32_footprints.csv").is_file():
        pytest.skip(f"shared data not found at {data}")
    rows = runtime_ram_rows(data)
    assert [tuple(r[c] for c in RUNTIME_RAM_COLUMNS) for r in rows] == \
        [tuple(r[c] for c in RUNTIME_RAM_COLUMNS) for r in shipped()]


def test_the_matched_files_share_the_zoo_models_architecture():
    # The zoo's weights equal the file's to the classifier head (a few hundred bytes).
    for r in shipped():
        assert abs(int(r["weight_bytes"]) / (float(r["zoo_weights_kib"]) * 1024) - 1) < 0.01, r["zoo_model_id"]


def test_mapping_is_the_mean_log_ratio_with_a_student_t_interval():
    rows = [{"runtime": "X-CUBE-AI 8.1.0", "peak_activation_bytes": 1000, "ram_kib": k / 1024}
            for k in (1100, 1300, 1200)]
    m = RuntimeRam(rows)
    logs = np.log([1.1, 1.3, 1.2])
    value, low, high, how = m.predict("STM32Cube.AI / ST Edge AI", 2000)
    assert value == pytest.approx(2000 * math.exp(logs.mean()))
    q = 2.919986 * logs.std(ddof=1) * math.sqrt(1 + 1 / 3)  # t(0.95, 2 df)
    assert high / value == pytest.approx(math.exp(q), rel=1e-5) and value / low == pytest.approx(math.exp(q), rel=1e-5)
    assert "peak activation bytes x 1.20" in how and "3 figures" in how
    # TFLM plans its own arena (the file's figure); a runtime nobody measured gets nothing.
    assert m.predict("TensorFlow Lite Micro", 2000) is None and m.predict("Plumerai", 2000) is None
    assert m.predict("X-CUBE-AI", float("nan")) is None


def test_the_mapping_beats_the_tflm_arena_held_out_by_architecture():
    res = evaluate_runtime_ram(shipped())
    assert res["xcubeai_ram_architectures"] == 3
    assert res["xcubeai_ram_from_file_median_ape_pct"] < res["xcubeai_ram_from_file_median_ape_pct_arena_only"]
    assert res["xcubeai_ram_interval90_coverage"] >= 5 / 6


def test_predict_maps_ram_on_st_edge_ai_and_keeps_the_arena_on_tflm(demo_store):
    from kg.ids import device_iri
    from ranker import graph_facts

    store, _ = demo_store
    model = "https://w3id.org/arachne/model/mlperf-tiny-ic-resnet-8"
    st, nano = device_iri("STM32H747I-DISCO"), device_iri("Arduino-Nano-33-BLE-Sense")
    facts = graph_facts.model_facts(store, [model])[model]
    assert graph_facts.runtime_text(graph_facts.runtime_for(facts, graph_facts.device_runtimes(store, st))) \
        == "STM32Cube.AI / ST Edge AI"
    res = predict_pairs(store, model, [st, nano])
    on_st, on_nano = (p["ram_bytes"] for p in res["pairs"])
    expected = runtime_ram().predict("STM32Cube.AI / ST Edge AI", facts["peak_activation_bytes"])
    assert on_st["provenance"] == "predicted" and on_st["value"] == pytest.approx(expected[0])
    assert on_st["interval90"] == pytest.approx([expected[1], expected[2]])
    assert expected[3] in res["notes"]
    assert on_nano == {"value": float(facts["arena_bytes"]), "unit": "byte", "provenance": "from the file",
                       "interval90": None}


def test_recommend_ranks_ram_headroom_with_the_figure_predict_gives(demo_store):
    # One RAM figure behind `recommend` and `predict`: on an ST Edge AI board, the mapped one,
    # on the fast path and the reference path alike; a measured one, the best record.
    from kg.feasibility import Request
    from kg.ids import device_iri
    from ranker.recommend import recommend

    store, _ = demo_store
    st = device_iri("STM32H747I-DISCO")
    request = Request(device=st, task="https://w3id.org/arachne/task/image_classification")
    fast = recommend(store, request, k=20)
    full = recommend(store, request, k=20, full_check=True)
    assert [r.ram_need_bytes for r in fast.rows] == [r.ram_need_bytes for r in full.rows]
    mapped = measured = 0
    for r in fast.rows:
        pair = predict_pairs(store, r.model, [st])["pairs"][0]
        ram = pair["ram_bytes"]
        assert ram is None or r.ram_need_bytes == int(ram["value"]), r.model
        mapped += ram is not None and ram["provenance"] == "predicted"
        # A pair with several records: every face shows the best one.
        if pair["latency_ms"] and pair["latency_ms"]["provenance"] == "measured":
            assert r.latency_ms == pytest.approx(pair["latency_ms"]["value"])
            measured += 1
    assert measured
    assert mapped and any(n.startswith("ram_bytes on STM32Cube.AI / ST Edge AI") for n in fast.notes)
