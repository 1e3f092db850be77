"""What the integration tests share: the session lab and its helpers live in tests/lab.py (the fixtures are
registered by tests/conftest.py for every suite); the names are re-exported here for the tests' imports."""

from __future__ import annotations

from tests.lab import (  # noqa: F401
    LAB_NET,
    Lab,
    homelab_in,
    kuma_credentials,
    mounts_under,
    pid_alive,
    plan_json,
    project_on,
    running_lab,
)
