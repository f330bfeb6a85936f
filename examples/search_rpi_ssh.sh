#!/usr/bin/env bash
# Search for a Raspberry Pi 4 reached over SSH. The Pi needs python3 with numpy and tflite-runtime:
#   ssh pi@raspberrypi.local 'python3 -m pip install "numpy<2" tflite-runtime'
# Its host key must be in ~/.ssh/known_hosts (ssh to it once), or pass --trust-new-host explicitly.
set -euo pipefail
HOST="${1:-pi@raspberrypi.local}"
qnas-edge search --board rpi4 --host "$HOST" --identity ~/.ssh/id_ed25519 --data digits \
    --trials 16 --max-latency-ms 5 --out runs/rpi4-ssh
qnas-edge export runs/rpi4-ssh --to deploy/rpi4
