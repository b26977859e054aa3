"""The per-board cost model (ranker/cost_model.py): it recovers known cycles per unit of work,
calibrates a new board from its own records, its split-conformal intervals cover, and the
product face (predict_pairs, `arachne predict`) gives provenance and intervals."""
import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from ranker.cost_model import CostModel, conformal_quantile, fit_with_interval, lobo_predictions, predict_pairs, work_fields

CYCLES = {"conv": 2.0, "depthwise": 6.0, "dense": 1.0, "other": 4.0}
MODELS = {  # work per class: conv-heavy, depthwise-heavy, dense-only, tiny
    "a": {"conv": 2e6, "depthwise": 1e5, "dense": 1e3, "other": 1e4},
    "b": {"conv": 3e5, "depthwise": 8e5, "dense": 1e3, "other": 5e4},
    "c": {"conv": 0, "depthwise": 0, "dense": 3e5, "other": 2e3},
    "d": {"conv": 5e4, "depthwise": 0, "dense": 1e3, "other": 1e3},
}


def records(noise: float = 0.0, seed: int = 0, spread: float = 0.0):
    """Boards of two core families; latency = efficiency x (cycles x work + 50k cycles of overhead) / clock;
    ``spread``: the sd of a log efficiency of each board that no spec explains."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(12):
        core = "Cortex-M4" if i % 2 else "Cortex-M7"
        clock = [48, 80, 120, 216, 480, 64][i % 6]
        eff = (1.0 if core == "Cortex-M4" else 0.6) * (1.0 + 0.02 * i) * math.exp(spread * math.sin(3.7 * i))
        for m, w in MODELS.items():
            cycles = sum(CYCLES[k] * v for k, v in w.items())
            lat = eff * (cycles + 5e4) / (clock * 1e3) * math.exp(noise * rng.standard_normal())
            out.append({"board": f"b{i}", "model": m, "core": core, "clock_mhz": clock, "runtime": "TFLM",
                        "quantization": "int8", "latency_ms": lat, **{f"work_{k}": v for k, v in w.items()}})
    return out


def test_recovers_latency_of_an_unseen_board():
    recs = records()
    y = np.log([r["latency_ms"] for r in recs])
    pred = lobo_predictions(recs, lambda: CostModel())
    ape = np.abs(np.exp(pred - y) - 1)
    assert np.median(ape) < 0.3  # the only unknown: the held-out board's efficiency, from its specs
    # One record of the board, imported and fitted with the rest, pins most of its efficiency
    # (shrunk toward its specs' figure, since these boards differ little): the per-class cycles do the rest.
    for b in ("b0", "b5"):
        test = [r for r in recs if r["board"] == b]
        m = CostModel().fit([r for r in recs if r["board"] != b] + test[:1])
        p = m.predict_log(test[1:])
        assert np.max(np.abs(np.exp(p - np.log([r["latency_ms"] for r in test[1:]])) - 1)) < 0.15
    # the per-class cost matters: a depthwise-heavy model is slower per MAC than a dense one
    m = CostModel().fit(recs)
    row = dict(recs[0], board="new")
    lat = {k: math.exp(m.predict_log([dict(row, model=k, **{f"work_{c}": v for c, v in w.items()})])[0])
           for k, w in MODELS.items()}
    assert lat["b"] > lat["c"]


def test_calibration_records_move_the_new_board():
    recs = records(noise=0.05, spread=0.5)  # boards differ: one record is worth a lot
    train = [r for r in recs if r["board"] != "b3"]
    slow = [dict(r, latency_ms=r["latency_ms"] * 5) for r in recs if r["board"] == "b3"]  # 5x slower
    y = np.log([r["latency_ms"] for r in slow[1:]])
    before = np.median(np.abs(np.exp(CostModel().fit(train).predict_log(slow[1:]) - y) - 1))
    one = np.median(np.abs(np.exp(CostModel().fit(train + slow[:1]).predict_log(slow[1:]) - y) - 1))
    assert before > 0.5 and one < 0.2  # one noisy record, shrunk toward the specs: most of the way
    # shrinkage: one record moves the board most of the way, not past its own figure
    m = CostModel().fit(train + slow[:1])
    assert 0 < m.predict_log(slow[:1])[0] - CostModel().fit(train).predict_log(slow[:1])[0] <= math.log(5) + 1e-6


def test_a_new_model_whose_classes_the_records_cannot_separate():
    # Every training model holds conv and depthwise MACs in one proportion (as MLPerf's kws and
    # vww do) and almost no dense MACs: a conv-only or a dense-only file still gets a figure
    # near the truth, not whatever the free per-class cycles drifted to.
    cycles = {"conv": 2.0, "depthwise": 6.0, "dense": 1.5, "other": 4.0}
    train = {"p": {"conv": 2e6, "depthwise": 2e5, "dense": 500, "other": 1e3},
             "q": {"conv": 5e5, "depthwise": 5e4, "dense": 700, "other": 2e4},
             "r": {"conv": 8e6, "depthwise": 8e5, "dense": 600, "other": 5e3}}
    new = {"conv_only": {"conv": 6e6, "depthwise": 0, "dense": 600, "other": 3e4},
           "dense_only": {"conv": 0, "depthwise": 0, "dense": 3e5, "other": 0}}

    def rec(board, clock, model, w):
        lat = (sum(cycles[k] * v for k, v in w.items()) + 5e4) / (clock * 1e3)
        return {"board": board, "model": model, "core": "Cortex-M4", "clock_mhz": clock, "runtime": "TFLM",
                "quantization": "int8", "latency_ms": lat, **{f"work_{k}": v for k, v in w.items()}}

    recs = [rec(f"b{i}", c, m, w) for i, c in enumerate([48, 80, 120, 216]) for m, w in train.items()]
    m = CostModel().fit(recs)
    for name, w in new.items():
        truth = rec("b1", 80, name, w)
        ratio = math.exp(m.predict_log([truth])[0]) / truth["latency_ms"]
        assert 1 / 3 < ratio < 3, name


def test_variances_are_estimated_from_the_training_records():
    # boards that differ more get a weaker pull toward their specs' figure (empirical Bayes)
    calm = CostModel().fit(records(noise=0.05, seed=2))
    wild = [dict(r, latency_ms=r["latency_ms"] * math.exp(0.8 * ((int(r["board"][1:]) * 7) % 5 - 2)))
            for r in records(noise=0.05, seed=2)]
    assert CostModel().fit(wild).variances["b"] > 3 * calm.variances["b"]


def test_hardware_predictor_calibrates_a_board_from_its_records():
    # The product path: a device's imported records join the fit and move its other predictions.
    from ranker.cost_model import HardwarePredictor

    recs = records(noise=0.05, spread=0.5)
    rows = [dict(r, device=r["board"]) for r in recs]
    work = {m: {f"work_{k}": v for k, v in w.items()} for m, w in MODELS.items()}
    for r in rows:
        for k in list(r):
            if k.startswith("work_"):
                del r[k]
    new = [dict(r, device="new", latency_ms=r["latency_ms"] * 3) for r in rows if r["board"] == "b3"]
    base = [r for r in rows if r["board"] != "b3"]
    ask = [dict(new[1], latency_ms=None)]
    before = HardwarePredictor(base, work).predict(ask, "latency_ms")[0][0]
    after = HardwarePredictor(base + new[:1], work).predict(ask, "latency_ms")[0][0]
    # within 0.2 in log after one record (0.15; 0.14 before the prior that pulls the classes' cycles,
    # which differ 6x here, toward one figure per MAC); the board runs 3x slower than its specs say
    assert abs(math.log(after / new[1]["latency_ms"])) < 0.2 < abs(math.log(before / new[1]["latency_ms"]))


def with_energy(recs, boards_with_energy=range(0, 12, 2)):
    """Energy = latency x a board's power (mW), which its specs explain only in part."""
    out = []
    for r in recs:
        i = int(r["board"][1:])
        power = ((20.0 if r["core"] == "Cortex-M4" else 90.0) * (r["clock_mhz"] / 100) ** 0.5
                 * math.exp(0.4 * math.cos(2.3 * i)))
        out.append(dict(r, energy_uj=r["latency_ms"] * power if i in boards_with_energy else None))
    return out


