"""Does a model fit a board? The one place for the board-side rules, shared by the host (checks before
any link work) and the virtual board (refusals on upload), so both refuse with the same figures.

Rules, over a board `Profile`:

* the model must fit the flash left after the firmware/runtime reserve (`flash_available_bytes`);
* on a TensorFlow Lite Micro board the model must be fully int8 (TFLM boards run int8 kernels);
* on a TFLM board the tensor arena must fit the RAM left after the reserve (`ram_available_bytes`);
  the exact arena comes from `device_profiles.tflm_arena.find_min_arena` (memoised by model content).

Plain functions; no TensorFlow (parsing uses the `tflite` flatbuffer bindings, the arena search runs
tflite-micro in a subprocess).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from device_profiles.profile import Profile
    from device_profiles.tflite_model import ModelInfo


class ModelRefused(ValueError):
    """The model cannot run on the board (too large, arena too big, wrong dtype, not a model): exit 2."""

    exit_code = 2


@dataclass(frozen=True)
class Fit:
    """A model that fits: its size, its TFLM arena (None off TFLM or when unknown), and the parsed model
    when the check had to parse it (None when the caller's figures were enough)."""

    model_bytes: int
    arena_bytes: int | None
    info: ModelInfo | None = None


def check_fits(profile: Profile, model_bytes: int, arena_bytes: int | None = None,
               int8: bool | None = None) -> None:
    """ModelRefused with the figures when a model cannot run on `profile` (flash, dtype, RAM).

    `arena_bytes` / `int8` None: that rule is not checked (the figure is unknown here)."""
    if model_bytes > profile.flash_available_bytes:
        raise ModelRefused(
            f"model is {model_bytes} B but {profile.id} has {profile.flash_available_bytes} B of flash free "
            f"({profile.flash_bytes} B - {profile.flash_reserve_bytes} B reserved): shrink the model")
    if profile.runtime == "tflm" and int8 is False:
        raise ModelRefused(f"{profile.id} runs TensorFlow Lite Micro int8 kernels but the model is not "
                           f"fully int8: convert it with full-integer quantization")
    if arena_bytes is not None and arena_bytes > profile.ram_available_bytes:
        raise ModelRefused(
            f"tensor arena needs {arena_bytes} B but {profile.id} has {profile.ram_available_bytes} B of RAM "
            f"free ({profile.ram_bytes} B - {profile.ram_reserve_bytes} B reserved): use a smaller model")


def parse_model(model: bytes) -> ModelInfo:
    """The parsed model; ModelRefused (bad input) when it is not a TFLite flatbuffer."""
    from device_profiles.tflite_model import parse_tflite

    try:
        return parse_tflite(model)
    except Exception as exc:  # noqa: BLE001 - any parse failure is bad input
        raise ModelRefused(f"not a valid .tflite model ({exc}): pass a TFLite flatbuffer") from None


def fit_model(model: bytes, profile: Profile, arena_bytes: int | None = None) -> Fit:
    """Refuse (ModelRefused, with figures) a model that cannot run on `profile`; otherwise its Fit.

    With `arena_bytes` given (the caller already found the exact arena, e.g. the build pipeline) only
    the size rules are checked: no parse, no arena search. Otherwise the model is parsed (validity,
    dtype) and, on a TFLM board, its exact arena is found (memoised by content).
    """
    if arena_bytes is not None:
        check_fits(profile, len(model), int(arena_bytes))
        return Fit(len(model), int(arena_bytes))
    info = parse_model(model)
    check_fits(profile, len(model), None, info.is_int8)
    if profile.runtime != "tflm":
        return Fit(len(model), None, info)
    from device_profiles.tflm_arena import find_min_arena

    res = find_min_arena(model)
    if res.arena_bytes is None:
        raise ModelRefused(f"TensorFlow Lite Micro cannot run the model: {res.error}")
    check_fits(profile, len(model), res.arena_bytes, info.is_int8)
    return Fit(len(model), res.arena_bytes, info)
