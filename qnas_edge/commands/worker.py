"""Join a Ray cluster as a node that offers this machine's boards to searches running elsewhere.

The node advertises `board:<ID>` = the number of boards given, so measurement actors land here and
never share a board; it also offers its CPUs (and GPUs) for candidate builds. Runs until Ctrl-C.

    qnas-edge worker --board stm32f746 --port /dev/ttyACM0 --port /dev/ttyACM1 --ray-address HEAD:6379
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from qnas_edge.commands.options import add_board_option, add_ssh_options, load_board


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_board_option(p)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--port", action="append", metavar="DEV", help="serial port of a board (repeatable)")
    g.add_argument("--host", action="append", metavar="[USER@]HOST[:PORT]", help="an SSH board (repeatable)")
    g.add_argument("--virtual", type=int, metavar="N", help="offer N simulated boards")
    add_ssh_options(p)
    p.add_argument("--ray-address", required=True, metavar="ADDR", help="the cluster's head (HOST:PORT)")
    p.add_argument("--num-cpus", type=int, metavar="N", help="CPUs offered for builds (default: all)")
    p.add_argument("--num-gpus", type=int, metavar="N", help="GPUs offered for training (default: detected)")


def devices_from_args(args: argparse.Namespace) -> list:
    """The DeviceSpecs of the boards this node offers."""
    from firmware_bridge.device import DeviceSpec
    from qnas_edge.errors import UsageError

    if args.virtual is not None:
        if args.virtual < 1:
            raise UsageError(f"--virtual N must be >= 1, got {args.virtual}")
        return [DeviceSpec("virtual")] * args.virtual
    if args.host:
        common = {"identity": args.identity, "known_hosts": args.known_hosts,
                  "trust_new_host": args.trust_new_host, "board_python": args.board_python}
        return [DeviceSpec("ssh", host=h, **common) for h in args.host]
    return [DeviceSpec("serial", port=p) for p in args.port]


def ray_start_command(address: str, resources: dict[str, float], num_cpus: int | None,
                      num_gpus: int | None) -> list[str]:
    """`ray start` joining `address` with these resources, blocking (an argument list, no shell)."""
    cmd = [sys.executable, "-m", "ray.scripts.scripts", "start", "--address", address,
           "--resources", json.dumps(resources), "--block"]
    if num_cpus is not None:
        cmd += ["--num-cpus", str(num_cpus)]
    if num_gpus is not None:
        cmd += ["--num-gpus", str(num_gpus)]
    return cmd


def run(args: argparse.Namespace) -> int:
    from firmware_bridge.farm.node_boards import node_offer
    from qnas_edge.cluster.session import import_ray

    profile = load_board(args)
    devices = devices_from_args(args)
    import_ray()
    resources, env = node_offer(profile.id, devices)
    print(f"offering {len(devices)} '{profile.id}' board(s) ({', '.join(d.label for d in devices)}) to the Ray "
          f"cluster at {args.ray_address}; Ctrl-C to leave", file=sys.stderr)
    cmd = ray_start_command(args.ray_address, resources, args.num_cpus, args.num_gpus)
    try:
        return subprocess.call(cmd, env={**os.environ, **env})
    except KeyboardInterrupt:
        return 130