def test_energy_is_latency_times_the_boards_power():
    from ranker.cost_model import EnergyModel

    # Half the boards measured energy; every board measured latency.  A new board's energy
    # follows from its latency and its specs' power; one energy record of it fixes its power.
    recs = with_energy(records(noise=0.05, spread=0.3))
    new = [r for r in recs if r["board"] == "b4"]
    train = [r for r in recs if r["board"] != "b4"]
    y = np.log([r["energy_uj"] for r in new[1:]])
    err = lambda m: np.median(np.abs(np.exp(m.predict_log(new[1:]) - y) - 1))  # noqa: E731
    before, one = err(EnergyModel().fit(train)), err(EnergyModel().fit(train + new[:1]))
    assert one < 0.15 and one < before / 2
    # latency records alone (no energy) calibrate the latency part of the energy figure
    slow = [dict(r, latency_ms=r["latency_ms"] * 4, energy_uj=r["energy_uj"] * 4) for r in new]
    ys = np.log([r["energy_uj"] for r in slow[1:]])
    m0 = EnergyModel().fit(train)
    m1 = EnergyModel().fit(train + [dict(r, energy_uj=None) for r in slow[:2]])
    assert np.mean(m1.predict_log(slow[1:]) - m0.predict_log(slow[1:])) > math.log(2)
    assert np.median(np.abs(m1.predict_log(slow[1:]) - ys)) < np.median(np.abs(m0.predict_log(slow[1:]) - ys))
    # the product predicts energy the same way, and says so
    from ranker.cost_model import HardwarePredictor

    work = {m: {f"work_{k}": v for k, v in w.items()} for m, w in MODELS.items()}
    rows = [{k: v for k, v in dict(r, device=r["board"]).items() if not k.startswith("work_")} for r in recs]
    value, low, high, how = HardwarePredictor(rows, work).predict([dict(rows[9], energy_uj=None)], "energy_uj")[0]
    assert "power model" in how and low < value < high
    assert abs(math.log(value / recs[9]["energy_uj"])) < math.log(2)


