"""SHACL validation with messages a person understands: which node, which property, expected vs found."""
from __future__ import annotations

from dataclasses import dataclass

from pyshacl import validate as shacl_validate
from rdflib import Graph, Literal, Namespace, URIRef
from rdflib.namespace import RDF

import shapes

SH = Namespace("http://www.w3.org/ns/shacl#")
_PREFIXES = {
    "https://w3id.org/arachne#": "ar:",
    "https://w3id.org/arachne/": "arachne:",
    "https://schema.org/": "schema:",
    "https://www.w3.org/2019/wot/td#": "td:",
    "http://www.w3.org/ns/sosa/": "sosa:",
}


def short(term) -> str:
    """Compact, readable form of an RDF term for messages."""
    if term is None:
        return "nothing"
    if isinstance(term, Literal):
        dt = f" ({short(term.datatype)})" if term.datatype else ""
        return f'"{term}"{dt}'
    text = str(term)
    for ns, prefix in _PREFIXES.items():
        if text.startswith(ns):
            return prefix + text[len(ns):]
    if text.startswith("http://www.w3.org/2001/XMLSchema#"):
        return "xsd:" + text.split("#", 1)[1]
    return f"<{text}>" if isinstance(term, URIRef) else f"_:{text}"


@dataclass(frozen=True)
class Violation:
    node: str
    path: str | None
    message: str
    found: str
    severity: str = "Violation"

    def __str__(self) -> str:
        where = f"{self.node} {self.path}" if self.path else self.node
        return f"{where}: {self.message}; found {self.found}"


def _violations(report: Graph) -> list[Violation]:
    out = []
    for result in report.subjects(RDF.type, SH.ValidationResult):
        path = report.value(result, SH.resultPath)
        value = report.value(result, SH.value)
        message = report.value(result, SH.resultMessage)
        severity = report.value(result, SH.resultSeverity)
        if value is None and path is not None:
            found = "nothing"
        else:
            found = short(value) if value is not None else "a non-conforming node"
        out.append(
            Violation(
                node=short(report.value(result, SH.focusNode)),
                path=short(path) if path is not None else None,
                message=str(message) if message else short(report.value(result, SH.sourceConstraintComponent)),
                found=found,
                severity=str(severity).rsplit("#", 1)[-1] if severity else "Violation",
            )
        )
    return sorted(out, key=lambda v: (v.node, v.path or "", v.message))


def validate(data: Graph, shapes_graph: Graph | None = None) -> list[Violation]:
    """Validate `data` against the project's shapes (or the given ones); [] when it conforms.

    SHACL-SPARQL constraints are enabled (`advanced`), no inference is run so
    that validation sees exactly what will be stored."""
    conforms, report, _ = shacl_validate(
        data,
        shacl_graph=shapes_graph if shapes_graph is not None else shapes.shapes_graph(),
        inference="none",
        advanced=True,
        allow_warnings=True,
    )
    if conforms:
        return []
    return [v for v in _violations(report) if v.severity == "Violation"]
