"""homelab-planner: plain requests to vetted Ansible plans, reviewed before they run."""

from __future__ import annotations

__version__ = "0.1.0"
