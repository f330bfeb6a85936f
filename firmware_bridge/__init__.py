"""Everything that talks to boards: serial (EEMBC/MLPerf Tiny DUT protocol), SSH, virtual board.

Never imports TensorFlow. The SSH board agent (`agent/qnas_agent.py`) is a standalone file.
"""

from firmware_bridge.errors import LinkError, ModelRefused, ProtocolError
from firmware_bridge.measurement import Measurement, latency_stats

__all__ = ["LinkError", "Measurement", "ModelRefused", "ProtocolError", "latency_stats"]
