"""pytest-playwright's launch arguments with the project's Chromium (leadrelay.sandbox.chromium).

A plugin of its own, which leadrelay.sandbox.plugin registers only when pytest-playwright is installed.
"""

from __future__ import annotations

from typing import Any

import pytest

from leadrelay.sandbox.chromium import launch_args


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return launch_args(browser_type_launch_args)
