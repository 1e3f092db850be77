"""homelab.ops.package_upgrades: the commands it runs (apt, and dnf, which the lab cannot run) and how it reads them."""

from __future__ import annotations

import sys

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "collections"))
from ansible_collections.homelab.ops.plugins.module_utils import package_upgrades as pu  # noqa: E402

# `apt-get -s upgrade` on a bookworm host: one upgrade with its security origin, one from a local
# repository, the held package only as "kept back" (no Inst line), Conf lines repeating the Inst ones.
APT_SIMULATION = """\
Reading package lists...
Building dependency tree...
Reading state information...
Calculating upgrade...
The following packages have been kept back:
  homelab-lab-pinned
The following packages will be upgraded:
  homelab-lab-tool libgcrypt20
2 upgraded, 0 newly installed, 0 to remove and 1 not upgraded.
Inst libgcrypt20 [1.10.1-3] (1.10.1-3+deb12u1 Debian:12.15/oldstable, Debian-Security:12/oldstable-security [amd64]) []
Inst homelab-lab-tool [1.0-1] (1.1-1 homelab-lab:lab [all])
Conf libgcrypt20 (1.10.1-3+deb12u1 Debian:12.15/oldstable, Debian-Security:12/oldstable-security [amd64])
Conf homelab-lab-tool (1.1-1 homelab-lab:lab [all])
"""

APT_POLICY = """\
homelab-lab-pinned:
  Installed: 1.0-1
  Candidate: 1.1-1
  Version table:
     1.1-1 500
        500 file:/var/lib/homelab-lab/apt ./ Packages
 *** 1.0-1 100
        100 /var/lib/dpkg/status
linux-image-amd64:
  Installed: 6.1.0-18
  Candidate: 6.1.0-18
  Version table:
 *** 6.1.0-18 100
        100 /var/lib/dpkg/status
"""

DNF_CHECK_UPDATE = """\

kernel.x86_64                     5.14.0-427.el9               baseos
openssl-libs.x86_64               1:3.0.7-27.el9               baseos
Obsoleting Packages
grub2-tools.x86_64                1:2.06-80.el9                baseos
    grub2-tools.x86_64            1:2.06-77.el9                @baseos
"""


def test_apt_simulation_lists_each_upgrade_with_both_versions() -> None:
    assert pu.parse_apt_simulation(APT_SIMULATION) == [
        {"name": "homelab-lab-tool", "current": "1.0-1", "new": "1.1-1"},
        {"name": "libgcrypt20", "current": "1.10.1-3", "new": "1.10.1-3+deb12u1"},
    ]


def test_apt_simulation_with_nothing_to_do_is_empty() -> None:
    assert pu.parse_apt_simulation("0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n") == []


def test_held_packages_report_the_version_they_would_move_to() -> None:
    names = pu.parse_held("homelab-lab-pinned\nlinux-image-amd64\n")
    assert names == ["homelab-lab-pinned", "linux-image-amd64"]
    assert pu.held_report(names, pu.parse_apt_policy(APT_POLICY)) == [
        {"name": "homelab-lab-pinned", "current": "1.0-1", "pending": "1.1-1"},
        {"name": "linux-image-amd64", "current": "6.1.0-18", "pending": ""},
    ]


def test_apt_reads_through_a_private_copy_of_the_lists_and_upgrades_with_the_hosts_own() -> None:
    cmds = pu.apt_commands("/tmp/lists", "/tmp/no-hooks.conf")
    private = ["-o", "Dir::State::Lists=/tmp/lists"]
    for what in ("refresh", "simulate", "policy"):
        joined = " ".join(cmds[what])
        assert " ".join(private) in joined, what
        assert "-c /tmp/no-hooks.conf" in joined, what  # the update hooks (appstream, packagekit, motd) never run
        assert "Dir::Cache::pkgcache=" in joined, what  # no binary cache written under /var/cache/apt
    assert cmds["simulate"][-3:] == ["-s", "upgrade", "--with-new-pkgs"]
    own = pu.apt_commands()
    assert "Dir::State::Lists" not in " ".join(own["refresh"] + own["upgrade"])
    assert own["upgrade"][:4] == ["apt-get", "-q", "-y", "-o"] and own["upgrade"][-2:] == ["upgrade", "--with-new-pkgs"]
    # Only configured sources: no command names a mirror or a URL.
    assert not any("://" in arg for argv in (*cmds.values(), *own.values()) for arg in argv)


def test_the_hook_file_clears_every_update_hook() -> None:
    for hook in ("APT::Update::Pre-Invoke", "APT::Update::Post-Invoke", "APT::Update::Post-Invoke-Success"):
        assert f"#clear {hook};" in pu.NO_UPDATE_HOOKS


def test_dnf_commands() -> None:
    cmds = pu.dnf_commands()
    assert cmds["simulate"] == ["dnf", "-q", "--refresh", "check-update"]
    # A read refreshes metadata into a private cache, not the host's /var/cache/dnf.
    private = pu.dnf_commands("/tmp/c")["simulate"]
    assert private == ["dnf", "-q", "--setopt=cachedir=/tmp/c", "--refresh", "check-update"]
    assert cmds["upgrade"] == ["dnf", "-y", "-q", "upgrade"]
    assert cmds["held"] == ["dnf", "-q", "versionlock", "list"]
    assert cmds["installed"][:3] == ["rpm", "-q", "--qf"]


def test_dnf_check_update_stops_at_the_obsoletes() -> None:
    assert pu.parse_dnf_check_update(DNF_CHECK_UPDATE) == [
        {"name": "kernel.x86_64", "new": "5.14.0-427.el9"},
        {"name": "openssl-libs.x86_64", "new": "1:3.0.7-27.el9"},
    ]


def test_dnf_versionlock_and_rpm_versions() -> None:
    locked = "Last metadata expiration check: 0:01:02 ago.\nkernel-0:5.14.0-362.el9.*\nopenssl-libs-1:3.0.7-24.el9.*\n"
    assert pu.parse_dnf_versionlock(locked) == ["kernel", "openssl-libs"]
    installed = pu.parse_rpm_installed("kernel.x86_64 0:5.14.0-362.el9\nopenssl-libs.x86_64 1:3.0.7-24.el9\n")
    assert installed == {"kernel.x86_64": "5.14.0-362.el9", "openssl-libs.x86_64": "1:3.0.7-24.el9"}


def test_diff_names_each_upgrade_and_each_held_package_not_taken() -> None:
    upgrades = [{"name": "homelab-lab-tool", "current": "1.0-1", "new": "1.1-1"}]
    held = [{"name": "homelab-lab-pinned", "current": "1.0-1", "pending": "1.1-1"},
            {"name": "linux-image-amd64", "current": "6.1.0-18", "pending": ""}]
    diff = pu.diff(upgrades, held)
    assert diff is not None
    assert diff["before"] == "homelab-lab-tool 1.0-1\nhomelab-lab-pinned 1.0-1 (held)\n"
    assert diff["after"] == "homelab-lab-tool 1.1-1\nhomelab-lab-pinned 1.0-1 (held; 1.1-1 not taken)\n"
    assert pu.diff([], [held[1]]) is None
