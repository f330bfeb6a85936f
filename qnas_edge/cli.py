"""`qnas-edge` command line: argument parsing and error-to-exit-code mapping only.

Each command lives in `qnas_edge/commands/<name>.py` with `add_arguments(parser)` and `run(args) -> int`
(thin functions over the library, esptool style). Heavy imports happen inside `run`, so `--help`
and `boards` stay fast. Exit codes: 0 ok, 1 run failed, 2 bad input, 3 device or link failure.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys

from qnas_edge import __version__

# (command, module, one-line help) in the order `--help` lists them
COMMANDS = [
    ("boards", "boards", "list the board catalog, or 'boards show ID'"),
    ("detect", "detect", "find boards plugged in over USB serial"),
    ("estimate", "estimate", "static latency / energy / flash / RAM of a .tflite on a board"),
    ("profile", "profile", "measure a .tflite on a board (serial, SSH or virtual)"),
    ("build", "build", "train + int8-quantize + compile one architecture"),
    ("search", "search", "search for the best int8 network that fits a board"),
    ("resume", "resume", "continue an interrupted search run"),
    ("report", "report", "regenerate a run's report"),
    ("export", "export", "copy a run's deployable bundle to a folder"),
    ("virtual-board", "virtual_board", "serve a simulated serial board on a pseudo-terminal"),
    ("worker", "worker", "join a Ray cluster as a node offering this machine's boards"),
]


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line with exit code 2 (no usage dump)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="qnas-edge", description=(
        "Hardware-in-the-loop search for quantized int8 networks that fit a board's flash, RAM, "
        "latency and energy budgets."))
    parser.add_argument("--version", action="version", version=f"qnas-edge {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, module, help_text in COMMANDS:
        modname = f"qnas_edge.commands.{module}"
        if importlib.util.find_spec(modname) is None:
            continue
        mod = importlib.import_module(modname)
        p = sub.add_parser(name, help=help_text, description=(mod.__doc__ or help_text).strip())
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def _quiet_tensorflow() -> None:
    """TensorFlow/TFLite log noise (C++ INFO lines, deprecation warnings) is not for our users."""
    import os
    import warnings

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    warnings.filterwarnings("ignore", module=r"tensorflow(\..*)?")
    warnings.filterwarnings("ignore", module=r"tf_keras(\..*)?")
    warnings.filterwarnings("ignore", category=DeprecationWarning)


def _install_signal_handlers() -> None:
    """Ctrl-C and SIGTERM stop any command cleanly (the run's ledger stays consistent; `resume` goes on).

    SIGINT is (re)installed explicitly: a process started as a background job of a non-interactive
    shell (CI, scripts) inherits SIGINT *ignored*, and Python then installs no KeyboardInterrupt handler.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return
    from qnas_edge.errors import Terminated

    def on_term(signum, frame):
        raise Terminated()

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, on_term)


def main(argv: list[str] | None = None) -> int:
    _quiet_tensorflow()
    _install_signal_handlers()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt as exc:
        from qnas_edge.errors import Terminated

        terminated = isinstance(exc, Terminated)
        print(f"qnas-edge: {'terminated' if terminated else 'interrupted'}", file=sys.stderr)
        return 143 if terminated else 130
    except BrokenPipeError:
        return 0
    except Exception as exc:
        code = getattr(exc, "exit_code", None)
        if code is None:
            raise
        print(f"qnas-edge: error: {exc}", file=sys.stderr)
        return int(code)


if __name__ == "__main__":
    sys.exit(main())
