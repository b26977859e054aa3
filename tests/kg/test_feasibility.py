"""Feasible model-device pairs on the demo registry, against hand-computed expectations:
the three outcomes (fits / likely / does not fit), measured evidence, sensing apart from
computing, device classes; and the SPARQL answer against the SHACL-SPARQL check and the
indexed fast path on every pair."""
import subprocess
import sys

import pytest

from kg import feasibility
from kg.demo_registry import build
from kg.errors import InputError
from kg.feasibility import Request
from kg.ids import device_iri, model_iri
from kg.store import Store
from kg.vocab import MODALITY_TERMS

NANO = device_iri("Arduino-Nano-33-BLE-Sense")
CAMERA_MODELS = {"ARM_MicroNet_VWW_3", "Person_Detection", "Visual_Alarm_Clock"}
TINYML = {
    "ARM_CNN_Small_keyword_spotting", "ARM_DS_CNN_Small_", "ARM_MicroNet_Small_anomaly_detection",
    "ARM_MicroNet_VWW_3", "Anomaly_Detection_Autoencoder", "Hello_World", "Magic_Wand_1", "Magic_Wand_2",
    "Mapping_Dance", "Micro_Speech_Forward_Backward", "Micro_Speech_Up_Down_Go", "Micro_Speech_Yes_No_1",
    "Micro_Speech_Yes_No_2", "Micro_Speech_Yes_No_3", "Micro_Speech_Yes_No_4", "Motion_Trainer_Left_Right",
    "Motion_Trainer_Up_Forward", "Move", "Person_Detection", "Snoring_Guardian", "Squats_Counter",
    "Visual_Alarm_Clock", "Voice_Turn",
}


@pytest.fixture(scope="module")
def demo():
    store = Store()
    build(store, progress=False)
    return store


def names(checks):
    return {c.name for c in checks}


def test_which_tinyml_models_fit_an_arduino_nano_33_ble_sense(demo):
    # The Nano 33 BLE Sense: 256 KiB RAM, 1 MiB flash, TFLite Micro, microphone + IMU
    # + environmental sensors, no camera. Every one of the 23 models has an arena
    # below 141 KiB and a file below 531 KiB (+ ~49 KiB TFLM code < 1 MiB) and uses only
    # TFLM operators, so all fit; the three camera models need an external camera.
    # Person_Detection is refused by TFLM: its RAM is an estimate (live activations), so likely.
    checks = feasibility.check_pairs(demo, device=NANO)
    tiny = {c.name: c for c in checks if c.name in TINYML}
    assert len(tiny) == 23 and all(c.feasible for c in tiny.values())
    assert {n for n, c in tiny.items() if c.outcome == "fits"} == TINYML - {"Person_Detection"}
    assert tiny["Person_Detection"].outcome == "likely"
    assert tiny["Person_Detection"].unknowns == ["model RAM estimated: 54.0 KiB of live activations "
                                                 "(no runtime planned it and no measurement on this device)"]
    assert tiny["Person_Detection"].provenance["ram_need"] == "estimated"
    assert {n for n, c in tiny.items() if "needs an external camera" in c.notes} == CAMERA_MODELS
    assert tiny["Hello_World"].provenance["ram_need"] == "file"
    # Asking for on-board sensing gives the strict sensor answer: the camera models do not fit.
    strict = {c.name: c for c in feasibility.check_pairs(demo, device=NANO, request=Request(onboard_sensors=True))
              if c.name in TINYML}
    assert {n for n, c in strict.items() if not c.feasible} == CAMERA_MODELS
    assert "Camera" in " ".join(strict["ARM_MicroNet_VWW_3"].reasons)
    # Verified only: Person_Detection's unknown RAM keeps it out, and is the reason given.
    verified = {c.name: c for c in feasibility.check_pairs(demo, device=NANO, request=Request(verified_only=True))
                if c.name in TINYML}
    assert {n for n, c in verified.items() if not c.feasible} == {"Person_Detection"}
    assert "RAM estimated" in verified["Person_Detection"].why_not[0]