def test_figures_that_are_not_cycles_per_clock_do_not_scale_with_the_clock():
    # RAM (and power) is not work / clock: a 480 MHz board holds the same activations as a 48 MHz one.
    rng = np.random.default_rng(3)
    recs = [{"board": f"b{i}", "model": f"m{j}", "core": "Cortex-M7", "runtime": "X-CUBE-AI", "clock_mhz": clock,
             "act_kib": act, "ram_kib": act * 1.05 * math.exp(0.02 * rng.standard_normal())}
            for i, clock in enumerate([48, 64, 80, 120, 160, 216]) for j, act in enumerate([20, 60, 150, 400])]
    new = [dict(r, board="fast", clock_mhz=480) for r in recs[:4]]
    m = CostModel("ram_kib", work=False, log_fields=("act_kib",), per_clock=False).fit(recs)
    assert np.allclose(np.exp(m.predict_log(new)), [r["ram_kib"] for r in new], rtol=0.1)


def test_a_device_with_records_gets_a_narrower_interval_that_holds():
    # Mondrian intervals: a device's own records pin its offset, so its unmeasured pairs get the
    # leave-pairs-out interval, a device nobody measured the leave-devices-out one.
    from ranker.cost_model import HardwarePredictor

    recs = records(noise=0.05, spread=0.5)
    rows = [{k: v for k, v in dict(r, device=r["board"]).items() if not k.startswith("work_")} for r in recs]
    work = {m: {f"work_{k}": v for k, v in w.items()} for m, w in MODELS.items()}
    inside, ratios = [], []
    for b in ("b1", "b4", "b7", "b10"):
        held = next(r for r in rows if r["device"] == b and r["model"] == "a")
        predictor = HardwarePredictor([r for r in rows if r is not held], work)
        known = predictor.predict([dict(held, latency_ms=None)], "latency_ms")[0]
        new = predictor.predict([dict(held, device="nobody", latency_ms=None)], "latency_ms")[0]
        inside.append(known[1] <= held["latency_ms"] <= known[2])
        ratios.append((known[2] / known[1]) / (new[2] / new[1]))
        assert "on a device with records" in known[3]
    assert all(inside) and max(ratios) < 0.8


