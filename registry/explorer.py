"""The web explorer: server-rendered pages (Jinja templates, plain CSS, no JavaScript build, no CDN)
over the same functions as the JSON API: devices, models, the board x task matrix, SPARQL,
recommendations, TD import."""
from __future__ import annotations

import json
import math
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlencode

from flask import Blueprint, Flask, Response, abort, render_template, request
from markupsafe import Markup, escape
from rdflib import URIRef

from kg.coverage import board_task_matrix, candidates
from kg.errors import InputError
from kg.feasibility import Request
from kg.units import byte_size
from ranker.aggregation import pareto_fronts
from registry import api
from registry.problems import ProblemError
from registry.state import registry, require_write_access

# Templates and static files are the app's own (registry/templates, registry/static).
bp = Blueprint("explorer", __name__)

EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "kg" / "queries" / "examples"
SHORT = {
    "https://w3id.org/arachne#": "ar:",
    "https://w3id.org/arachne/": "arachne:",
    "https://schema.org/": "schema:",
    "https://www.w3.org/2019/wot/td#": "td:",
    "http://www.w3.org/ns/sosa/": "sosa:",
    "http://www.w3.org/ns/ssn/": "ssn:",
    "http://www.w3.org/1999/02/22-rdf-syntax-ns#": "rdf:",
    "http://www.w3.org/2000/01/rdf-schema#": "rdfs:",
    "http://www.w3.org/2001/XMLSchema#": "xsd:",
    "http://tinyml-schema.org/": "tinyml:",
}


# -- template helpers ------------------------------------------------------------------------------
def short(value) -> str:
    """Compact an IRI with the usual prefixes."""
    text = "" if value is None else str(value)
    for ns, prefix in SHORT.items():
        if text.startswith(ns):
            return prefix + text[len(ns):]
    return text


NICE = {"ramBytes": "RAM", "flashBytes": "Flash", "clockMHz": "Clock", "processorCore": "Processor core",
        "hasFPU": "Floating-point unit", "accelerator": "ML accelerator"}


def nice(iri) -> str:
    """A property's name for people: known Arachne terms spelt out, else the compact IRI."""
    text = short(iri)
    return NICE.get(text[3:], text) if text.startswith("ar:") else text


def fmt_bytes(value) -> str:
    """Bytes in binary units, as the CLI prints them (kg.units.byte_size)."""
    return byte_size(value) or "–"


