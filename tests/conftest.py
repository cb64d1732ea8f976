"""Test-session settings: every compiled Program is verified after every pipeline stage."""
import os

os.environ.setdefault("GRAPHC_VERIFY", "1")
