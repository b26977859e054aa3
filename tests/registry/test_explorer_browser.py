"""Every explorer page in a real headless Chromium, against the server on loopback; a screenshot of
each page is kept under test-artifacts/screenshots/."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from kg.store import Store
from registry.app import create_app
from registry.cli_serve import BackgroundServer

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
VALID_TD = {
    "@context": "https://www.w3.org/2022/wot/td/v1.1",
    "id": "urn:example:browser-lamp",
    "title": "Browser test lamp",
    "securityDefinitions": {"nosec_sc": {"scheme": "nosec"}},
    "security": "nosec_sc",
    "properties": {"on": {"type": "boolean", "forms": [{"href": "https://lamp.example.com/on"}]}},
}



# A board described the way a vendor would: a TD with Arachne's hardware-profile extension. Its id is
# the board's registry IRI, so the demo's benchmark records (MLPerf Tiny, STM32 zoo) are about it.
BOARD_TD = {
    "@context": ["https://www.w3.org/2022/wot/td/v1.1", "https://w3id.org/arachne/td-context.jsonld"],
    "id": "https://w3id.org/arachne/device/nucleo-l4r5zi",
    "title": "NUCLEO-L4R5ZI kit",
    "securityDefinitions": {"nosec_sc": {"scheme": "nosec"}},
    "security": "nosec_sc",
    "ar:processorCore": "Cortex-M4F", "ar:clockMHz": 120, "ar:ramBytes": "640 KB", "ar:flashBytes": "2 MB",
    "ar:hasFPU": True, "ar:supportsRuntime": ["https://w3id.org/arachne/runtime/tflite-micro"],
    "properties": {"sound": {"title": "microphone level", "type": "number", "readOnly": True,
                             "forms": [{"href": "https://nucleo.example.com/mic"}]}},
}


@pytest.fixture(scope="module")
def server():
    """The demo registry (kg.demo_registry.build) plus one board TD, served on loopback."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (apt-get install chromium, or `make system`)")
    from kg import td
    from kg.demo_registry import build
    from kg.loading import stats

    store = Store()
    build(store, progress=False)
    td.import_td(store, json.dumps(BOARD_TD).encode(), source="nucleo-l4r5zi.td.json")
    with BackgroundServer(create_app(store, {})) as srv:
        srv.stats = stats(store)
        yield srv


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (apt-get install chromium, or `make system`)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture()
def page(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=server.url)
    pg = context.new_page()
    problems: list[str] = []
    pg.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    pg.on("requestfailed", lambda r: problems.append(f"failed request {r.url}"))
    pg.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 500 else None)
    pg.problems = problems
    yield pg
    context.close()
    assert not problems, problems


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def styled(page) -> bool:
    """The stylesheet loaded: the header has its dark background."""
    return page.eval_on_selector("header.top", "e => getComputedStyle(e).backgroundColor") == "rgb(20, 33, 61)"


def test_home_shows_the_counts(page, server):
    page.goto("/")
    assert page.title().startswith("Home")
    cards = page.inner_text(".cards")
    for key, label in (("models", "models"), ("devices", "devices"), ("benchmarks", "benchmark records")):
        assert f"{server.stats[key]:,}\n{label}" in cards.replace(f" {label}", f"\n{label}"), cards
    assert styled(page)
    shot(page, "home")


def test_devices_list_and_detail(page, server):
    page.goto("/ui/devices")
    assert page.locator("table.data tbody tr").count() == server.stats["devices"]
    shot(page, "devices")
    page.click("text=NUCLEO-L4R5ZI kit")
    page.wait_for_selector("h1")
    assert page.inner_text("h1") == "NUCLEO-L4R5ZI kit"
    profile = page.inner_text("table.kv")
    # "640 KB" = 655,360 bytes; binary units, as the CLI prints them (kg.units.byte_size)
    assert "640.0 KiB" in profile and "2.0 MiB" in profile and "Cortex-M4F" in profile
    body = page.inner_text("body")
    assert "Microphone" in body and "TensorFlow Lite" in body
    feasible = page.inner_text("h2:has-text('Feasible models') + table")
    assert "Micro_Speech_Yes_No_3" in feasible
    assert page.locator("a:has-text('Thing Description')").count() == 1
    shot(page, "device")