def fmt_num(value, digits: int = 1) -> str:
    if value in (None, ""):
        return "–"
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def fmt_value(value, unit: str | None = None) -> str:
    """A property value for people: bytes as KiB/MiB, numbers grouped, IRIs compacted."""
    if unit == "byte":
        return fmt_bytes(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return fmt_num(value) + (f" {unit}" if unit else "")
    return short(value)


def device_url(iri: str) -> str:
    # built by hand, not url_for: list pages call this hundreds of times (keys are URL-safe)
    return f"{request.script_root}/ui/devices/{api.entity_key(iri, 'device')}"


def model_url(iri: str) -> str:
    return f"{request.script_root}/ui/models/{api.entity_key(iri, 'model')}"


def thing_url(thing_id: str) -> str:
    return f"{request.script_root}/ui/things/{api.entity_key(thing_id, 'thing')}"


@lru_cache(maxsize=1)
def example_queries() -> list[dict]:
    """kg/queries/examples/*.rq, titled by the first sentence of their leading comment."""
    out = []
    for path in sorted(EXAMPLES_DIR.glob("*.rq")):
        text = path.read_text(encoding="utf-8")
        lead = []
        for line in text.splitlines():
            if not line.startswith("#"):
                break
            lead.append(line.lstrip("# ").strip())
        comment = " ".join(lead)
        title = comment.split(". ")[0].rstrip(".") if comment else path.stem
        out.append({"name": path.stem, "title": title, "text": text})
    return out


# The 90 % interval of a predicted latency, [low, high] ms, when the ranker gives one
# (ranker.recommend.RankedModel; absent today: predicted points are then drawn without a bar).
LATENCY_INTERVAL = "latency_interval90_ms"


def chart_points(ranking: list) -> list[dict]:
    """The ranked rows the chart can place (an accuracy and a positive latency), each with
    whether a figure is predicted, the latency's 90 % interval when given, and whether it is on
    the Pareto front of the plotted rows (ranker.aggregation.pareto_fronts: higher accuracy,
    lower latency; front 1 = no other row is at least as good on both and better on one)."""
    points = []
    for item in ranking:  # RankedModel rows as JSON (ranker.recommend)
        acc, lat = item.get("accuracy_pct"), item.get("latency_ms")
        if acc is None or lat is None or lat <= 0:
            continue
        low, high = (item.get(LATENCY_INTERVAL) or (None, None))[:2]
        interval = (float(low), float(high)) if low is not None and high is not None and 0 < low <= high else None
        points.append({"name": item.get("name") or short(item.get("model")), "rank": item.get("rank"),
                       "accuracy": float(acc), "latency": float(lat), "interval": interval,
                       "accuracy_provenance": item.get("accuracy_provenance") or "unknown",
                       "latency_provenance": item.get("latency_provenance") or "unknown",
                       # filled only for a latency measured on this board (and an accuracy not predicted)
                       "predicted": item.get("latency_provenance") != "measured"
                                    or item.get("accuracy_provenance") == "predicted"})
    if points:
        ids = [str(i) for i in range(len(points))]
        fronts = pareto_fronts({"accuracy": [p["accuracy"] for p in points], "latency": [p["latency"] for p in points]},
                               ids, {"latency": "min"}).extra["front"]
        for i, p in zip(ids, points):
            p["front"] = fronts[i] == 1
    return points


def _legend_mark(shape: str) -> str:
    """A small SVG of one legend entry, drawn with the chart's own classes."""
    inner = {"measured": '<g class="point measured"><circle cx="14" cy="8" r="5"/></g>',
             "predicted": '<g class="point predicted"><circle cx="14" cy="8" r="5"/></g>',
             "interval": '<g class="interval"><line x1="3" x2="25" y1="8" y2="8"/>'
                         '<line x1="3" x2="3" y1="4" y2="12"/><line x1="25" x2="25" y1="4" y2="12"/></g>'
                         '<g class="point predicted"><circle cx="14" cy="8" r="4"/></g>',
             "front": '<polyline class="pareto" points="1,13 10,13 10,6 27,6"/>'
                      '<circle class="ring" cx="19" cy="6" r="4"/>'}
    return f'<svg class="mark" viewBox="0 0 28 16" width="28" height="16" aria-hidden="true">{inner[shape]}</svg>'


def scatter_svg(points: list[dict], width: int = 640, height: int = 360) -> Markup:
    """Accuracy (y, %) against latency (x, ms; log scale when it spans a decade) as inline SVG,
    with a legend: latency measured on the board (filled) or predicted (hollow, with its 90 %
    interval as a bar when known), and the Pareto front as a staircase (see chart_points)."""
    if not points:
        return Markup('<p class="muted">No candidate has both an accuracy and a latency figure to plot.</p>')
    left, right, top, bottom = 64, 24, 20, 48
    w, h = width - left - right, height - top - bottom
    lats = [v for p in points for v in (p["latency"], *(p["interval"] or ()))]
    accs = [p["accuracy"] for p in points]
    log = max(lats) / min(lats) >= 10
    fx = math.log10 if log else (lambda v: v)
    x0, x1 = fx(min(lats)), fx(max(lats))
    if x1 - x0 < 1e-9:
        x0, x1 = x0 - 1, x1 + 1
    pad = (x1 - x0) * 0.06
    x0, x1 = x0 - pad, x1 + pad
    y0, y1 = min(accs), max(accs)
    if y1 - y0 < 1e-9:
        y0, y1 = y0 - 1, y1 + 1
    ypad = (y1 - y0) * 0.08
    y0, y1 = y0 - ypad, y1 + ypad

    def sx(v):
        return left + (fx(v) - x0) / (x1 - x0) * w

    def sy(v):
        return top + (1 - (v - y0) / (y1 - y0)) * h

    parts = [f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
             f'xmlns="http://www.w3.org/2000/svg" aria-label="accuracy versus latency">',
             f'<rect x="{left}" y="{top}" width="{w}" height="{h}" class="plot"/>']
    # y ticks: 5 evenly spaced
    for i in range(6):
        v = y0 + (y1 - y0) * i / 5
        y = sy(v)
        parts.append(f'<line x1="{left}" x2="{left + w}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                     f'<text x="{left - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">{v:.1f}</text>')
    # x ticks: decades on a log axis, else 5 even steps
    if log:
        ticks = [10 ** e for e in range(math.floor(x0), math.ceil(x1) + 1) if x0 <= e <= x1]
        for m in (2, 5):
            ticks += [m * 10 ** e for e in range(math.floor(x0), math.ceil(x1) + 1) if x0 <= math.log10(m * 10 ** e) <= x1]
    else:
        ticks = [x0 + (x1 - x0) * i / 5 for i in range(6)]
    for v in sorted(ticks):
        x = sx(v)
        label = f"{v:g}" if log else f"{v:.1f}"
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + h}" class="grid"/>'
                     f'<text x="{x:.1f}" y="{top + h + 16}" class="tick" text-anchor="middle">{label}</text>')
    parts.append(f'<text x="{left + w / 2:.1f}" y="{height - 8}" class="axis" text-anchor="middle">'
                 f'latency per inference (ms{", log scale" if log else ""})</text>')
    parts.append(f'<text transform="translate(16 {top + h / 2:.1f}) rotate(-90)" class="axis" text-anchor="middle">'
                 f'accuracy (%)</text>')
    # The front as a staircase: from each front point right to the next one's latency, then up to
    # its accuracy; everything below and to the right of it is dominated.
    front = sorted((p for p in points if p["front"]), key=lambda p: (p["latency"], p["accuracy"]))
    stairs = []
    for a, b in zip(front, front[1:] + [None]):
        stairs.append((sx(a["latency"]), sy(a["accuracy"])))
        if b is not None:
            stairs.append((sx(b["latency"]), sy(a["accuracy"])))
    parts.append('<polyline class="pareto" points="' + " ".join(f"{x:.1f},{y:.1f}" for x, y in stairs) + '"/>')
    for p in sorted(points, key=lambda p: -float(p.get("rank") or 0)):  # rank 1 drawn last, on top
        x, y = sx(p["latency"]), sy(p["accuracy"])
        best = str(p.get("rank")) == "1"
        kind = "predicted" if p["predicted"] else "measured"
        tip = (f'{p["name"]}: accuracy {p["accuracy"]:.1f} % ({p["accuracy_provenance"]}), '
               f'latency {p["latency"]:.2f} ms ({p["latency_provenance"]}')
        tip += f', 90 % interval {p["interval"][0]:.2f}–{p["interval"][1]:.2f} ms)' if p["interval"] else ")"
        tip += f'; rank {p.get("rank")}' + ("; on the Pareto front" if p["front"] else "")
        parts.append(f'<g class="point {kind}{" front" if p["front"] else ""}{" best" if best else ""}" '
                     f'data-rank="{escape(p.get("rank"))}" data-name="{escape(p["name"])}">'
                     f'<title>{escape(tip)}</title>')
        if p["interval"]:
            lo, hi = sx(p["interval"][0]), sx(p["interval"][1])
            parts.append(f'<g class="interval"><line x1="{lo:.1f}" x2="{hi:.1f}" y1="{y:.1f}" y2="{y:.1f}"/>'
                         f'<line x1="{lo:.1f}" x2="{lo:.1f}" y1="{y - 4:.1f}" y2="{y + 4:.1f}"/>'
                         f'<line x1="{hi:.1f}" x2="{hi:.1f}" y1="{y - 4:.1f}" y2="{y + 4:.1f}"/></g>')
        r = 7 if best else 5
        if p["front"]:
            parts.append(f'<circle class="ring" cx="{x:.1f}" cy="{y:.1f}" r="{r + 3.5}"/>')
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r}"/>'
                     f'<text x="{x + 8:.1f}" y="{y - 6:.1f}" class="label">{escape(p.get("rank"))}</text></g>')
    parts.append("</svg>")
    legend = []
    if any(not p["predicted"] for p in points):
        legend.append(("measured", "latency measured on this board"))
    if any(p["predicted"] for p in points):
        with_bar = any(p["interval"] for p in points)
        legend.append(("predicted", "predicted latency or accuracy" + ("" if with_bar else " (no interval given)")))
        if with_bar:
            legend.append(("interval", "90 % interval of a predicted latency"))
    legend.append(("front", "Pareto front: no other model is both more accurate and faster"))
    items = "".join(f'<li class="{shape}">{_legend_mark(shape)} {text}</li>' for shape, text in legend)
    return Markup(f'<figure class="chart">{"".join(parts)}<figcaption><ul class="legend">{items}</ul>'
                  f'</figcaption></figure>')