def test_conformal_quantile_and_interval_coverage():
    assert conformal_quantile(np.arange(1, 10), 0.9) == 9  # ceil(10 * 0.9) = 9th smallest
    assert conformal_quantile([1.0, 2.0], 0.9) == math.inf  # too few residuals for 90 %
    recs = records(noise=0.2, seed=1)
    model, q = fit_with_interval(lambda: CostModel(), recs[:40], "latency_ms", folds=5)
    rest = recs[40:]
    pred = model.predict_log(rest)
    inside = np.abs(np.log([r["latency_ms"] for r in rest]) - pred) <= q
    assert 0 < q < 1.5 and inside.mean() >= 0.75


def test_work_fields_from_operator_uses():
    ops = [{"op_class": "conv", "macs": 10, "output_elements": 5}, {"op_class": "depthwise", "macs": 3},
           {"op_class": "activation", "macs": 0, "output_elements": 7}, {"op_class": "pooling", "output_elements": 2}]
    assert work_fields(ops) == {"work_conv": 10.0, "work_depthwise": 3.0, "work_dense": 0.0, "work_other": 9.0}


def test_fit_rejects_too_few_records():
    with pytest.raises(ValueError, match="latency_ms"):
        CostModel().fit(records()[:2])


def test_predict_pairs_provenance_and_intervals(demo_store):
    from ranker import graph_facts

    store, _ = demo_store
    recs = [r for r in graph_facts.benchmark_records(store) if r["latency_ms"]]
    measured = recs[0]
    other = next(d for d in sorted(graph_facts.device_facts(store)) if d != measured["device"])
    res = predict_pairs(store, measured["model"], [measured["device"], other])
    here, there = res["pairs"]
    assert here["latency_ms"]["provenance"] == "measured"
    assert here["latency_ms"]["value"] == pytest.approx(measured["latency_ms"])
    assert there["latency_ms"]["provenance"] == "predicted"
    lo, hi = there["latency_ms"]["interval90"]
    assert lo < there["latency_ms"]["value"] < hi
    # a model imported from its file: flash and RAM come from the file
    tflite = "https://w3id.org/arachne/model/arm_ds_cnn_small"
    res = predict_pairs(store, tflite, [other])
    assert res["pairs"][0]["flash_bytes"]["provenance"] in ("from the file", "measured")
    assert res["pairs"][0]["ram_bytes"]["value"] > 0


