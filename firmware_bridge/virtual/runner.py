"""The virtual board's model runner: an int8 model in the real TensorFlow Lite Micro interpreter.

The board refuses what a real board would (flash, dtype, arena vs RAM: `device_profiles.fit`), and
allocates the exact minimum arena (`find_min_arena`, memoised by model content, so a model the host
already checked costs no second search) plus a margin, since a far too small arena crashes tflite-micro.
Latency is not measured here: it comes from the timing model (`timing.BoardTwin`).
"""

from __future__ import annotations

from device_profiles.fit import fit_model
from device_profiles.profile import Profile
from device_profiles.tflite_model import TensorInfo
from firmware_bridge.serial import protocol as P
from firmware_bridge.virtual.timing import BoardTwin

ARENA_MARGIN = 4096


class ModelRunner:
    """An int8 model loaded into the real tflite-micro interpreter + its board-twin timing."""

    def __init__(self, model: bytes, profile: Profile, seed: int = 0) -> None:
        import numpy as np
        from tflite_micro.python.tflite_micro import runtime

        fit = fit_model(model, profile)           # ModelRefused with the figures, like the board
        self.np = np
        self.model = model
        self.info = fit.info
        self.arena_bytes = fit.arena_bytes
        # exact minimum + margin: tflite-micro crashes on a far too small arena
        self.interp = runtime.Interpreter.from_bytes(model, arena_size=fit.arena_bytes + ARENA_MARGIN)
        self.twin = BoardTwin(profile, fit.info.layers, seed=seed)
        self.crc = P.crc32(model)

    @property
    def input(self) -> TensorInfo:
        return self.info.inputs[0]

    @property
    def output(self) -> TensorInfo:
        return self.info.outputs[0]

    def set_input(self, data: bytes) -> None:
        np = self.np
        t = self.input
        dt = {"int8": np.int8, "uint8": np.uint8, "float32": np.float32}.get(t.dtype, np.int8)
        self.interp.set_input(np.frombuffer(data, dtype=dt).reshape(t.shape), 0)

    def invoke(self) -> None:
        self.interp.invoke()

    def results(self) -> list[float]:
        out = self.np.asarray(self.interp.get_output(0)).reshape(-1)
        t = self.output
        if t.scale:
            return [(float(v) - (t.zero_point or 0)) * t.scale for v in out]
        return [float(v) for v in out]
