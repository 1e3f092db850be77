"""``homelab lab``: the sandbox lab that tests and the demo run against."""

from __future__ import annotations

import os
import time

import click

from planner.commands._options import console, format_option, print_json
from planner.paths import cache_dir, project_root, state_dir


def _config():
    from planner.lab.spec import LabConfig

    root = project_root()
    return LabConfig.from_env(root, state_dir(root))


@click.group()
def lab() -> None:
    """Start, stop and reach the sandbox lab.

    The lab mirrors inventory/: one systemd-nspawn container per host, each on
    its own loopback address (127.0.1.11, .12, …), reached over real SSH with
    the key and pinned known_hosts under .homelab/lab/. Needs root.

    \b
    Examples:
      homelab lab up
      homelab lab status
      homelab lab restart k3s-vm-chief-horse
      homelab lab ssh still-fawn -- nvidia-smi -L
      ansible-playbook -i .homelab/lab/inventory playbooks/gather_facts.yml
      homelab lab down
    """


@lab.command()
@click.option("--scale", type=int, default=None, metavar="N",
              help="Run N hosts in all: the inventory's, then generated k3s VMs (k3s-vm-gen-01, …) copied from "
                   "the reference ones, in the lab's inventory only. Kept by later `lab up` until `lab down`.")
@click.option("--limit", "-l", "limit", default=None, metavar="PATTERN",
              help="Start only the hosts this Ansible pattern selects (as a plan's --limit), and the maas host, "
                   "whose DNS and DHCP every host uses. The inventory still lists every host; the others stay "
                   "stopped until a `lab up` without --limit.")
def up(scale: int | None, limit: str | None) -> None:
    """Start every inventory host (idempotent; the root filesystem is built once and cached).

    \b
    Examples:
      homelab lab up
      homelab lab up --scale 30
      homelab lab up --limit 'proxmox[0],k3s'   # a smaller lab on a small machine
    """
    from planner.lab import runtime

    config = _config()
    only = None
    if limit is not None:
        from planner.errors import HomelabError
        from planner.lab.scale import read_size
        from planner.plans.stepcheck import resolve_hosts

        if scale is not None or read_size(config.lab_dir) is not None:
            raise HomelabError("--limit picks hosts from the project inventory, and a scaled lab's generated hosts "
                               "are not in it", "start a scaled lab whole (homelab lab up --scale N), or run "
                               "`homelab lab down` first")
        only = set(resolve_hosts(config.project / "inventory", limit))
    started = time.monotonic()
    states = runtime.up(config, cache_dir(), progress=lambda msg: click.echo(msg, err=True), scale=scale, only=only)
    from planner.lab.spec import lab_hosts

    total = len(lab_hosts(config)) if only is not None else len(states)
    click.echo(f"Lab up: {len(states)} hosts in {time.monotonic() - started:.1f} s"
               + (f" ({total - len(states)} of the inventory's {total} left stopped)" if len(states) < total else "")
               + f"; inventory {os.path.relpath(config.lab_dir / 'inventory')}", err=True)
    from planner.lab import kuma

    where = next((s for s in states if s.name == kuma.HOST), None)
    if where is not None:
        click.echo(f"Uptime Kuma: {kuma.url(where.address)}; its admin's credentials: "
                   f". {os.path.relpath(kuma.credentials_path(config))}", err=True)


@lab.command()
def down() -> None:
    """Stop every lab host and remove its mounts and files."""
    from planner.lab import runtime

    names = runtime.down(_config())
    click.echo(f"Lab down: stopped {len(names)} hosts." if names else "Lab was not running.", err=True)


