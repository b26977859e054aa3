"""The knowledge graph: store backends, importers, validation and named queries."""
