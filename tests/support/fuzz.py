"""Settings shared by the property-based tests (the tests/*fuzz.py files)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings


def fuzz_settings(examples: int) -> settings:
    """`examples` derandomized examples, the same on every run (CI), or LEADRELAY_FUZZ_EXAMPLES fresh random ones."""
    more = os.environ.get("LEADRELAY_FUZZ_EXAMPLES")
    return settings(
        max_examples=int(more) if more else examples,
        derandomize=not more,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),  # the fixtures (a live app, a browser page) serve every example
    )


UNLIMITED = {"rate_limit_per_ip": "1000000/minute", "rate_limit_per_visitor": "1000000/minute"}
"""Settings for a test that sends far more than a person would through one client."""
