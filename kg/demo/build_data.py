"""Dev tool, run once: build the demo registry's OWN data files from the real data in
../shared/data (the product never reads ../shared at run time).

    python -m kg.demo.build_data [--shared ../shared/data]

Writes into kg/demo/:
  models/*.tflite        the 23 TinyML models (MIT licence, Ren et al.)
  models/mlperf/         the MLPerf Tiny int8 reference files that the benchmark records name
                         (Apache-2.0, mlcommons/tiny, unmodified; NOTICE, LICENSE) and manifest.csv:
                         file, the model it describes (the records' model key), bytes, sha256,
                         source path and commit; the demo attaches each file to its description
  data/models.csv        per model: task, dataset, sensors, modality, metric, category,
                         creator, runtime, labels, and a one-line description of our own
  data/mlperf_tiny.csv   MLPerf Tiny results in our benchmark CSV format (derived facts)
  data/stm32_zoo.csv     STM32 model zoo footprints + accuracy, same format
  data/boards.csv        the board catalogue (kg.benchmarks.board_catalogue)
Only facts (numbers, names, specifications) are carried over; no prose is copied.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import shutil
import sys
from pathlib import Path

from kg import benchmarks

HERE = Path(__file__).resolve().parent
DEFAULT_SHARED = HERE.parents[2] / "shared" / "data"

# ren-kg hardware codes: 0=Camera, 1=Microphone, 2=Accelerometer, 3=Gyroscope, 4=Thermometer, 5=other
_SENSOR_CODES = {"0": "Camera", "1": "Microphone", "2": "Accelerometer", "3": "Gyroscope", "4": "Thermometer"}
_CATEGORY = {"0": "classification", "1": "object_detection", "2": "feature_extraction", "3": "unsupervised", "4": "other"}
_METRIC = {"0": "top1_accuracy_pct", "1": "top5_accuracy_pct", "2": "other"}
# Dataset source -> our dataset key.
_DATASETS = {
    "speech_commands_v0.02": "speech_commands_v2",
    "1906.05721": "visual_wake_words",
    "dcase.community/challenge2020": "dcase2020_task2",
    "magic_wand/data.tar.gz": "magic_wand_gestures",
    "tinyml.seas.harvard.edu/magic_wand": "magic_wand_digits",
    "tiny-motion-trainer": "tiny_motion_trainer_recordings",
    "audioset": "audioset",
}
# Our task names and one-line descriptions (written for this project).
MODELS = {
    "ARM_CNN_Small_keyword_spotting": ("keyword_spotting", "Arm ML-Zoo CNN-Small keyword spotter, int8, 12 speech-command classes from MFCC features."),
    "ARM_DS_CNN_Small_": ("keyword_spotting", "Arm ML-Zoo depthwise-separable CNN (DS-CNN Small) keyword spotter, int8, 12 classes."),
    "ARM_MicroNet_Small_anomaly_detection": ("anomaly_detection", "Arm MicroNet-Small machine-sound anomaly detector on 32x32 log-mel spectrograms, int8."),
    "ARM_MicroNet_VWW_3": ("visual_wake_words", "Arm MicroNet VWW-3 person / no-person classifier on 128x128 greyscale images, int8."),
    "Anomaly_Detection_Autoencoder": ("anomaly_detection", "Small dense autoencoder flagging anomalies in accelerometer windows, int8."),
    "Hello_World": ("sine_regression", "The TFLM 'hello world' regressor that approximates a sine wave, int8."),
    "Magic_Wand_1": ("gesture_recognition", "TFLM magic-wand CNN: four wand gestures from 3-axis accelerometer windows, float32."),
    "Magic_Wand_2": ("gesture_recognition", "HarvardX magic-wand CNN: digits 0-9 drawn in the air, from rasterised IMU strokes, int8."),
    "Mapping_Dance": ("gesture_recognition", "Dense network recognising three dance moves from 6-axis IMU windows, float32."),
    "Micro_Speech_Forward_Backward": ("keyword_spotting", "Micro-speech model for the words forward / backward, int8."),
    "Micro_Speech_Up_Down_Go": ("keyword_spotting", "Micro-speech model for the words up / down / go, int8."),
    "Micro_Speech_Yes_No_1": ("keyword_spotting", "TFLM micro-speech yes / no keyword model, int8."),
    "Micro_Speech_Yes_No_2": ("keyword_spotting", "Retrained micro-speech yes / no model with an extra convolution, int8."),
    "Micro_Speech_Yes_No_3": ("keyword_spotting", "Retrained micro-speech yes / no model (convolution + dense), int8."),
    "Micro_Speech_Yes_No_4": ("keyword_spotting", "Retrained micro-speech yes / no model with an extra convolution, int8."),
    "Motion_Trainer_Left_Right": ("gesture_recognition", "Tiny Motion Trainer model: left / right gestures from 6-axis IMU windows, int8."),
    "Motion_Trainer_Up_Forward": ("gesture_recognition", "Tiny Motion Trainer model: up / forward gestures from 6-axis IMU windows, int8."),
    "Move": ("motion_classification", "Dense network telling a jump from a punch in 6-axis IMU windows, int8."),
    "Person_Detection": ("person_detection", "TFLM person-detection MobileNet on 96x96 greyscale images (legacy uint8 quantization)."),
    "Snoring_Guardian": ("audio_event_detection", "CNN detecting snoring in one-second audio spectrograms, int8."),
    "Squats_Counter": ("motion_classification", "Dense network telling a squat from standing in 6-axis IMU windows, float32."),
    "Visual_Alarm_Clock": ("pose_classification", "MobileNet detecting a person holding one yoga pose in 96x96 greyscale images, int8."),
    "Voice_Turn": ("keyword_spotting", "1-D CNN for the voice commands left / right from MFCC features, int8."),
}
MODEL_COLUMNS = ["name", "file", "task", "dataset", "sensors", "modality", "metric_name", "metric_value", "category",
                 "creator", "runtime", "license", "labels", "description", "reference"]
_MODALITY = {"Camera": "image", "Microphone": "audio", "Accelerometer": "inertial", "Gyroscope": "inertial"}


def _dataset_key(text: str) -> str:
    for needle, key in _DATASETS.items():
        if needle in text:
            return key
    return ""


def _labels(text: str) -> str:
    """'0: yes, 1: no' -> 'yes;no' (a fact: the class names); other text -> ''."""
    parts = [p.split(":", 1)[1].strip().replace("persen", "person") for p in text.split(",") if ":" in p]
    return ";".join(p for p in parts if p) if len(parts) >= 2 else ""


def build_models(shared: Path, out_dir: Path, models_dir: Path) -> int:
    src = shared / "tinyml-models"
    rows = list(csv.DictReader(open(shared / "ren-kg" / "models_information.csv", newline="", encoding="utf-8")))
    hw_col = next(c for c in rows[0] if c.startswith("Hardware"))
    metric_col = next(c for c in rows[0] if c.startswith("metrics"))
    cat_col = next(c for c in rows[0] if c.startswith("category"))
    models_dir.mkdir(parents=True, exist_ok=True)
    out = []
    for r in rows:
        name = r["Name"].strip()
        task, description = MODELS[name]
        shutil.copyfile(src / f"{name}.tflite", models_dir / f"{name}.tflite")
        sensors = [_SENSOR_CODES[c.strip()] for c in r[hw_col].split(",") if c.strip() in _SENSOR_CODES]
        value = r["metric_value"].strip()
        metric = _METRIC.get(r[metric_col].strip(), "")
        has_value = value not in ("", "0") and metric != "other"
        out.append({
            "name": name, "file": f"{name}.tflite", "task": task, "dataset": _dataset_key(r["dataset"]),
            "sensors": ";".join(sensors),
            "modality": _MODALITY.get(sensors[0], "") if sensors else "tabular",
            "metric_name": metric if has_value else "", "metric_value": value if has_value else "",
            "category": _CATEGORY.get(r[cat_col].strip(), ""), "creator": r["creator"].strip(),
            "runtime": r["runtimePlatform"].strip(), "license": "mit", "labels": _labels(r["output_comment"]),
            "description": description,
            "reference": r["reference"].strip() if r["reference"].startswith("http") else "",
        })
    with open(out_dir / "models.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=MODEL_COLUMNS)
        w.writeheader()
        w.writerows(out)
    return len(out)


MLPERF_COLUMNS = ["file", "describes", "bytes", "sha256", "source_path", "source_commit"]
MLPERF_NOTICE = """MLPerf Tiny reference models, redistributed unmodified from the MLCommons Tiny
repository (https://github.com/mlcommons/tiny), commit {commit}, under the Apache License,
Version 2.0 (LICENSE in this folder). Copyright MLCommons and the mlcommons/tiny contributors.

{files}
manifest.csv (ours) names the registry model each file describes and its sha256.
"""


def build_mlperf_files(shared: Path, out_dir: Path, records_csv: Path) -> int:
    """Copy the int8 reference files whose models the demo's MLPerf Tiny records name (the ones the
    closed division runs), checked against the shared manifest's size and sha256 prefix."""
    src = shared / "mlperf-tiny-models"
    named = {r["model"] for r in csv.DictReader(open(records_csv, newline="", encoding="utf-8"))}
    out_dir.mkdir(parents=True, exist_ok=True)
    out = []
    for r in csv.DictReader(open(src / "manifest.csv", newline="", encoding="utf-8")):
        if r["role"] != "reference" or r["quantization"] != "int8":
            continue
        # The key the MLPerf Tiny importer gives this row's model: the join is the records' own rule.
        key = benchmarks._mlperf_model({"task": r["task"], "model": r["model"], "submitter": ""})["key"]
        if key not in named:
            continue
        data = (src / r["file"]).read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if len(data) != int(r["bytes"]) or not digest.startswith(r["sha256"]):
            raise SystemExit(f"{src / r['file']}: size or sha256 differ from manifest.csv")
        (out_dir / r["file"]).write_bytes(data)
        out.append({"file": r["file"], "describes": key, "bytes": len(data), "sha256": digest,
                    "source_path": r["source_path"], "source_commit": r["source_commit"]})
    with open(out_dir / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=MLPERF_COLUMNS)
        w.writeheader()
        w.writerows(out)
    commits = sorted({r["source_commit"] for r in out})
    files = "".join(f"{r['file']}: {r['source_path'].split(':', 1)[-1]}\n" for r in out)
    (out_dir / "NOTICE").write_text(MLPERF_NOTICE.format(commit=", ".join(commits), files=files), encoding="utf-8")
    return len(out)


