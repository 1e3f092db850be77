"""`homelab lab up --limit`: a lab of only the hosts a pattern selects, and maas (every host's DNS and DHCP).

The molecule scenarios that set a limit start their labs this way (molecule/resources/create.yml). This test
runs a lab of its own (on ``$HOMELAB_TEST_LIMIT_LAB_NET``, by default the session lab's /24 plus 180 in its
third octet), of two hosts: it boots in a few seconds and leaves the session's lab alone.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import run_homelab
from tests.integration.conftest import LAB_NET, mounts_under, pid_alive

pytestmark = pytest.mark.lab

_a, _b, _c = LAB_NET.split(".")
NET = os.environ.get("HOMELAB_TEST_LIMIT_LAB_NET") or f"{_a}.{_b}.{(int(_c) + 180) % 256}"


def test_a_limited_lab_runs_only_the_selected_hosts_and_lists_every_host(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.fail("the lab integration tests need root (overlayfs mounts, systemd-nspawn)")
    lab_dir = tmp_path / "lab"
    env = {"HOMELAB_LAB_DIR": str(lab_dir), "HOMELAB_LAB_NET": NET}

    refused = run_homelab("lab", "up", "--limit", "proxmox-typo", env=env)
    assert refused.rc == 2, refused.stderr
    assert "Error: limit 'proxmox-typo' matches no host" in refused.stderr and "Hint:" in refused.stderr
    assert not (lab_dir / "lab.json").exists(), "a refused limit started hosts"

    up = run_homelab("lab", "up", "--limit", "proxmox[0]", env=env, timeout=300)
    pids: list[int] = []
    try:
        assert up.rc == 0, up.stderr
        assert "Lab up: 2 hosts" in up.stderr and "(7 of the inventory's 9 left stopped)" in up.stderr
        rows = json.loads(run_homelab("lab", "status", "--format", "json", env=env).stdout)
        pids = [r["pid"] for r in rows if r["pid"]]
        assert {r["host"] for r in rows if r["running"]} == {"still-fawn", "maas"}
        assert {r["host"] for r in rows if r["ssh"]} == {"still-fawn", "maas"}
        # Every host stays in the inventory, so a pattern selects what it selects on the whole lab; only
        # the running ones have a pinned key, so SSH refuses the others.
        lab_file = (lab_dir / "inventory" / "zz-lab.yml").read_text()
        assert all(f"\n    {r['host']}:" in lab_file for r in rows), lab_file[:400]
        pinned = (lab_dir / "known_hosts").read_text().splitlines()
        assert sorted(line.split()[0] for line in pinned) == sorted(
            r["address"] for r in rows if r["host"] in ("still-fawn", "maas"))

        # The generated hosts of a scaled lab are not in the project inventory the pattern is read from.
        scaled = run_homelab("lab", "up", "--scale", "12", "--limit", "k3s", env=env)
        assert scaled.rc == 2 and "Error: --limit picks hosts from the project inventory" in scaled.stderr
        after = json.loads(run_homelab("lab", "status", "--format", "json", env=env).stdout)
        assert [r["host"] for r in after if r["running"]] == [r["host"] for r in rows if r["running"]]
    finally:
        down = run_homelab("lab", "down", env=env, timeout=300)
        assert down.rc == 0, down.stderr
        assert "stopped 2 hosts" in down.stderr
        assert [p for p in pids if pid_alive(p)] == [], "lab down left processes running"
        assert mounts_under(lab_dir) == [], "lab down left mounts behind"