@lab.command()
@format_option("table", "json")
def status(fmt: str) -> None:
    """Show each lab host: address, process, whether SSH answers, hardware profile."""
    from planner.lab import runtime

    rows = runtime.status(_config())
    if fmt == "json":
        print_json(rows)
        return
    from rich.table import Table

    table = Table(title="Sandbox lab", title_justify="left")
    for col in ("host", "address", "groups", "state", "ssh", "hardware profile"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(r["host"], r["address"] or "-", ",".join(r["groups"]),
                      f"running (pid {r['pid']})" if r["running"] else "stopped",
                      "answers" if r["ssh"] else "-",
                      (f"copy of {r['generated_from']}; " if r["generated_from"] else "") + (r["hardware"] or "-")
                      + (f"; link set: {r['links_set']}" if r["links_set"] else ""))
    console().print(table)


@lab.command()
@click.argument("host")
@click.argument("nic")
@click.option("--speed", "speed", type=int, required=True, metavar="MBPS", help="The new link speed in Mbps.")
@click.option("--duplex", type=click.Choice(["full", "half"]), default="full", show_default=True,
              help="The new duplex.")
def link(host: str, nic: str, speed: int, duplex: str) -> None:
    """Stand in for a hardware swap: link a running host's NIC at a new speed.

    What the host's ethtool and /sys/class/net show changes at once, without a
    restart, as after fitting a new NIC, cable or switch. `lab status` shows
    the links set; later `lab up` keeps them; `lab down` forgets them. The
    speed must be one the documented NIC supports (hardware.nics[].supported_mbps).

    \b
    Examples:
      homelab lab link pumped-piglet enp4s0 --speed 2500
      homelab lab link fun-bedbug enp1s0 --speed 1000 --duplex half
    """
    from planner.lab import runtime

    now = runtime.set_link(_config(), host, nic, speed, duplex)
    shown = next(n for n in now.hardware.nics if n.name == nic)
    click.echo(f"{host} {nic}: now links at {shown.speed_mbps} Mbps {shown.duplex} "
               f"(supports up to {max(shown.supported_mbps)})", err=True)


@lab.command()
@click.argument("host")
@format_option("text", "json")
def restart(host: str, fmt: str) -> None:
    """Reboot a running lab host, keeping its disk; show its LAN address before and after.

    The host is shut down cleanly and booted again from the same files (a
    reboot, not a rebuild): a DHCP host's client asks the lab's DHCP server
    for its address again, as after a power cut. Waits until SSH answers.

    \b
    Examples:
      homelab lab restart k3s-vm-chief-horse
      homelab lab restart k3s-vm-chief-horse --format json
    """
    from dataclasses import asdict

    from planner.lab import runtime

    done = runtime.restart(_config(), cache_dir(), host, progress=lambda msg: click.echo(msg, err=True))
    if fmt == "json":
        print_json(asdict(done))
        return
    how = {"dhcp": " (DHCP)", "static": " (static)"}.get(done.method or "", "")
    click.echo(f"{done.host} restarted: {done.before or 'no address'} → {done.after or 'no address'}{how}")


@lab.command(context_settings={"ignore_unknown_options": True})
@click.argument("host")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def ssh(host: str, command: tuple[str, ...]) -> None:
    """Open a shell on a lab host as its admin user (or run COMMAND there)."""
    from planner.errors import HomelabError, LabError, did_you_mean
    from planner.lab import runtime
    from planner.lab.hostsetup import ssh_argv

    config = _config()
    states = runtime.read_state(config)
    state = states.get(host)
    known = _known_hosts(config, states)
    if host not in known:
        # A name the lab does not have is bad input (exit 2), not a stopped host (exit 3).
        raise HomelabError(f"unknown lab host {host!r}" + did_you_mean(host, known),
                           f"the lab's hosts are the inventory's: {', '.join(known) or 'none'}")
    if state is None or not runtime.is_ours(state):
        raise LabError(f"lab host {host!r} is not running" + did_you_mean(host, states),
                       "homelab lab status shows the hosts; homelab lab up starts them")
    os.execvp("ssh", ssh_argv(config, state, *command))


@lab.command()
@click.argument("host")
@click.argument("fault", type=click.Choice(["cpu-hog", "disk-full", "lease-expiry", "monitoring-gaps",
                                            "exporter-stopped", "pending-upgrade"]))
@click.option("--clear", is_flag=True, help="Undo the fault instead: stop the hog, remove the filling file, "
                                            "take the guest's lease away, remove the planted monitors and "
                                            "file_sd file, start the exporter the plant stopped, "
                                            "or remove the local apt repository and its packages.")
def plant(host: str, fault: str, clear: bool) -> None:
    """Plant a fault on a running lab host, for diagnose_host to find (or --clear it).

    \b
    cpu-hog    the transient unit lab-cpu-hog.service: one busy loop,
               python3 /usr/local/bin/lab-cpu-hog (stops itself after 30 minutes)
    disk-full  /srv/lab-full (a 32 MiB tmpfs in every lab host) filled to 100 %
    lease-expiry  (a DHCP host only) its lease expired on the lab's DHCP server
               (dnsmasq-dhcp on maas) and in the host, and its address leased
               to a guest laptop (02:00:5e:10:00:99): `lab restart HOST` then
               moves it to a new address
    monitoring-gaps  (the uptime-kuma host only) the real Uptime Kuma seeded as
               an earlier sync left it: a port monitor per host and per
               monitored service, tagged `homelab` (host/<name>,
               service/<name>), but none for jellyfin, one for old-nas (a
               host gone from the inventory) and one untagged monitor of a
               person's ("router admin (mine)"); and Prometheus's
               /etc/prometheus/file_sd/homelab-node.yml with every host's
               node exporter target and old-nas's
    exporter-stopped  prometheus-node-exporter stopped (not disabled);
               --clear starts it again only if the plant stopped it
    pending-upgrade  a local apt repository in the host (file:/var/lib/homelab-lab/apt)
               with homelab-lab-tool 1.1-1 over the installed 1.0-1, and
               homelab-lab-pinned 1.0-1 held with 1.1-1 there: for update_packages

    Idempotent: a running hog is kept, a full filesystem stays full, one guest
    lease at most. `lab down` clears everything.

    \b
    Examples:
      homelab lab plant k3s-vm-still-fawn cpu-hog
      homelab lab plant k3s-vm-still-fawn cpu-hog --clear
      homelab lab plant maas disk-full
      homelab lab plant k3s-vm-chief-horse lease-expiry
      homelab lab plant uptime-kuma monitoring-gaps
      homelab lab plant k3s-vm-still-fawn exporter-stopped --clear
      homelab lab plant k3s-vm-still-fawn pending-upgrade
    """
    from planner.lab import faults

    now = faults.plant(_config(), host, fault, clear)
    if fault == "cpu-hog":
        click.echo(f"{host}: {faults.HOG_UNIT} " + ("stopped" if clear else f"runs as pid {now}"), err=True)
    elif fault in ("monitoring-gaps", "exporter-stopped"):
        click.echo(f"{host}: {now}" if fault == "monitoring-gaps" else f"{host}: prometheus-node-exporter {now}",
                   err=True)
    elif fault == "lease-expiry":
        click.echo(f"{host}: " + (f"guest lease cleared ({now})" if clear else f"lease expired; {now}"), err=True)
    elif fault == "pending-upgrade":
        click.echo(f"{host}: local apt repository {now}", err=True)
    else:
        click.echo(f"{host}: {faults.FULL_MOUNT} {now} used", err=True)


def _known_hosts(config, states) -> list[str]:
    """Hosts the lab has: the project inventory's (read leniently, without starting anything) and any running."""
    from planner.errors import InventoryError
    from planner.inventory.hosts import load_inventory

    try:
        names = list(load_inventory(config.project / "inventory").hosts)
    except InventoryError:  # no inventory directory: the lab state alone says what exists
        names = []
    return list(dict.fromkeys([*names, *states]))
