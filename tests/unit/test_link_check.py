"""homelab.ops.link_check's judgement: why a link stayed below the target, and which counters grew.

The module_utils are plain functions, so they are called directly; the module around them is run
by ansible in the integration test (tests/integration/test_network_verify.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "collections"))

from ansible_collections.homelab.ops.plugins.module_utils import link_check as lc  # noqa: E402

SW_1G = {"sw-core": {"kind": "switch", "port_speed_mbps": 1000},
         "router": {"kind": "router", "port_speed_mbps": 2500, "uplink": "sw-core"}}
SW_25G = {"sw-new": {"kind": "switch", "port_speed_mbps": 2500},
          "router": {"kind": "router", "port_speed_mbps": 2500, "uplink": "sw-new"}}


def nic(speed: int | None, top: int | None = 2500, duplex: str | None = "full", driver: str = "igc",
        **extra: object) -> dict:
    return {"name": "enp4s0", "driver": driver, "speed_mbps": speed, "duplex": duplex, "max_speed_mbps": top,
            "carrier": True, "state": "up", "virtual": False, **extra}


def judge(found: dict, switch: str | None = "sw-core", devices: dict = SW_1G, **kw: object) -> dict:
    documented = {"name": "enp4s0", "supported_mbps": found.get("max_speed_mbps"), "switch": switch}
    return lc.classify_link(found, documented, devices, 2500, **kw)  # type: ignore[arg-type]


def test_reached_the_target() -> None:
    assert judge(nic(2500), "sw-new", SW_25G) == {"status": "reached", "cause": None,
                                                  "reason": "reached the 2500 Mbps target"}
    assert judge(nic(10000, top=10000), "sw-new", SW_25G)["status"] == "reached"


def test_a_nic_that_cannot_reach_the_target_names_the_nic() -> None:
    verdict = judge(nic(1000, top=1000, driver="r8169"))
    assert (verdict["status"], verdict["cause"]) == ("below", "nic")
    assert "supports at most 1000 Mbps" in verdict["reason"] and "cable" not in verdict["reason"]
    # At 100 Mbps a gigabit NIC is below even its own maximum: the cable is named too.
    assert "likely the cable" in judge(nic(100, top=1000, driver="r8169"))["reason"]


def test_a_switch_port_below_the_target_is_the_other_end() -> None:
    verdict = judge(nic(1000))
    assert (verdict["status"], verdict["cause"]) == ("below", "other_end")
    assert verdict["reason"] == "likely the other end: sw-core's ports are documented at 1000 Mbps"


def test_both_ends_capable_but_linked_lower_is_the_cable() -> None:
    verdict = judge(nic(1000), "sw-new", SW_25G)
    assert (verdict["status"], verdict["cause"]) == ("below", "cable")
    assert "sw-new's port both do 2500 Mbps or more, yet it linked at 1000 Mbps" in verdict["reason"]


@pytest.mark.parametrize("speed", [10, 100])
def test_ten_or_hundred_megabit_is_the_cable_even_behind_a_slow_switch(speed: int) -> None:
    assert judge(nic(speed))["cause"] == "cable"


@pytest.mark.parametrize(("found", "said"), [(nic(2500, duplex="half"), "half duplex"),
                                             (nic(None, duplex=None), "speed unknown")])
def test_auto_negotiation(found: dict, said: str) -> None:
    verdict = judge(found, "sw-new", SW_25G)
    assert (verdict["status"], verdict["cause"]) == ("below", "autoneg") and said in verdict["reason"]


def test_no_carrier_is_no_link() -> None:
    assert judge(nic(None, carrier=False, state="down"))["cause"] == "no_link"


def test_no_documented_switch_blames_the_other_end_without_naming_one() -> None:
    verdict = judge(nic(1000), switch=None, devices={})
    assert verdict["cause"] == "other_end" and "no switch port documented" in verdict["reason"]


def test_a_vm_follows_its_hypervisor() -> None:
    verdict = lc.classify_link(nic(None, top=None, driver="virtio_net", duplex=None), {}, {}, 2500,
                               hypervisor="pumped-piglet")
    assert verdict["status"] == "vm" and "pumped-piglet" in verdict["reason"]


# --- counters ----------------------------------------------------------------------------------------


def test_counters_that_grew_since_the_baseline() -> None:
    before = {"rx_errors": 5, "tx_errors": 0, "rx_dropped": 10, "tx_dropped": 3}
    now = {"rx_errors": 5, "tx_errors": 2, "rx_dropped": 17, "tx_dropped": 3}
    assert lc.counter_growth(before, now) == {"tx_errors": 2, "rx_dropped": 7}


def test_a_counter_lower_than_at_baseline_was_reset() -> None:
    assert lc.counter_growth({"rx_errors": 900}, {"rx_errors": 4}) == {"rx_errors": 4}


def test_without_a_baseline_every_nonzero_counter_counts() -> None:
    assert lc.counter_growth(None, {"rx_errors": 0, "tx_dropped": 6, "rx_dropped": None}) == {"tx_dropped": 6}


def test_baseline_file_shapes() -> None:
    good = {"recorded_at": "2026-12-04T22:00:00Z", "nics": {"enp4s0": {"speed_mbps": 1000, "rx_errors": 1}}}
    assert lc.load_baseline(json.dumps(good)) == good
    for bad in ("", "not json", "[]", '{"nics": []}'):
        assert lc.load_baseline(bad) is None


def test_ethtool_statistics() -> None:
    text = "NIC statistics:\n     rx_packets: 120\n     rx_errors: 3\n     tx_queue_0_bytes: 9\n     junk line\n"
    assert lc.parse_ethtool_stats(text) == {"rx_packets": 120, "rx_errors": 3, "tx_queue_0_bytes": 9}


# --- one host, summed up -----------------------------------------------------------------------------


def test_check_host_summary_lines() -> None:
    nics = [nic(2500), {"name": "vmbr0", "virtual": True, "speed_mbps": None},
            dict(nic(100, top=1000, driver="r8169"), name="enp5s0")]
    documented = [{"name": "enp4s0", "supported_mbps": 2500, "switch": "sw-new"},
                  {"name": "enp5s0", "supported_mbps": 1000, "switch": "sw-new"}]
    baseline = {"nics": {"enp4s0": {"speed_mbps": 1000, "rx_errors": 0}, "enp5s0": {"speed_mbps": 1000}}}
    counters = {"enp4s0": {"rx_errors": 3, "tx_errors": 0, "rx_dropped": 0, "tx_dropped": 0}}
    links = lc.check_host(nics, counters, documented, SW_25G, 2500, baseline=baseline, host="pumped-piglet")
    assert [link["name"] for link in links] == ["enp4s0", "enp5s0"]  # the bridge has no link of its own
    assert links[0]["summary"] == ("pumped-piglet enp4s0: 2500 Mbps full — reached 2500 target "
                                   "(was 1000 Mbps at baseline); counters grew since baseline: rx_errors +3")
    assert links[1]["summary"].startswith("pumped-piglet enp5s0: 100 Mbps full — below target, the NIC (r8169)")


def test_an_uplink_below_the_target_is_mentioned_on_a_reached_link() -> None:
    (link,) = lc.check_host([nic(2500)], {}, [{"name": "enp4s0", "switch": "sw-core"}],
                            {"sw-core": {"port_speed_mbps": 2500},
                             "router": {"port_speed_mbps": 1000, "uplink": "sw-core"}}, 2500, host="h")
    assert link["status"] == "reached"
    assert link["summary"].endswith("reached 2500 target; but sw-core's uplink to router runs at 1000 Mbps")


# --- iperf3 ------------------------------------------------------------------------------------------


def test_throughput_from_iperf3_json() -> None:
    result = {"end": {"sum_sent": {"bits_per_second": 2.36e9, "retransmits": 4},
                      "sum_received": {"bits_per_second": 2.35e9}}}
    got = lc.throughput(json.dumps(result), 2500)
    assert (got["mbps"], got["retransmits"], got["reached"]) == (2350, 4, True)
    assert not lc.throughput(json.dumps({"end": {"sum_received": {"bits_per_second": 9.4e8}}}), 2500)["reached"]


@pytest.mark.parametrize(("text", "said"), [("", "no JSON"), ('{"error": "unable to connect to server"}',
                                                           "unable to connect"), ('{"end": {}}', "no received")])
def test_unusable_iperf3_output_is_refused(text: str, said: str) -> None:
    with pytest.raises(ValueError, match=said):
        lc.throughput(text, 2500)
