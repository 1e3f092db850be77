"""Link overrides: standing in for a hardware swap on a running lab host.

After a person fits a NIC, re-cables or replaces a switch, a NIC links at a
new speed. A lab host cannot be re-cabled, so ``homelab lab link HOST NIC
--speed N`` records the new link in ``links.json`` under the lab directory
and rewrites what the host shows for it — the ethtool replay's data and the
``/sys/class/net`` tree — on the running host, without a restart. Every
later ``lab up`` and ``lab status`` applies the same overrides (the lab's
host list reads them); ``lab down`` forgets them with the rest of the lab.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from planner.errors import HomelabError, LabError
from planner.lab.hardware import ETHERNET_SPEEDS_MBPS, HardwareProfile
from planner.paths import private_file

LINKS_FILE = "links.json"


class LinkOverride(BaseModel):
    """One NIC's link as the lab shows it now (sysfs spelling of duplex)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    speed_mbps: int = Field(gt=0)
    duplex: str = Field(pattern="^(full|half)$")


class LinkOverrides(BaseModel):
    """links.json: {host: {nic: override}}."""

    model_config = ConfigDict(extra="forbid")

    hosts: dict[str, dict[str, LinkOverride]] = {}


def _path(lab_dir: Path) -> Path:
    return lab_dir / LINKS_FILE


def read_overrides(lab_dir: Path) -> LinkOverrides:
    """The overrides in force (none when the file is absent)."""
    path = _path(lab_dir)
    try:
        return LinkOverrides.model_validate_json(path.read_text())
    except FileNotFoundError:
        return LinkOverrides()
    except ValidationError as err:
        raise LabError(f"{path} is damaged: {err.errors()[0]['msg']}",
                       "remove it (`homelab lab down` does) and set the links again") from None


def _write(lab_dir: Path, overrides: LinkOverrides) -> None:
    path = _path(lab_dir)
    tmp = path.with_suffix(".tmp")
    with os.fdopen(private_file(tmp), "w") as fh:
        fh.write(overrides.model_dump_json(indent=2) + "\n")
    tmp.replace(path)


def forget(lab_dir: Path) -> None:
    """Drop every override (``lab down``)."""
    _path(lab_dir).unlink(missing_ok=True)


def apply(profile: HardwareProfile, overrides: dict[str, LinkOverride]) -> HardwareProfile:
    """``profile`` with the overridden NICs linked at their new speed and duplex."""
    if not overrides:
        return profile
    nics = tuple(replace(nic, speed_mbps=o.speed_mbps, duplex=o.duplex, link=True)
                 if (o := overrides.get(nic.name)) else nic for nic in profile.nics)
    return replace(profile, nics=nics)


def check_link(profile: HardwareProfile, nic_name: str, speed_mbps: int, duplex: str) -> LinkOverride:
    """The override for ``nic_name``, refused when the NIC does not exist or cannot link at that speed."""
    from planner.errors import did_you_mean

    nics = {n.name: n for n in profile.nics}
    nic = nics.get(nic_name)
    if nic is None:
        raise HomelabError(f"lab host {profile.hostname} has no NIC {nic_name!r}" + did_you_mean(nic_name, nics),
                           f"its NICs: {', '.join(nics) or 'none'} (from hardware.nics in its host_vars)")
    if speed_mbps not in ETHERNET_SPEEDS_MBPS:
        raise HomelabError(f"--speed {speed_mbps} is not an Ethernet link speed",
                           f"use one of {', '.join(map(str, ETHERNET_SPEEDS_MBPS))} (Mbps)")
    if nic.driver == "virtio_net":
        raise HomelabError(f"{profile.hostname} {nic_name} is a paravirtual NIC: it has no link speed of its own",
                           "change the link of its hypervisor's NIC instead")
    if speed_mbps not in nic.supported_mbps:
        raise HomelabError(f"{profile.hostname} {nic_name} ({nic.model or nic.driver}) cannot link at {speed_mbps} "
                           f"Mbps: it supports up to {max(nic.supported_mbps)}",
                           "document the new NIC's supported_mbps in its host_vars first, as after a real swap")
    return LinkOverride(speed_mbps=speed_mbps, duplex=duplex)


def record(lab_dir: Path, host: str, nic: str, link: LinkOverride) -> None:
    """Keep the override so later ``lab up`` and ``lab status`` see it."""
    overrides = read_overrides(lab_dir)
    overrides.hosts.setdefault(host, {})[nic] = link
    _write(lab_dir, overrides)


def show_on_host(profile: HardwareProfile, merged: Path, sysnet: Path) -> None:
    """Rewrite what the running host reads: the ethtool replay's data and its /sys/class/net tree.

    ``merged`` is the host's root as this machine sees it; ``sysnet`` the directory bind-mounted
    read-only over its /sys/class/net (the files are rewritten in place, so the mount shows them).
    """
    from planner.lab.hardware import render_files, render_sys_class_net

    for rel, (content, mode) in render_files(profile).items():
        path = merged / rel.lstrip("/")
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(content)
        tmp.chmod(mode)
        tmp.replace(path)  # a replay reads its data whole; a rename keeps it from seeing half a file
    render_sys_class_net(profile, sysnet)


def describe(overrides: dict[str, LinkOverride]) -> str:
    """"enp4s0 2500 full" for ``lab status``."""
    return ", ".join(f"{nic} {o.speed_mbps} {o.duplex}" for nic, o in sorted(overrides.items()))

