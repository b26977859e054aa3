"""How fast model files are described: the 23 demo TinyML models through
kg.models.describe_model (parse, MACs, parameters, TFLM arena in its worker, RDF).

    python benchmarks/extract_models.py [--passes 3] [DIR]

Prints `models: N`, `models_per_second: X models/s` (warm: the TFLM worker already
running, best of the passes) and `first_model_seconds: S s` (cold start, worker launch
included). Progress goes to stderr.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.progress import Progress  # noqa: E402

from kg import demo  # noqa: E402
from kg.models import describe_model  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", nargs="?", type=Path, help="folder of .tflite/.onnx files (default: the demo models)")
    ap.add_argument("--passes", type=int, default=3)
    args = ap.parse_args(argv)
    files = sorted([*args.folder.glob("*.tflite"), *args.folder.glob("*.onnx")]) if args.folder else demo.model_files()
    if not files:
        print("no model files found", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    describe_model(files[0])
    cold = time.perf_counter() - t0
    best = float("inf")
    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("describing", total=args.passes * len(files))
        for _ in range(args.passes):
            start = time.perf_counter()
            for f in files:
                describe_model(f)
                bar.advance(task)
            best = min(best, time.perf_counter() - start)
    print(f"models: {len(files)}")
    print(f"models_per_second: {len(files) / best:.1f} models/s")
    print(f"first_model_seconds: {cold:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
