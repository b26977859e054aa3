"""SHACL shapes: what a valid model, device, benchmark record and request is, and the feasibility constraints."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from rdflib import Graph

HERE = Path(__file__).resolve().parent


def shape_files() -> list[Path]:
    """Every shapes file shipped with the project."""
    return sorted(HERE.glob("*.ttl"))


@lru_cache(maxsize=None)
def shapes_graph(*names: str) -> Graph:
    """The shapes as one rdflib graph (all files, or only the named stems such as 'core')."""
    graph = Graph()
    for path in shape_files():
        if not names or path.stem in names:
            graph.parse(path, format="turtle")
    return graph
