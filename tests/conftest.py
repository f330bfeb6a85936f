"""Shared pytest setup: every module in tests/fixtures/ is a fixture plugin (one owner per file)."""

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("QNAS_EDGE_PROFILE_DIR", str(Path(__file__).parent / "_no_user_profiles"))

pytest_plugins = sorted(
    f"tests.fixtures.{p.stem}" for p in (Path(__file__).parent / "fixtures").glob("*.py") if p.stem != "__init__"
)