def test_which_boards_can_run_arm_micronet_vww_3(demo):
    # Needs a camera, 136.9 KiB arena and 529.7 KiB of model + a runtime running all its
    # operators. Boards with a camera in the demo: the Arduino TinyML kit (256 KiB RAM, 1 MiB
    # flash, TFLM) and the STM32N6570-DK (ST Edge AI); both fit on board.
    request = Request(onboard_sensors=True, verified_only=True)
    ok, excluded = feasibility.feasible_devices(demo, model_iri("ARM_MicroNet_VWW_3"), request)
    assert {c.device for c in ok} == {device_iri("Arduino-Nano-33-BLE-Sense-TinyML-Kit"), device_iri("STM32N6570-DK")}
    nano = next(c for c in excluded if c.device == NANO)
    assert any("Camera" in r for r in nano.reasons)
    # Without on-board sensing, the Nano fits too (with an external camera); the Syntiant
    # board (24.4 KiB of RAM) does not, by a number of bytes.
    ok, excluded = feasibility.feasible_devices(demo, model_iri("ARM_MicroNet_VWW_3"))
    assert NANO in {c.device for c in ok}
    syntiant = next(c for c in excluded if c.device == device_iri("Syntiant-TinyML"))
    assert syntiant.outcome == "does not fit"
    assert syntiant.reasons[0].startswith("RAM: needs 136.9 KiB, device has 24.4 KiB: 112.4 KiB short (115144 bytes)")


def test_reasons_carry_numbers(demo):
    request = Request(device=NANO, reserved_ram_bytes=200 * 1024)
    checks = feasibility.check_pairs(demo, model=model_iri("ARM_CNN_Small_keyword_spotting"), device=NANO, request=request)
    assert checks[0].feasible  # 12.6 + 200 <= 256 KiB
    request = Request(device=NANO, reserved_ram_bytes=250 * 1024)
    checks = feasibility.check_pairs(demo, model=model_iri("ARM_CNN_Small_keyword_spotting"), device=NANO, request=request)
    need = checks[0].facts["needRam"]
    assert checks[0].reasons == [f"RAM: needs 12.6 KiB + 250.0 KiB reserved, device has 256.0 KiB: "
                                 f"6.6 KiB short ({need + 250 * 1024 - 256 * 1024} bytes)"]


def _outcome(demo, model, device, **request):
    return feasibility.check_pairs(demo, model=model, device=device, request=Request(**request))[0]


def test_both_sides_of_every_limit(demo):
    # Hello_World on the Nano: each limit met exactly fits, one unit over does not fit, with
    # the shortfall; each budget without a measurement is unknown (likely), not a failure.
    model = model_iri("Hello_World")
    f = _outcome(demo, model, NANO).facts
    ram_left, flash_left = f["ram"] - f["needRam"], f["flash"] - f["needFlash"]
    assert _outcome(demo, model, NANO, reserved_ram_bytes=ram_left).outcome == "fits"
    over = _outcome(demo, model, NANO, reserved_ram_bytes=ram_left + 1)
    assert over.outcome == "does not fit" and over.reasons[0].endswith("short (1 bytes)")
    assert _outcome(demo, model, NANO, reserved_flash_bytes=flash_left).outcome == "fits"
    over = _outcome(demo, model, NANO, reserved_flash_bytes=flash_left + 1)
    assert over.outcome == "does not fit" and over.reasons[0].startswith("flash:") and "(1 bytes)" in over.reasons[0]
    budget = _outcome(demo, model, NANO, max_latency_ms=5.0)
    assert budget.outcome == "likely" and budget.unknowns == ["latency not measured on this device (budget 5 ms)"]
    # Measured figures: the MLPerf VWW reference model measured on the DISCO-F746NG.
    disco, vww = device_iri("DISCO-F746NG"), _mlperf_vww(demo)
    measured = _outcome(demo, vww, disco)
    latency, energy = measured.facts["latency"], measured.facts["energy"]
    assert latency is not None
    assert _outcome(demo, vww, disco, max_latency_ms=latency).outcome == "fits"
    over = _outcome(demo, vww, disco, max_latency_ms=latency - 0.5)
    assert over.outcome == "does not fit" and over.reasons[0].endswith("0.5 ms over")
    if energy is not None:
        assert _outcome(demo, vww, disco, max_energy_uj=energy).outcome == "fits"
        assert _outcome(demo, vww, disco, max_energy_uj=energy - 1).outcome == "does not fit"


def _mlperf_vww(demo):
    rows = demo.select("""PREFIX ar: <https://w3id.org/arachne#> PREFIX schema: <https://schema.org/>
        SELECT ?m WHERE { ?m schema:name "MobileNetV1 0.25x 96x96 (MLPerf Tiny reference)" }""").column("m")
    assert len(rows) == 1
    return rows[0]