def test_a_measured_latency_gives_the_pairs_energy(demo_store):
    # Evidence first: a pair measured for latency only gets energy = that latency x the board's
    # predicted power, a narrower interval than predicting both, and says so.
    from ranker import graph_facts
    from ranker.cost_model import hardware_predictor

    store, _ = demo_store
    recs = graph_facts.benchmark_records(store)
    pair = next(r for r in recs if r["latency_ms"] and not r["energy_uj"]
                and not any(o["energy_uj"] for o in recs if (o["model"], o["device"]) == (r["model"], r["device"])))
    res = predict_pairs(store, pair["model"], [pair["device"]])
    energy = res["pairs"][0]["energy_uj"]
    assert res["pairs"][0]["latency_ms"]["provenance"] == "measured" and energy["provenance"] == "predicted"
    assert any(n.startswith("energy_uj = the measured latency x power_mw predicted") for n in res["notes"])
    row = graph_facts.prediction_row(graph_facts.model_facts(store, [pair["model"]])[pair["model"]],
                                     graph_facts.device_facts(store, [pair["device"]])[pair["device"]])
    predictor = hardware_predictor(store)
    blind = predictor.predict([row], "energy_uj")[0]
    lat = res["pairs"][0]["latency_ms"]["value"]
    low, high = energy["interval90"]
    assert high / low < blind[2] / blind[1]
    twice = predictor.predict([row], "energy_uj", measured_latency=[2 * lat])[0]
    assert twice[0] == pytest.approx(2 * energy["value"])


def test_recommend_predicts_what_predict_says(demo_store):
    # One predictor behind `recommend` and `predict`: the same figure and interval for a pair,
    # the cost model for a model with its file (interval narrower than the metadata regressor's).
    from kg.feasibility import Request
    from kg.ids import device_iri
    from ranker.recommend import recommend

    store, _ = demo_store
    nano = device_iri("Arduino-Nano-33-BLE-Sense")
    rec = recommend(store, Request(device=nano, task="https://w3id.org/arachne/task/keyword_spotting"), k=50)
    predicted = [r for r in rec.rows if r.latency_provenance == "predicted"]
    assert predicted and all(r.latency_interval90_ms[0] < r.latency_ms < r.latency_interval90_ms[1] for r in predicted)
    widths = {}
    for r in predicted:
        pair = predict_pairs(store, r.model, [nano])["pairs"][0]["latency_ms"]
        assert pair["provenance"] == "predicted"
        assert pair["value"] == pytest.approx(r.latency_ms) and pair["interval90"] == pytest.approx(r.latency_interval90_ms)
        widths[r.arena_bytes is not None] = r.latency_interval90_ms[1] / r.latency_interval90_ms[0]
    assert widths[True] < widths[False]
    assert any("cost model" in n for n in rec.notes)


def test_cli_predict_json(demo_store):
    from registry.cli import cli

    store, path = demo_store
    store.close() if hasattr(store, "close") else None
    r = CliRunner().invoke(cli, ["--store", str(path), "predict", "--model", "arm_ds_cnn_small",
                                 "--device", "arduino-nano-33-ble-sense", "--json"], obj={})
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["pairs"][0]["latency_ms"]["provenance"] in ("measured", "predicted")
    r = CliRunner().invoke(cli, ["--store", str(path), "predict", "--model", "no-such-model"], obj={})
    assert r.exit_code != 0 and "no-such-model" in r.output


def test_http_predict_gives_the_clis_answer(demo_store):
    """/predict is the same Python call as `arachne predict`, over a real server."""
    import urllib.error
    import urllib.request

    from ranker.cost_model import predict_pairs
    from registry.app import create_app
    from registry.cli_serve import BackgroundServer

    store, _ = demo_store
    nano = "https://w3id.org/arachne/device/arduino-nano-33-ble-sense"
    with BackgroundServer(create_app(store)) as server:
        url = f"{server.url}/predict?model=arm_ds_cnn_small&device=arduino-nano-33-ble-sense&device=disco-f746ng"
        with urllib.request.urlopen(url, timeout=60) as resp:
            body = json.loads(resp.read())
        assert [p["device"] for p in body["pairs"]][0] == nano and len(body["pairs"]) == 2
        expected = predict_pairs(store, body["model"], [p["device"] for p in body["pairs"]])
        assert json.loads(json.dumps(expected)) == body
        for path, status in (("/predict", 400), ("/predict?model=no-such-model", 404),
                             ("/predict?model=arm_ds_cnn_small&device=no-such-board", 404)):
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(server.url + path, timeout=60)
            assert err.value.code == status and err.value.headers["Content-Type"].startswith("application/problem+json")
