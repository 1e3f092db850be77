"""Build the lab's shared Debian root filesystem once and cache it.

``debootstrap`` takes about a minute and 300 MB; the result is shared
read-only (as the overlay's lower layer) by every host of every lab on this
machine, so it lives in the user cache, keyed by what went into it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

from planner.errors import LabError

SUITE = "bookworm"
PACKAGES = (
    "systemd", "systemd-sysv", "dbus", "openssh-server", "python3", "python3-apt",
    "sudo", "iproute2", "procps", "ca-certificates", "iperf3", "dnsmasq", "lighttpd",
    # Real monitoring from Debian: the roles configure and start them; nothing reaches the internet to install them.
    "prometheus", "prometheus-node-exporter",
)
#: Bump when the preparation below changes, so old caches are not reused.
RECIPE_VERSION = 4
ADMIN_USER = "admin"
ADMIN_UID = 1000

# Units Debian enables at install that the lab's hosts must not start by themselves: every lab host shares
# this machine's network, so nine node exporters on *:9100 would fight over one port. The monitoring roles
# bind each to its host's own address and start it.
_DISABLED_UNITS = ("prometheus.service", "prometheus-node-exporter.service",
                   "prometheus-node-exporter-apt.timer", "prometheus-node-exporter-nvme.timer",
                   "prometheus-node-exporter-smartmon.timer", "prometheus-node-exporter-ipmitool-sensor.timer",
                   "prometheus-node-exporter-mellanox-hca-temp.timer")

# Timers that would reach the internet or churn the disk in a lab host.
_MASKED_UNITS = (
    "ssh.socket", "getty@tty1.service", "console-getty.service", "systemd-networkd.service",
    "systemd-resolved.service", "systemd-timesyncd.service", "apt-daily.timer",
    "apt-daily-upgrade.timer", "e2scrub_all.timer", "fstrim.timer", "man-db.timer", "dpkg-db-backup.timer",
)


def _mirror() -> str:
    return os.environ.get("HOMELAB_DEBIAN_MIRROR", "http://deb.debian.org/debian")


def cache_key() -> str:
    """A short digest of everything that shapes the root filesystem."""
    recipe = json.dumps({"suite": SUITE, "packages": PACKAGES, "version": RECIPE_VERSION,
                         "masked": _MASKED_UNITS, "disabled": _DISABLED_UNITS, "admin": [ADMIN_USER, ADMIN_UID]},
                        sort_keys=True)
    return hashlib.sha256(recipe.encode()).hexdigest()[:12]


def _run(cmd: list[str], what: str, log: Path) -> None:
    with log.open("ab") as out:
        proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, check=False)
    if proc.returncode != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-8:]
        raise LabError(f"{what} failed (exit {proc.returncode})", f"see {log}", details=tail)


def _prepare(root: Path) -> None:
    """Make the fresh tree a lab host template: admin user, quiet units, no host keys."""
    etc = root / "etc"
    passwd = (etc / "passwd").read_text()
    if f"\n{ADMIN_USER}:" not in passwd:
        subprocess.run(["chroot", str(root), "useradd", "--create-home", "--uid", str(ADMIN_UID),
                        "--shell", "/bin/bash", "--groups", "sudo", ADMIN_USER], check=True,
                       stdin=subprocess.DEVNULL, capture_output=True)
    sudoers = etc / "sudoers.d" / "lab-admin"
    sudoers.write_text(f"# The lab's admin becomes root without a password, as on a homelab with keys only.\n"
                       f"{ADMIN_USER} ALL=(ALL) NOPASSWD:ALL\n")
    sudoers.chmod(0o440)
    units = etc / "systemd" / "system"
    for unit in _MASKED_UNITS:
        link = units / unit
        if not link.is_symlink():
            link.unlink(missing_ok=True)
            link.symlink_to("/dev/null")
    for unit in _DISABLED_UNITS:
        for link in units.glob(f"*.wants/{unit}"):
            link.unlink()
    for key in (etc / "ssh").glob("ssh_host_*"):
        key.unlink()
    (etc / "ssh" / "sshd_config.d" / "00-lab.conf").write_text(
        "# Keys only, as on a real homelab; no DNS lookups (the lab has no resolver).\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin no\nUseDNS no\n")
    (etc / "machine-id").write_text("")
    shutil.rmtree(root / "var" / "cache" / "apt" / "archives", ignore_errors=True)
    (root / "var" / "cache" / "apt" / "archives" / "partial").mkdir(parents=True, exist_ok=True)


def ensure_rootfs(cache: Path, progress=print) -> Path:
    """Return the cached root filesystem, building it first if needed (locked against concurrent builds)."""
    base = cache / "rootfs"
    base.mkdir(parents=True, exist_ok=True)
    final = base / f"{SUITE}-{cache_key()}"
    if (final / ".homelab-rootfs").is_file():
        return final
    if not shutil.which("debootstrap"):
        raise LabError("debootstrap is not installed; the lab builds its Debian root filesystem with it",
                       "apt-get install debootstrap (make setup does this when run as root)")
    from planner.plans.lock import waiting_lock

    with waiting_lock(base / ".lock"):
        if (final / ".homelab-rootfs").is_file():
            return final
        # Under the lock no build is running, so any .build-* left here is from one that died: clear them.
        for stale in base.glob(".build-*"):
            shutil.rmtree(stale, ignore_errors=True)
        build = base / f".build-{os.getpid()}"
        log = base / "build.log"
        log.write_text("")
        progress(f"Building the lab's Debian {SUITE} root filesystem (once, about a minute) in {final}")
        try:
            _run(["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, str(build),
                  _mirror()], "debootstrap", log)
            _prepare(build)
            (build / ".homelab-rootfs").write_text(json.dumps({"key": cache_key(), "packages": PACKAGES}) + "\n")
            shutil.rmtree(final, ignore_errors=True)
            build.rename(final)
        finally:
            shutil.rmtree(build, ignore_errors=True)  # a failed or interrupted build leaves nothing half-made
    return final
