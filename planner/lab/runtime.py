"""Start, stop and inspect the lab's hosts.

Each host: an overlayfs (lower = the shared root filesystem, upper = the
host's own directory) booted by ``systemd-nspawn --boot`` with its own
systemd, sharing this machine's network namespace; its sshd listens on the
host's loopback address only. Every process and mount the lab creates is
recorded in ``lab.json`` and removed by ``down``, by pid and path, never by
name. ``restart`` reboots one host on the same upper directory (a reboot,
not a rebuild), so what it wrote (a DHCP lease above all) stays.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path

from planner.errors import LabError
from planner.lab import dhcp, dns, faults, hostsetup, kuma, links, preflight
from planner.lab.rootfs import ensure_rootfs
from planner.lab.scale import write_size
from planner.lab.spec import LabConfig, LabHost, lab_hosts
from planner.paths import private_dir, private_file

BOOT_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0

Progress = Callable[[str], None]


@dataclass
class HostState:
    """What the lab started for one host (persisted in lab.json)."""

    name: str
    address: str
    port: int
    machine: str
    pid: int
    merged: str
    started_at: float


def _state_path(config: LabConfig) -> Path:
    return config.lab_dir / "lab.json"


def read_state(config: LabConfig) -> dict[str, HostState]:
    """The hosts this lab started, by name (empty when none)."""
    try:
        raw = json.loads(_state_path(config).read_text())
    except FileNotFoundError:
        return {}
    except json.JSONDecodeError as err:
        raise LabError(f"{_state_path(config)} is damaged ({err})",
                       "stop leftover processes by hand, then remove the file") from None
    return {name: HostState(**h) for name, h in raw.get("hosts", {}).items()}


def _write_state(config: LabConfig, hosts: dict[str, HostState]) -> None:
    path = _state_path(config)
    tmp = path.with_suffix(".tmp")
    with os.fdopen(private_file(tmp), "w") as fh:
        fh.write(json.dumps({"hosts": {n: asdict(h) for n, h in hosts.items()}}, indent=2) + "\n")
    tmp.replace(path)


@contextmanager
def _locked(config: LabConfig) -> Iterator[None]:
    """One up/down at a time per lab: two hosts must never share an upper directory."""
    from planner.plans.lock import waiting_lock

    with waiting_lock(config.lab_dir / ".lock"):
        yield


def is_ours(state: HostState) -> bool:
    """True when ``state.pid`` is still the nspawn we started (not a reused pid, not a zombie)."""
    try:
        cmdline = Path(f"/proc/{state.pid}/cmdline").read_bytes().split(b"\0")
        stat = Path(f"/proc/{state.pid}/stat").read_text()
    except OSError:
        return False
    if stat.rsplit(")", 1)[-1].split()[0] == "Z":
        return False
    return b"systemd-nspawn" in (cmdline[0] if cmdline else b"") and f"--machine={state.machine}".encode() in cmdline


def answers(address: str, port: int, timeout: float = 0.5) -> bool:
    """Whether an SSH server greets on address:port."""
    try:
        with socket.create_connection((address, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            return sock.recv(4).startswith(b"SSH-")
    except OSError:
        return False


def _mounted(path: Path) -> bool:
    # ismount compares devices with the parent: right for overlays, and immune to the octal
    # escapes (a space is \040) that /proc/self/mountinfo uses for unusual paths.
    return os.path.ismount(path)


def _children(pid: int) -> list[int]:
    """Direct children of a process (the container's init, for nspawn)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def _stop_host(state: HostState) -> None:
    """Power one host off and remove its mount (see :func:`_stop_hosts`)."""
    _stop_hosts([state])


def _stop_hosts(states: list[HostState]) -> None:
    """Power the hosts off (nspawn turns SIGTERM into a clean shutdown), then remove their mounts.

    All are signalled before any is waited for, so stopping them takes as long as the slowest one (the Uptime
    Kuma host, about 4.4 s), not the sum of all of them."""
    running = [s for s in states if is_ours(s)]
    for state in running:
        with suppress(ProcessLookupError):
            os.kill(state.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while running and time.monotonic() < deadline:
        time.sleep(0.1)
        running = [s for s in running if is_ours(s)]
    for state in running:
        # SIGKILL on nspawn alone would orphan the container's init (and its sshd): kill that first.
        for child in _children(state.pid):
            with suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
        with suppress(ProcessLookupError):
            os.kill(state.pid, signal.SIGKILL)
    for _ in range(50):
        running = [s for s in running if is_ours(s)]
        if not running:
            break
        time.sleep(0.1)
    for state in states:
        _unmount(Path(state.merged))


def _unmount(merged: Path) -> None:
    for _ in range(20):
        if not _mounted(merged):
            break
        if subprocess.run(["umount", str(merged)], capture_output=True, check=False).returncode != 0:
            time.sleep(0.2)
    if _mounted(merged):
        # Last resort, so `down` never leaves a mount behind: detach it lazily.
        subprocess.run(["umount", "--lazy", str(merged)], capture_output=True, check=False)


def _start_host(config: LabConfig, host: LabHost, rootfs: Path, all_hosts: list[LabHost],
                keep_disk: bool = False, kuma_install: Path | None = None) -> HostState:
    """Mount the host's overlay and boot it: a fresh host, or with ``keep_disk`` the same disk (a reboot).
    ``kuma_install``: the cached Uptime Kuma the monitoring host runs (bound read-only with node)."""
    hdir = config.lab_dir / "hosts" / host.name
    if not keep_disk:
        shutil.rmtree(hdir, ignore_errors=True)  # a fresh host on every start
    upper, work, merged = hdir / "upper", hdir / "work", hdir / "merged"
    private_dir(hdir)  # the host's files are its own; the directory that holds them is the tool's
    for d in (upper, work, merged):
        d.mkdir(parents=True, exist_ok=keep_disk)
    proc = subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                           f"lowerdir={rootfs},upperdir={upper},workdir={work}", str(merged)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise LabError(f"could not mount the overlay for {host.name}: {proc.stderr.strip()}",
                       "the lab needs overlayfs (modprobe overlay) and a filesystem that supports it for .homelab/")
    machine = f"{config.machine_prefix}-{host.name}"[:64]
    try:
        if keep_disk:  # its files are as it left them; only the /sys/class/net replay is bound again
            sysnet = hdir / "sys-class-net"
            binds = [(sysnet, "/sys/class/net")] if sysnet.is_dir() else []
        else:
            binds = hostsetup.configure(config, host, merged, hdir, all_hosts)
        if kuma_install is not None and host.name == kuma.HOST:
            binds += [(kuma_install, kuma.MOUNT), *kuma.node_binds(merged)]
        cmd = ["systemd-nspawn", "--quiet", "--boot", "--register=no", "--keep-unit", "--link-journal=no",
               "--console=passive",
               # The lab writes each host's resolv.conf (its DNS on the maas host): nspawn must not replace it.
               "--resolv-conf=off", f"--machine={machine}", f"--hostname={host.name}", f"--directory={merged}",
               # A small filesystem of its own that `homelab lab plant HOST disk-full` fills (planner/lab/faults.py).
               f"--tmpfs={faults.FULL_MOUNT}:mode=0755,size={faults.FULL_SIZE}",
               *dhcp.nspawn_args(host),
               *(f"--bind-ro={src}:{dst}" for src, dst in binds)]
        with (hdir / "console.log").open("ab" if keep_disk else "wb") as log:
            child = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
    except BaseException:
        subprocess.run(["umount", str(merged)], capture_output=True, check=False)
        raise
    return HostState(host.name, host.address, host.port, machine, child.pid, str(merged), time.time())


def _wait_until_answering(config: LabConfig, states: list[HostState]) -> None:
    deadline = time.monotonic() + BOOT_TIMEOUT_S
    pending = list(states)
    while pending and time.monotonic() < deadline:
        for state in list(pending):
            if answers(state.address, state.port, timeout=0.3):
                pending.remove(state)
            elif not is_ours(state):
                log = config.lab_dir / "hosts" / state.name / "console.log"
                tail = log.read_text(errors="replace").strip().splitlines()[-6:] if log.exists() else []
                raise LabError(f"lab host {state.name} stopped while booting (console log: {log})",
                               preflight.explain(tail), details=tail)
        if pending:
            time.sleep(0.2)
    if pending:
        names = ", ".join(s.name for s in pending)
        raise LabError(f"lab hosts did not answer on SSH within {BOOT_TIMEOUT_S:.0f} s: {names}",
                       f"see {config.lab_dir}/hosts/<host>/console.log; `homelab lab down` cleans up")


def up(config: LabConfig, cache: Path, progress: Progress = print, scale: int | None = None,
       only: Collection[str] | None = None) -> list[HostState]:
    """Bring every inventory host up (idempotent: running hosts are kept as they are); with ``scale``,
    as many hosts in all, generated ones added (see ``lab.scale``), a size later calls keep.

    With ``only``, just those hosts and the lab's DNS and DHCP host (every host's names and leases come
    from it) are started; the others are left as they are, and the inventory still lists them, so a
    pattern selects the same hosts as on the whole lab. Returns the running hosts, in inventory order."""
    preflight.check(config)
    hosts = lab_hosts(config, scale=scale)
    chosen = [h for h in hosts if only is None or h.name in only or h.name == dns.DNS_HOST]
    rootfs = ensure_rootfs(cache, progress)
    kuma_install = kuma.ensure_install(cache, progress) if kuma.wanted(chosen) else None
    with _locked(config):
        if scale is not None:
            write_size(config.lab_dir, scale if any(h.generated for h in hosts) else None)
        hostsetup.ensure_client_files(config)
        states = read_state(config)
        wanted = {h.name for h in hosts}
        removed = [n for n in states if n not in wanted]
        # Hosts taken out of the inventory leave the lab too.
        _stop_hosts([states.pop(name) for name in removed])
        if removed:
            _write_state(config, states)
        started: list[HostState] = []
        try:
            for host in chosen:
                old = states.get(host.name)
                if old and is_ours(old) and old.address == host.address and answers(old.address, old.port):
                    continue
                if old:
                    _stop_host(old)
                preflight.check_port_free(host.address, host.port)
                if host.name == dns.DNS_HOST:
                    dns.check_port_free(host.address)
                states[host.name] = _start_host(config, host, rootfs, hosts, kuma_install=kuma_install)
                started.append(states[host.name])
                _write_state(config, states)
            if started:
                progress(f"Booting {len(started)} lab host(s)…")
            _wait_until_answering(config, started)
            if kuma_install is not None:
                # After every host answers: its start (a few seconds of node) overlaps the others' boot.
                kuma.ensure_ready(config, states[kuma.HOST].address, progress)
        except BaseException:
            # Leave nothing half-started behind: stop what this call started.
            _stop_hosts(started)
            for state in started:
                states.pop(state.name, None)
            _write_state(config, states)
            raise
        hostsetup.write_inventory(config, hosts, running=set(states))
        return [states[h.name] for h in hosts if h.name in states]


def down(config: LabConfig) -> list[str]:
    """Stop every host this lab started and remove its mounts and files; returns the names."""
    if os.geteuid() != 0 and _state_path(config).exists():
        raise LabError("stopping the lab needs root (it unmounts overlays and signals root's containers)",
                       "run it as root: sudo homelab lab down")
    with _locked(config):
        states = read_state(config)
        _stop_hosts(list(states.values()))
        leftover = [s.name for s in states.values() if is_ours(s) or _mounted(Path(s.merged))]
        if leftover:
            _write_state(config, {n: s for n, s in states.items() if n in leftover})
            raise LabError(f"could not stop: {', '.join(leftover)}", "see lab.json; stop them by pid")
        shutil.rmtree(config.lab_dir / "hosts", ignore_errors=True)
        shutil.rmtree(config.lab_dir / "inventory", ignore_errors=True)
        write_size(config.lab_dir, None)
        links.forget(config.lab_dir)
        _state_path(config).unlink(missing_ok=True)
        return list(states)


@dataclass(frozen=True)
class Restarted:
    """What ``homelab lab restart`` reports: the host's LAN address before and after its reboot."""

    host: str
    before: str | None
    after: str | None
    method: str | None  # "dhcp", "static", or None when the host documents no LAN address
    repinned: bool  # whether its host key had to be pinned again


def restart(config: LabConfig, cache: Path, name: str, progress: Progress = print) -> Restarted:
    """Reboot one running lab host keeping its disk (its overlay's upper directory): stop it cleanly by its
    recorded pid, boot it again, wait for SSH, and re-pin its host key only if it changed."""
    from planner.errors import HomelabError, did_you_mean

    hosts = lab_hosts(config)
    by_name = {h.name: h for h in hosts}
    if name not in by_name:
        raise HomelabError(f"unknown lab host {name!r}" + did_you_mean(name, by_name),
                           f"the lab's hosts are the inventory's: {', '.join(by_name) or 'none'}")
    host = by_name[name]
    rootfs = ensure_rootfs(cache, progress)
    kuma_install = kuma.ensure_install(cache, progress) if name == kuma.HOST else None
    with _locked(config):
        states = read_state(config)
        state = states.get(name)
        if state is None or not is_ours(state):
            raise LabError(f"lab host {name!r} is not running", "homelab lab up starts it; restart a running host")
        nic = host.scenario.addressing.nic if host.scenario.addressing else None
        before = lan_address(config, state, nic)
        progress(f"Restarting {name}…")
        _stop_host(state)
        if is_ours(state) or _mounted(Path(state.merged)):
            raise LabError(f"could not stop {name} (pid {state.pid})", "see lab.json; stop it by pid")
        states[name] = _start_host(config, host, rootfs, hosts, keep_disk=True, kuma_install=kuma_install)
        _write_state(config, states)
        _wait_until_answering(config, [states[name]])
        if kuma_install is not None:
            kuma.ensure_ready(config, states[name].address, progress)
        repinned = _repin(config, host)
        after = lan_address(config, states[name], nic)
    method = host.scenario.addressing.method if host.scenario.addressing else None
    return Restarted(name, before, after, method, repinned)


def _repin(config: LabConfig, host: LabHost) -> bool:
    """Pin ``host``'s key in known_hosts again when it differs from the pinned one; True when it did."""
    known = config.lab_dir / "known_hosts"
    target = host.address if host.port == 22 else f"[{host.address}]:{host.port}"
    line = f"{target} {hostsetup.host_public_key(config, host.name)}"
    lines = known.read_text().splitlines() if known.exists() else []
    if line in lines:
        return False
    kept = [entry for entry in lines if entry.split(" ", 1)[0] != target]
    tmp = known.with_suffix(".tmp")
    with os.fdopen(private_file(tmp), "w") as fh:
        fh.write("\n".join([*kept, line]) + "\n")
    tmp.replace(known)
    return True


def lan_address(config: LabConfig, state: HostState, nic: str | None) -> str | None:
    """The IPv4 address the host's ``ip`` shows on its LAN NIC (None: no NIC, no address, no answer)."""
    if nic is None:
        return None
    argv = hostsetup.ssh_argv(config, state, "ip", "-j", "-4", "addr", "show", "dev", nic)
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False,
                              stdin=subprocess.DEVNULL)
        links = json.loads(proc.stdout) if proc.returncode == 0 else []
    except (subprocess.TimeoutExpired, json.JSONDecodeError):
        return None
    return next((a["local"] for link in links for a in link.get("addr_info", []) if a.get("family") == "inet"),
                None)


def status(config: LabConfig) -> list[dict]:
    """Per host: address, whether its process runs and whether SSH answers."""
    states = read_state(config)
    try:
        hosts = lab_hosts(config)
    except Exception:  # an invalid inventory must not hide what is running
        hosts = []
    names = list(dict.fromkeys([h.name for h in hosts] + list(states)))
    overrides = links.read_overrides(config.lab_dir).hosts
    by_name = {h.name: h for h in hosts}
    rows = []
    for name in names:
        state = states.get(name)
        host = by_name.get(name)
        running = bool(state and is_ours(state))
        rows.append({
            "host": name,
            "address": state.address if state else (host.address if host else None),
            "groups": list(host.groups) if host else [],
            "running": running,
            "ssh": bool(running and state and answers(state.address, state.port)),
            "pid": state.pid if running and state else None,
            "hardware": hostsetup.hardware_summary(host) if host else "",
            "generated_from": host.generated.template if host and host.generated else None,
            "links_set": links.describe(overrides.get(name) or {}),
        })
    return rows


def set_link(config: LabConfig, host: str, nic: str, speed_mbps: int, duplex: str) -> LabHost:
    """Link ``nic`` of ``host`` at a new speed, on the running host and for every later ``lab up``.

    Stands in for a hardware swap (a new NIC, cable or switch port): what the host's ethtool and
    /sys/class/net show changes at once, without a restart. Returns the host as it now is.
    """
    from planner.errors import HomelabError, did_you_mean

    with _locked(config):
        by_name = {h.name: h for h in lab_hosts(config)}
        if host not in by_name:
            raise HomelabError(f"unknown lab host {host!r}" + did_you_mean(host, by_name),
                               f"the lab's hosts are the inventory's: {', '.join(by_name) or 'none'}")
        state = read_state(config).get(host)
        if state is None or not is_ours(state):
            raise LabError(f"lab host {host!r} is not running", "homelab lab up starts it; then set the link")
        link = links.check_link(by_name[host].hardware, nic, speed_mbps, duplex)
        links.record(config.lab_dir, host, nic, link)
        now = {h.name: h for h in lab_hosts(config)}[host]
        links.show_on_host(now.hardware, Path(state.merged), config.lab_dir / "hosts" / host / "sys-class-net")
        return now
