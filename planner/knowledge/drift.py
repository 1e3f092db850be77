"""Drift: what the person documented against what discovery found, per host and field.

Only facts discovery can really see are compared; a field left undocumented
is never drift. Rules, each chosen so a healthy host shows nothing:

- link speed: a NIC documented with ``speed_mbps`` that links slower (or not
  at all); an unknown speed (virtual NICs) is not compared;
- memory: discovered MemTotal more than 10 % below the documented size
  (firmware and the kernel keep 2–4 %; a missing DIMM is 25 % or more);
- GPUs: the documented models against the models nvidia-smi reports;
- address: the documented ``lan_ip`` is not among the host's addresses;
- services: a documented service counts as running when a process the host
  shows listens on its port, or a unit of its name is active; a k3s-tier
  service when k3s runs on a host of its group. A process listening on a
  non-local address for no documented service is reported too (SSH excepted:
  it is how hosts are managed, and so are the monitoring ports that
  ``homelab_monitoring`` documents: a node exporter on every host, Prometheus
  on its host; whether they run is audit_monitoring's question, not drift's);
- reachability: a documented host whose facts are stale, and a reachable
  host nobody documented.
"""

from __future__ import annotations

import ipaddress
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from planner.inventory.discovered import Discovered
from planner.inventory.documented import NOT_DOCUMENTED, HostDoc, Service, SiteDoc

if TYPE_CHECKING:
    from planner.inventory.hosts import Inventory

MEMORY_TOLERANCE = 0.10
#: Ports every managed host listens on without anyone documenting a service for them.
MANAGEMENT_PORTS = {22}


@dataclass(frozen=True)
class Finding:
    """One difference between documentation and discovery."""

    host: str
    field: str  # link_speed, memory, gpu, address, service_missing, service_undocumented, unreachable, undocumented
    documented: str
    discovered: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class DriftReport:
    findings: list[Finding]
    hosts_compared: list[str]
    not_discovered: list[str]  # hosts with no discovered block yet (never gathered)

    def as_dict(self) -> dict[str, Any]:
        return {"findings": [f.as_dict() for f in self.findings], "hosts_compared": self.hosts_compared,
                "not_discovered": self.not_discovered}


