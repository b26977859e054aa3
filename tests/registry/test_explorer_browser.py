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
        srv.store = store  # the tests' oracle for the matrix (kg.coverage over the same store)
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


DISCO = "https://w3id.org/arachne/device/disco-f746ng"
VWW = "https://w3id.org/arachne/task/visual_wake_words"


def matrix_cells(page) -> dict:
    """{(device IRI, task IRI): [fits, likely, does not fit]} as the matrix page shows them, from each
    cell's link to its recommendation (and whether the cell is greyed: no candidate)."""
    from urllib.parse import parse_qs, urlsplit

    from kg.names import task_ref
    from registry.api import entity_iri

    shown = page.eval_on_selector_all("table.matrix td.cell a", """els => els.map(a => [a.getAttribute('href'),
        ...['.fits', '.likely', '.nofit'].map(s => +a.querySelector(s).textContent),
        a.parentElement.classList.contains('none')])""")
    cells = {}
    for href, fits, likely, nofit, grey in shown:
        q = parse_qs(urlsplit(href).query)
        cells[(entity_iri(q["device"][0], "device"), task_ref(q["task"][0]))] = ([fits, likely, nofit], grey)
    return cells


def expected_cells(server, **flags) -> dict:
    from kg.coverage import OUTCOMES, board_task_matrix, candidates
    from kg.feasibility import Request

    matrix = board_task_matrix(server.store, Request(**flags))
    return {key: ([c[o] for o in OUTCOMES], not candidates(c, flags.get("verified_only", False)))
            for key, c in matrix.items()}


def test_board_task_matrix_shows_the_counts_and_links_each_recommendation(page, server):
    page.goto("/")
    page.click("header nav >> text=Boards × tasks")
    page.wait_for_selector("table.matrix", timeout=120_000)  # one full check of every pair, then cached
    expected = expected_cells(server)
    assert matrix_cells(page) == expected  # every cell, as kg.coverage counts it
    assert page.locator("table.matrix tbody th").count() == len({device for device, _ in expected})  # a row a board
    fits, likely, _ = expected[(DISCO, VWW)][0]
    assert fits and likely  # the known cell: the measured MLPerf reference fits, others are likely
    link = "a[href*='device=disco-f746ng&task=visual_wake_words']"
    cell = page.locator(f"table.matrix td.cell {link}")
    assert page.locator("table.matrix tbody tr", has=page.locator(link)).locator("th").inner_text() == "DISCO-F746NG"
    shot(page, "matrix")
    cell.click()
    page.wait_for_selector("#results", timeout=60_000)
    assert page.url.startswith(server.url + "/ui/recommend?")
    assert page.inner_text("#candidates .count") == str(fits + likely)  # the cell's candidates, ranked
    assert page.locator("#results table.data tbody tr").count() == min(10, fits + likely)
    assert page.eval_on_selector("select[name=device]", "s => s.selectedOptions[0].textContent") == "DISCO-F746NG"
    assert page.eval_on_selector("select[name=task]", "s => s.value") == VWW

    # On-board sensing and verified only, as the API takes them: other counts, and links that keep them.
    page.goto("/ui/matrix?onboard_sensors=1&verified_only=1")
    page.wait_for_selector("table.matrix", timeout=120_000)
    strict = expected_cells(server, onboard_sensors=True, verified_only=True)
    assert strict[(DISCO, VWW)] != expected[(DISCO, VWW)]  # ARM_MicroNet_VWW_3 needs an external camera
    assert matrix_cells(page) == strict
    assert page.locator("table.matrix td.cell.none").count() == sum(grey for _, grey in strict.values()) > 0
    assert page.is_checked("input[name=onboard_sensors]") and page.is_checked("input[name=verified_only]")
    page.click("table.matrix td.cell a[href*='device=disco-f746ng&task=visual_wake_words']")
    page.wait_for_selector("#results", timeout=60_000)
    assert page.inner_text("#candidates .count") == str(strict[(DISCO, VWW)][0][0])  # fits only
    assert page.is_checked("input[name=onboard_sensors]") and page.is_checked("input[name=verified_only]")
    shot(page, "matrix-recommend-strict")


def pareto_front(points: list[tuple[float, float]]) -> set[int]:
    """Indices of the (accuracy, latency) points no other point dominates (higher accuracy, lower latency)."""
    return {i for i, (a, lat) in enumerate(points)
            if not any(b >= a and m <= lat and (b > a or m < lat) for b, m in points)}


