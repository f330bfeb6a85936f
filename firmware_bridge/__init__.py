"""Everything that talks to boards: serial (EEMBC/MLPerf Tiny DUT protocol), SSH, virtual board.

The contract is at the top (`board.Board`, `boards.open_board`, `device.DeviceSpec`,
`measurement.Measurement`, `errors`); one subpackage per kind of board (`serial/`, `ssh/`, `virtual/`),
each holding its link, its protocol use and its `Board` class. Never imports TensorFlow. The SSH board
agent (`ssh/agent/`) is standalone code for the board's own Python.
"""

from firmware_bridge.errors import LinkError, ModelRefused, ProtocolError
from firmware_bridge.measurement import Measurement, latency_stats

__all__ = ["LinkError", "Measurement", "ModelRefused", "ProtocolError", "latency_stats"]
