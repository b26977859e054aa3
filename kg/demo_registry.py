"""The bundled demo registry: the project's own data files (kg/demo/) loaded into a store."""
from __future__ import annotations

from kg.loading import init_store, stats
from kg.store import Store


def build(store: Store) -> dict[str, int]:
    """Fill `store` with the demo registry and return its stats."""
    init_store(store)
    return stats(store)