def test_a_measured_record_is_proof_the_model_runs(demo):
    # The MLPerf VWW reference model was measured on the DISCO-F746NG: it fits there, its latency
    # measured; joined to its file (kg/demo/models/mlperf), it fits the Nano on the file's figures.
    vww = _mlperf_vww(demo)
    disco = _outcome(demo, vww, device_iri("DISCO-F746NG"))
    assert disco.outcome == "fits" and disco.provenance["latency"] == "measured"
    assert disco.provenance["runs_here"] == "measured" and 30 < disco.facts["latency"] < 40  # 34 ms
    nano = _outcome(demo, vww, NANO)
    assert nano.outcome == "fits" and nano.provenance["ram_need"] == nano.provenance["flash_need"] == "file"
    # Its fp32 variant has no file, no RAM or size figure, and was measured on the Raspberry Pi 4
    # only: it fits there; on a board it was never measured on, the unknowns make it "likely".
    fp32 = model_iri("mlperf-tiny-vww-mobilenetv1-0.25-96-fp32")
    pi = _outcome(demo, fp32, device_iri("Raspberry-Pi-4B"))
    assert pi.outcome == "fits" and pi.provenance["runs_here"] == "measured"
    nano = _outcome(demo, fp32, NANO)
    assert nano.outcome == "likely" and "model RAM unknown" in nano.unknowns[0]
    # No measured pair of the whole registry is reported as not fitting.
    assert not [c for c in feasibility.check_pairs(demo) if c.facts.get("records") and not c.feasible]


def test_device_classes(demo):
    # Linux-class boards (application cores) have no flash constraint, and their full TFLite
    # runtime runs every builtin operator: on the STM32MP257F-DK a TFLite model with a file
    # fits; Raspberry Pi 4 (RAM unknown) gets image-classification candidates.
    mp2 = _outcome(demo, model_iri("ARM_MicroNet_VWW_3"), device_iri("STM32MP257F-DK"))
    assert mp2.outcome == "fits" and mp2.facts["runtime"].endswith("/runtime/tflite")
    assert mp2.provenance["device_flash"].startswith("not used")
    ok, _ = feasibility.feasible_models(demo, Request(device=device_iri("Raspberry-Pi-4B"),
                                                      task="https://w3id.org/arachne/task/image_classification"))
    assert len(ok) > 10 and {c.outcome for c in ok} <= {"fits", "likely"}
    # A microcontroller without a flash figure: its flash is an unknown, not a failure.
    xc7 = _outcome(demo, model_iri("Hello_World"), device_iri("ADP-XC7K160-410"))
    assert xc7.outcome == "likely" and "device RAM unknown" in xc7.unknowns
    # Every board of the demo has candidates.
    feasible = {c.device for c in feasibility.check_pairs(demo) if c.feasible}
    assert len(feasible) == 52


