import io
import shutil

import pytest
from rdflib import OWL, RDF, URIRef

import ontology
from ontology import ontology_graph, unit_of

AR = ontology.NAMESPACE


def test_every_quantity_has_its_canonical_unit():
    assert unit_of("ramBytes") == "byte"
    assert unit_of("arenaBytes") == "byte"
    assert unit_of("latencyMs") == "ms"
    assert unit_of("energyUJ") == "uJ"
    assert unit_of("clockMHz") == "MHz"


def test_device_is_a_td_thing_and_models_align_with_nnet():
    g = ontology_graph()
    assert (URIRef(AR + "Device"), URIRef("http://www.w3.org/2000/01/rdf-schema#subClassOf"),
            URIRef("https://www.w3.org/2019/wot/td#Thing")) in g
    assert (URIRef(AR + "PretrainedModel"), OWL.equivalentClass,
            URIRef("http://tinyml-schema.org/networkschema#NeuralNetwork")) in g
    assert (URIRef(AR + "BenchmarkRecord"), RDF.type, OWL.Class) in g


def test_hermit_finds_the_ontology_consistent():
    if shutil.which("java") is None:
        pytest.skip("HermiT needs a Java runtime and none is installed")
    import owlready2

    world = owlready2.World()
    nt = ontology_graph().serialize(format="nt", encoding="utf-8")
    onto = world.get_ontology("https://w3id.org/arachne").load(fileobj=io.BytesIO(nt), format="ntriples")
    assert len(list(onto.classes())) > 20
    with onto:
        # Raises OwlReadyInconsistentOntologyError when the axioms contradict each other.
        owlready2.sync_reasoner_hermit(world, infer_property_values=False, debug=0)
    assert list(world.inconsistent_classes()) == []
