"""The TinyML paper's graph (Ren et al.) loads and its three example queries,
asked in Arachne's vocabulary, return the rows its data implies."""
from pathlib import Path

import pytest

from kg.loading import init_store, load_files
from kg.store import Store

QUERIES = Path(__file__).resolve().parents[2] / "kg" / "queries" / "examples"


@pytest.fixture(scope="module")
def ren_store(shared):
    store = Store()
    init_store(store)
    load_files(store, sorted((shared / "ren-kg").glob("*.ttl")))
    return store


def ask(store, name):
    return store.select((QUERIES / f"{name}.rq").read_text())


def test_boards_with_accelerometer_gyroscope_and_enough_memory(ren_store):
    # RAM >= 116 kB and flash >= 531 kB, with accelerometer + gyroscope:
    # Nano 33 BLE (172/628) and the TinyML kit (187/785). Syntiant (25 kB RAM),
    # SSI web (86 kB) and PyBadge/Adafruit kit (no gyroscope) are out.
    rows = ask(ren_store, "boards_with_imu").dicts()
    assert [(r["title"], r["ramBytes"], r["flashBytes"]) for r in rows] == [
        ("Arduino-Nano-BLE-33-Tinyml-Kit_1", 187000, 785000),
        ("Arduino-Nano-BLE-33_1", 172000, 628000),
    ]


def test_camera_networks_within_127kB_ram_and_576kB_flash(ren_store):
    # Camera models: Person_Detection (94.128/236.072 kB), Visual_Alarm_Clock
    # (116.48/531.623 kB) fit; ARM_MicroNet_VWW_3 needs 206.976 kB RAM.
    rows = ask(ren_store, "camera_models_small").dicts()
    assert [(r["name"], r["arenaBytes"], r["modelBytes"]) for r in rows] == [
        ("Person_Detection", 94128, 236072),
        ("Visual_Alarm_Clock", 116480, 531623),
    ]


def test_yes_no_keyword_spotting_by_accuracy(ren_store):
    rows = ask(ren_store, "yes_no_kws").dicts()
    assert [(r["name"], r["top1"]) for r in rows] == [
        ("Micro_Speech_Yes_No_3", 93.2),
        ("Micro_Speech_Yes_No_1", 92.1),
        ("Micro_Speech_Yes_No_4", 83.0),
        ("Micro_Speech_Yes_No_2", 82.3),
    ]


def test_all_23_models_and_6_boards_are_visible_in_our_terms(ren_store):
    from kg.loading import stats

    s = stats(ren_store)
    assert s["models"] == 23
    assert s["devices"] == 6
