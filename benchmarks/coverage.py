"""How much of the demo registry the feasibility answer covers: boards with candidates, pairs per
outcome (fits / likely / does not fit), measured pairs reported as not fitting, and the
(board, task) pairs with a benchmark record for which `recommend` returns nothing.

    python benchmarks/coverage.py                    # builds the demo registry in memory
    python benchmarks/coverage.py --store DIR        # an existing store (e.g. `arachne --store DIR demo`)
    python benchmarks/coverage.py --verified-only --onboard-sensors   # the strict answer

Prints `name: value unit` lines.
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter

from kg.feasibility import DOES_NOT_FIT, FITS, LIKELY, Request, check_pairs
from kg.ids import AR
from kg.store import Store

_BENCHMARKED = f"""
SELECT DISTINCT ?device ?task WHERE {{
  ?b <{AR.ofModel}> ?model ; <{AR.onDevice}> ?device . ?model <{AR.performsTask}> ?task .
  ?device a <{AR.Device}> }}"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", help="store folder (default: build the demo registry in memory)")
    ap.add_argument("--verified-only", action="store_true", help="only 'fits' counts as a candidate")
    ap.add_argument("--onboard-sensors", action="store_true", help="a missing on-board sensor excludes")
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
    devices = {c.device for c in checks}
    with_candidates = {c.device for c in checks if c.feasible}
    outcomes = Counter(c.outcome for c in checks)
    measured_not_fit = sum(1 for c in checks if c.facts.get("records") and not c.feasible)
    benchmarked = store.select(_BENCHMARKED).values()
    empty = 0
    for device, task in benchmarked:
        rec = recommend(store, Request(device=device, task=task, verified_only=args.verified_only,
                                       onboard_sensors=args.onboard_sensors), k=1)
        empty += not rec.rows
    print(f"boards_total: {len(devices)} boards")
    print(f"boards_with_candidates: {len(with_candidates)} boards")
    print(f"pairs_total: {len(checks)} pairs")
    print(f"pairs_fits: {outcomes[FITS]} pairs")
    print(f"pairs_likely: {outcomes[LIKELY]} pairs")
    print(f"pairs_does_not_fit: {outcomes[DOES_NOT_FIT]} pairs")
    print(f"pairs_feasible: {sum(c.feasible for c in checks)} pairs")
    print(f"measured_pairs_reported_not_fit: {measured_not_fit} pairs")
    print(f"benchmarked_board_task_pairs: {len(benchmarked)} pairs")
    print(f"recommend_empty_for_benchmarked_task: {empty} pairs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
