"""The bundled demo registry: the project's own data files (kg/demo/) loaded into a store:
the 23 TinyML model files described from their bytes, the MLPerf Tiny and STM32 model-zoo
results as benchmark records (the MLPerf Tiny reference models joined to their files' facts, as
`arachne import-model FILE --describes MODEL` joins them), and a Thing Description for every board."""
from __future__ import annotations

from rich.progress import Progress

from kg import demo
from kg.benchmarks import import_benchmarks
from kg.errors import InputError
from kg.loading import init_store, stats
from kg.models import describe_attachment, store_models
from kg.store import Store
from kg.validation import validate


def _checked(graphs: dict) -> dict:
    for name, graph in graphs.items():
        problems = validate(graph)
        if problems:  # our own data: a violation is a bug in the project, say so loudly
            raise InputError(name, problems[0].path, f"demo data does not conform: {problems[0]}")
    return graphs


def build(store: Store, progress: bool = True) -> dict[str, int]:
    """Fill `store` with the demo registry and return its stats."""
    init_store(store)
    from kg import td

    tds = demo.td_files()
    files = demo.model_files()
    tables = demo.benchmark_tables()
    attached = demo.attached_files()
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("demo registry", total=len(tds) + len(files) + len(tables) + len(attached))
        report = td.import_paths(store, tds, workers=1)
        if report.rejected:  # our own data: a rejection is a bug in the project
            raise report.rejected[0].as_input_error()
        bar.advance(task, len(tds))
        graphs = {}
        for description in demo.model_descriptions():
            graphs[description.iri] = description.graph
            bar.advance(task)
        for path in tables.values():
            graphs.update(import_benchmarks(path, "csv").graphs())
            bar.advance(task)
        store.put_graphs(_checked(graphs))
        # The files join descriptions the store holds now (the benchmark tables' models).
        joined = []
        for path, model in attached:
            joined.append(describe_attachment(store, path, model))
            bar.advance(task)
        store_models(store, joined)
    return stats(store)