def _local(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip("[]").split("%")[0])
    except ValueError:
        return False
    # 127.0.0.1 and ::1 are the host talking to itself; other 127/8 addresses are how the
    # sandbox lab gives each host an address of its own.
    return ip in (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")) or str(ip) == "127.0.0.53"


def _host_findings(host: str, doc: HostDoc, found: Discovered) -> list[Finding]:
    out: list[Finding] = []
    hw = doc.hardware
    if hw:
        nics = {n.name: n for n in found.nics}
        for nic in hw.nics:
            seen = nics.get(nic.name)
            if nic.speed_mbps is None:
                continue
            if seen is None:
                out.append(Finding(host, "link_speed", f"{nic.name} {nic.speed_mbps} Mbps", "no such NIC",
                                   f"{nic.name} is documented but the host has no NIC of that name"))
            elif seen.carrier is False or seen.state == "down":
                out.append(Finding(host, "link_speed", f"{nic.name} {nic.speed_mbps} Mbps", "no link",
                                   f"{nic.name} has no link (documented at {nic.speed_mbps} Mbps)"))
            elif seen.speed_mbps is not None and seen.speed_mbps < nic.speed_mbps:
                out.append(Finding(host, "link_speed", f"{nic.name} {nic.speed_mbps} Mbps",
                                   f"{nic.name} {seen.speed_mbps} Mbps",
                                   f"{nic.name} links at {seen.speed_mbps} Mbps, below the documented "
                                   f"{nic.speed_mbps} Mbps (cable, switch port or negotiation)"))
        if found.memory_mib is not None:
            documented_mib = hw.memory_gib * 1024
            if found.memory_mib < documented_mib * (1 - MEMORY_TOLERANCE):
                out.append(Finding(host, "memory", f"{hw.memory_gib:g} GiB", f"{found.memory_mib / 1024:.1f} GiB",
                                   f"{found.memory_mib / 1024:.1f} GiB of memory, documented {hw.memory_gib:g} GiB"))
        if found.nvidia_smi is not None:
            documented_gpus = sorted(g.model for g in hw.gpus)
            seen_gpus = sorted(g.model for g in found.gpus)
            if documented_gpus != seen_gpus:
                out.append(Finding(host, "gpu", ", ".join(documented_gpus) or "none", ", ".join(seen_gpus) or
                                   (found.nvidia_smi if found.nvidia_smi != "ok" else "none"),
                                   "GPUs differ from the documented ones"))
    if doc.lan_ip is not None and found.addresses:
        addresses = [a.address for a in found.addresses]
        if str(doc.lan_ip) not in addresses:
            shown = ", ".join(addresses)
            out.append(Finding(host, "address", str(doc.lan_ip), shown,
                               f"the host has {shown}, not its documented {doc.lan_ip}"))
    return out


def monitoring_ports(host: str, site: SiteDoc) -> set[int]:
    """The ports group_vars' ``homelab_monitoring`` documents on ``host``: the node exporter's everywhere,
    Prometheus's on its host (deploy_monitoring binds them there)."""
    monitoring = (site.model_extra or {}).get("homelab_monitoring")
    if not isinstance(monitoring, dict):
        return set()
    ports: set[int] = set()
    exporter, prometheus = monitoring.get("node_exporter"), monitoring.get("prometheus")
    if isinstance(exporter, dict) and isinstance(exporter.get("port"), int):
        ports.add(exporter["port"])
    if isinstance(prometheus, dict) and prometheus.get("host") == host and isinstance(prometheus.get("port"), int):
        ports.add(prometheus["port"])
    return ports


def service_running(svc: Service, found: Discovered) -> bool:
    """A documented service counts as running when a unit of its name is active or a process listens on its port."""
    return svc.name in found.services.units or (
        svc.port is not None and svc.port in {entry.port for entry in found.services.listening})


def _service_findings(host: str, groups: set[str], site: SiteDoc, found: Discovered) -> list[Finding]:
    """``groups``: every group the host is in (Inventory.groups_of)."""
    out: list[Finding] = []
    documented_ports = monitoring_ports(host, site)
    for svc in site.services:
        here = svc.host == host or (svc.host in groups and svc.tier != "k3s")
        if svc.port is not None and (here or svc.host in groups):
            documented_ports.add(svc.port)
        if svc.tier == "k3s" and svc.host in groups:
            documented_ports.add(6443)  # the k3s API the cluster's services ride on
            continue
        if not here:
            continue
        if service_running(svc, found):
            continue
        where = f"port {svc.port}" if svc.port else f"unit {svc.name}"
        out.append(Finding(host, "service_missing", f"{svc.name} ({where})", "not running",
                           f"{svc.name} is documented here but nothing listens on {where}"))
    for entry in found.services.listening:
        if entry.port in MANAGEMENT_PORTS or entry.port in documented_ports or _local(entry.address):
            continue
        out.append(Finding(host, "service_undocumented", "nothing", f"{entry.process} on {entry.address}:{entry.port}",
                           f"{entry.process} listens on port {entry.port}, which no documented service uses"))
    for c in found.services.containers:
        running = c.state in ("running", "Up") or (c.state or "").startswith("Up")
        if running and not any(svc.name == c.name for svc in site.services):
            out.append(Finding(host, "service_undocumented", "nothing", f"{c.runtime} container {c.name}",
                               f"container {c.name} ({c.image}) runs but is not documented"))
    return out


@dataclass(frozen=True)
class Known:
    """What is documented and what was discovered, read once for drift and docs alike."""

    inv: Inventory
    site: SiteDoc
    docs: dict[str, HostDoc]
    found: dict[str, Discovered]  # hosts never gathered are absent


def load_known(inventory: Path) -> Known:
    """Read the inventory, each host's documentation and its discovered block."""
    from planner.inventory.hosts import load_inventory
    from planner.inventory.validate import require_documented
    from planner.knowledge.facts import loaded_discovered

    # Documented fields are checked first, so a wrong type ("memory_gib: 64GB") is reported with its
    # file:line:col like `homelab inventory validate` does, instead of failing in HostDoc/SiteDoc below.
    inv = require_documented(load_inventory(inventory, discovered=True))
    docs = {h: HostDoc.model_validate(inv.hostvars(h, skip=NOT_DOCUMENTED)) for h in inv.hosts}
    found = {h: d for h in inv.hosts if (d := loaded_discovered(inv, h)) is not None}
    return Known(inv, SiteDoc.model_validate(inv.groupvars("all")), docs, found)


def compute(inventory: Path) -> DriftReport:
    """Compare every host of the inventory with its discovered block."""
    return compare(load_known(inventory))


def compare(known: Known) -> DriftReport:
    """Drift findings for already loaded documentation and facts."""
    inv, site, docs, found = known.inv, known.site, known.docs, known.found
    k3s_groups = {g for host, d in found.items() if d.reachable and d.services.k3s.present
                  for g in inv.groups_of(host)}
    findings: list[Finding] = []
    for host in inv.hosts:
        d = found.get(host)
        if d is None:
            continue
        if not d.reachable or d.stale_since:
            findings.append(Finding(host, "unreachable", "in the inventory", f"unreachable since {d.stale_since}",
                                    f"could not be read since {d.stale_since}: {d.last_error or 'no answer'}"))
            continue
        doc = docs[host]
        if doc.host_description is None and doc.hardware is None and doc.lan_ip is None:
            findings.append(Finding(host, "undocumented", "nothing", "reachable",
                                    "answers, but nothing about it is documented (no description, address or "
                                    "hardware)"))
            continue
        findings.extend(_host_findings(host, doc, d))
        findings.extend(_service_findings(host, inv.groups_of(host), site, d))
    findings.extend(_k3s_findings(inv, site, found, k3s_groups))
    return DriftReport(findings, sorted(found), [h for h in inv.hosts if h not in found])


def _k3s_findings(inv: Inventory, site: SiteDoc, found: dict[str, Discovered],
                  k3s_groups: set[str]) -> list[Finding]:
    out = []
    for svc in site.services:
        if svc.tier != "k3s" or svc.host in k3s_groups:
            continue
        members = [h for h in inv.members(svc.host) if h in found and found[h].reachable]
        if members:  # hosts of the group were read and none runs k3s
            out.append(Finding(svc.host, "service_missing", f"{svc.name} (k3s on {svc.host})", "k3s not running",
                               f"{svc.name} runs in k3s, but no host of {svc.host} runs k3s"))
    return out