def test_sparql_shacl_and_fast_path_agree_on_every_pair(demo):
    checks = feasibility.check_pairs(demo)
    devices = sorted({c.device for c in checks})
    models = sorted({c.model for c in checks})
    assert len(devices) >= 50 and len(models) >= 300
    verdicts = {(c.model, c.device): c.outcome for c in checks}
    counts = {o: list(verdicts.values()).count(o) for o in ("fits", "likely", "does not fit")}
    assert min(counts.values()) > 100, counts  # plenty of each outcome, not a trivial answer
    # The fast one-device query agrees with the full checks for every device.
    for device in devices:
        fast = feasibility.fast_outcomes(demo, Request(device=device))
        assert fast == {m: o for (m, d), o in verdicts.items() if d == device and o != "does not fit"}, device
    # The SHACL-SPARQL shapes, evaluated on every pair in the store, agree with the SPARQL checks.
    shacl = feasibility.check_pairs_shacl_bulk(demo, list(verdicts))
    disagree = [(pair, o, shacl[pair]) for pair, o in verdicts.items() if feasibility.shacl_outcome(shacl[pair]) != o]
    assert not disagree, disagree[:5]
    # pyshacl itself, one pair at a time, gives the same messages on a spread of pairs.
    sample = [c for c in checks if c.name in TINYML and c.device in (NANO, device_iri("Syntiant-TinyML"))]
    sample += checks[:: max(1, len(checks) // 40)]
    for c in sample:
        assert feasibility.check_pair_shacl(demo, c.model, c.device) == shacl[(c.model, c.device)], (c.model, c.device)


def test_sparql_shacl_and_fast_path_agree_with_onboard_sensing_and_budgets(demo):
    request = Request(onboard_sensors=True, max_latency_ms=50.0, reserved_ram_bytes=20000)
    checks = feasibility.check_pairs(demo, request=request)
    verdicts = {(c.model, c.device): c.outcome for c in checks}
    for device in sorted({c.device for c in checks}):
        fast = feasibility.fast_outcomes(demo, Request(device=device, onboard_sensors=True, max_latency_ms=50.0,
                                                       reserved_ram_bytes=20000))
        assert fast == {m: o for (m, d), o in verdicts.items() if d == device and o != "does not fit"}, device
    shacl = feasibility.check_pairs_shacl_bulk(demo, list(verdicts), request)
    disagree = [(pair, o, shacl[pair]) for pair, o in verdicts.items() if feasibility.shacl_outcome(shacl[pair]) != o]
    assert not disagree, disagree[:5]


def test_fast_path_answers_for_the_requests_task_and_modality(demo):
    """A request's task and modality restrict the fast answer to those models: the full check's
    answer for the device, filtered here by the models' own task and modality triples."""
    ar = "https://w3id.org/arachne#"
    tasks = dict(demo.select(f"SELECT ?m ?t WHERE {{ ?m <{ar}performsTask> ?t }}").values())
    images = set(demo.select(f"SELECT ?m WHERE {{ ?m <{ar}hasModality> <{MODALITY_TERMS['image']}> }}").column("m"))
    asked = 0
    devices = sorted({c.device for c in feasibility.check_pairs(demo, model=model_iri("ARM_MicroNet_VWW_3"))})
    for device in devices[::5]:  # a spread of boards; every task
        everything = {c.model: c.outcome for c in feasibility.check_pairs(demo, device=device) if c.feasible}
        for task in sorted(set(tasks.values())):
            for modality in (None, "image"):
                expected = {m: o for m, o in everything.items()
                            if tasks.get(m) == task and (modality is None or m in images)}
                got = feasibility.fast_outcomes(demo, Request(device=device, task=task, modality=modality))
                assert got == expected, (device, task, modality)
                asked += bool(expected)
    assert asked > 20  # plenty of requests with an answer, not only empty ones


def test_shacl_check_reports_each_violation_with_numbers(demo):
    results = feasibility.check_pair_shacl(demo, model_iri("ARM_MicroNet_VWW_3"), device_iri("Syntiant-TinyML"))
    # Syntiant TinyML board: 25 kB of RAM free (the TinyML graph's figure) = 24.4 KiB.
    assert ("violation", "RAM: needs 136.9 KiB (+ 0 KiB reserved), device has 24.4 KiB: 115144 bytes short") in results
    assert ("note", "needs an external Camera: the device has none on board") in results
    assert feasibility.shacl_outcome(results) == "does not fit"
    strict = feasibility.check_pair_shacl(demo, model_iri("ARM_MicroNet_VWW_3"), device_iri("Syntiant-TinyML"),
                                          Request(onboard_sensors=True))
    assert any(kind == "violation" and "Camera" in m for kind, m in strict)


def test_invalid_request_is_rejected():
    with pytest.raises(InputError, match="device"):
        Request(task="https://w3id.org/arachne/task/keyword_spotting").validated()
    with pytest.raises(InputError, match="latency"):
        Request(device=NANO, task="https://w3id.org/arachne/task/x", max_latency_ms=-3).validated()


def test_cli_feasible_with_why(tmp_path, demo):
    store = tmp_path / "db"
    import os

    demo_run = subprocess.run([sys.executable, "-m", "registry.cli", "--store", str(store), "demo"], check=True,
                              capture_output=True, text=True, env={**os.environ, "COLUMNS": "250"})
    assert "devices" in demo_run.stdout and "example recommendation" in demo_run.stdout
    assert "voters: task, latency" in demo_run.stdout  # the ranked table for the Nano 33 BLE Sense was printed
    proc = subprocess.run([sys.executable, "-m", "registry.cli", "--store", str(store), "feasible", "--device",
                           "arduino-nano-33-ble-sense", "--task", "visual_wake_words", "--why", "--json"],
                          capture_output=True, text=True, check=True)
    import json

    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    vww = rows["ARM_MicroNet_VWW_3"]
    assert vww["feasible"] and vww["outcome"] == "fits" and vww["notes"] == ["needs an external camera"]
    assert vww["provenance"]["ram_need"] == "file"
    proc = subprocess.run([sys.executable, "-m", "registry.cli", "--store", str(store), "feasible", "--device",
                           "arduino-nano-33-ble-sense", "--task", "visual_wake_words", "--why", "--json",
                           "--onboard-sensors", "--verified-only"], capture_output=True, text=True, check=True)
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert not rows["ARM_MicroNet_VWW_3"]["feasible"] and rows["ARM_MicroNet_VWW_3"]["outcome"] == "does not fit"
    assert not [r for r in rows.values() if r["feasible"] and r["outcome"] != "fits"]
    proc = subprocess.run([sys.executable, "-m", "registry.cli", "--store", str(store), "check",
                           "ARM_MicroNet_VWW_3", "arduino-nano-33-ble-sense"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("fits") and "needs an external Camera" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "registry.cli", "--store", str(store), "check", "--onboard-sensors",
                           "ARM_MicroNet_VWW_3", "arduino-nano-33-ble-sense"], capture_output=True, text=True)
    assert proc.returncode == 2 and "Camera" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "registry.cli", "--store", str(store), "reindex"],
                          capture_output=True, text=True, check=True)
    assert "indexed 22 models" in proc.stdout  # the models with a RAM figure (the 22 TFLM loads)
    for flags in ([], ["--onboard-sensors"], ["--verified-only"]):
        proc = subprocess.run([sys.executable, "-m", "registry.cli", "--store", str(store), "feasible", "--device",
                               "arduino-nano-33-ble-sense", "--json", *flags], capture_output=True, text=True,
                              check=True)
        full = {r["model"] for r in json.loads(proc.stdout)}
        assert model_iri("Micro_Speech_Yes_No_1") in full
        assert (model_iri("ARM_MicroNet_VWW_3") in full) == (flags != ["--onboard-sensors"])
        proc = subprocess.run([sys.executable, "-m", "registry.cli", "--store", str(store), "feasible", "--device",
                               "arduino-nano-33-ble-sense", "--ids", *flags], capture_output=True, text=True,
                              check=True)
        assert set(proc.stdout.split()) == full  # the indexed answer, same models