def error_page(code: int, title: str, detail: str | None) -> Response:
    html = render_template("error.html", code=code, title=title, detail=detail)
    return Response(html, code, content_type="text/html; charset=utf-8")


def html(body: str) -> Response:
    return Response(body, 200, content_type="text/html; charset=utf-8")


def cached_page(render, max_age: float = 0.0) -> Response:
    """The page for this URL, rendered once per store generation (or per `max_age` seconds)."""
    return html(registry().cached(("page", request.full_path), render, max_age))


# -- pages -----------------------------------------------------------------------------------------
@bp.get("/")
def home():
    from kg.loading import stats

    def render():
        counts = stats(registry().store)
        try:
            from registry.things import index

            things = len(index())
        except ProblemError:
            things = None
        return render_template("home.html", counts=counts, things=things, examples=example_queries())

    return cached_page(render, api.PAGE_MAX_AGE)


@bp.get("/ui/devices")
def devices_page():
    return cached_page(lambda: render_template("devices.html", devices=api.device_rows()), api.PAGE_MAX_AGE)


@bp.get("/ui/devices/<key>")
def device_page(key: str):
    detail = api.device_detail(api.entity_iri(key, "device"))
    if detail is None:
        abort(404, "no such device")

    def render():
        thing_id = None
        try:
            from registry.things import index

            thing_id = detail["iri"] if detail["iri"] in index() else None
        except ProblemError:
            pass
        return render_template("device.html", d=detail, thing_id=thing_id)

    return cached_page(render)


