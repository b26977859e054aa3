"""Fixtures of the ranker tests."""
import pytest


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory):
    """(store, path): a demo registry of the test module's own, open (its tests may close it)."""
    from kg.demo_registry import build
    from kg.store import Store

    path = tmp_path_factory.mktemp("store") / "demo"
    s = Store(path)
    build(s, progress=False)
    return s, path
