"""Demo data: a deterministic, realistic data set for a first run, screenshots and manual tests."""

from connect.demo.seed import DEMO_PASSWORD, default_tiers, seed_demo

__all__ = ["DEMO_PASSWORD", "default_tiers", "seed_demo"]
