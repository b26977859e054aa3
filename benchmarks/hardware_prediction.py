"""Hardware prediction benchmark: latency, energy and RAM from the model file, leave one board out.

Usage: python benchmarks/hardware_prediction.py [DATA_DIR]
Prints one `name: value` line per figure (progress on stderr): the mixed-effects cost
model (ranker/cost_model.py, fixed in advance; unsuffixed) beside today's regressor
(ranker.hardware.LatencyModel, `_today`) and the cost model's variants (`_cost_gbr`,
`_cost_no_slopes`, `_cost_model_effect`) on the MLPerf Tiny records joined to their
.tflite files and on the STM32 zoo; calibration with 1 and 3 records of the held-out
submission, refitted as the product refits on imported records (`_cal1_`, `_cal3_`);
leave-one-model-out (`mlperf_lomo_`); the empirical coverage and median width of the
90 % split-conformal intervals (a board nobody measured; `_cal1` / `_cal3`: a device with records
of its own, the product's leave-pairs-out interval); energy as latency x power (ranker.cost_model.EnergyModel, the
product's), beside energy fitted directly (`_cost_direct`) and today's regressor, and from a
measured latency x the predicted power (`energy_from_measured_latency`); STM32 RAM
beside the runtime's own activation buffer taken as the RAM figure (`_arena_only`); X-CUBE-AI's RAM
from the file (`xcubeai_ram_`: the product's peak activations x a learned ratio, leave one
architecture out, beside the peak activations and the TFLM arena as they are).
Without the shared data it says why on stderr and exits 0 (skip).
"""
import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ranker.evaluation import default_data_dir, evaluate_hardware_prediction, format_results, log  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data_dir", nargs="?", type=Path, default=None)
    args = ap.parse_args()
    data_dir = args.data_dir or default_data_dir()
    if not data_dir.is_dir():
        log(f"skipped: shared data not found at {data_dir} (pass a path or set ARACHNE_SHARED_DATA)")
        return 0
    t0 = time.time()
    res = evaluate_hardware_prediction(data_dir)
    print(format_results(res), flush=True)
    log(f"done in {time.time() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
