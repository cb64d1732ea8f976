"""Test-session settings: every compiled Program is verified after every pipeline stage, and compiled machine
code is cached in a directory of this session's own (never the user's cache)."""
import os
import tempfile

os.environ.setdefault("GRAPHC_VERIFY", "1")
os.environ["GRAPHC_CACHE_DIR"] = tempfile.mkdtemp(prefix="graphc-test-cache-")