def test_models_list_and_detail(page, server):
    page.goto("/ui/models")
    assert page.locator("table.data tbody tr").count() == min(100, server.stats["models"])
    assert f"{server.stats['models']}" in page.inner_text("h1 .count")
    shot(page, "models")
    while page.locator("a:text-is('Micro_Speech_Yes_No_3')").count() == 0:  # page through the list
        page.click(".pager >> text=Next")
        page.wait_for_load_state()
    page.click("a:text-is('Micro_Speech_Yes_No_3')")
    page.wait_for_selector("h1")
    assert page.inner_text("h1") == "Micro_Speech_Yes_No_3"
    body = page.inner_text("body")
    assert "CONV_2D" in body and "RAM (tensor arena)" in body and "keyword_spotting" in body
    assert "NUCLEO-L4R5ZI" in page.inner_text("h2:has-text('Feasible devices') + table")
    shot(page, "model")


def test_model_upload_then_its_page(page):
    from kg import demo

    page.goto("/ui/models/upload")
    shot(page, "model-upload")
    hello = next(p for p in demo.model_files() if p.name == "Hello_World.tflite")
    page.set_input_files("input[name=file]", str(hello))
    page.fill("input[name=name]", "hello-world-upload")
    page.fill("input[name=task]", "sine_regression")
    page.click("button[type=submit]")
    page.wait_for_selector("#report")
    assert "Model stored" in page.inner_text("#report"), page.inner_text("#report")
    shot(page, "model-upload-report")
    page.click("#report a")
    page.wait_for_selector("h1")
    assert page.inner_text("h1") == "hello-world-upload"
    assert "FULLY_CONNECTED" in page.inner_text("body")
    shot(page, "model-uploaded")


def test_sparql_page_with_examples(page):
    page.goto("/ui/sparql")
    shot(page, "sparql")
    page.click(".examples >> text=runtime_operators")
    page.wait_for_selector("table.results")
    assert "TensorFlow Lite" in page.inner_text("table.results")
    shot(page, "sparql-results")
    page.fill("textarea[name=query]", "SELECT ?x WHERE { VALUES ?x { 1 2 3 } }")
    page.click("button[type=submit]")
    page.wait_for_selector("table.results")
    assert page.locator("table.results tbody tr").count() == 3
    page.fill("textarea[name=query]", "SELEC nonsense")
    page.click("button[type=submit]")
    page.wait_for_selector("#report")
    assert "failed" in page.inner_text("#report")
    shot(page, "sparql-error")


def test_recommend_page_with_its_chart(page):
    page.goto("/ui/recommend")
    shot(page, "recommend")
    page.select_option("select[name=device]", label="NUCLEO-L4R5ZI kit")
    page.select_option("select[name=task]", value="https://w3id.org/arachne/task/keyword_spotting")
    page.click("button[type=submit]")
    page.wait_for_selector("#results", timeout=60_000)  # the first call trains the latency model
    rows = page.locator("#results table.data tbody tr")
    assert rows.count() >= 3
    assert "Micro_Speech_Yes_No" in page.inner_text("#results table.data")
    assert page.locator("svg.chart circle").count() >= 3  # accuracy versus latency, drawn by the server
    shot(page, "recommend-results")


def test_td_import_with_validation_report_and_things_list(page, tmp_path):
    page.goto("/ui/things/import")
    shot(page, "import")
    page.fill("textarea[name=text]", json.dumps(VALID_TD, indent=2))
    page.click("button[type=submit]")
    page.wait_for_selector("#report")
    assert "stored" in page.inner_text("#report"), page.inner_text("#report")
    shot(page, "import-ok")
    broken = dict(VALID_TD, id="urn:example:broken-lamp")
    del broken["security"]
    path = tmp_path / "broken-td.json"
    path.write_text(json.dumps(broken))
    page.set_input_files("input[name=file]", str(path))
    page.click("button[type=submit]")
    page.wait_for_selector("#report.bad table")
    assert "security" in page.inner_text("#report")
    shot(page, "import-report")
    page.goto("/ui/things")
    shot(page, "things")
    listed = page.inner_text("table.data")
    while page.locator("text=Next 50").count():  # the directory lists 50 Things a page
        page.click("text=Next 50")
        listed += page.inner_text("table.data")
    assert "Browser test lamp" in listed
    assert "broken-lamp" not in listed


