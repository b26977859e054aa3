"""Feasible model-device pairs on the demo registry, against hand-computed expectations,
and the SPARQL answer against the SHACL-SPARQL check on every pair."""
import subprocess
import sys

import pytest

from kg import feasibility
from kg.demo_registry import build
from kg.errors import InputError
from kg.feasibility import Request
from kg.ids import device_iri, model_iri
from kg.store import Store

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
    # below 141 KiB and a file below 531 KiB (+ ~49 KiB TFLM code < 1 MiB), uses only
    # TFLM operators, so the only exclusions are the three camera models.
    # Person_Detection is also refused by TFLM, so its RAM is unknown.
    checks = feasibility.check_pairs(demo, device=NANO)
    tiny = [c for c in checks if c.name in TINYML]
    assert len(tiny) == 23
    assert names(c for c in tiny if c.feasible) == TINYML - CAMERA_MODELS
    why = {c.name: " ".join(c.reasons) for c in tiny if not c.feasible}
    assert set(why) == CAMERA_MODELS
    assert "Camera" in why["ARM_MicroNet_VWW_3"]
    assert "RAM unknown" in why["Person_Detection"]


def test_which_boards_can_run_arm_micronet_vww_3(demo):
    # Needs a camera, 136.9 KiB arena and 529.7 KiB of model + a runtime running all its
    # operators. Boards with a camera in the demo: the Arduino TinyML kit (256 KiB RAM, 1 MiB
    # flash, TFLM) and the STM32N6570-DK (ST Edge AI); both fit.
    ok, excluded = feasibility.feasible_devices(demo, model_iri("ARM_MicroNet_VWW_3"))
    assert {c.device for c in ok} == {device_iri("Arduino-Nano-33-BLE-Sense-TinyML-Kit"), device_iri("STM32N6570-DK")}
    nano = next(c for c in excluded if c.device == NANO)
    assert any("Camera" in r for r in nano.reasons)


def test_reasons_carry_numbers(demo):
    request = Request(device=NANO, reserved_ram_bytes=200 * 1024)
    checks = feasibility.check_pairs(demo, model=model_iri("ARM_CNN_Small_keyword_spotting"), device=NANO, request=request)
    assert checks[0].feasible  # 12.6 + 200 <= 256 KiB
    request = Request(device=NANO, reserved_ram_bytes=250 * 1024)
    checks = feasibility.check_pairs(demo, model=model_iri("ARM_CNN_Small_keyword_spotting"), device=NANO, request=request)
    assert checks[0].reasons == ["RAM: needs 12.6 KiB + 250.0 KiB reserved, device has 256.0 KiB"]


def test_sparql_shacl_and_fast_path_agree_on_every_pair(demo):
    checks = feasibility.check_pairs(demo)
    devices = sorted({c.device for c in checks})
    models = sorted({c.model for c in checks})
    assert len(devices) >= 50 and len(models) >= 300
    verdicts = {(c.model, c.device): c.feasible for c in checks}
    assert sum(verdicts.values()) > 100  # plenty of feasible pairs, not a trivially empty answer
    # The fast one-device query agrees with the full checks for every device.
    for device in devices:
        fast = feasibility.fast_feasible_models(demo, Request(device=device))
        assert fast == {m for (m, d), ok in verdicts.items() if d == device and ok}, device
    # The SHACL-SPARQL shapes, evaluated on every pair in the store, agree with the SPARQL checks.
    shacl = feasibility.check_pairs_shacl_bulk(demo, list(verdicts))
    disagree = [(pair, ok, shacl[pair]) for pair, ok in verdicts.items() if (not shacl[pair]) != ok]
    assert not disagree, disagree[:5]
    # pyshacl itself, one pair at a time, gives the same messages on a spread of pairs.
    sample = [c for c in checks if c.name in TINYML and c.device in (NANO, device_iri("Syntiant-TinyML"))]
    sample += checks[:: max(1, len(checks) // 40)]
    for c in sample:
        assert feasibility.check_pair_shacl(demo, c.model, c.device) == shacl[(c.model, c.device)], (c.model, c.device)


def test_shacl_check_reports_each_violation_with_numbers(demo):
    problems = feasibility.check_pair_shacl(demo, model_iri("ARM_MicroNet_VWW_3"), device_iri("Syntiant-TinyML"))
    # Syntiant TinyML board: 25 kB of RAM free (the TinyML graph's figure) = 24.4 KiB.
    assert "RAM: needs 136.9 KiB (+ 0 KiB reserved), device has 24.4 KiB" in problems
    assert any("Camera" in p for p in problems)


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

    rows = json.loads(proc.stdout)
    assert rows and all(not r["feasible"] for r in rows if r["name"] == "ARM_MicroNet_VWW_3")
    proc = subprocess.run([sys.executable, "-m", "registry.cli", "--store", str(store), "check",
                           "ARM_MicroNet_VWW_3", "arduino-nano-33-ble-sense"], capture_output=True, text=True)
    assert proc.returncode == 2 and "Camera" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "registry.cli", "--store", str(store), "reindex"],
                          capture_output=True, text=True, check=True)
    assert "indexed 22 models" in proc.stdout  # the models with a RAM figure (the 22 TFLM loads)
    proc = subprocess.run([sys.executable, "-m", "registry.cli", "--store", str(store), "feasible", "--device",
                           "arduino-nano-33-ble-sense", "--json"], capture_output=True, text=True, check=True)
    full = {r["model"] for r in json.loads(proc.stdout)}
    assert model_iri("Micro_Speech_Yes_No_1") in full and model_iri("ARM_MicroNet_VWW_3") not in full
    proc = subprocess.run([sys.executable, "-m", "registry.cli", "--store", str(store), "feasible", "--device",
                           "arduino-nano-33-ble-sense", "--ids"], capture_output=True, text=True, check=True)
    assert set(proc.stdout.split()) == full  # the indexed answer, same models