MODELS_PER_PAGE = 100


@bp.get("/ui/models")
def models_page():
    offset = max(0, request.args.get("offset", 0, type=int))

    def render():
        rows = api.model_rows()
        return render_template("models.html", models=rows[offset:offset + MODELS_PER_PAGE], total=len(rows),
                               offset=offset, limit=MODELS_PER_PAGE)

    return cached_page(render, api.PAGE_MAX_AGE)


@bp.get("/ui/models/<key>")
def model_page(key: str):
    detail = api.model_detail(api.entity_iri(key, "model"))
    if detail is None:
        abort(404, "no such model")
    return cached_page(lambda: render_template("model.html", m=detail))


@bp.route("/ui/models/upload", methods=["GET", "POST"])
def model_upload_page():
    report = None
    if request.method == "POST":
        denied = require_write_access(lambda: None)()
        if denied is not None:
            report = {"ok": False, "title": "Not allowed", "detail": "a valid token is needed to add models", "errors": []}
        else:
            try:
                status, body, location = api.store_uploaded_model(request.files, request.form)
                report = {"ok": True, "title": "Model stored", "detail": body["name"],
                          "link": model_url(body["iri"]), "facts": body["facts"]}
            except ProblemError as exc:
                report = {"ok": False, "title": exc.title, "detail": exc.detail,
                          "errors": exc.extra.get("validationErrors", [])}
    return render_template("model_upload.html", report=report, token_needed=_token_needed())


