"""Map a board profile's `core` string to the measured core keys of the instruction model.

Data keys: m4 (Cortex-M4F), m7 (Cortex-M7F), m33 (Cortex-M33), m55 (Cortex-M55). A core outside the
data returns None, except the nearest stand-ins listed in NEAREST (same CMSIS-NN code path): the
caller should say so (`core_note`).
"""

from __future__ import annotations

import re

# CMSIS-NN code path per data core: DSP extension (SIMD, SMLAD) or MVE (Helium).
ISA = {"m4": "dsp", "m7": "dsp", "m33": "dsp", "m55": "mve"}

# Instructions per timer tick (the resolution of one layer's count) per data core.
TICK_INSTRUCTIONS = {"m4": 40.0, "m7": 40.0, "m33": 50.0, "m55": 31.25}

# Cores without data that run the same CMSIS-NN path as a measured core: (data core, why).
NEAREST = {
    "m35p": ("m33", "Cortex-M35P runs the Armv8-M DSP path like the M33"),
    "m85": ("m55", "Cortex-M85 runs the MVE (Helium) path like the M55"),
    "m52": ("m55", "Cortex-M52 runs the MVE (Helium) path like the M55"),
}

_CORE_RE = re.compile(r"(?:arm[\s_-]*)?cortex[\s_-]*m(\d+)(p|plus|\+)?f?\b|^m(\d+)(p|plus|\+)?f?$",
                      re.IGNORECASE)


def _key(core: str) -> str | None:
    m = _CORE_RE.search(core.strip())
    if not m:
        return None
    num = m.group(1) or m.group(3)
    plus = m.group(2) or m.group(4)
    return f"m{num}{'p' if plus else ''}"


def family_of(profile_core: str) -> str | None:
    """Core family key of cpi.json ("cortex-m4", "cortex-m33", ...) for a profile core string."""
    key = _key(profile_core or "")
    return f"cortex-{key}" if key else None


def core_of(profile_core: str) -> str | None:
    """Data core key (m4/m7/m33/m55) for a profile core string ("cortex-m4f", "Cortex-M7", "M33"...).

    Cortex-M35P / M52 / M85 map to their nearest measured core (see `core_note`); cores without a
    measured CMSIS-NN path (M0/M0+/M3/M23, Cortex-A, Xtensa...) give None."""
    key = _key(profile_core or "")
    if key in ISA:
        return key
    if key in NEAREST:
        return NEAREST[key][0]
    return None


def core_note(profile_core: str) -> str:
    """Why `profile_core` maps where it does ('' for a measured core)."""
    key = _key(profile_core or "")
    if key in ISA:
        return ""
    if key in NEAREST:
        return f"{profile_core}: no measurements; {NEAREST[key][1]} (instruction counts of {NEAREST[key][0]})"
    if key in ("m0", "m0p", "m1", "m3", "m23"):
        return (f"{profile_core}: no DSP extension, CMSIS-NN runs its plain C path, which was not "
                "measured; no instruction model")
    return f"{profile_core}: not a measured Cortex-M core; no instruction model"
