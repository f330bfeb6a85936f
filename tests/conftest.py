"""Shared pytest setup: every module in tests/fixtures/ is a fixture plugin (one owner per file)."""

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("QNAS_EDGE_PROFILE_DIR", str(Path(__file__).parent / "_no_user_profiles"))
if "QNAS_EDGE_CACHE_DIR" not in os.environ:   # the suite's arena cache, not the user's
    import tempfile

    os.environ["QNAS_EDGE_CACHE_DIR"] = tempfile.mkdtemp(prefix="qnas-edge-test-cache-")

pytest_plugins = sorted(
    f"tests.fixtures.{p.stem}" for p in (Path(__file__).parent / "fixtures").glob("*.py") if p.stem != "__init__"
)