def test_a_ram_verdict_on_tflms_arena_says_so_for_another_runtime(demo):
    # The file's RAM figure is TFLM's arena plan: where the check's runtime is another one (it
    # plans its own buffers), the verdict that rests on it says so; on TFLM it needs no such word.
    vww = "https://w3id.org/arachne/model/mlperf-tiny-vww-mobilenetv1-0.25-96"
    on_st = _outcome(demo, vww, device_iri("NUCLEO-F401RE"))
    on_tflm = _outcome(demo, vww, device_iri("Syntiant-TinyML"))
    assert on_st.outcome == on_tflm.outcome == "does not fit"
    assert on_st.reasons[0].startswith("RAM: needs 101.2 KiB") and on_tflm.reasons[0].startswith("RAM: needs")
    assert on_st.facts["runtime"].endswith("/st-edge-ai") and on_tflm.facts["runtime"].endswith("/tflite-micro")
    assert on_st.warnings == ["RAM need is TFLM's tensor arena; STM32Cube.AI / ST Edge AI, the runtime this check "
                              "picked, plans its own buffers and may need less or more (`arachne predict` "
                              "gives its figure where one is learned)"]
    assert not any("arena" in w for w in on_tflm.warnings)


@pytest.mark.parametrize("backend", ["embedded", "oxigraph-server", "virtuoso"])
def test_the_check_picks_the_runtime_with_the_smallest_code(backend, request, demo):
    # The pair's runtime is the one predict and recommend predict with (ranker.graph_facts.
    # runtime_for: smallest code, then IRI), on every backend, not any runtime that runs the model.
    from kg.store import open_store
    from ranker import graph_facts

    vww, f401 = "https://w3id.org/arachne/model/mlperf-tiny-vww-mobilenetv1-0.25-96", device_iri("NUCLEO-F401RE")
    store = demo
    if backend != "embedded":
        store = open_store(request.getfixturevalue("oxigraph_server").url if backend == "oxigraph-server"
                           else request.getfixturevalue("virtuoso_server"))
        store.drop_graphs(store.graph_names())
        store.put_graphs({g: demo.export("ntriples", graph=g).decode()
                          for g in ("https://w3id.org/arachne/graph/runtimes", f401, vww + "/file",
                                    "https://w3id.org/arachne/graph/benchmarks/mlperf-tiny")})  # (the model's type)
    runtimes = graph_facts.device_runtimes(demo, f401)
    assert len({rt for _, rt, _, _ in runtimes}) > 1  # TFLM and ST Edge AI both run it there
    check = feasibility.check_pairs(store, model=vww, device=f401)[0]
    assert check.facts["runtime"] == graph_facts.runtime_for(graph_facts.model_facts(demo, [vww])[vww], runtimes)
    assert check.facts["runtime"].endswith("/st-edge-ai")
    if backend != "embedded":
        store.drop_graphs(store.graph_names())
