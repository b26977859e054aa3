"""Names people type for devices, models and tasks, turned into the graph's IRIs, and the
feasibility Request built from them: the one rule the CLI and the HTTP API both follow."""
from __future__ import annotations

import json
import re

from kg import ids
from kg.errors import InputError

IRI_SCHEMES = ("http://", "https://", "urn:")
# An absolute IRI that can go between <> in SPARQL (no spaces, quotes or angle brackets).
_IRI = re.compile(r'[A-Za-z][A-Za-z0-9+.\-]*:[^\s<>"{}|^`\\]*')
_CLASSES = {"device": "ar:Device", "model": "ar:PretrainedModel", "task": "ar:Task"}
_PREFIXES = """PREFIX ar: <https://w3id.org/arachne#>
PREFIX td: <https://www.w3.org/2019/wot/td#>
PREFIX schema: <https://schema.org/>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
"""


class NotFound(InputError):
    """No entity answers to the name (or more than one does)."""


def is_iri(value: str | None) -> bool:
    return bool(_IRI.fullmatch(value or ""))


def checked_iri(value: str, what: str) -> str:
    """`value` if it is an IRI that is safe in a query, else an InputError naming `what`."""
    if not is_iri(value):
        raise InputError(None, what, f"{value!r} is not an IRI")
    return value


def _minted(kind: str, name: str) -> str | None:
    try:
        return getattr(ids, f"{kind}_iri")(name)
    except ValueError:  # nothing left of the name to make a slug from
        return None


def resolve(store, kind: str, value: str) -> str:
    """The IRI of a device, model or task named by `value`: an IRI as given, the short name
    Arachne mints ('arduino-nano-33-ble-sense'), or a title / schema:name / label (any case,
    when exactly one entity has it). Devices and models must be in `store` (NotFound else);
    a task nobody performs yet keeps its minted IRI."""
    value = value.strip()
    if value.startswith(IRI_SCHEMES):
        iri = checked_iri(value, kind)
        if kind == "task" or store.query(f"ASK {{ <{iri}> ?p ?o }}"):
            return iri
        raise NotFound(None, kind, f"no {kind} {iri}")
    iri = _minted(kind, value)
    if iri and store.query(f"ASK {{ <{iri}> ?p ?o }}"):
        return iri
    rows = store.select(f"""{_PREFIXES} SELECT DISTINCT ?x WHERE {{
        {{ ?x a {_CLASSES[kind]} }} UNION {{ ?m ar:performsTask ?x FILTER("{kind}" = "task") }}
        ?x td:title|schema:name|rdfs:label ?n FILTER(LCASE(STR(?n)) = LCASE({json.dumps(value)})) }} LIMIT 2""")
    if len(rows) == 1:
        return rows.column("x")[0]
    if iri and kind == "task":
        return iri
    raise NotFound(None, kind, f"no {kind} called {value!r}" if len(rows) == 0 else
                   f"{value!r} names more than one {kind}; give its IRI")


def task_ref(value: str | None) -> str | None:
    """A task IRI from a task name ('keyword_spotting') or IRI, without looking it up."""
    if not value:
        return None
    if value.startswith(IRI_SCHEMES):
        return checked_iri(value, "task")
    iri = _minted("task", value)
    if iri is None:
        raise InputError(None, "task", f"{value!r} is not a task name")
    return iri


def make_request(device=None, task=None, modality=None, max_latency_ms=None, max_energy_uj=None,
                 reserve_ram=0, reserve_flash=0, verified_only=False, onboard_sensors=False):
    """A kg.feasibility.Request from what people type: a device IRI, a task name or IRI, an
    input modality, budgets in canonical units (ms, µJ, bytes) and the evidence flags."""
    from kg.feasibility import Request  # here: it loads the shapes, which plain name look-ups need not

    return Request(device=device, task=task_ref(task), modality=modality, max_latency_ms=max_latency_ms,
                   max_energy_uj=max_energy_uj, reserved_ram_bytes=reserve_ram or 0,
                   reserved_flash_bytes=reserve_flash or 0, verified_only=bool(verified_only),
                   onboard_sensors=bool(onboard_sensors))
