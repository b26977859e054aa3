"""Model cards (Hugging Face YAML front matter) become facts and triples; flags win."""
import pytest
from rdflib import URIRef

from kg import demo
from kg.errors import InputError
from kg.ids import AR, dataset_iri, model_iri, task_iri
from kg.model_card import card_facts, front_matter, merge_overrides
from kg.models import describe_model
from kg.validation import validate

CARD = """---
license: apache-2.0
tags: [tinyml, keyword-spotting]
datasets:
  - speech_commands_v2
metrics: [accuracy]
pipeline_tag: audio-classification
base_model: google/micro-speech
sensor: microphone
accuracy: 0.921
model-index:
  - name: yes-no
    results:
      - task: {type: audio-classification}
        dataset: {name: speech_commands_v2, type: speech_commands}
        metrics:
          - {type: f1, value: 88.5}
---
# Yes / no

Prose the parser ignores.
"""


@pytest.fixture
def card(tmp_path):
    path = tmp_path / "README.md"
    path.write_text(CARD)
    return path


def test_front_matter_to_facts(card):
    f = card_facts(card)
    assert f["license"] == "apache-2.0"
    assert f["tags"] == ["tinyml", "keyword-spotting"]
    assert f["datasets"] == ["speech_commands_v2"]
    assert f["task"] == "audio_classification"  # from pipeline_tag, no task key
    assert f["base_model"] == ["google/micro-speech"]
    assert f["sensors"] == ["Microphone"]
    assert f["metric_names"] == ["accuracy"]
    assert {"name": "top1_accuracy_pct", "value": pytest.approx(92.1), "dataset": "speech_commands_v2"} in f["metrics"]
    assert {"name": "f1", "value": 88.5, "dataset": "speech_commands_v2"} in f["metrics"]


def test_flags_override_the_card(card):
    f = merge_overrides(card_facts(card), task="Keyword Spotting", dataset="my_words", name="yes-no-v2")
    assert f["task"] == "keyword_spotting"
    assert f["datasets"][0] == "my_words"
    assert f["name"] == "yes-no-v2"


def test_card_and_flags_in_the_graph(card):
    d = describe_model(demo.MODELS / "Micro_Speech_Yes_No_1.tflite", card=card, task="keyword_spotting")
    g, m = d.graph, URIRef(d.iri)
    assert d.iri == model_iri("Micro_Speech_Yes_No_1")
    assert (m, AR.performsTask, URIRef(task_iri("keyword_spotting"))) in g
    assert (m, AR.trainedOn, URIRef(dataset_iri("speech_commands_v2"))) in g
    assert (m, AR.requiresSensor, AR.Microphone) in g
    assert (m, AR.hasModality, AR.Audio) in g  # from the sensor; the shape [1,1960] says nothing
    assert (m, AR.baseModel, URIRef(model_iri("google/micro-speech"))) in g
    assert str(g.value(m, AR.license)) == "apache-2.0"
    values = sorted(float(g.value(x, AR.metricValue)) for x in g.objects(m, AR.hasMetric))
    assert values == [88.5, pytest.approx(92.1)]
    assert validate(g) == []


def test_card_as_mapping_and_demo_rows():
    rows = {r["name"]: r for r in demo.models_table()}
    assert len(rows) == 23
    d = describe_model(demo.MODELS / "Snoring_Guardian.tflite", card=demo.model_card(rows["Snoring_Guardian"]))
    f = d.facts
    assert f["task"] == "audio_event_detection" and f["sensors"] == ["Microphone"]
    assert f["modality"] == "audio" and f["metrics"][0]["value"] == 94.6
    assert f["runtime"] == "TFLite Micro" and (URIRef(d.iri), AR.runtime, None) in d.graph
    assert validate(d.graph) == []


def test_card_without_front_matter_is_empty(tmp_path):
    path = tmp_path / "README.md"
    path.write_text("# Just prose\n")
    assert card_facts(path)["metrics"] == [] and "task" not in card_facts(path)


@pytest.mark.parametrize("text, where, match", [
    ("---\nlicense: [mit\n---\n", "line 2", "invalid YAML"),
    ("---\n- a\n- b\n---\n", "front matter", "mapping"),
    ("---\nlicense: mit\n", "line 1", "never closed"),
    ("---\naccuracy: lots\n---\n", "accuracy", "expected a number"),
    ("---\naccuracy: 130\n---\n", "accuracy", "between 0 and 100"),
    ("---\nsensor: sonar\n---\n", "sensor", "unknown sensor"),
    ("---\nmodality: smell\n---\n", "modality", "unknown modality"),
])
def test_bad_cards_name_the_field(tmp_path, text, where, match):
    path = tmp_path / "README.md"
    path.write_text(text)
    with pytest.raises(InputError, match=match) as exc:
        card_facts(path)
    assert exc.value.file == str(path) and where in exc.value.field


def test_front_matter_helper():
    assert front_matter("---\na: 1\n---\nbody") == {"a": 1}
    assert front_matter("no front matter") == {}


def test_every_demo_model_with_its_row():
    ds = demo.model_descriptions()
    assert len(ds) == 23
    by = {d.name: d.facts for d in ds}
    assert by["ARM_MicroNet_Small_anomaly_detection"]["modality"] == "audio"  # the shape alone said image
    assert by["Magic_Wand_2"]["modality"] == "inertial" and by["Person_Detection"]["sensors"] == ["Camera"]
    assert all(validate(d.graph) == [] for d in ds)
