"""Ranking-quality benchmark: every ranker of ranker/ on the real data in ../shared/data.

Usage: python benchmarks/ranking_quality.py [DATA_DIR] [--fast] [--stm32-only] [--chart PNG]
Prints one `name: value` line per figure on stdout (progress on stderr) and draws
the STM32 prediction-quality curve (default benchmarks/out/stm32_prediction_quality.png).
tau_w = weighted Kendall tau, scipy.stats.weightedtau(truth, pred, rank=None).
Every learned figure has the simple baselines beside it (popularity = mean z-scored accuracy
on the other datasets, parameter count, MACs/GFLOPs, random): the transfer tables (Model
Spider, multi-source, STM32 accuracy) leave-one-dataset-out with a paired bootstrap interval
of learned minus each baseline, and the digits zoo. Takes ~1-2 min; --fast for a quick check.
STM32 hardware section: Shadow with the cost model (ranker/cost_model.py; `_ridge_gbr`
= today's regressor), the latency-budget decision (regret and violations per method) and
Fusion without accuracy features; --stm32-only runs just that section.
Without the shared data it prints nothing on stdout, says why on stderr and exits 0 (skip).
"""
import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ranker.evaluation import STM32_ERROR_SHARES, default_data_dir, format_results, log, run_all  # noqa: E402


def draw_curve(res: dict, path: Path) -> None:
    """Shadow vs hardware-only as the latency/RAM prediction error shrinks."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    x = [100 * s for s in STM32_ERROR_SHARES]
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for name, label, style in (("shadow", "Shadow (accuracy + latency + RAM)", "o-"),
                               ("hw_only", "hardware only (latency + RAM)", "s--")):
        ax.plot(x, [res[f"stm32_curve_err{round(v)}pct_{name}_tau_w"] for v in x], style, label=label)
    ax.axhline(res["stm32_task_only_tau_w"], color="grey", lw=1, ls=":", label="task only (accuracy)")
    ax.invert_xaxis()
    ax.set_xlabel("prediction error kept, % (100 = as predicted for the held-out board)")
    ax.set_ylabel("weighted Kendall tau vs ground truth")
    ax.set_title(f"STM32 zoo, leave-one-board-out ({int(res['stm32_groups'])} groups)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data_dir", nargs="?", type=Path, default=None)
    ap.add_argument("--fast", action="store_true", help="fewer epochs and seeds (smoke run)")
    ap.add_argument("--stm32-only", action="store_true", help="only the STM32 hardware-aware section")
    ap.add_argument("--chart", type=Path, default=ROOT / "benchmarks" / "out" / "stm32_prediction_quality.png")
    args = ap.parse_args()
    data_dir = args.data_dir or default_data_dir()
    if not data_dir.is_dir():
        # Skip, not fail: the data is optional beside a checkout.
        log(f"skipped: shared data not found at {data_dir} (pass a path or set ARACHNE_SHARED_DATA)")
        return 0
    if args.stm32_only:
        from ranker.evaluation import evaluate_stm32

        res = evaluate_stm32(data_dir, fusion_epochs=60 if args.fast else 150)
    else:
        res = run_all(data_dir, fast=args.fast)
    print(format_results(res), flush=True)
    draw_curve(res, args.chart)
    log(f"chart: {args.chart}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
