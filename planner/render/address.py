"""An address check (``homelab_address`` and ``homelab_proposals``, check_address_persistence's report) as lines
a person reads.

First one line that says it all ("k3s-vm-chief-horse: 192.168.4.57 → 192.168.4.20 (documented 192.168.4.23),
DHCP via ifupdown/dhclient, lease expired …, no reservation on maas for 52:54:…; DNS … → nothing"), then each
finding with its evidence and runbook step, the addresses the host had, and the steps proposed.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from planner.inventory.discovered import CappedList, Finding, Text
from planner.render.health import PROPOSALS_KEY, ProposalsShown, one_line

ADDRESS_KEY = "homelab_address"


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Documented(_Model):
    address: Text | None = None
    addressing: Text | None = None


class _Actual(_Model):
    interface: Text | None = None
    mac: Text | None = None
    address: Text | None = None


class _Lease(_Model):
    address: Text | None = None
    expires: Text | None = None
    obtained: Text | None = None
    server: Text | None = None
    source: Text = ""


class _Reservation(_Model):
    address: Text | None = None
    source: Text | None = None


class _Server(_Model):
    kind: Text = "none"
    host: Text | None = None
    status: Text = ""
    reservation: _Reservation | None = None
    registered: bool | None = None


class _Dns(_Model):
    name: Text | None = None
    server: Text | None = None
    addresses: CappedList[Text] = []
    error: Text | None = None


class _Seen(_Model):
    address: Text
    first_seen: Text | None = None
    last_seen: Text | None = None
    source: Text = ""


class AddressReport(_Model):
    """One host's address check, as homelab.ops.address_check reports it (untrusted: the host wrote parts)."""

    host: Text
    checked_at: Text | None = None
    documented: _Documented = _Documented()
    actual: _Actual = _Actual()
    previous_address: Text | None = None
    method: Text = "unknown"
    manager: Text | None = None
    client: Text | None = None
    lease: _Lease | None = None
    server: _Server = _Server()
    dns: _Dns = _Dns()
    history: CappedList[_Seen] = []
    findings: CappedList[Finding] = []
    skipped: CappedList[Text] = []


def summary_line(report: AddressReport) -> str:
    """The one line: where the host was and is, how it gets its address, its lease, the server and DNS."""
    r = report
    moved = f"{r.previous_address} → " if r.previous_address else ""
    documented = (f" (documented {r.documented.address})" if r.documented.address
                  and r.documented.address != r.actual.address else "")
    via = "/".join(x for x in (r.manager, r.client) if x) or "unknown"
    parts = [f"{r.host}: {moved}{r.actual.address or 'no address'}{documented}",
             f"{r.method.upper() if r.method in ('dhcp',) else r.method} via {via}"]
    ids = {f.id for f in r.findings}
    expired = next((f for f in r.findings if f.id == "lease-expired"), None)
    if expired is not None:
        parts.append(expired.summary.replace("the lease on", "lease on"))
    elif r.lease is not None and r.lease.expires:
        parts.append(f"lease until {r.lease.expires}")
    server = r.server.host or r.server.kind
    if r.server.status and r.server.status not in ("ok", "none"):
        parts.append(f"{server} {r.server.status}")
    elif "not-registered" in ids:
        parts.append(f"not registered on {server} for {r.actual.mac}")
    elif "no-reservation" in ids:
        parts.append(f"no reservation on {server} for {r.actual.mac}")
    elif r.server.reservation is not None:
        parts.append(f"reserved on {server} as {r.server.reservation.address}")
    answer = ", ".join(r.dns.addresses) or "nothing"
    dns = (f"DNS {r.dns.name} → {answer}" if r.dns.error is None else f"DNS {r.dns.name}: {r.dns.error}")
    return ", ".join(parts) + "; " + dns


def address_text(report: Any) -> str | None:
    """The address check as text, or None when ``report`` is none (or a malformed one: shown as JSON)."""
    if not isinstance(report, dict) or ADDRESS_KEY not in report:
        return None
    try:
        address = AddressReport.model_validate(report[ADDRESS_KEY])
        proposals = ProposalsShown.model_validate(report.get(PROPOSALS_KEY) or {})
    except ValidationError:
        return None
    address, proposals = one_line(address), one_line(proposals)
    lines = [summary_line(address)]
    lines += [f"{f.severity} {f.id}: {f.summary}\n    evidence: {f.evidence}\n    runbook: {f.runbook}"
              for f in address.findings] or ["the address holds: nothing wrong found"]
    if len(address.history) > 1:
        lines.append("addresses it had: " + ", ".join(f"{h.address} (from {h.first_seen or '?'})"
                                                      for h in address.history))
    lines += [f"proposed ({p.kind}): {p.playbook} — {p.reason}" for p in proposals.steps]
    lines += [f"for the person: {m.title} — {m.reason}" for m in proposals.manual]
    lines += [f"not looked at: {s}" for s in address.skipped]
    return "\n".join(lines) + "\n"
