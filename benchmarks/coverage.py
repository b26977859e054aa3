"""How much of the demo registry the feasibility answer covers: boards with candidates, pairs per
outcome (fits / likely / does not fit), measured pairs reported as not fitting, the (board, task)
cells of the explorer's matrix with candidates, and the (board, task) pairs with a benchmark
record for which `recommend` returns nothing. Also times the board x task matrix (one full
check of every pair), which /ui/matrix computes once per store generation.

    python benchmarks/coverage.py                    # builds the demo registry in memory
    python benchmarks/coverage.py --store DIR        # an existing store (e.g. `arachne --store DIR demo`)
    python benchmarks/coverage.py --verified-only --onboard-sensors   # the strict answer

Prints `name: value unit` lines.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

from kg.coverage import board_task_matrix, candidates, summary
from kg.feasibility import Request, check_pairs
from kg.ids import AR
from kg.store import Store

_BENCHMARKED = f"""
SELECT DISTINCT ?device ?task WHERE {{
  ?b <{AR.ofModel}> ?model ; <{AR.onDevice}> ?device . ?model <{AR.performsTask}> ?task .
  ?device a <{AR.Device}> }}"""
UNITS = {"boards_total": "boards", "boards_with_candidates": "boards"}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", help="store folder (default: build the demo registry in memory)")
    ap.add_argument("--verified-only", action="store_true", help="only 'fits' counts as a candidate")
    ap.add_argument("--onboard-sensors", action="store_true", help="a missing on-board sensor excludes")
    ap.add_argument("--matrix-runs", type=int, default=3, help="timed runs of the board x task matrix")
    args = ap.parse_args(argv)
    if args.store:
        store = Store(args.store, read_only=True)
    else:
        from kg.demo_registry import build

        store = Store()
        build(store, progress=False)
    from ranker.recommend import recommend

    request = Request(verified_only=args.verified_only, onboard_sensors=args.onboard_sensors)
    checks = check_pairs(store, request=request)
    for name, value in summary(checks).items():
        print(f"{name}: {value} {UNITS.get(name, 'pairs')}")
    times = []
    for _ in range(max(1, args.matrix_runs)):
        start = time.perf_counter()
        matrix = board_task_matrix(store, request)  # as the explorer's page computes it: check_pairs included
        times.append(time.perf_counter() - start)
    with_candidates = sum(1 for cell in matrix.values() if candidates(cell, args.verified_only))
    print(f"board_task_cells: {len(matrix)} cells")
    print(f"board_task_cells_with_candidates: {with_candidates} cells")
    print(f"board_task_matrix_p50: {statistics.median(times) * 1000:.0f} ms")
    benchmarked = store.select(_BENCHMARKED).values()
    empty = 0
    for device, task in benchmarked:
        rec = recommend(store, Request(device=device, task=task, verified_only=args.verified_only,
                                       onboard_sensors=args.onboard_sensors), k=1)
        empty += not rec.rows
    print(f"benchmarked_board_task_pairs: {len(benchmarked)} pairs")
    print(f"recommend_empty_for_benchmarked_task: {empty} pairs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
