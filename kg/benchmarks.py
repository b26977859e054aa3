"""Measured benchmarks: importers for MLPerf Tiny results, the STM32 model zoo tables and
our own CSV format, into ar:BenchmarkRecord graphs; and the board catalogue built from those
tables (the boards and runtimes every importer knows are in kg.boards).

Our CSV format (`--format csv`), one record per row, header required:
    model        model name (minted with kg.ids.model_iri), a model IRI, or sha256:<hex> of a
                 model file imported before (resolve_files finds its model)    required
    source       where the figure comes from; names the record's graph        required
    device       board canonical name (kg.ids.device_iri) or a device IRI     required, except on
                 a fine-tuning result
    target_dataset   a fine-tuning result (model x dataset -> accuracy, as in transfer tables):
                 the dataset the model was fine-tuned and evaluated on; such a row may leave
                 device empty, not accuracy_pct
    runtime      runtime family key, e.g. tflite-micro, st-edge-ai
    runtime_version   the runtime as the source names it
    latency_ms, energy_uj, ram_bytes, flash_bytes, accuracy_pct (0-100), quality_metric,
    clock_mhz, date
    model_title, task, dataset, format (tflite|onnx|keras),
    quantization (int8|uint8|float32|float16|hybrid|other text)   describe the model node
    family, params, macs (non-negative whole numbers), pretrain_dataset (the dataset the
    model was trained on before any fine-tuning: the same ar:trainedOn as `dataset`)
                 describe the model with provenance "reported": an ar:Provenance on the
                 model names the row's source. A model whose description was derived from
                 its file (ar:sourceFile) keeps its file's parameters and MACs
                 (BenchmarkImport.keep_file_figures); one model has one value per column.
Empty cells mean "not measured". Units are the canonical ones (bytes, ms, uJ, MHz, %).

Graphs: one named graph per source (https://w3id.org/arachne/graph/benchmarks/<source>),
holding its records, so that re-importing a source's records, under any file name, replaces
what that source held before, in one transaction. The repositories the built-in importers
read are one source each, whatever path inside them a row cites: every
"mlcommons/tiny_results..." source is the table mlperf-tiny, every
"STMicroelectronics/stm32ai-modelzoo..." source stm32-zoo, the graphs `--format
mlperf-tiny` and `--format stm32-zoo` fill (so their tables exported with write_csv land in
the same graph). A model's node (name, task, reported figures) goes into the first graph
whose records name it.
"""
from __future__ import annotations

import csv
import hashlib
import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from rdflib import RDF, RDFS, XSD, Graph, Literal, Namespace, URIRef

from kg.errors import InputError
from kg.ids import AR, BASE, benchmark_iri, dataset_iri, device_iri, model_iri, runtime_iri, slug, task_iri
from kg.boards import KIB, KNOWN_BOARDS, core_name, has_fpu, runtime_family, runtime_label  # noqa: F401 (re-exported)
from kg.models import add_metric

SCHEMA = Namespace("https://schema.org/")
GRAPH_BASE = BASE + "graph/benchmarks/"
FORMATS = ("mlperf-tiny", "stm32-zoo", "csv")

CSV_COLUMNS = [
    "model", "device", "runtime", "runtime_version", "latency_ms", "energy_uj", "ram_bytes", "flash_bytes",
    "accuracy_pct", "quality_metric", "clock_mhz", "source", "date",
    "model_title", "family", "task", "dataset", "format", "quantization",
]
# Accepted beside CSV_COLUMNS (write_csv writes CSV_COLUMNS: the device benchmarks' table).
OPTIONAL_COLUMNS = ["target_dataset", "params", "macs", "pretrain_dataset"]
REQUIRED = ("model", "source")  # and device, or target_dataset on a fine-tuning result
QUANT = {"int8": AR.Int8, "uint8": AR.UInt8, "float32": AR.Float32, "float16": AR.Float16, "hybrid": AR.Hybrid}
FORMAT_TERMS = {"tflite": AR.TFLite, "onnx": AR.ONNX, "keras": AR.Keras}
# Model facts a table reports (provenance "reported"): model-fact key -> property.
REPORTED = {"params": AR.parameterCount, "macs": AR.macs, "family": AR.family, "dataset": AR.trainedOn}
_KNOWN_SOURCES = (("mlcommons/tiny_results", "mlperf-tiny"), ("STMicroelectronics/stm32ai-modelzoo", "stm32-zoo"))


def source_table(source: str) -> str:
    """The table (named graph) a record's source belongs to: the source itself, except the
    repositories the built-in importers read (see the module docstring)."""
    return next((table for prefix, table in _KNOWN_SOURCES if source.startswith(prefix)), source)


def graph_name(table: str) -> str:
    """IRI of the named graph that holds one benchmark table."""
    return GRAPH_BASE + _table_slug(table)


def _table_slug(table: str) -> str:
    """A long source name is cut and keeps a digest of the whole, so two sources never share
    a graph by accident."""
    name = slug(table)
    return name if len(name) <= 80 else f"{name[:60]}-{_digest(table)}"


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:10]


