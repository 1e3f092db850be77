"""The review's lines for an address check: one line per host that says it all, then the findings."""

from __future__ import annotations

import sys

from planner.render.grouping import report_text
from tests.unit.test_address_check import DNS_NOTHING, DNSMASQ, NOW, ROOT, _local, _server

sys.path.insert(0, str(ROOT / "collections"))

from ansible_collections.homelab.ops.plugins.module_utils import addressing as ad  # noqa: E402


def test_the_review_says_where_the_host_was_is_and_why() -> None:
    report, proposals = ad.assess("k3s-vm-chief-horse", {"lan_ip": "192.168.4.23", "addressing": "dhcp"},
                                  _local(), DNSMASQ, _server(), None, DNS_NOTHING, NOW)
    text = report_text({"homelab_address": report, "homelab_proposals": proposals})
    assert text is not None
    first, *rest = text.splitlines()
    assert first == ("k3s-vm-chief-horse: 192.168.4.57 → 192.168.4.20 (documented 192.168.4.23), DHCP via "
                     "ifupdown/dhclient, lease on 192.168.4.57 expired 2026-12-06T02:00:00+00:00, and the address "
                     "went to another device, no reservation on maas for 52:54:00:12:34:56; "
                     "DNS k3s-vm-chief-horse.maas → nothing")
    assert "warning no-reservation: no reservation on maas for 52:54:00:12:34:56 (k3s-vm-chief-horse)" in rest
    assert any(line.startswith("proposed (standard): reserve_addresses — ") for line in rest)
    assert "addresses it had: 192.168.4.57 (from 2026-12-05T14:00:01+00:00), 192.168.4.20" in text


def test_a_host_whose_text_holds_a_newline_or_escape_stays_on_its_lines() -> None:
    report, proposals = ad.assess("h", {"lan_ip": "192.168.4.20", "addressing": "dhcp"}, _local(), DNSMASQ,
                                  _server(), None, dict(DNS_NOTHING, addresses=["192.168.4.20"]), NOW)
    report["manager"] = "if\nupdown\x1b[31m"
    text = report_text({"homelab_address": report, "homelab_proposals": proposals})
    assert text is not None and "\x1b" not in text and "if updown" in text.splitlines()[0]


def test_a_report_that_is_no_address_check_is_shown_as_json() -> None:
    assert report_text({"homelab_address": {"no": "host"}}) == '{\n  "homelab_address": {\n    "no": "host"\n  }\n}'
