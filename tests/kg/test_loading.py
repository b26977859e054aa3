"""Bad input is rejected with a readable message and leaves the store as it was."""
import pytest
from rdflib import URIRef

from kg.errors import InputError
from kg.ids import AR
from kg.loading import check_file, file_graph_name, init_store, load_files
from kg.store import Store

GOOD = """@prefix ar: <https://w3id.org/arachne#> . @prefix schema: <https://schema.org/> .
<https://w3id.org/arachne/model/tiny> a ar:PretrainedModel ; schema:name "tiny" ;
    ar:arenaBytes 1024 ; ar:modelBytes 2048 ; ar:hasFormat ar:TFLite .
"""


@pytest.fixture
def store():
    s = Store()
    init_store(s)
    return s


def test_good_file_loads(store, tmp_path):
    path = tmp_path / "tiny.ttl"
    path.write_text(GOOD)
    load_files(store, [path])
    graph = store.get_graph(file_graph_name(path))
    # The file's 5 triples, plus the model's link into the requirement index (kg/requirements.py).
    assert len(graph) == 6
    assert graph.value(URIRef("https://w3id.org/arachne/model/tiny"), AR.requirementClass) is not None


def test_malformed_turtle_names_file_and_line_and_changes_nothing(store, tmp_path):
    good = tmp_path / "good.ttl"
    good.write_text(GOOD)
    bad = tmp_path / "bad.ttl"
    bad.write_text('@prefix ex: <http://ex/> .\nex:a ex:b ex:c .\nex:d ex:e "unterminated .\n')
    before = store.count()
    with pytest.raises(InputError) as info:
        load_files(store, [good, bad])  # the good file must not be written either
    message = str(info.value)
    assert "bad.ttl" in message and "line 3" in message
    assert store.count() == before


def test_shacl_invalid_model_is_rejected_with_node_property_expected_and_found(store, tmp_path):
    bad = tmp_path / "model.ttl"
    bad.write_text(GOOD.replace("ar:arenaBytes 1024", 'ar:arenaBytes "lots"'))
    before = store.count()
    with pytest.raises(InputError) as info:
        load_files(store, [bad])
    message = str(info.value)
    assert "model.ttl" in message
    assert "arachne:model/tiny" in message  # which node
    assert "ar:arenaBytes" in message  # which property
    assert "in bytes" in message  # what was expected
    assert '"lots"' in message  # what was found
    assert store.count() == before


def test_every_violation_is_reported(tmp_path):
    bad = tmp_path / "model.ttl"
    bad.write_text(GOOD.replace('schema:name "tiny" ;', "").replace("ar:modelBytes 2048", "ar:modelBytes -5"))
    with pytest.raises(InputError) as info:
        check_file(bad)
    fields = " ".join(f for f, _ in info.value.problems)
    assert "schema:name" in fields and "ar:modelBytes" in fields


def test_unknown_file_type(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("a: 1")
    with pytest.raises(InputError, match="unknown RDF file type"):
        check_file(path)
