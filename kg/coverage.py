"""How much of a registry the feasibility answer covers, counted from one full check of every
(model, device) pair (kg.feasibility.check_pairs): outcomes over the registry, and the
board x task matrix of outcomes the explorer shows (/ui/matrix) and benchmarks/coverage.py prints."""
from __future__ import annotations

from collections import Counter

from kg.feasibility import DOES_NOT_FIT, FITS, LIKELY, PairCheck, Request, check_pairs
from kg.ids import AR
from kg.store import Store

OUTCOMES = (FITS, LIKELY, DOES_NOT_FIT)


def model_tasks(store: Store) -> dict[str, list[str]]:
    """Each model's tasks (a model may perform several; one without a task is absent)."""
    tasks: dict[str, list[str]] = {}
    for model, task in store.select(f"SELECT DISTINCT ?m ?t WHERE {{ ?m <{AR.performsTask}> ?t }}").values():
        tasks.setdefault(model, []).append(task)
    return tasks


def board_task_matrix(store: Store, request: Request = Request(),
                      checks: list[PairCheck] | None = None) -> dict[tuple[str, str], dict[str, int]]:
    """{(device, task): {"fits": n, "likely": n, "does not fit": n}} over every pair of the
    registry; a model counts in each task it performs. `checks`: the pairs already checked
    with `request` (check_pairs runs once otherwise)."""
    if checks is None:
        checks = check_pairs(store, request=request)
    tasks = model_tasks(store)
    cells: dict[tuple[str, str], Counter] = {}
    for c in checks:
        for task in tasks.get(c.model, ()):
            cells.setdefault((c.device, task), Counter())[c.outcome] += 1
    return {key: {o: counts[o] for o in OUTCOMES} for key, counts in cells.items()}


def candidates(cell: dict[str, int], verified_only: bool = False) -> int:
    """The models of a matrix cell that `recommend` ranks: fits, and likely unless verified only."""
    return cell[FITS] + (0 if verified_only else cell[LIKELY])


def summary(checks: list[PairCheck]) -> dict[str, int]:
    """Registry-wide counts of one check_pairs answer: boards, boards with a candidate, pairs
    per outcome, feasible pairs, and measured pairs (a benchmark record: proof the model runs
    there) that the answer still leaves out."""
    outcomes = Counter(c.outcome for c in checks)
    return {"boards_total": len({c.device for c in checks}),
            "boards_with_candidates": len({c.device for c in checks if c.feasible}),
            "pairs_total": len(checks),
            **{f"pairs_{o.replace(' ', '_')}": outcomes[o] for o in OUTCOMES},
            "pairs_feasible": sum(c.feasible for c in checks),
            "measured_pairs_reported_not_fit": sum(1 for c in checks if c.facts.get("records") and not c.feasible)}
