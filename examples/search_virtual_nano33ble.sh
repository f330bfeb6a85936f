#!/usr/bin/env bash
# Search on a simulated Arduino Nano 33 BLE (no hardware needed). Every measured figure says "simulated".
set -euo pipefail
qnas-edge search --board nano33ble --virtual --data digits --trials 12 --max-latency-ms 50 --out runs/nano33ble-virtual
qnas-edge report runs/nano33ble-virtual
qnas-edge export runs/nano33ble-virtual --to deploy/nano33ble
# Then copy deploy/nano33ble/model_data.cc and model_data.h into your Arduino sketch
# (firmware_bridge/firmware/arduino/ shows how the sketch uses them).