def build_boards(shared: Path, out_dir: Path) -> int:
    b = shared / "benchmarks"
    cat = benchmarks.board_catalogue(b / "mlperf_tiny_systems.csv", b / "stm32_footprints.csv", b / "mlperf_tiny.csv")
    with open(out_dir / "boards.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=benchmarks.CATALOGUE_COLUMNS)
        w.writeheader()
        for row in cat:
            row = dict(row)
            row["frameworks"] = ";".join(row["frameworks"])
            row["sensors"] = ";".join(row["sensors"])
            row["fpu"] = "" if row["fpu"] is None else str(bool(row["fpu"])).lower()
            w.writerow({k: "" if v is None else v for k, v in row.items()})
    return len(cat)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="the shared data folder (default ../shared/data)")
    args = ap.parse_args(argv)
    if not args.shared.is_dir():
        print(f"{args.shared}: not found", file=sys.stderr)
        return 2
    data = HERE / "data"
    data.mkdir(exist_ok=True)
    n = build_models(args.shared, data, HERE / "models")
    print(f"models.csv: {n} models", file=sys.stderr)
    mlperf = benchmarks.read_mlperf_tiny(args.shared / "benchmarks" / "mlperf_tiny.csv")
    n = benchmarks.write_csv(mlperf.records, data / "mlperf_tiny.csv", mlperf.models)
    print(f"mlperf_tiny.csv: {n} records ({len(mlperf.skipped)} rows skipped)", file=sys.stderr)
    n = build_mlperf_files(args.shared, HERE / "models" / "mlperf", data / "mlperf_tiny.csv")
    print(f"models/mlperf: {n} reference files", file=sys.stderr)
    st = benchmarks.read_stm32_zoo(args.shared / "benchmarks" / "stm32_footprints.csv")
    n = benchmarks.write_csv(st.records, data / "stm32_zoo.csv", st.models)
    print(f"stm32_zoo.csv: {n} records ({len(st.skipped)} rows skipped)", file=sys.stderr)
    n = build_boards(args.shared, data)
    print(f"boards.csv: {n} boards", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
