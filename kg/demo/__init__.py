"""The demo registry's own data: 23 TinyML model files (MIT licence, Ren et al.), their
facts (models.csv), benchmark tables in our CSV format, the MLPerf Tiny reference files that
the benchmark records' models join (models/mlperf/, Apache-2.0) and the board catalogue.
Built once by `python -m kg.demo.build_data`; read here without touching ../shared."""
from __future__ import annotations

import csv
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
MODELS = HERE / "models"
MLPERF = MODELS / "mlperf"
BENCHMARK_TABLES = ("mlperf_tiny", "stm32_zoo")


def _rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def td_files() -> list[Path]:
    """The demo boards' Thing Descriptions (written by kg/demo/make_tds.py)."""
    return sorted((HERE / "tds").glob("*.td.jsonld"))


def model_files() -> list[Path]:
    """The demo's .tflite files, sorted by name."""
    return sorted(MODELS.glob("*.tflite"))


def attached_files() -> list[tuple[Path, str]]:
    """(file, the model it describes: a benchmark table's model key) of the files the demo
    attaches to descriptions it already holds (models/mlperf/manifest.csv)."""
    return [(MLPERF / r["file"], r["describes"]) for r in _rows(MLPERF / "manifest.csv")]


def models_table() -> list[dict]:
    """One dict per demo model (columns of data/models.csv; sensors as a list)."""
    rows = _rows(DATA / "models.csv")
    for r in rows:
        r["sensors"] = [s for s in r["sensors"].split(";") if s]
    return rows


def model_card(row: dict) -> dict:
    """A models_table() row as a model-card mapping for kg.models.describe_model(card=...)."""
    card = {"name": row["name"], "task": row["task"], "license": row.get("license") or None,
            "description": row.get("description") or None, "creator": row.get("creator") or None,
            "runtime": row.get("runtime") or None, "category": row.get("category") or None,
            "sensors": row["sensors"] or None, "modality": row.get("modality") or None}
    if row.get("dataset"):
        card["dataset"] = row["dataset"]
    if row.get("metric_value"):
        card["accuracy"] = float(row["metric_value"])
        card["accuracy_metric"] = row["metric_name"]
    return {k: v for k, v in card.items() if v is not None}


def benchmark_tables() -> dict[str, Path]:
    """{table name: CSV path} of the demo benchmark tables (our CSV format, kg.benchmarks)."""
    return {name: DATA / f"{name}.csv" for name in BENCHMARK_TABLES}


def boards() -> list[dict]:
    """The board catalogue (data/boards.csv): sizes as int bytes, clock as float MHz,
    fpu as bool or None, frameworks and sensors as lists."""
    out = []
    for r in _rows(DATA / "boards.csv"):
        for k in ("ram_bytes", "flash_bytes", "app_free_ram_bytes", "app_free_flash_bytes"):
            r[k] = int(r[k]) if r[k] else None
        r["clock_mhz"] = float(r["clock_mhz"]) if r["clock_mhz"] else None
        r["fpu"] = {"true": True, "false": False}.get(r["fpu"])
        r["frameworks"] = [x for x in r["frameworks"].split(";") if x]
        r["sensors"] = [x for x in r["sensors"].split(";") if x]
        out.append(r)
    return out


def model_descriptions(measure_ram: bool = True) -> list:
    """Every demo model described from its file and its models.csv row (kg.models.ModelDescription)."""
    from kg.models import describe_model

    rows = {r["file"]: r for r in models_table()}
    return [describe_model(p, card=model_card(rows[p.name]), measure_ram=measure_ram) for p in model_files() if p.name in rows]