def test_recommend_chart_marks_the_pareto_front_and_measured_versus_predicted(page):
    url = "/ui/recommend?device=disco-f746ng&task=visual_wake_words"
    page.goto(url)
    page.wait_for_selector("svg.chart", timeout=60_000)
    answer = page.request.get(url.replace("/ui", "")).json()["ranking"]  # the same answer, as JSON
    plotted = [r for r in answer if r["accuracy_pct"] is not None and r["latency_ms"]]
    assert len(plotted) == page.locator("svg.chart g.point").count() >= 3
    front = {str(plotted[i]["rank"]) for i in pareto_front([(r["accuracy_pct"], r["latency_ms"]) for r in plotted])}
    assert set(page.eval_on_selector_all("svg.chart g.point.front", "gs => gs.map(g => g.dataset.rank)")) == front
    assert 1 <= len(front) < len(plotted)  # a front that leaves some model out
    assert page.locator("svg.chart g.point.front circle.ring").count() == len(front)
    stairs = page.get_attribute("svg.chart polyline.pareto", "points").split()
    assert len(stairs) == 2 * len(front) - 1  # a staircase through the front
    predicted = {str(r["rank"]) for r in plotted if r["latency_provenance"] == "predicted"}
    assert predicted and len(predicted) < len(plotted)  # this pair has both: measured on the board and predicted
    ranks = "gs => gs.map(g => g.dataset.rank)"
    assert set(page.eval_on_selector_all("svg.chart g.point.predicted", ranks)) == predicted
    fill = "g => getComputedStyle(g.querySelector('circle:not(.ring)')).fill"
    assert page.eval_on_selector("svg.chart g.point.measured", fill) == "rgb(31, 111, 235)"  # filled
    assert page.eval_on_selector("svg.chart g.point.predicted", fill) == "rgb(255, 255, 255)"  # hollow
    legend = page.inner_text("ul.legend")
    assert "measured" in legend and "predicted" in legend and "Pareto front" in legend
    shot(page, "recommend-pareto")


def test_chart_draws_a_predicted_latency_with_its_interval(page, server):
    """The ranker's rows may carry a 90 % interval for a predicted latency: it is drawn as an error
    bar around the hollow point, and the legend says so (the chart function on rows as /recommend gives them)."""
    from registry.explorer import LATENCY_INTERVAL, chart_points, scatter_svg

    rows = [{"rank": 1, "name": "fast-predicted", "model": "urn:m:1", "accuracy_pct": 90.0, "latency_ms": 12.0,
             "latency_provenance": "predicted", "accuracy_provenance": "reported", LATENCY_INTERVAL: [5.0, 30.0]},
            {"rank": 2, "name": "measured", "model": "urn:m:2", "accuracy_pct": 85.0, "latency_ms": 3.0,
             "latency_provenance": "measured", "accuracy_provenance": "measured"},
            {"rank": 3, "name": "slow-predicted", "model": "urn:m:3", "accuracy_pct": 80.0, "latency_ms": 40.0,
             "latency_provenance": "predicted", "accuracy_provenance": "reported"}]
    page.set_content(f'<link rel="stylesheet" href="{server.url}/static/arachne.css">'
                     f"{scatter_svg(chart_points(rows))}")
    bar = page.locator("svg.chart g.point[data-rank='1'] g.interval line").first.bounding_box()
    dot = page.locator("svg.chart g.point[data-rank='1'] circle:not(.ring)").bounding_box()
    assert bar["x"] < dot["x"] and bar["x"] + bar["width"] > dot["x"] + dot["width"]  # around the estimate
    assert page.locator("svg.chart g.point.predicted").count() == 2  # hollow, with or without a bar
    assert page.locator("svg.chart g.point[data-rank='3'] g.interval").count() == 0  # no interval given: no bar
    assert page.locator("svg.chart g.point[data-rank='2'].measured g.interval").count() == 0
    assert "90 % interval" in page.inner_text("ul.legend")
    ranks = page.eval_on_selector_all("svg.chart g.point.front", "gs => gs.map(g => g.dataset.rank)")
    assert sorted(ranks) == ["1", "2"]  # rank 3 is slower and less accurate than rank 1


PHONE_PAGES = ["/", "/ui/devices", "/ui/devices/nucleo-l4r5zi", "/ui/models", "/ui/models/micro_speech_yes_no_3",
               "/ui/things", "/ui/things/import", "/ui/sparql?example=yes_no_kws", "/ui/models/upload",
               "/ui/recommend?device=https%3A%2F%2Fw3id.org%2Farachne%2Fdevice%2Fnucleo-l4r5zi"
               "&task=https%3A%2F%2Fw3id.org%2Farachne%2Ftask%2Fkeyword_spotting",
               "/ui/matrix", "/ui/recommend?device=disco-f746ng&task=visual_wake_words"]


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
