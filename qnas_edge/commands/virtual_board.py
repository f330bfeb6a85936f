"""Serve a simulated serial board on a pseudo-terminal (EEMBC / MLPerf Tiny DUT protocol + upload extension).

Prints the device path (e.g. /dev/pts/3) on the first stdout line, then serves until killed (Ctrl-C).
Models run with the real TensorFlow Lite Micro kernels; latency comes from the board-twin timing model
and every figure is labelled `simulated`. Point `qnas-edge profile --port DEV` or the MLPerf Tiny runner
at the printed path.
"""

from __future__ import annotations

import argparse

from qnas_edge.commands.options import add_board_option


def add_arguments(p: argparse.ArgumentParser) -> None:
    from firmware_bridge.virtual.cli import build_parser

    add_board_option(p)
    build_parser(p)


def run(args: argparse.Namespace) -> int:
    from firmware_bridge.virtual.cli import serve_from_args

    return serve_from_args(args)