def test_missing_pages_are_friendly(page):
    resp = page.goto("/ui/devices/~bm8tc3VjaC1kZXZpY2U")
    assert resp.status == 404
    assert "404" in page.inner_text("h1")
    page.problems.clear()  # the 404 itself is expected
    shot(page, "not-found")


def test_a_malformed_pasted_td_stays_in_the_textarea(page):
    page.goto("/ui/things/import")
    pasted = '{"title": "half a TD", "properties": {'
    page.fill("textarea[name=text]", pasted)
    page.click("button[type=submit]")
    page.wait_for_selector("#report.bad")
    assert "Not JSON" in page.inner_text("#report")
    assert page.input_value("textarea[name=text]") == pasted  # kept, to be fixed, not typed again
    shot(page, "import-malformed")


def test_things_list_links_the_explorer_page_of_each_thing(page, server):
    page.goto("/ui/things")
    while page.locator("a:text-is('NUCLEO-L4R5ZI kit')").count() == 0:
        page.click("text=Next 50")
        page.wait_for_load_state()
    page.click("a:text-is('NUCLEO-L4R5ZI kit')")
    page.wait_for_selector("h1")
    assert page.url.startswith(server.url + "/ui/things/")  # a page, not the raw JSON
    assert page.inner_text("h1") == "NUCLEO-L4R5ZI kit"
    assert "sound" in page.inner_text("body") and "microphone level" in page.inner_text("body")
    shot(page, "thing")
    raw = page.get_attribute("a:text-is('as JSON')", "href")
    assert raw.startswith("/things/")
    page.click("a:text-is('device page')")
    page.wait_for_selector("h1")
    assert page.url.startswith(server.url + "/ui/devices/") and page.inner_text("h1") == "NUCLEO-L4R5ZI kit"
    page.click("a:text-is('Thing Description')")  # and back: the device page links the Thing page too
    page.wait_for_selector("h1")
    assert page.url.startswith(server.url + "/ui/things/")


def test_unknown_device_on_recommend_is_a_404_page(page):
    resp = page.goto("/ui/recommend?device=no-such-board&task=keyword_spotting")
    assert resp.status == 404
    assert "no-such-board" in page.inner_text("#report")
    assert page.locator("select[name=device]").count() == 1  # the form stays, to choose again
    page.problems.clear()  # the 404 itself is expected
    shot(page, "recommend-unknown-device")


PHONE_PAGES = ["/", "/ui/devices", "/ui/devices/nucleo-l4r5zi", "/ui/models", "/ui/models/micro_speech_yes_no_3",
               "/ui/things", "/ui/things/import", "/ui/sparql?example=yes_no_kws", "/ui/models/upload",
               "/ui/recommend?device=https%3A%2F%2Fw3id.org%2Farachne%2Fdevice%2Fnucleo-l4r5zi"
               "&task=https%3A%2F%2Fw3id.org%2Farachne%2Ftask%2Fkeyword_spotting"]


def test_pages_fit_a_390px_phone_screen(browser, server):
    from registry.api import entity_key

    context = browser.new_context(viewport={"width": 390, "height": 844}, base_url=server.url)
    pg = context.new_page()
    try:
        wide = {}
        for path in PHONE_PAGES + ["/ui/things/" + entity_key(BOARD_TD["id"], "thing")]:
            assert pg.goto(path, timeout=120_000).status == 200, path
            width = pg.evaluate("document.scrollingElement.scrollWidth")
            if width > 390:
                wide[path] = width
        assert not wide, f"pages wider than the 390 px screen: {wide}"
        pg.goto("/ui/devices")
        shot(pg, "devices-phone")
    finally:
        context.close()
