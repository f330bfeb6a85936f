"""`python -m firmware_bridge.virtual --board ID [...]`: serve a simulated serial board (see cli.py)."""

import sys

from firmware_bridge.virtual.cli import main

sys.exit(main())
