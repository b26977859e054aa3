"""The knowledge graph: store backends, importers, validation and named queries."""
# Registered with kg.store whenever any part of kg is used: the SPARQL server backend for
# http(s):// store URLs, and the requirement index as a write hook (every write keeps it current).
# kg.store knows neither; both build on it.
from kg import requirements as _requirements, sparql_store as _sparql_store  # noqa: F401
