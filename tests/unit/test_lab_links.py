"""`homelab lab link`'s overrides: what they refuse, how they change a profile, and that down forgets them."""

from __future__ import annotations

from pathlib import Path

import pytest

from planner.errors import HomelabError, LabError
from planner.lab import links
from planner.lab.hardware import profile_from_hostvars, render_files, render_sys_class_net

PIGLET = profile_from_hostvars("pumped-piglet", {"hardware": {"nics": [
    {"name": "enp4s0", "model": "Intel I225-V", "driver": "igc", "supported_mbps": 2500, "speed_mbps": 1000},
    {"name": "ens18", "driver": "virtio_net", "supported_mbps": 10000}]}})


def test_an_override_relinks_the_nic_and_leaves_the_others() -> None:
    link = links.check_link(PIGLET, "enp4s0", 2500, "full")
    after = links.apply(PIGLET, {"enp4s0": link})
    assert [(n.name, n.speed_mbps, n.duplex) for n in after.nics] == [("enp4s0", 2500, "full"),
                                                                      ("ens18", None, "unknown")]
    assert links.apply(PIGLET, {}) is PIGLET


@pytest.mark.parametrize(("nic", "speed", "said"), [
    ("enp9s0", 2500, "has no NIC 'enp9s0'"),
    ("enp4s0", 3000, "not an Ethernet link speed"),
    ("enp4s0", 5000, "cannot link at 5000 Mbps: it supports up to 2500"),
    ("ens18", 1000, "paravirtual NIC"),
])
def test_what_a_lab_link_refuses(nic: str, speed: int, said: str) -> None:
    with pytest.raises(HomelabError, match=said) as err:
        links.check_link(PIGLET, nic, speed, "full")
    assert err.value.hint


def test_recorded_overrides_are_read_back_and_forgotten(tmp_path: Path) -> None:
    assert links.read_overrides(tmp_path).hosts == {}
    links.record(tmp_path, "pumped-piglet", "enp4s0", links.LinkOverride(speed_mbps=2500, duplex="full"))
    links.record(tmp_path, "fun-bedbug", "enp1s0", links.LinkOverride(speed_mbps=1000, duplex="half"))
    hosts = links.read_overrides(tmp_path).hosts
    assert links.describe(hosts["pumped-piglet"]) == "enp4s0 2500 full"
    assert hosts["fun-bedbug"]["enp1s0"].duplex == "half"
    links.forget(tmp_path)
    assert links.read_overrides(tmp_path).hosts == {}


def test_a_damaged_overrides_file_is_a_lab_error(tmp_path: Path) -> None:
    (tmp_path / links.LINKS_FILE).write_text('{"hosts": {"h": {"enp4s0": {"speed_mbps": -1, "duplex": "full"}}}}')
    with pytest.raises(LabError, match="damaged"):
        links.read_overrides(tmp_path)


def test_show_on_host_rewrites_the_replay_data_and_sysfs(tmp_path: Path) -> None:
    merged, sysnet = tmp_path / "merged", tmp_path / "sysnet"
    for rel, (content, _mode) in render_files(PIGLET).items():
        (merged / rel.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        (merged / rel.lstrip("/")).write_bytes(content)
    render_sys_class_net(PIGLET, sysnet)
    speed_file = sysnet / "enp4s0" / "speed"
    inode = speed_file.stat().st_ino
    after = links.apply(PIGLET, {"enp4s0": links.LinkOverride(speed_mbps=2500, duplex="full")})
    links.show_on_host(after, merged, sysnet)
    assert speed_file.read_text() == "2500\n"
    assert speed_file.stat().st_ino == inode  # rewritten in place: a read-only bind mount of the tree shows it
    assert '"speed_mbps": 2500' in (merged / "usr/share/homelab-lab/ethtool/nics.json").read_text()
