"""The board catalog: bundled profiles, the user's profile directory and explicit `--profile` files.

Lookup order (later wins on a duplicate id): bundled `device_profiles/boards/*.toml`, then the user
directory (`$QNAS_EDGE_PROFILE_DIR`, default `~/.config/qnas-edge/boards`), then files passed explicitly.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable
from pathlib import Path

from device_profiles.errors import ProfileError
from device_profiles.profile import Profile, load_profile

BUNDLED_DIR = Path(__file__).resolve().parent / "boards"


def user_profile_dir() -> Path:
    """Where users drop their own board TOMLs."""
    env = os.environ.get("QNAS_EDGE_PROFILE_DIR")
    return Path(env) if env else Path.home() / ".config" / "qnas-edge" / "boards"


def _toml_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.toml")) if folder.is_dir() else []


def load_catalog(extra_files: Iterable[str | Path] = (), include_user: bool = True) -> dict[str, Profile]:
    """All known boards keyed by id; a malformed file raises ProfileError naming file, key and reason."""
    files = _toml_files(BUNDLED_DIR)
    if include_user:
        files += _toml_files(user_profile_dir())
    files += [Path(f) for f in extra_files]
    boards: dict[str, Profile] = {}
    for f in files:
        prof = load_profile(f)
        boards[prof.id] = prof
    return boards


def get_profile(board_id: str, extra_files: Iterable[str | Path] = ()) -> Profile:
    """The profile for `board_id`; an unknown id raises ProfileError listing the close matches."""
    extra = list(extra_files)
    catalog = load_catalog(extra)
    if board_id in catalog:
        return catalog[board_id]
    close = difflib.get_close_matches(board_id, list(catalog), n=4, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}?" if close else "run 'qnas-edge boards' for the list"
    raise ProfileError(f"unknown board '{board_id}': {hint} (or add your own with --profile FILE.toml)")
