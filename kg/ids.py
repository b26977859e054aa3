"""IRIs of the things Arachne mints, so every importer names a board, model or task the same way."""
from __future__ import annotations

import re
import unicodedata

from rdflib import Namespace

AR = Namespace("https://w3id.org/arachne#")
BASE = "https://w3id.org/arachne/"
ONTOLOGY_GRAPH = BASE + "graph/ontology"


def slug(name: str) -> str:
    """Lower-case ASCII slug: 'B-U585I-IOT02A' -> 'b-u585i-iot02a', 'Cortex M4 (F)' -> 'cortex-m4-f'."""
    text = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode()
    text = re.sub(r"[^a-zA-Z0-9._]+", "-", text).strip("-._").lower()
    if not text:
        raise ValueError(f"cannot make an identifier from {name!r}")
    return text


def _minter(kind: str):
    def mint(name: str) -> str:
        return f"{BASE}{kind}/{slug(name)}"

    mint.__doc__ = f"IRI of the {kind} called `name`."
    return mint


device_iri = _minter("device")
model_iri = _minter("model")
task_iri = _minter("task")
dataset_iri = _minter("dataset")
runtime_iri = _minter("runtime")
benchmark_iri = _minter("benchmark")
