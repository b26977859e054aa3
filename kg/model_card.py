"""Hugging Face style model cards: the YAML front matter of a README.md, read into facts.

Standard keys: license, tags, datasets, metrics, pipeline_tag, base_model, model_name,
model-index (results: task / dataset / metrics with type and value), library_name.
Our optional keys: name, task, dataset, accuracy (percent; a value <= 1 is read as a
fraction and multiplied by 100), accuracy_metric (default 'top1_accuracy_pct'),
sensor / sensors (e.g. microphone, camera, accelerometer, imu), modality (audio, image,
inertial, timeseries, environmental, tabular), description, creator, runtime (e.g.
'TFLite Micro'), category.

`card_facts(...)` returns a dict with normalised keys; `merge_overrides` applies the
command-line flags, which win over the card.
"""
from __future__ import annotations

import re
from pathlib import Path

from kg.errors import InputError
from kg.vocab import MODALITIES

# Sensor words -> ar: sensor classes.
SENSORS = {
    "microphone": ["Microphone"], "mic": ["Microphone"], "audio": ["Microphone"],
    "camera": ["Camera"], "image sensor": ["Camera"],
    "accelerometer": ["Accelerometer"], "gyroscope": ["Gyroscope"], "magnetometer": ["Magnetometer"],
    "imu": ["Accelerometer", "Gyroscope"],
    "thermometer": ["Thermometer"], "temperature": ["Thermometer"], "humidity": ["HumiditySensor"],
    "pressure": ["PressureSensor"], "barometer": ["PressureSensor"], "light": ["LightSensor"],
}
SENSOR_MODALITY = {
    "Microphone": "audio", "Camera": "image", "Accelerometer": "inertial", "Gyroscope": "inertial",
    "Magnetometer": "inertial", "Thermometer": "environmental", "HumiditySensor": "environmental",
    "PressureSensor": "environmental", "LightSensor": "environmental",
}
TASK_MODALITY = {
    "keyword_spotting": "audio", "audio_event_detection": "audio", "audio_classification": "audio",
    "streaming_wakeword": "audio", "speech_enhancement": "audio",
    "visual_wake_words": "image", "person_detection": "image", "image_classification": "image",
    "object_detection": "image", "pose_estimation": "image", "pose_classification": "image",
    "semantic_segmentation": "image", "re_identification": "image",
    "gesture_recognition": "inertial", "motion_classification": "inertial", "human_activity_recognition": "inertial",
}


def front_matter(text: str, file: str = "<card>") -> dict:
    """The YAML mapping between the leading '---' lines (empty when the card has none)."""
    import yaml

    lines = text.lstrip("\ufeff").splitlines()
    if not lines or lines[0].strip() != "---":
        return {}
    for end in range(1, len(lines)):
        if lines[end].strip() in ("---", "..."):
            break
    else:
        raise InputError(file, "line 1", "front matter opened with '---' is never closed by a '---' line")
    try:
        data = yaml.safe_load("\n".join(lines[1:end]))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 2}, column {mark.column + 1}" if mark else "front matter"
        raise InputError(file, where, f"invalid YAML: {getattr(exc, 'problem', None) or exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(file, "front matter", f"expected a YAML mapping of keys, found {type(data).__name__}")
    return data


def _as_list(value) -> list:
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple)):
        return [v for v in value if v not in (None, "")]
    if isinstance(value, str) and "," in value:
        return [v.strip() for v in value.split(",") if v.strip()]
    return [value]


def task_name(text: str) -> str:
    """'Keyword Spotting' / 'keyword-spotting' -> 'keyword_spotting'."""
    return re.sub(r"[^a-z0-9]+", "_", str(text).strip().lower()).strip("_")


def accuracy_percent(value, file: str, field: str) -> float:
    """A percentage 0-100 from 91.4, '91.4%', or a fraction 0.914."""
    text = str(value).strip()
    pct = text.endswith("%")
    try:
        x = float(text.rstrip("%").strip())
    except ValueError as exc:
        raise InputError(file, field, f"expected a number (percent), found {value!r}") from exc
    if not pct and 0 <= x <= 1:
        x *= 100
    if not 0 <= x <= 100:
        raise InputError(file, field, f"accuracy must be between 0 and 100 percent, found {value!r}")
    return x


def sensors_from(values, file: str, field: str) -> list[str]:
    out: list[str] = []
    for v in _as_list(values):
        key = str(v).strip().lower()
        classes = SENSORS.get(key) or SENSORS.get(key.rstrip("s"))
        if classes is None:
            raise InputError(file, field, f"unknown sensor {v!r}; expected one of {', '.join(sorted(SENSORS))}")
        out += [c for c in classes if c not in out]
    return out