@bp.get("/ui/sparql")
def sparql_page():
    from registry.sparql_endpoint import run_problem, runner

    examples = example_queries()
    name = request.args.get("example")
    text = request.args.get("query")
    if text is None and name:
        text = next((e["text"] for e in examples if e["name"] == name), None)
    result = error = None
    if text and text.strip():
        from kg.store import results_from_json

        try:
            kind, _fmt, body, capped = runner().run(text, "json", "turtle")
            if kind == "results":
                answer = results_from_json(body)
                if isinstance(answer, bool):
                    result = {"kind": "boolean", "value": answer}
                else:
                    full = capped and len(answer) >= registry().config["SPARQL_ROW_CAP"]
                    result = {"kind": "table", "vars": answer.vars, "rows": answer.rows, "capped": full}
            else:
                result = {"kind": "graph", "text": body.decode("utf-8"), "capped": capped}
        except Exception as exc:  # the endpoint's own mapping, shown on the page (storage failures stay 5xx)
            problem = exc if isinstance(exc, ProblemError) else run_problem(exc)
            if not isinstance(problem, ProblemError):
                raise
            error = problem.detail or problem.title
    return render_template("sparql.html", examples=examples, query=text or (examples[0]["text"] if examples else ""),
                           selected=name, result=result, error=error, ran=bool(text and text.strip()))


def recommend_url(device: str, task: str, flags: dict) -> str:
    """The recommend page of a (device, task) with the request's evidence flags; short names where
    Arachne minted the IRIs (the matrix links 1,000 cells: built by hand, not url_for)."""
    task_key = api.entity_key(task, "task")
    query = urlencode({"device": api.entity_key(device, "device"),
                       "task": task if task_key.startswith("~") else task_key, **flags})
    return f"{request.script_root}/ui/recommend?{query}"


@bp.get("/ui/matrix")
def matrix_page():
    """Boards x tasks: how many of the task's models fit, likely fit or do not fit on each board,
    from one full check of every pair (kg.coverage), with the API's evidence flags."""
    flags = {name: api._flag(request.args, name) for name in ("verified_only", "onboard_sensors")}

    def render():
        cells = board_task_matrix(registry().store, Request(**flags))
        return render_template("matrix.html", devices=api.device_rows(), tasks=api.task_rows(), cells=cells,
                               flags=flags, link_flags={k: 1 for k, on in flags.items() if on})

    return cached_page(render, api.PAGE_MAX_AGE)


@bp.get("/ui/recommend")
def recommend_page():
    params = request.args
    result = error = chart = None
    status = 200
    if params.get("device"):
        try:
            result = api.recommend_json(params)
            points = chart_points(result.get("ranking", []))
            chart = scatter_svg(points)
            result = {**result, "plotted": len(points)}
        except ProblemError as exc:  # an unknown device is a 404 page, a bad budget a 400 one
            error, status = exc.detail or exc.title, exc.status
            for item in exc.extra.get("validationErrors", []):
                error += f" — {item['field']}: {item['description']}"
        except InputError as exc:
            error, status = exc.one_line(), 400
    body = render_template("recommend.html", devices=api.device_rows(), tasks=api.task_rows(), params=params,
                           result=result, error=error, chart=chart)
    return Response(body, status, content_type="text/html; charset=utf-8")


def thing_summary(thing_id: str) -> dict | None:
    """A stored TD as the explorer shows it: title, type, its interactions and the parsed document."""
    from registry.things import read_td

    raw = read_td(thing_id)
    if raw is None:
        return None
    try:
        doc = json.loads(raw)
    except ValueError:
        doc = {}
    if not isinstance(doc, dict):
        doc = {}
    kinds = {k: doc.get(k) if isinstance(doc.get(k), dict) else {} for k in ("properties", "actions", "events")}
    types = doc.get("@type", [])
    return {"id": thing_id, "title": doc.get("title", ""), "type": types if isinstance(types, list) else [types],
            "description": doc.get("description", ""), **kinds, "doc": doc}


