# Copyright: homelab-planner maintainers
# Apache License 2.0 (see the collection's galaxy.yml)
"""Filters over the inventory's monitoring, from the same functions the audit and the sync modules use.

They run on the controller, so a role computes what should be monitored and how it compares with what
is without copying monitoring_expected's rules into Jinja.
"""

from __future__ import annotations

from ansible_collections.homelab.ops.plugins.module_utils import monitoring_expected as me  # noqa: E402


def expected_monitors(hosts, services, lan_domain, interval=me.DEFAULT_INTERVAL):
    """The Uptime Kuma monitors the inventory asks for (``hosts``: name -> SSH port)."""
    return me.expected_monitors(dict(hosts), list(services or []), lan_domain, interval)


def expected_node_groups(hosts, lan_domain, port):
    """The file_sd groups of Prometheus's ``node`` job: one per host, sorted by name."""
    return me.expected_node_groups(list(hosts), lan_domain, port)


def compare_monitors(expected, actual):
    """Expected against actual (normalised) monitors: matched, missing, stale, different, covered, unmanaged."""
    return me.compare_monitors(list(expected), list(actual))


class FilterModule:
    """homelab.ops monitoring filters."""

    def filters(self):
        return {"expected_monitors": expected_monitors, "expected_node_groups": expected_node_groups,
                "compare_monitors": compare_monitors}
