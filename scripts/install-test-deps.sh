#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian machine (run as root or with sudo):
#   Debian: openssh-server (real sshd for SSH tests), cross compilers for aarch64 / Cortex-M, qemu-user
#   Python: this project with its test extra (editable), and a separate "board" virtualenv that plays
#           a Raspberry Pi OS install (tflite-runtime 2.14 needs numpy<2) for the SSH tests.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
APT_PKGS="openssh-server openssh-client gcc g++ make gcc-aarch64-linux-gnu g++-aarch64-linux-gnu gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-user"
missing=""
for p in $APT_PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  echo "== apt-get install$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi

PY="${PYTHON:-python3}"
echo "== pip install -e .[test]"
"$PY" -m pip install -q --disable-pip-version-check -e ".[test]"

BOARD_VENV="${QNAS_EDGE_BOARD_VENV:-$HOME/.cache/qnas-edge/board-venv}"
if [ ! -x "$BOARD_VENV/bin/python" ] || ! "$BOARD_VENV/bin/python" -c "import tflite_runtime, numpy" 2>/dev/null; then
  echo "== board virtualenv at $BOARD_VENV (tflite-runtime 2.14, numpy<2)"
  "$PY" -m venv "$BOARD_VENV"
  "$BOARD_VENV/bin/python" -m pip install -q --disable-pip-version-check "numpy<2" "tflite-runtime==2.14.*"
fi
echo "== test dependencies ready"