# ---------------------------------------------------------------------------
# Small parsing helpers
# ---------------------------------------------------------------------------
def _num(value: str | None) -> float | None:
    if value is None:
        return None
    value = str(value).strip()
    if not value or value.upper() in ("NA", "N/A", "NONE", "NAN"):
        return None
    try:
        x = float(value)
    except ValueError:
        return None
    return x if math.isfinite(x) else None


def _kib_bytes(value: str | None) -> int | None:
    x = _num(value)
    return int(round(x * KIB)) if x is not None else None


def read_rows(path: str | Path, required: Iterable[str], optional: Iterable[str] = ()) -> list[dict]:
    """The rows of a UTF-8 CSV file with a header holding every `required` column; InputError
    naming the file and line otherwise (what every table reader of Arachne accepts)."""
    path, required, optional = Path(path), tuple(required), tuple(optional)
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            header = reader.fieldnames or []
            missing = [c for c in required if c not in header]
            if missing:
                hint = f" (optional: {', '.join(optional)})" if optional else ""
                raise InputError(str(path), "line 1", f"missing column(s) {', '.join(missing)}; expected a header with "
                                 f"{', '.join(required)}{hint}, found {', '.join(header) or 'nothing'}")
            return list(reader)
    except FileNotFoundError as exc:
        raise InputError(str(path), None, "file not found") from exc
    except OSError as exc:
        raise InputError(str(path), None, f"cannot read the file ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise InputError(str(path), None, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except csv.Error as exc:
        raise InputError(str(path), None, f"not a valid CSV file: {exc}") from exc


# ---------------------------------------------------------------------------
# Result of an import
# ---------------------------------------------------------------------------
@dataclass
class BenchmarkImport:
    """Records (our CSV columns as dicts), model stubs, skipped rows and the named graphs.
    A record's "table" (our CSV: its source's, source_table) picks its graph; `table` is the
    graph of records without one (the built-in importers')."""

    table: str
    records: list[dict] = field(default_factory=list)
    models: dict[str, dict] = field(default_factory=dict)  # model key -> facts
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (source line, reason)

    def tables(self) -> dict[str, list[dict]]:
        """{table: its records}, in the order the records first name them."""
        out: dict[str, list[dict]] = {}
        for rec in self.records:
            out.setdefault(rec.get("table") or self.table, []).append(rec)
        return out or {self.table: []}

    @property
    def graph_names(self) -> list[str]:
        return [graph_name(t) for t in self.tables()]

    def graphs(self) -> dict[str, Graph]:
        """{named graph IRI: graph} ready for Store.put_graphs; a model's node goes into the
        first graph whose records name it."""
        out, placed = {}, set()
        for table, records in self.tables().items():
            keys = [k for k in dict.fromkeys(r["model"] for r in records) if k in self.models and k not in placed]
            placed.update(keys)
            out[graph_name(table)] = records_graph(records, {k: self.models[k] for k in keys}, table)
        return out

    def keep_file_figures(self, store) -> dict[str, list[str]]:
        """Leave out the reported parameters / MACs of the models whose description derived
        them from the model file (a graph with ar:sourceFile states them): file-derived
        figures win. Returns {model IRI: ["params" and/or "macs"]} left out."""
        asked = {str(_iri(k, model_iri)): k for k, m in self.models.items()
                 if m.get("params") is not None or m.get("macs") is not None}
        if not asked:
            return {}
        rows = store.select(f"""PREFIX ar: <{AR}>
            SELECT DISTINCT ?m ?p WHERE {{
              VALUES ?m {{ {" ".join(f"<{m}>" for m in asked)} }} VALUES ?p {{ ar:parameterCount ar:macs }}
              GRAPH ?g {{ ?m ar:sourceFile ?file ; ?p ?value }} }}""").values()
        left_out: dict[str, list[str]] = {}
        for model, prop in sorted(rows):
            col = "params" if prop == str(AR.parameterCount) else "macs"
            self.models[asked[model]][col] = None
            left_out.setdefault(model, []).append(col)
        return left_out


# ---------------------------------------------------------------------------
# MLPerf Tiny
# ---------------------------------------------------------------------------
_MLPERF_TASKS = {
    "kws": ("keyword_spotting", "speech_commands_v2"),
    "vww": ("visual_wake_words", "visual_wake_words"),
    "ic": ("image_classification", "cifar10"),
    "ad": ("anomaly_detection", "toyadmos_toycar"),
    "sww": ("streaming_wakeword", "speech_commands_marvin"),
}
_MLPERF_REFERENCE = {  # task -> (key, title, family)
    "kws": ("ds-cnn", "DS-CNN (MLPerf Tiny reference)", "ds-cnn"),
    "vww": ("mobilenetv1-0.25-96", "MobileNetV1 0.25x 96x96 (MLPerf Tiny reference)", "mobilenetv1"),
    "ic": ("resnet-8", "ResNet-8 (MLPerf Tiny reference)", "resnet"),
    "ad": ("deep-autoencoder-fc", "Deep AutoEncoder FC (MLPerf Tiny reference)", "autoencoder"),
    "sww": ("str-ww-ref", "Streaming wakeword reference str_ww_ref_model (MLPerf Tiny)", "str_ww_ref_model"),
}


def _mlperf_model(row: dict) -> dict:
    """Model stub for one MLPerf result row: the task's reference model, its fp32/fp16
    variants, or a submitter's own open-division model."""
    task = row["task"]
    text = row["model"]
    task_name, dataset = _MLPERF_TASKS.get(task, (task, ""))
    ref_key, ref_title, family = _MLPERF_REFERENCE.get(task, (slug(text), text, ""))
    if "reference" in text:
        key, title, fmt, quant = ref_key, ref_title, "tflite", "int8"
        if "[fp32]" in text or row.get("variant", "").endswith("fp32"):
            key, title, quant = ref_key + "-fp32", ref_title + " fp32", "float32"
        elif "open-division variant" in text and "fp16" in row.get("quantization", "").lower():
            key, title, quant, fmt = ref_key + "-fp16", ref_title + " fp16", "float16", ""
    else:  # a submitter's own model, e.g. "RN07 (submitter model)"
        name = text.split(" (")[0]
        key, title, fmt, quant, family = f"{slug(name)}-{slug(row['submitter'])}", text, "", "", ""
    return {
        "key": f"mlperf-tiny-{task}-{key}", "title": title, "family": family, "task": task_name,
        "dataset": dataset, "format": fmt, "quantization": quant,
        "quality_metric": "auc" if task == "ad" else ("sww_detections" if task == "sww" else "top1_accuracy_pct"),
    }


def read_mlperf_tiny(results: str | Path, systems: str | Path | None = None) -> BenchmarkImport:
    """Records from mlperf_tiny.csv; frameworks missing from a result row are taken from
    the system description (mlperf_tiny_systems.csv beside it, when present)."""
    results = Path(results)
    rows = read_rows(results, ("round", "submitter", "system_name", "board_canonical", "task", "model", "latency_ms"))
    systems = Path(systems) if systems else results.with_name("mlperf_tiny_systems.csv")
    sys_rows = {}
    if systems.is_file():
        for s in read_rows(systems, ("round", "submitter", "system_name")):
            sys_rows[(s["round"], s["submitter"], s["system_name"])] = s
    out = BenchmarkImport(table="mlperf-tiny")
    for line, row in enumerate(rows, start=2):
        board = row["board_canonical"].strip()
        if not board:
            out.skipped.append((line, "no board_canonical"))
            continue
        latency = _num(row.get("latency_ms"))
        energy = _num(row.get("energy_uj_per_inf"))
        system = sys_rows.get((row["round"], row["submitter"], row["system_name"]), {})
        rt = runtime_family(row.get("framework", ""), row.get("software_libraries", ""),
                            system.get("framework", ""), system.get("software_libraries", ""),
                            system.get("compiler", ""), row["system_name"], row["submitter"])
        version = (row.get("framework") or system.get("framework") or row.get("software_libraries") or "").strip()
        model = _mlperf_model(row)
        out.models.setdefault(model["key"], model)
        if row["task"] == "ad":
            acc = _num(row.get("auc"))
            acc = acc * 100 if acc is not None else None
        elif row["task"] == "sww":
            acc = None
        else:
            acc = _num(row.get("top1_accuracy_pct"))
        if latency is None and energy is None and acc is None:
            out.skipped.append((line, "no latency, energy or accuracy"))
            continue
        out.records.append({
            "model": model["key"], "device": board,
            "runtime": rt[0] if rt else "", "runtime_version": version[:200],
            "latency_ms": latency, "energy_uj": energy, "ram_bytes": None, "flash_bytes": None,
            "accuracy_pct": acc, "quality_metric": model["quality_metric"] if acc is not None else "",
            "clock_mhz": _num(row.get("clock_mhz")),
            "source": row.get("source_path") or f"mlcommons/tiny_results_v{row['round']}",
            "date": f"MLPerf Tiny v{row['round']}",
            "id": f"mlperf-tiny-v{row['round']}-{row['division']}-{row['submitter']}-{row['system_name']}-{row['task']}-{row.get('variant', '')}",
        })
    return out


# ---------------------------------------------------------------------------
# STM32 model zoo
# ---------------------------------------------------------------------------
_ST_QUANT = {"int8": "int8", "int8_per_tensor": "int8", "float": "float32", "hybrid": "hybrid", "w4a8": "w4a8"}
_METRIC_ORDER = ["top1_accuracy_pct", "accuracy_pct", "clip_accuracy_pct", "ap_iou0.5_pct", "ap50_pct",
                 "map_pct", "mean_iou_pct", "oks_pct", "rank1_pct", "rank5_pct"]


def _model_format(model_file: str) -> str:
    ext = model_file.rsplit(".", 1)[-1].lower() if "." in model_file else ""
    return {"tflite": "tflite", "onnx": "onnx", "h5": "keras", "keras": "keras"}.get(ext, "")


def _pick_accuracy(candidates: list[dict], resolution: str) -> dict | None:
    if not candidates:
        return None
    same_res = [a for a in candidates if a.get("resolution") == resolution] or candidates
    with_pct = [a for a in same_res if a.get("metric_std", "").endswith("_pct")] or same_res
    return sorted(with_pct, key=lambda a: _METRIC_ORDER.index(a["metric_std"]) if a.get("metric_std") in _METRIC_ORDER else 99)[0]


def read_stm32_zoo(footprints: str | Path, accuracy: str | Path | None | bool = None) -> BenchmarkImport:
    """Records from stm32_footprints.csv joined with stm32_accuracy.csv (beside it, when
    present; `accuracy=False` skips it) on (zoo_release, model_key, format).
    RAM and flash are converted KiB -> bytes."""
    footprints = Path(footprints)
    rows = read_rows(footprints, ("zoo_release", "model_key", "format", "board_canonical", "inference_ms"))
    acc_index: dict[tuple, list[dict]] = defaultdict(list)
    if accuracy is not False:
        accuracy = Path(accuracy) if accuracy else footprints.with_name("stm32_accuracy.csv")
    if accuracy is not False and accuracy.is_file():
        for a in read_rows(accuracy, ("zoo_release", "model_key", "format", "value")):
            acc_index[(a["zoo_release"], a["model_key"], a["format"])].append(a)
    out = BenchmarkImport(table="stm32-zoo")
    for line, row in enumerate(rows, start=2):
        board = row["board_canonical"].strip()
        if not board:
            out.skipped.append((line, "no board_canonical"))
            continue
        acc_row = _pick_accuracy(acc_index.get((row["zoo_release"], row["model_key"], row["format"]), []), row.get("resolution", ""))
        quant = _ST_QUANT.get(row["format"], row["format"])
        key = f"stm32-zoo-{row['model_key']}-{row['format']}"
        model = out.models.setdefault(key, {
            "key": key, "title": f"{row['model_id']} ({row['format']}, {row['dataset']})",
            "family": row.get("family", ""), "task": row.get("task", ""), "dataset": row.get("dataset", ""),
            "format": _model_format(row.get("model_file", "")), "quantization": quant,
            "quality_metric": "", "metric_value": None,
        })
        acc = None
        metric = ""
        if acc_row is not None:
            metric = acc_row["metric_std"]
            value = _num(acc_row["value"])
            if value is not None and metric.endswith("_pct") and 0 <= value <= 100:
                acc = value
            if not model["quality_metric"] and value is not None:
                model["quality_metric"], model["metric_value"] = metric, value
        kind = row.get("table_kind", "")
        if kind == "mpu":
            rt = runtime_family(row.get("mpu_framework", ""))
            version = row.get("mpu_framework", "")
        else:
            rt = ("st-edge-ai", "")
            version = (f"STM32Cube.AI {row['stm32cube_ai_version']}" if row.get("stm32cube_ai_version")
                       else f"ST Edge AI Core {row['stedgeai_core_version']}" if row.get("stedgeai_core_version") else "")
        ram = _kib_bytes(row.get("total_ram_kib")) or _kib_bytes(row.get("ram_total_kib_derived"))
        flash = _kib_bytes(row.get("total_flash_kib")) or _kib_bytes(row.get("flash_total_kib_derived"))
        out.records.append({
            "model": key, "device": board, "runtime": rt[0] if rt else "", "runtime_version": version,
            "latency_ms": _num(row.get("inference_ms")), "energy_uj": None,
            "ram_bytes": ram, "flash_bytes": flash, "accuracy_pct": acc, "quality_metric": metric if acc is not None else "",
            "clock_mhz": _num(row.get("frequency_mhz")), "source": row.get("source_path") or "STMicroelectronics/stm32ai-modelzoo",
            "date": f"STM32 model zoo {row['zoo_release']}",
            "id": f"stm32-zoo-{row['zoo_release']}-{row['model_key']}-{row['format']}-{board}-{row.get('board_config', '')}-{row.get('execution_engine', '')}-{line}",
        })
    return out


# ---------------------------------------------------------------------------
# Our CSV
# ---------------------------------------------------------------------------
def read_csv_records(path: str | Path, table: str | None = None) -> BenchmarkImport:
    """Records from a CSV in our own format (see the module docstring); `table` puts every
    record into one graph instead of its source's."""
    path = Path(path)
    rows = read_rows(path, REQUIRED, ["device"] + OPTIONAL_COLUMNS)
    if not rows:
        raise InputError(str(path), "line 2", "no records: expected one row per measurement after the header")
    if "device" not in rows[0] and "target_dataset" not in rows[0]:
        raise InputError(str(path), "line 1", "missing column device (or target_dataset, for fine-tuning results)")
    out = BenchmarkImport(table=table or "")
    problems = []
    stated: dict[tuple[str, str], int] = {}  # (model, reported fact) -> the line that stated it
    for line, row in enumerate(rows, start=2):
        cell = {col: (row.get(col) or "").strip() for col in CSV_COLUMNS + OPTIONAL_COLUMNS}

        def bad(col: str, message: str) -> None:
            problems.append((f"line {line}, column {col}", message))

        for col in REQUIRED:
            if not cell[col]:
                bad(col, "required value is empty")
        if not cell["device"] and not cell["target_dataset"]:
            bad("device", "required value is empty (only a fine-tuning result, naming a target_dataset, may leave it empty)")
        elif not cell["device"] and not cell["accuracy_pct"]:
            bad("accuracy_pct", "a fine-tuning result (target_dataset, no device) needs its accuracy")
        rec: dict = {}
        for col in ("latency_ms", "energy_uj", "accuracy_pct", "clock_mhz", "ram_bytes", "flash_bytes", "params", "macs"):
            raw = cell[col]
            value = _num(raw)
            whole = col.endswith("_bytes") or col in ("params", "macs")
            if raw and value is None:
                bad(col, f"expected a number, found {raw!r}")
            elif value is not None and value < 0:
                bad(col, f"expected a non-negative number, found {raw}")
            elif col in ("params", "macs") and value is not None and value != int(value):
                bad(col, f"expected a whole number, found {raw}")
            elif col == "accuracy_pct" and value is not None and value > 100:
                bad(col, f"accuracy is a percentage 0-100, found {raw}")
            rec[col] = int(value) if value is not None and whole else value
        if cell["pretrain_dataset"] and cell["dataset"] and cell["pretrain_dataset"] != cell["dataset"]:
            bad("pretrain_dataset", f"{cell['pretrain_dataset']!r} differs from column dataset ({cell['dataset']!r}); "
                "both name the dataset the model was trained on")
        for col in CSV_COLUMNS + ["target_dataset"]:
            rec.setdefault(col, cell[col])
        rec["table"] = table or source_table(cell["source"])
        rec["id"] = f"{_table_slug(rec['table'])}-{line}-{rec['model']}-{rec['device'] or rec['target_dataset']}"
        out.records.append(rec)
        facts = {"title": cell["model_title"], "family": cell["family"], "task": cell["task"],
                 "dataset": cell["dataset"] or cell["pretrain_dataset"], "format": cell["format"],
                 "quantization": cell["quantization"], "quality_metric": cell["quality_metric"],
                 "params": rec.pop("params"), "macs": rec.pop("macs")}
        if not rec["model"]:
            continue
        if rec["model"].startswith("sha256:"):  # a model file, by its hash: resolve_files finds its model
            digest = rec["model"][len("sha256:"):].lower()
            if not re.fullmatch(r"[0-9a-f]{64}", digest):
                bad("model", f"expected sha256: and the 64 hex digits of the model file's SHA-256, found {rec['model']!r}")
            rec["model"], rec["line"] = "sha256:" + digest, line
        if rec["model"].startswith(("http", "sha256:")):  # described elsewhere: this table only refers to it
            given = [col for col in ("params", "macs", "family", "pretrain_dataset") if cell[col]]
            if given:
                bad(given[0], "describes the model, but the model is given by IRI (described elsewhere); "
                    "name it instead, or leave the column empty")
            continue
        m = out.models.setdefault(rec["model"], {"key": rec["model"], "reported": {}})
        for key, value in facts.items():
            if value in (None, ""):
                continue
            if m.get(key) in (None, ""):
                m[key] = value
                if key in REPORTED:
                    m["reported"][key] = cell["source"]
                    stated[(rec["model"], key)] = line
            elif key in REPORTED and m[key] != value:
                column = ("dataset" if cell["dataset"] else "pretrain_dataset") if key == "dataset" else key
                bad(column, f"{value!r} contradicts line {stated[(rec['model'], key)]} ({m[key]!r}): "
                    "one model, one value")
    if problems:
        raise InputError(str(path), problems[0][0], problems[0][1] + (f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""), problems)
    out.table = out.records[0]["table"]
    return out


def resolve_files(result: BenchmarkImport, store, path: str | Path) -> None:
    """Replace each record's `sha256:<hex>` model with the IRI of the model whose file has that
    SHA-256 in the store (`import-model` records it); an unknown hash is an InputError naming
    the line, and nothing is resolved."""
    wanted = {r["model"][len("sha256:"):] for r in result.records if r["model"].startswith("sha256:")}
    if not wanted:
        return
    values = " ".join(f'"{h}"' for h in sorted(wanted))
    found = dict(store.select(f"SELECT ?h ?m WHERE {{ VALUES ?h {{ {values} }} ?m <{SCHEMA.sha256}> ?h ; "
                              f"a <{AR.PretrainedModel}> }}").values())
    missing = [r for r in result.records if r["model"].startswith("sha256:") and r["model"][7:] not in found]
    if missing:
        problems = [(f"line {r['line']}, column model", f"no model file with SHA-256 {r['model'][7:23]}... in the "
                     "registry (import the file with import-model first)") for r in missing]
        raise InputError(str(path), problems[0][0], problems[0][1] + (
            f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""), problems)
    for r in result.records:
        if r["model"].startswith("sha256:"):
            r["model"] = str(found[r["model"][7:]])


def write_csv(records: Iterable[dict], path: str | Path, models: dict[str, dict] | None = None) -> int:
    """Write records in our CSV format (model columns filled from `models`); returns the row count."""
    models = models or {}
    n = 0
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        w.writeheader()
        for rec in records:
            row = {k: ("" if rec.get(k) is None else rec.get(k)) for k in CSV_COLUMNS}
            m = models.get(rec["model"], {})
            row["model_title"] = row["model_title"] or m.get("title", "")
            for k in ("family", "task", "dataset", "format", "quantization"):
                row[k] = row[k] or m.get(k, "")
            w.writerow(row)
            n += 1
    return n


def import_benchmarks(path: str | Path, fmt: str, **options) -> BenchmarkImport:
    """Read one benchmark table: fmt is 'mlperf-tiny', 'stm32-zoo' or 'csv'."""
    if fmt == "mlperf-tiny":
        return read_mlperf_tiny(path, options.get("systems"))
    if fmt == "stm32-zoo":
        return read_stm32_zoo(path, options.get("accuracy"))
    if fmt == "csv":
        return read_csv_records(path, options.get("table"))
    raise InputError(str(path), "--format", f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


# ---------------------------------------------------------------------------
# RDF
# ---------------------------------------------------------------------------
def _iri(value: str, mint) -> URIRef:
    return URIRef(value) if value.startswith(("http://", "https://")) else URIRef(mint(value))


def _dataset(g: Graph, name: str) -> URIRef:
    """The node of a dataset named (or given by IRI) in a table, typed and named in `g`."""
    d = _iri(name, dataset_iri)
    g.add((d, RDF.type, AR.Dataset))
    if not name.startswith(("http://", "https://")):
        g.add((d, SCHEMA.name, Literal(name)))
    return d


def records_graph(records: list[dict], models: dict[str, dict], table: str) -> Graph:
    """The RDF of one benchmark table: records, the model stubs, and the runtimes they name."""
    g = Graph()
    g.bind("ar", AR)
    g.bind("schema", SCHEMA)
    first_source = {}
    for rec in records:
        first_source.setdefault(rec["model"], rec.get("source") or table)
    for key, m in models.items():
        node = _iri(key, model_iri)
        g.add((node, RDF.type, AR.PretrainedModel))
        g.add((node, SCHEMA.name, Literal(m.get("title") or key)))
        if m.get("family"):
            g.add((node, AR.family, Literal(m["family"])))
        if m.get("params") is not None:
            g.add((node, AR.parameterCount, Literal(int(m["params"]), datatype=XSD.integer)))
        if m.get("macs") is not None:
            g.add((node, AR.macs, Literal(int(m["macs"]), datatype=XSD.integer)))
        if m.get("task"):
            t = URIRef(task_iri(m["task"]))
            g.add((node, AR.performsTask, t))
            g.add((t, RDF.type, AR.Task))
            g.add((t, SCHEMA.name, Literal(m["task"])))
        if m.get("dataset"):
            g.add((node, AR.trainedOn, _dataset(g, m["dataset"])))
        if m.get("format") in FORMAT_TERMS:
            g.add((node, AR.hasFormat, FORMAT_TERMS[m["format"]]))
        if m.get("quantization") in QUANT:
            q = QUANT[m["quantization"]]
            g.add((node, AR.hasQuantization, q))
            g.add((q, RDF.type, AR.Quantization))
        if m.get("quality_metric"):
            g.add((node, AR.qualityMetric, Literal(m["quality_metric"])))
        if m.get("metric_value") is not None and m.get("quality_metric"):
            add_metric(g, node, URIRef(str(node) + "#metric"), m["quality_metric"], m["metric_value"], m.get("dataset"))
        # Where the facts the table reports come from: one ar:Provenance per source.
        by_source: dict[str, list[URIRef]] = {}
        for fact, prop in REPORTED.items():
            if m.get(fact) not in (None, ""):
                source = m.get("reported", {}).get(fact) or first_source.get(key) or table
                by_source.setdefault(source, []).append(prop)
        for source, props in by_source.items():
            p = URIRef(f"{node}#reported-{_digest(source)}")
            g.add((node, AR.hasProvenance, p))
            g.add((p, RDF.type, AR.Provenance))
            g.add((p, AR.provenanceKind, Literal("reported")))
            g.add((p, AR.source, Literal(source)))
            for prop in props:
                g.add((p, AR.forProperty, prop))
    seen_ids: Counter = Counter()
    for rec in records:
        rid = slug(rec.get("id") or f"{table}-{rec['model']}-{rec['device']}")
        seen_ids[rid] += 1
        if seen_ids[rid] > 1:
            rid = f"{rid}-{seen_ids[rid]}"
        node = URIRef(benchmark_iri(rid))
        g.add((node, RDF.type, AR.BenchmarkRecord))
        g.add((node, AR.ofModel, _iri(rec["model"], model_iri)))
        if rec.get("device"):
            g.add((node, AR.onDevice, _iri(rec["device"], device_iri)))
        if rec.get("target_dataset"):
            g.add((node, AR.targetDataset, _dataset(g, rec["target_dataset"])))
        if rec.get("runtime"):
            rt = _iri(rec["runtime"], runtime_iri)
            g.add((node, AR.withRuntime, rt))
            g.add((rt, RDF.type, AR.Runtime))
            g.add((rt, RDFS.label, Literal(runtime_label(rec["runtime"]))))
        if rec.get("runtime_version"):
            g.add((node, AR.runtimeVersion, Literal(rec["runtime_version"])))
        for col, prop in (("latency_ms", AR.latencyMs), ("energy_uj", AR.energyUJ)):
            if rec.get(col) not in (None, "") and float(rec[col]) > 0:
                g.add((node, prop, Literal(float(rec[col]), datatype=XSD.double)))
        for col, prop in (("ram_bytes", AR.measuredRamBytes), ("flash_bytes", AR.measuredFlashBytes)):
            if rec.get(col) not in (None, ""):
                g.add((node, prop, Literal(int(rec[col]), datatype=XSD.integer)))
        if rec.get("accuracy_pct") not in (None, ""):
            g.add((node, AR.accuracyPct, Literal(float(rec["accuracy_pct"]), datatype=XSD.double)))
            if rec.get("quality_metric"):
                g.add((node, AR.qualityMetric, Literal(rec["quality_metric"])))
        if rec.get("clock_mhz") not in (None, ""):
            g.add((node, AR.atClockMHz, Literal(float(rec["clock_mhz"]), datatype=XSD.double)))
        g.add((node, AR.source, Literal(rec.get("source") or table)))
        if rec.get("date"):
            g.add((node, AR.date, Literal(rec["date"])))
    return g


# ---------------------------------------------------------------------------
# Fine-tuning results, read back as a transfer table
# ---------------------------------------------------------------------------
TRANSFER_COLUMNS = ["model", "target_dataset", "accuracy_pct", "task", "params", "macs", "family",
                    "pretrain_dataset", "quantization", "source"]
_FINE_TUNING_QUERY = """PREFIX ar: <https://w3id.org/arachne#>
PREFIX schema: <https://schema.org/>
SELECT ?b ?model ?dataset ?datasetName ?acc ?source ?taskName ?task ?family ?pretrain ?pretrainName ?quant
       ?fileParams ?params ?fileMacs ?macs WHERE {
  ?b a ar:BenchmarkRecord ; ar:ofModel ?model ; ar:targetDataset ?dataset ; ar:accuracyPct ?acc .
  OPTIONAL { ?b ar:source ?source }
  OPTIONAL { ?dataset schema:name ?datasetName }
  OPTIONAL { ?model ar:performsTask ?task OPTIONAL { ?task schema:name ?taskName } }
  OPTIONAL { ?model ar:family ?family }
  OPTIONAL { ?model ar:trainedOn ?pretrain OPTIONAL { ?pretrain schema:name ?pretrainName } }
  OPTIONAL { ?model ar:hasQuantization ?quant }
  OPTIONAL { GRAPH ?fp { ?model ar:sourceFile ?f1 ; ar:parameterCount ?fileParams } }
  OPTIONAL { ?model ar:parameterCount ?params }
  OPTIONAL { GRAPH ?fm { ?model ar:sourceFile ?f2 ; ar:macs ?fileMacs } }
  OPTIONAL { ?model ar:macs ?macs }
} ORDER BY ?b"""


def _name(iri: str | None, name) -> str:
    return str(name) if name is not None else (iri or "").rsplit("#", 1)[-1].rsplit("/", 1)[-1]


def fine_tuning_results(store) -> list[dict]:
    """The store's fine-tuning results (records with ar:targetDataset and an accuracy) as rows
    of the transfer-table import format (TRANSFER_COLUMNS, text cells as in a CSV, so
    ranker.transfer.table_from_rows reads them): model is the model IRI, datasets, task and
    quantization their names; a model's file-derived parameters and MACs win over reported ones."""
    out: dict[str, dict] = {}
    for r in store.select(_FINE_TUNING_QUERY).dicts():
        row = out.setdefault(r["b"], {"model": r["model"], "target_dataset": _name(r["dataset"], r["datasetName"]),
                                      "accuracy_pct": str(float(r["acc"]))})
        for col, value in (("task", r["task"] and _name(r["task"], r["taskName"])), ("family", r["family"]),
                           ("pretrain_dataset", r["pretrain"] and _name(r["pretrain"], r["pretrainName"])),
                           ("quantization", r["quant"] and _name(r["quant"], None).lower()), ("source", r["source"]),
                           ("params", r["fileParams"] if r["fileParams"] is not None else r["params"]),
                           ("macs", r["fileMacs"] if r["fileMacs"] is not None else r["macs"])):
            if not row.get(col) and value is not None:
                row[col] = str(value)
    return [{col: row.get(col, "") for col in TRANSFER_COLUMNS} for row in out.values()]


# ---------------------------------------------------------------------------
# Board catalogue
# ---------------------------------------------------------------------------
CATALOGUE_COLUMNS = ["board_canonical", "name", "soc", "core", "clock_mhz", "ram_bytes", "flash_bytes", "fpu",
                     "accelerator", "frameworks", "sensors", "app_free_ram_bytes", "app_free_flash_bytes", "source"]


def _most_common(values: Iterable) -> str:
    c = Counter(v for v in values if v not in (None, ""))
    return c.most_common(1)[0][0] if c else ""


def board_catalogue(mlperf_systems: str | Path | None = None, stm32_footprints: str | Path | None = None,
                    mlperf_results: str | Path | None = None, include_known: bool = True) -> list[dict]:
    """One dict per board_canonical (keys: CATALOGUE_COLUMNS; frameworks and sensors are
    lists of runtime keys / ar: sensor class names; sizes in bytes; clock in MHz).

    From the MLPerf Tiny system descriptions (and results, for the runtimes used), the
    STM32 zoo footprints (boards and runtimes), and KNOWN_BOARDS, which fills what the
    tables lack. The clock is the highest the sources give; RAM / flash the most common
    capacity the system descriptions state (KiB -> bytes)."""
    boards: dict[str, dict] = {}

    def entry(key: str) -> dict:
        return boards.setdefault(key, {"board_canonical": key, "frameworks": set(), "sensors": [], "source": set()})

    if mlperf_systems:
        by_board: dict[str, list[dict]] = defaultdict(list)
        for s in read_rows(Path(mlperf_systems), ("board_canonical", "cpu_core", "clock_mhz", "ram_kib", "flash_kib")):
            if s["board_canonical"].strip():
                by_board[s["board_canonical"].strip()].append(s)
        for key, rows in by_board.items():
            e = entry(key)
            core = _most_common(r["cpu_core"] for r in rows)
            processor = " ".join(r.get("processor", "") for r in rows)
            clocks = [_num(r["clock_mhz"]) for r in rows if _num(r["clock_mhz"])]
            e.update(name=_most_common(r["board"] for r in rows), soc=_most_common(r.get("soc") for r in rows),
                     core=core_name(core, processor), clock_mhz=max(clocks) if clocks else None,
                     ram_bytes=_kib_bytes(_most_common(r["ram_kib"] for r in rows)),
                     flash_bytes=_kib_bytes(_most_common(r["flash_kib"] for r in rows)),
                     fpu=has_fpu(core, processor), accelerator=_most_common(r.get("accelerator") for r in rows))
            for r in rows:
                rt = runtime_family(r.get("framework", ""), r.get("software_libraries", ""), r.get("compiler", ""))
                if rt:
                    e["frameworks"].add(rt[0])
            e["source"].add("MLPerf Tiny system descriptions")
    if mlperf_results:
        for rec in read_mlperf_tiny(mlperf_results, mlperf_systems).records:
            if rec["runtime"]:
                entry(rec["device"])["frameworks"].add(rec["runtime"])
    if stm32_footprints:
        for rec in read_stm32_zoo(stm32_footprints, accuracy=False).records:
            e = entry(rec["device"])
            if rec["runtime"]:
                e["frameworks"].add(rec["runtime"])
            if rec.get("clock_mhz") and (e.get("clock_mhz") or 0) < rec["clock_mhz"]:
                e["clock_mhz"] = rec["clock_mhz"]
            e["source"].add("STM32 model zoo")
    if include_known:
        for key, known in KNOWN_BOARDS.items():
            if key not in boards and (mlperf_systems or stm32_footprints) and key.startswith(("B-", "NUCLEO", "STM32")):
                continue  # an STM32 board the given tables do not use
            e = entry(key)
            for k, v in known.items():
                if k == "frameworks":
                    e["frameworks"].update(v)
                elif k == "clock_mhz":
                    e[k] = max(v, e.get(k) or 0) if v else e.get(k)
                elif k == "name" or e.get(k) in (None, "", []):
                    e[k] = v  # the vendor's product name reads better than a table's spelling
            e["source"].add("vendor specifications")
    out = []
    for key in sorted(boards):
        e = boards[key]
        row = {c: e.get(c) for c in CATALOGUE_COLUMNS}
        row["name"] = row["name"] or key
        row["frameworks"] = sorted(e["frameworks"])
        row["sensors"] = list(e.get("sensors") or [])
        row["source"] = "; ".join(sorted(e["source"]))
        row["accelerator"] = row["accelerator"] or ""
        row["soc"] = row["soc"] or ""
        out.append(row)
    return out