@bp.get("/ui/things")
def things_page():
    from registry.things import index

    try:
        things = index()
    except ProblemError as exc:
        return render_template("things.html", things=[], error=exc.detail, total=0, offset=0, limit=50)
    offset = max(0, request.args.get("offset", 0, type=int))
    limit = 50

    def render():
        rows = [t for t in map(thing_summary, things.page(offset, limit)) if t is not None]
        return render_template("things.html", things=rows, error=None, total=len(things), offset=offset, limit=limit)

    return cached_page(render)


@bp.get("/ui/things/<key>")
def thing_page(key: str):
    thing_id = api.entity_iri(key, "thing")
    t = thing_summary(thing_id)
    if t is None:
        abort(404, "no such Thing Description")

    def render():
        is_device = registry().store.query(f"ASK {{ <{thing_id}> a <https://w3id.org/arachne#Device> }}")
        return render_template("thing.html", t=t, is_device=is_device,
                               text=json.dumps(t["doc"], indent=2, ensure_ascii=False))

    return cached_page(render)


@bp.route("/ui/things/import", methods=["GET", "POST"])
def import_page():
    report = None
    if request.method == "POST":
        report = _import_uploaded_td()
    text = request.form.get("text", "") if report and not report["ok"] else ""  # keep what was pasted, to fix it
    return render_template("import.html", report=report, text=text, token_needed=_token_needed())


def _import_uploaded_td() -> dict:
    """Validate and store a TD from the upload form; the report the page shows."""
    import uuid

    from registry import things

    denied = require_write_access(lambda: None)()
    if denied is not None:
        return {"ok": False, "title": "Not allowed", "detail": "a valid token is needed to import TDs", "errors": []}
    upload = request.files.get("file")
    raw = upload.read() if upload is not None and upload.filename else request.form.get("text", "").encode("utf-8")
    source = upload.filename if upload is not None and upload.filename else "pasted TD"
    if not raw.strip():
        return {"ok": False, "title": "Nothing to import", "detail": "choose a file or paste a TD", "errors": []}
    try:
        doc = json.loads(things._strip_bom(raw).decode("utf-8"))
        if not isinstance(doc, dict):
            raise ValueError("a TD is a JSON object")
    except (ValueError, UnicodeDecodeError) as exc:
        return {"ok": False, "title": "Not JSON", "detail": f"{source}: {exc}",
                "errors": [{"field": "(root)", "description": f"not a JSON object: {exc}"}]}
    thing_id = doc.get("id") if isinstance(doc.get("id"), str) and doc.get("id") else f"urn:uuid:{uuid.uuid4()}"
    try:
        created = things.put_thing(thing_id, raw, doc, source=source)
    except ProblemError as exc:
        return {"ok": False, "title": exc.title, "detail": exc.detail, "errors": exc.extra.get("validationErrors", [])}
    except InputError as exc:
        return {"ok": False, "title": "Invalid Thing Description", "detail": exc.one_line(),
                "errors": [{"field": f or "(root)", "description": m} for f, m in exc.problems]}
    return {"ok": True, "title": "Thing Description stored" if created else "Thing Description replaced",
            "detail": f"{source} is valid and stored as {thing_id}", "id": thing_id,
            "link": thing_url(thing_id)}


def _token_needed() -> bool:
    return bool(registry().config.get("ARACHNE_TOKEN"))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.jinja_env.filters.update(short=short, nice=nice, bytes=fmt_bytes, num=fmt_num, value=fmt_value)
    app.jinja_env.globals.update(device_url=device_url, model_url=model_url, thing_url=thing_url,
                                 recommend_url=recommend_url, candidates=candidates)
    app.jinja_env.tests["iri"] = lambda term: isinstance(term, URIRef)
