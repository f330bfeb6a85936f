"""The Architecture record: one network of the quantized MobileNet family, and nothing else.

Structure (every op lowers to an int8 TFLite Micro kernel; see `lowering` for the exact op list):

    input (resolution x resolution x C)
    stem: 3x3 conv (channels x width, stride 1|2) + BN + ReLU6
    stages: each has output channels (x width), a stride (1|2, applied by its first block) and
        `depth` blocks, each block with kernel {3,5,7}, expansion {1,2,3,4,6} and squeeze-excite on/off:
        expansion 1 (MobileNetV1 depthwise-separable): dw kxk + ReLU6 [+ SE] -> 1x1 conv + ReLU6
        expansion e>1 (MobileNetV2 inverted residual): 1x1 expand to e*Cin + ReLU6 -> dw kxk + ReLU6
            [+ SE] -> 1x1 linear projection [+ residual ADD when stride 1 and Cin == Cout]
        SE: global mean -> 1x1 conv (C/4) + ReLU -> 1x1 conv (C) -> sigmoid (LOGISTIC) -> MUL
    head: global average pooling (MEAN) -> dense (FULLY_CONNECTED) to the class logits

Channel counts are `round(channels * width)`; a count that rounds to 0, or a stride-2 layer that would
receive a 1-pixel map, is rejected as a shape that collapses to zero.

JSON form (`Architecture.to_dict` / `from_dict`, unknown fields are errors):

    {"resolution": 16, "width": 1.0, "stem": {"channels": 8, "stride": 2},
     "stages": [{"channels": 16, "stride": 2,
                 "blocks": [{"kernel": 3, "expansion": 1, "se": false}, ...]}, ...]}

The search's decisions (resolution x width, one block choice per slot) map to an Architecture in
`qnas_edge.run.search_space.MobileNetSpace.to_architecture`. Choice lists are in CHOICES.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qnas_edge.errors import UsageError

KERNELS = (3, 5, 7)
EXPANSIONS = (1, 2, 3, 4, 6)
STRIDES = (1, 2)
WIDTHS = (0.25, 0.35, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0)
RESOLUTION_RANGE = (8, 256)
CHANNEL_RANGE = (1, 1024)
DEPTH_RANGE = (1, 8)
MAX_STAGES = 8
SE_RATIO = 4  # squeeze channels = max(1, C // SE_RATIO)

# Choice lists a search space can use for each flat decision kind (stage/block decisions share them).
CHOICES: dict[str, tuple[Any, ...]] = {
    "res": (8, 12, 16, 20, 24, 28, 32, 40, 48, 64, 96, 128),
    "width": WIDTHS,
    "stem_stride": STRIDES,
    "depth": tuple(range(DEPTH_RANGE[0], DEPTH_RANGE[1] + 1)),
    "stride": STRIDES,
    "kernel": KERNELS,
    "expand": EXPANSIONS,
    "se": (False, True),
}


def _fail(source: str, field_name: str, why: str) -> UsageError:
    prefix = f"{source}: " if source else ""
    return UsageError(f"{prefix}field '{field_name}': {why}")


@dataclass(frozen=True)
class Block:
    """One MobileNet block: depthwise kernel size, expansion ratio (1 = V1 separable), squeeze-excite."""

    kernel: int = 3
    expansion: int = 1
    se: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"kernel": self.kernel, "expansion": self.expansion, "se": self.se}


@dataclass(frozen=True)
class Stage:
    """`len(blocks)` blocks producing `channels` (before the width multiplier); the first has `stride`."""

    channels: int
    stride: int
    blocks: tuple[Block, ...]

    @property
    def depth(self) -> int:
        return len(self.blocks)

    def to_dict(self) -> dict[str, Any]:
        return {"channels": self.channels, "stride": self.stride, "blocks": [b.to_dict() for b in self.blocks]}


@dataclass(frozen=True)
class Architecture:
    """A quantized MobileNet-family network (see module docstring). Immutable and hashable."""

    resolution: int
    width: float
    stem_channels: int
    stem_stride: int
    stages: tuple[Stage, ...] = field(default_factory=tuple)

    # ---- derived shapes ---------------------------------------------------------------------------
    def scaled(self, channels: int) -> int:
        """Channel count after the width multiplier (round half up)."""
        return int(channels * self.width + 0.5)

    @property
    def num_blocks(self) -> int:
        return sum(s.depth for s in self.stages)

    # ---- identity ---------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "resolution": self.resolution,
            "width": self.width,
            "stem": {"channels": self.stem_channels, "stride": self.stem_stride},
            "stages": [s.to_dict() for s in self.stages],
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent) + ("\n" if indent else "")

    @property
    def id(self) -> str:
        """Stable 12-hex-digit id: SHA-256 of the canonical JSON (same architecture, same id)."""
        canon = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canon.encode()).hexdigest()[:12]

    def save(self, path: str | Path) -> Path:
        p = Path(path)
        p.write_text(self.to_json(), encoding="utf-8")
        return p

    # ---- parsing + validation ---------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Any, source: str = "") -> Architecture:
        """Validate a parsed JSON document; UsageError naming the field on any problem."""
        if not isinstance(data, dict):
            raise _fail(source, "<root>", "must be a JSON object with resolution, width, stem, stages")
        _known(data, ("resolution", "width", "stem", "stages"), "", source)
        res = _int(data, "resolution", source, *RESOLUTION_RANGE)
        width = data.get("width", 1.0)
        if isinstance(width, bool) or not isinstance(width, int | float) or float(width) not in WIDTHS:
            raise _fail(source, "width", f"{width!r} is not one of {', '.join(map(str, WIDTHS))}")
        stem = data.get("stem")
        if not isinstance(stem, dict):
            raise _fail(source, "stem", "missing or not an object like {\"channels\": 8, \"stride\": 2}")
        _known(stem, ("channels", "stride"), "stem.", source)
        stem_ch = _int(stem, "channels", source, *CHANNEL_RANGE, prefix="stem.")
        stem_stride = _choice(stem, "stride", STRIDES, source, prefix="stem.", default=2)
        stages_raw = data.get("stages")
        if not isinstance(stages_raw, list) or not stages_raw:
            raise _fail(source, "stages", "must be a non-empty list of stages")
        if len(stages_raw) > MAX_STAGES:
            raise _fail(source, "stages", f"{len(stages_raw)} stages; at most {MAX_STAGES} are allowed")
        stages = []
        for i, st in enumerate(stages_raw):
            pre = f"stages[{i}]."
            if not isinstance(st, dict):
                raise _fail(source, f"stages[{i}]", "must be an object with channels, stride, blocks")
            _known(st, ("channels", "stride", "blocks"), pre, source)
            ch = _int(st, "channels", source, *CHANNEL_RANGE, prefix=pre)
            stride = _choice(st, "stride", STRIDES, source, prefix=pre, default=1)
            blocks_raw = st.get("blocks")
            if not isinstance(blocks_raw, list) or not (DEPTH_RANGE[0] <= len(blocks_raw) <= DEPTH_RANGE[1]):
                raise _fail(source, f"{pre}blocks",
                            f"must be a list of {DEPTH_RANGE[0]} to {DEPTH_RANGE[1]} blocks")
            blocks = []
            for j, b in enumerate(blocks_raw):
                bp = f"{pre}blocks[{j}]."
                if not isinstance(b, dict):
                    raise _fail(source, f"{pre}blocks[{j}]", "must be an object with kernel, expansion, se")
                _known(b, ("kernel", "expansion", "se"), bp, source)
                se = b.get("se", False)
                if not isinstance(se, bool):
                    raise _fail(source, f"{bp}se", f"{se!r} must be true or false")
                blocks.append(Block(_choice(b, "kernel", KERNELS, source, prefix=bp, default=3),
                                    _choice(b, "expansion", EXPANSIONS, source, prefix=bp, default=1), se))
            stages.append(Stage(ch, stride, tuple(blocks)))
        arch = cls(res, float(width), stem_ch, stem_stride, tuple(stages))
        arch.validate(source)
        return arch

    @classmethod
    def from_json(cls, text: str, source: str = "") -> Architecture:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{source or 'architecture'}: not valid JSON ({exc.msg} at line {exc.lineno}); "
                             "fix the file") from None
        return cls.from_dict(data, source)

    @classmethod
    def load(cls, path: str | Path) -> Architecture:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise UsageError(f"{p}: architecture file not found; pass --arch ARCH.json "
                             "(see examples/arch_mcu.json)") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"{p}: cannot read architecture file ({exc}); pass a JSON file") from None
        return cls.from_json(text, str(p))

    def validate(self, source: str = "") -> None:
        """Check that no shape collapses to zero (channels after width, spatial size after strides)."""
        if self.scaled(self.stem_channels) < 1:
            raise _fail(source, "stem.channels", f"{self.stem_channels} x width {self.width:g} rounds to 0 "
                        "channels; raise channels or width")
        size = self.resolution
        if self.stem_stride == 2:
            size = (size + 1) // 2
        for i, st in enumerate(self.stages):
            if self.scaled(st.channels) < 1:
                raise _fail(source, f"stages[{i}].channels", f"{st.channels} x width {self.width:g} rounds "
                            "to 0 channels; raise channels or width")
            if st.stride == 2:
                if size < 2:
                    raise _fail(source, f"stages[{i}].stride", f"input {self.resolution}x{self.resolution} "
                                f"collapses to zero: stage {i} would halve a 1x1 map; use stride 1 or a "
                                "larger resolution")
                size = (size + 1) // 2


def _known(d: dict, allowed: tuple[str, ...], prefix: str, source: str) -> None:
    for key in d:
        if key not in allowed:
            raise _fail(source, f"{prefix}{key}", f"unknown field (allowed: {', '.join(allowed)})")


def _int(d: dict, key: str, source: str, lo: int, hi: int, prefix: str = "") -> int:
    if key not in d:
        raise _fail(source, prefix + key, f"missing (an integer from {lo} to {hi})")
    v = d[key]
    if isinstance(v, bool) or not isinstance(v, int):
        raise _fail(source, prefix + key, f"{v!r} is not an integer")
    if not lo <= v <= hi:
        raise _fail(source, prefix + key, f"{v} is out of range {lo}..{hi}")
    return int(v)


def _choice(d: dict, key: str, choices: tuple[int, ...], source: str, prefix: str = "", default: int = 0) -> int:
    v = d.get(key, default)
    if isinstance(v, bool) or v not in choices:
        raise _fail(source, prefix + key, f"{v!r} is not one of {', '.join(map(str, choices))}")
    return int(v)
