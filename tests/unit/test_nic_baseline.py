"""homelab.ops.nic_baseline: a lab host's sysfs tree and ethtool replay, read as the baseline file's NICs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from planner import yamlio
from planner.lab import hardware
from planner.lab.hardware import profile_from_hostvars, render_files, render_sys_class_net

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "collections"))
from ansible_collections.homelab.ops.plugins.modules import nic_baseline  # noqa: E402

HOST_VARS = ROOT / "inventory" / "host_vars"


def profile(host: str) -> hardware.HardwareProfile:
    # The project's loader: after `make demo` the file also holds facts, tagged !unsafe.
    return profile_from_hostvars(host, yamlio.plain(yamlio.load(HOST_VARS / f"{host}.yml")))


def test_the_lab_tree_reads_as_the_profile_with_counters(tmp_path: Path) -> None:
    still_fawn = profile("still-fawn")
    render_sys_class_net(still_fawn, tmp_path)
    (tmp_path / "vmbr0").mkdir()  # a bridge: no device behind it, so no NIC of the baseline
    assert nic_baseline.wired_nics(str(tmp_path)) == [n.name for n in still_fawn.nics]
    nic = still_fawn.nics[0]
    assert nic_baseline.link(str(tmp_path), nic.name) == (nic.speed_mbps, nic.duplex)
    assert nic_baseline.counters(str(tmp_path), nic.name) == dict.fromkeys(nic_baseline.COUNTERS, 0)


def test_a_down_link_has_no_speed_and_unknown_duplex(tmp_path: Path) -> None:
    (tmp_path / "eno1" / "statistics").mkdir(parents=True)
    (tmp_path / "eno1" / "speed").write_text("-1\n")
    (tmp_path / "eno1" / "duplex").write_text("unknown\n")
    assert nic_baseline.link(str(tmp_path), "eno1") == (None, "unknown")
    assert nic_baseline.link(str(tmp_path), "missing") == (None, "unknown")


def test_driver_and_firmware_from_the_ethtool_replay(tmp_path: Path) -> None:
    files = render_files(profile("still-fawn"))
    replay = tmp_path / "ethtool"
    replay.write_bytes(files["/usr/sbin/ethtool"][0])
    # The replay reads <$HOMELAB_LAB_REPLAY_DIR>/ethtool/nics.json, as on a lab host.
    (tmp_path / "data" / "ethtool").mkdir(parents=True)
    (tmp_path / "data" / "ethtool" / "nics.json").write_bytes(files[f"{hardware.REPLAY_DATA_DIR}/ethtool/nics.json"][0])
    shown = subprocess.run([sys.executable, str(replay), "-i", "enp5s0"], capture_output=True, text=True, check=True,
                           env={hardware.REPLAY_DIR_ENV: str(tmp_path / "data")}).stdout
    assert nic_baseline.parse_driver_info(shown) == ("r8169", None)


def test_a_real_firmware_version_is_kept() -> None:
    text = "driver: igc\nversion: 6.1.0\nfirmware-version: 1082:8770\nbus-info: 0000:03:00.0\n"
    assert nic_baseline.parse_driver_info(text) == ("igc", "1082:8770")
    assert nic_baseline.parse_driver_info("driver: virtio_net\nfirmware-version: N/A\n") == ("virtio_net", None)
