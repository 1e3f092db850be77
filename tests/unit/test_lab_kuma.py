"""The lab's real Uptime Kuma: its install's patches, its unit, its names, and the monitoring plants' data."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from planner.errors import LabError
from planner.lab import hostsetup, kuma, monitoring
from planner.lab.hardware import HardwareProfile
from planner.lab.scenario import host_scenario
from planner.lab.spec import LabConfig, LabHost


def host(name: str, octet: int, groups: tuple[str, ...] = ()) -> LabHost:
    return LabHost(name, f"127.0.9.{octet}", 22, groups, HardwareProfile(name, (), ()))


HOSTS = [host("k3s-vm-still-fawn", 15, ("k3s",)), host("k3s-vm-chief-horse", 17, ("k3s",)),
         host("maas", 18, ("infra",)), host("uptime-kuma", 19, ("monitoring",))]
SERVICES = [
    {"name": "jellyfin", "host": "k3s", "port": 8096, "dns": "jellyfin.maas", "monitored": True},
    {"name": "prometheus", "host": "uptime-kuma", "port": 9090, "dns": "prometheus.maas", "monitored": True},
    {"name": "uptime-kuma", "host": "uptime-kuma", "port": 3001, "dns": "uptime-kuma.maas", "monitored": False},
    {"name": "maas", "host": "maas", "port": 5240, "dns": "maas.maas", "monitored": True},
    {"name": "elsewhere", "host": "no-such-host", "port": 1, "dns": "elsewhere.maas", "monitored": True},
]


def fake_package(root: Path) -> Path:
    """The two files and the directory the patches touch, as the 2.0.0-dev.0 release ships them."""
    pkg = root / "node_modules" / "uptime-kuma"
    (pkg / "db" / "old_migrations").mkdir(parents=True)
    for name in kuma._MISPLACED_PATCHES:
        (pkg / "db" / name).write_text(f"-- {name}\n")
    (pkg / "server").mkdir()
    (pkg / "server" / "database.js").write_text(
        'static sqlHourOffset() {\n    if (this.dbConfig.client === "sqlite3") {\n        return "x";\n    }\n}\n')
    return pkg


def test_the_patches_move_the_misplaced_migrations_and_fix_the_sqlite_test(tmp_path: Path) -> None:
    pkg = fake_package(tmp_path)
    changed = kuma.patch(pkg)
    assert len(changed) == 8
    assert sorted(p.name for p in (pkg / "db" / "old_migrations").iterdir()) == sorted(kuma._MISPLACED_PATCHES)
    assert not list((pkg / "db").glob("patch-*.sql"))
    js = (pkg / "server" / "database.js").read_text()
    assert 'this.dbConfig.type === "sqlite"' in js and "sqlite3" not in js
    # Idempotent: a second run finds nothing left to change.
    assert kuma.patch(pkg) == []


def test_a_release_the_patches_do_not_fit_is_refused(tmp_path: Path) -> None:
    pkg = fake_package(tmp_path)
    (pkg / "server" / "database.js").write_text("// another release\n")
    with pytest.raises(LabError, match="no SQLite test to patch"):
        kuma.patch(pkg)
    other = fake_package(tmp_path / "other")
    (other / "db" / kuma._MISPLACED_PATCHES[0]).unlink()
    with pytest.raises(LabError, match="is missing"):
        kuma.patch(other)


def test_the_unit_binds_the_host_address_and_sends_nothing_past_loopback() -> None:
    files, links = kuma.host_files(HOSTS[3], HOSTS)
    text = files["/etc/systemd/system/uptime-kuma.service"]
    assert 'Environment="UPTIME_KUMA_HOST=127.0.9.19"' in text and 'Environment="UPTIME_KUMA_PORT=3001"' in text
    assert 'Environment="UPTIME_KUMA_DB_TYPE=sqlite"' in text and 'Environment="DATA_DIR=/var/lib/uptime-kuma/"' in text
    assert 'Environment="https_proxy=http://127.0.0.1:9"' in text
    no_proxy = next(line for line in text.splitlines() if "no_proxy=" in line)
    assert ".maas" in no_proxy and "127.0.9.15" in no_proxy and "jellyfin" not in no_proxy
    assert f"WorkingDirectory={kuma.MOUNT}/node_modules/uptime-kuma" in text
    assert links == {"/etc/systemd/system/multi-user.target.wants/uptime-kuma.service":
                     "/etc/systemd/system/uptime-kuma.service"}
    assert kuma.host_files(HOSTS[0], HOSTS) == ({}, {})


def test_credentials_are_made_once_and_kept_private(tmp_path: Path) -> None:
    config = LabConfig(tmp_path, tmp_path, "127.0.9", 22)
    first = kuma.credentials(config)
    assert first[kuma.USERNAME_ENV] == "admin" and len(first[kuma.PASSWORD_ENV]) >= 20
    assert stat.S_IMODE(kuma.credentials_path(config).stat().st_mode) == 0o600
    assert kuma.credentials(config) == first
    assert f"export {kuma.PASSWORD_ENV}=" in kuma.credentials_path(config).read_text()


def test_etc_hosts_names_services_at_their_host_or_groups_first_host() -> None:
    text = hostsetup.etc_hosts(HOSTS, SERVICES)
    lines = text.splitlines()
    assert "127.0.9.15\tjellyfin.maas" in lines  # the k3s group's first host
    assert "127.0.9.19\tprometheus.maas" in lines
    # A host's own name is its host line already; a service of no lab host gets no line.
    assert "127.0.9.18\tmaas.maas maas" in lines and not any(line.endswith("\tmaas.maas") for line in lines)
    assert "elsewhere.maas" not in text and "old-nas" not in text


def test_no_stand_in_holds_the_real_services_ports_and_the_planted_note_stays() -> None:
    services = [{**s, "tier": "orchestrator"} for s in SERVICES]
    scenario, _ = host_scenario("uptime-kuma", ("monitoring",), {"services": services},
                                HardwareProfile("uptime-kuma", (), ()), {"not_running": ["prometheus"]})
    assert [s.name for s in scenario.standins] == []
    assert "prometheus is not running" in scenario.planted


def test_the_gaps_plant_seeds_all_but_jellyfin_plus_old_nas() -> None:
    seeded = monitoring.seeded_monitors(HOSTS, SERVICES)
    tags = [m["tag"] for m in seeded]
    assert tags == ["host/k3s-vm-still-fawn", "host/k3s-vm-chief-horse", "host/maas", "host/uptime-kuma",
                    "service/prometheus", "service/maas", "service/elsewhere", "host/old-nas"]
    assert {"name": "maas", "hostname": "maas.maas", "port": 5240, "tag": "service/maas"} in seeded
    assert {"name": "maas", "hostname": "maas.maas", "port": 22, "tag": "host/maas"} in seeded
    targets = monitoring.node_targets(HOSTS, 9100)
    assert targets[-1] == {"targets": ["old-nas.maas:9100"], "labels": {"host": "old-nas"}}
    assert targets[0] == {"targets": ["k3s-vm-still-fawn.maas:9100"], "labels": {"host": "k3s-vm-still-fawn"}}
