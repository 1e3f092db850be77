"""Allow ``python -m planner``."""

from __future__ import annotations

from planner.cli import main

main()
