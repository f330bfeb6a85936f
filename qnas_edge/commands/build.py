"""Train, int8-quantize and compile one architecture for a board.

Writes model.tflite, arch.json, metrics.json, and model_data.cc/.h (TFLite Micro boards) or the TVM
library + manifest (Linux boards) into --out; on failure nothing is left there. Example:

    qnas-edge build --arch examples/arch_mcu.json --board nano33ble --epochs 5 --out build/mcu
"""

from __future__ import annotations

import argparse
import json
import sys

from qnas_edge.commands.options import add_board_option, add_json_option, load_board


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--arch", required=True, metavar="ARCH.json", help="architecture file (see examples/)")
    add_board_option(p)
    p.add_argument("--data", default="digits", metavar="digits|DIR|FILE.npz",
                   help="dataset: built-in 'digits' (default), a folder of class subfolders, or an .npz")
    p.add_argument("--epochs", type=int, default=5, metavar="N", help="training epochs (default 5)")
    p.add_argument("--batch-size", type=int, default=32, metavar="N", help="training batch size (default 32)")
    p.add_argument("--lr", type=float, default=0.01, metavar="X", help="peak learning rate, cosine decay (default 0.01)")
    p.add_argument("--patience", type=int, default=3, metavar="N",
                   help="early stopping after N epochs without validation gain (0 = off; default 3)")
    p.add_argument("--time-limit", type=float, default=None, metavar="SEC",
                   help="stop training after the epoch that crosses SEC seconds")
    p.add_argument("--seed", type=int, default=0, help="seed for split, initialisation and shuffling (default 0)")
    p.add_argument("--out", default=None, metavar="DIR", help="output folder (default build-<arch id>-<board>)")
    add_json_option(p)


def _check_args(args: argparse.Namespace) -> None:
    from qnas_edge.errors import UsageError

    if args.epochs < 1:
        raise UsageError(f"--epochs {args.epochs}: must be at least 1")
    if args.batch_size < 1:
        raise UsageError(f"--batch-size {args.batch_size}: must be at least 1")
    if not args.lr > 0:
        raise UsageError(f"--lr {args.lr}: must be > 0")
    if args.patience < 0:
        raise UsageError(f"--patience {args.patience}: must be >= 0")
    if args.time_limit is not None and not args.time_limit > 0:
        raise UsageError(f"--time-limit {args.time_limit}: must be > 0 seconds")


class _Progress:
    """rich progress on stderr: a bar over training epochs, then one status line per stage."""

    STAGES = {"dataset": "loading data", "build": "building model", "quantize": "int8 conversion",
              "tflm": "TFLite Micro check", "tvm": "TVM compile"}

    def __init__(self, epochs: int, enabled: bool) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.console = Console(stderr=True)
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"),
                                 TimeElapsedColumn(), console=self.console, disable=not enabled, transient=False)
        self.task = None
        self.epochs = epochs

    def __enter__(self):
        self.progress.__enter__()
        self.task = self.progress.add_task("starting", total=self.epochs, info="")
        return self

    def __exit__(self, *exc):
        return self.progress.__exit__(*exc)

    def __call__(self, stage: str, info: dict) -> None:
        if stage == "epoch":
            text = (f"epoch {info['epoch']}/{info['epochs']}  loss {info.get('loss', 0):.3f}  "
                    f"val acc {info.get('val_accuracy', 0):.3f}")
            self.progress.update(self.task, description="training", completed=info["epoch"], info=text)
        elif stage in self.STAGES:
            self.progress.update(self.task, description=self.STAGES[stage])


def _summary(res) -> str:
    m = res.metrics
    lines = [f"built {res.arch_id} for {res.board_id} ({res.runtime}) in {m['timings_s']['total_s']:.1f} s -> "
             f"{res.out_dir}",
             f"  int8 val accuracy {m['accuracy']['int8_val'] * 100:.1f} %  (float {m['accuracy']['float_val'] * 100:.1f} %)",
             f"  MACs {m['macs']:,}  weights {m['weight_bytes']:,} B  model {m['model_bytes']:,} B",
             f"  flash {m['flash_bytes']:,} B  RAM {m['ram_bytes']:,} B"
             + (f"  (arena {m['arena_bytes']:,} B)" if m.get("arena_bytes") else ""),
             f"  latency {m['latency_ms']:.2f} ms  energy {m['energy_mj']:.3f} mJ  (estimated)"]
    fits = ", ".join(f"{k} {'ok' if v else 'OVER'}" for k, v in m["fits"].items())
    lines.append(f"  budgets: {fits}")
    lines.append("  files: " + ", ".join(sorted(res.files)))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import os
    import warnings

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.filterwarnings("ignore", module="tensorflow")
    warnings.filterwarnings("ignore", module="tf_keras")
    from qnas_edge.pipeline.architecture import Architecture
    from qnas_edge.pipeline.build import BuildSettings, build_candidate
    from qnas_edge.pipeline.training import TrainSettings

    _check_args(args)
    arch = Architecture.load(args.arch)
    profile = load_board(args)
    out = args.out or f"build-{arch.id}-{profile.id}"
    settings = BuildSettings(train=TrainSettings(
        epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr,
        early_stopping_patience=args.patience, time_limit_s=args.time_limit))
    show = sys.stderr.isatty() and not args.json
    with _Progress(args.epochs, show) as progress:
        res = build_candidate(arch, args.data, profile, settings, args.seed, out, progress=progress)
    if args.json:
        print(json.dumps(res.to_dict(), indent=2, default=str))
    else:
        print(_summary(res))
    return 0
