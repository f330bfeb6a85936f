"""Regenerate the stored TFLM + CMSIS-NN instruction model and its CPI table from the measured data.

Reads layers.csv / models.csv / models/*.tflite of the data set (default ../shared/data/tflm_kernels next
to the repository), parses every model with `parse_tflite` (the run-time code path), verifies the join,
fits the per-core kernel-group coefficients and writes device_profiles/latency/instructions.json. Then
re-derives device_profiles/latency/cpi.json (predicted instructions and CPI of every published MLPerf Tiny
run, from the .tflite files in ../shared/models/mlperf_tiny/; the published figures themselves are inputs
kept in that file). Output is deterministic (sorted keys, rounded numbers).

Run:  python benchmarks/fit_latency_model.py [DATASET] [--out FILE] [--cpi FILE] [--mlperf DIR] [--check]
      --check: write nothing; exit 1 if a stored file differs from what the fit produces.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "tflm_kernels"
DEFAULT_MLPERF = ROOT.parent / "shared" / "models" / "mlperf_tiny"
LATENCY_DIR = ROOT / "device_profiles" / "latency"


def fit_documents(dataset: Path, cpi_file: Path,
                  mlperf: Path) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(instruction model, CPI table or None when cpi_file is missing) fitted from `dataset`."""
    from device_profiles.latency.cpi import recompute
    from device_profiles.latency.dataset import load_dataset
    from device_profiles.latency.fitting import fit_predictor
    from device_profiles.latency.predictor import predictor_from_document
    from device_profiles.tflite_model import parse_tflite

    ds = load_dataset(dataset)
    if ds.mismatches:
        raise SystemExit("error: layers do not join with the parsed models:\n  "
                         + "\n  ".join(ds.mismatches[:20]))
    doc = fit_predictor(ds)
    if not cpi_file.is_file():
        return doc, None

    def instructions(core: str, path: Path) -> dict[str, float]:
        from device_profiles.latency import group_instructions

        return group_instructions(predictor_from_document(core, doc), parse_tflite(path).layers)

    return doc, recompute(json.loads(cpi_file.read_text()), instructions, mlperf)


def _check(path: Path, fresh: dict[str, Any]) -> bool:
    from device_profiles.latency.fitting import first_difference

    if not path.is_file():
        print(f"{path}: missing; run without --check to write it", file=sys.stderr)
        return False
    diff = first_difference(json.loads(path.read_text()), fresh)
    if diff is not None:
        print(f"{path}: differs from the fit at {diff}; re-run without --check", file=sys.stderr)
        return False
    print(f"{path}: up to date")
    return True


def main(argv: list[str] | None = None) -> int:
    from device_profiles.latency.fitting import dumps

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", nargs="?", type=Path, default=DEFAULT_DATA, help="tflm_kernels folder")
    ap.add_argument("--out", type=Path, default=LATENCY_DIR / "instructions.json", help="model JSON")
    ap.add_argument("--cpi", type=Path, default=LATENCY_DIR / "cpi.json",
                    help="CPI table JSON (published inputs + derived figures)")
    ap.add_argument("--mlperf", type=Path, default=DEFAULT_MLPERF,
                    help="folder of the MLPerf Tiny reference .tflite files")
    ap.add_argument("--check", action="store_true", help="exit 1 if a stored file differs from a fresh fit")
    args = ap.parse_args(argv)
    if not (args.dataset / "layers.csv").is_file():
        print(f"error: {args.dataset}: no layers.csv; pass the tflm_kernels data folder", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    doc, cpi = fit_documents(args.dataset, args.cpi, args.mlperf)
    print(f"fitted {doc['models_fitted']} models on {', '.join(doc['cores'])} in "
          f"{time.perf_counter() - t0:.1f} s; join verified (0 mismatches)")
    if cpi is None:
        print(f"note: {args.cpi} not found; CPI table not derived", file=sys.stderr)
    if args.check:
        ok = _check(args.out, doc) and (cpi is None or _check(args.cpi, cpi))
        return 0 if ok else 1
    args.out.write_text(dumps(doc))
    print(f"wrote {args.out}")
    if cpi is not None:
        args.cpi.write_text(dumps(cpi))
        print(f"wrote {args.cpi}")
        for fam, e in sorted(cpi["families"].items()):
            print(f"  {fam:11s} cpi {e['cpi']}  ({e['runs']} runs, {e['cpi_min']} .. {e['cpi_max']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