def card_facts(card: str | Path | dict, file: str | None = None) -> dict:
    """Facts from a model card (a path to README.md, or an already parsed mapping)."""
    if isinstance(card, dict):
        data, file = card, file or "<card>"
    else:
        path = Path(card)
        file = file or str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise InputError(file, None, "model card not found") from exc
        except UnicodeDecodeError as exc:
            raise InputError(file, None, "model card is not UTF-8 text") from exc
        data = front_matter(text, file)
    facts: dict = {"metrics": []}
    if data.get("license"):
        facts["license"] = str(data["license"])
    facts["tags"] = [str(t) for t in _as_list(data.get("tags"))]
    facts["datasets"] = [str(d) for d in _as_list(data.get("datasets"))]
    if data.get("dataset"):
        facts["datasets"] = [str(data["dataset"])] + [d for d in facts["datasets"] if d != str(data["dataset"])]
    facts["base_model"] = [str(b) for b in _as_list(data.get("base_model"))]
    for key in ("name", "model_name"):
        if data.get(key):
            facts["name"] = str(data[key])
            break
    for key in ("description", "creator", "library_name", "pipeline_tag", "runtime", "category"):
        if data.get(key):
            facts[key] = str(data[key])
    if data.get("task"):
        facts["task"] = task_name(data["task"])
    elif data.get("pipeline_tag"):
        facts["task"] = task_name(data["pipeline_tag"])
    # metrics: the card's own accuracy key, then model-index results
    if data.get("accuracy") not in (None, ""):
        facts["metrics"].append({
            "name": str(data.get("accuracy_metric") or "top1_accuracy_pct"),
            "value": accuracy_percent(data["accuracy"], file, "accuracy"),
            "dataset": facts["datasets"][0] if facts["datasets"] else None,
        })
    for i, entry in enumerate(_as_list(data.get("model-index"))):
        if not isinstance(entry, dict):
            continue
        for j, result in enumerate(_as_list(entry.get("results"))):
            if not isinstance(result, dict):
                continue
            ds = result.get("dataset") or {}
            ds_name = (ds.get("name") or ds.get("type")) if isinstance(ds, dict) else str(ds)
            for k, metric in enumerate(_as_list(result.get("metrics"))):
                if not isinstance(metric, dict) or metric.get("value") is None:
                    continue
                try:
                    value = float(str(metric["value"]).rstrip("%"))
                except ValueError as exc:
                    raise InputError(file, f"model-index.{i}.results.{j}.metrics.{k}.value", f"expected a number, found {metric['value']!r}") from exc
                facts["metrics"].append({"name": str(metric.get("type") or metric.get("name") or "metric"),
                                         "value": value, "dataset": str(ds_name) if ds_name else None})
            if "task" not in facts and isinstance(result.get("task"), dict) and result["task"].get("type"):
                facts["task"] = task_name(result["task"]["type"])
    # plain metric names (HF 'metrics: [accuracy]') without values
    facts["metric_names"] = [str(m) for m in _as_list(data.get("metrics")) if isinstance(m, str)]
    sensor_value = data.get("sensors", data.get("sensor"))
    facts["sensors"] = sensors_from(sensor_value, file, "sensor") if sensor_value else []
    if data.get("modality"):
        facts["modality"] = modality_name(data["modality"], file, "modality")
    return facts


def modality_name(value, file: str, field: str) -> str:
    m = str(value).strip().lower()
    if m == "motion" or m == "imu":
        m = "inertial"
    if m not in MODALITIES:
        raise InputError(file, field, f"unknown modality {value!r}; expected one of {', '.join(MODALITIES)}")
    return m


def merge_overrides(facts: dict, task: str | None = None, dataset: str | None = None, name: str | None = None,
                    sensors=None, modality: str | None = None) -> dict:
    """The card's facts with the command-line flags applied (flags win)."""
    out = dict(facts)
    if task:
        out["task"] = task_name(task)
    if dataset:
        out["datasets"] = [dataset] + [d for d in out.get("datasets", []) if d != dataset]
    if name:
        out["name"] = name
    if sensors:
        out["sensors"] = sensors_from(sensors, "<command line>", "--sensor")
    if modality:
        out["modality"] = modality_name(modality, "<command line>", "--modality")
    return out


def card_modality(facts: dict) -> tuple[str | None, str | None]:
    """(modality, basis) the card implies: stated, from its sensors, or from its task."""
    if facts.get("modality"):
        return facts["modality"], "card"
    for s in facts.get("sensors", []):
        if s in SENSOR_MODALITY:
            return SENSOR_MODALITY[s], "sensor"
    if facts.get("task") in TASK_MODALITY:
        return TASK_MODALITY[facts["task"]], "task"
    pipeline = facts.get("pipeline_tag", "")
    if pipeline.startswith("audio") or "speech" in pipeline:
        return "audio", "task"
    if pipeline.startswith("image") or pipeline in ("object-detection", "depth-estimation"):
        return "image", "task"
    return None, None
