"""Ranking-quality benchmark: every ranker of ranker/ on the real data in ../shared/data.

Usage: python benchmarks/ranking_quality.py [DATA_DIR] [--fast]
Prints one `name: value` line per figure on stdout (progress on stderr).
tau_w = weighted Kendall tau, scipy.stats.weightedtau(truth, pred, rank=None).
Without the shared data it prints nothing on stdout, says why on stderr and exits 0 (skip).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ranker.evaluation import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
