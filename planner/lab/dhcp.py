"""The lab's DHCP: a second dnsmasq on the maas lab host, as MAAS serves the LAN's DHCP in the homelab.

What is real: dnsmasq's decisions (which address a host gets, reservations, NAKs, lease times), its lease
database and the DHCP protocol itself, spoken over loopback the way a relay agent speaks it. What is not:
nothing broadcasts, no kernel interface changes, and a host's ``ip`` shows what its client bound through
the lab's replay. Every lab host shares this machine's network namespace, hence:

- two dnsmasq instances on the maas host, both reading /etc/dnsmasq.d/*.conf (host records and
  reservations serve both): ``dnsmasq.service`` (DNS only, its settings in /etc/dnsmasq.conf, see dns.py)
  and ``dnsmasq-dhcp.service`` (DHCP only: ``port=0``; its settings in CONF, never in /etc/dnsmasq.d/);
- the DHCP instance listens on ``lo`` at a port derived from HOMELAB_LAB_NET (every dnsmasq DHCP instance
  binds 0.0.0.0 on its port, so two labs must never share one), and answers relays there;
- each DHCP-addressed host runs ``lab-dhclient`` at boot (planner/lab/replay/lab-dhclient): it sends its
  requests to the maas host's lab address with giaddr = its own lab address and option 118 = the LAN
  subnet, as a relay would, and gets the answers on its own lab address.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from planner.lab import dns
from planner.lab.spec import LabHost

#: The lab host that serves DHCP: the homelab's MAAS, which serves DNS too.
DHCP_HOST = dns.DNS_HOST
UNIT = "dnsmasq-dhcp.service"
CONF = "/etc/homelab-lab/dnsmasq-dhcp.conf"
LEASE_DB = "/var/lib/misc/dnsmasq.leases"
LAN_SUBNET = ipaddress.ip_network("192.168.4.0/24")
RANGES = (("192.168.4.20", "192.168.4.52"), ("192.168.4.54", "192.168.4.99"))
LEASE_SECONDS = 12 * 3600
CLIENT = "/usr/local/sbin/lab-dhclient"
CLIENT_CONF = "/etc/homelab-lab/dhclient.json"
CLIENT_UNIT = "lab-dhclient.service"
#: The device that takes a moved host's address (``homelab lab plant HOST lease-expiry``).
GUEST_MAC = "02:00:5e:10:00:99"
GUEST_NAME = "guest-laptop"
#: LAN devices outside the inventory that hold a lease at lab up, as a LAN's phones and printers do.
#: It matters where a moved host lands: with dhcp-sequential-ip dnsmasq hands out the address after the
#: highest one leased in the range (not the lowest free one), and with only the k3s VMs' leases (.21, .22)
#: that is .23, k3s-vm-chief-horse's documented address, which would hide its move.
OTHER_CLIENTS = (("02:00:5e:10:00:40", "192.168.4.40", "office-printer"),)
_WANTS = "/etc/systemd/system/multi-user.target.wants"
#: Keep CAP_NET_ADMIN from every service on the DHCP host but dnsmasq-dhcp (files()): drop-ins apply in file
#: name order across directories, so the unit's own (99-) comes after the one for all services (50-).
NO_NET_ADMIN = "/etc/systemd/system/service.d/50-homelab-lab-no-net-admin.conf"
NET_ADMIN = f"/etc/systemd/system/{UNIT}.d/99-homelab-lab-net-admin.conf"
#: What dnsmasq-dhcp may hold: CAP_NET_ADMIN, and what it needs to bind its port and drop to its own user.
_DNSMASQ_CAPS = ("CAP_NET_ADMIN", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SETUID", "CAP_SETGID", "CAP_CHOWN",
                 "CAP_DAC_OVERRIDE", "CAP_FOWNER")
_CLIENT_SRC = Path(__file__).parent / "replay" / "lab-dhclient"


@dataclass(frozen=True)
class DhcpHost:
    """A DHCP-addressed lab host as the DHCP server knows it."""

    name: str
    mac: str
    address: str  # its current lease (documented, or planted)
    documented: str
    reserved: bool


def dhcp_hosts(hosts: list[LabHost]) -> list[DhcpHost]:
    """The lab's DHCP-addressed hosts, with their first NIC's MAC."""
    found = []
    for h in hosts:
        a = h.scenario.addressing
        if a and a.method == "dhcp" and h.hardware.nics:
            found.append(DhcpHost(h.name, h.hardware.nics[0].mac.lower(), a.address, a.documented, a.reserved))
    return found


def server_host(hosts: list[LabHost]) -> LabHost | None:
    """The lab host that serves DHCP, or None when the inventory has none."""
    return next((h for h in hosts if h.name == DHCP_HOST), None)


def nspawn_args(host: LabHost) -> list[str]:
    """What the DHCP host's systemd-nspawn needs besides a lab host's usual arguments.

    dnsmasq refuses to serve DHCP without CAP_NET_ADMIN (it may write the kernel's ARP cache to answer a
    client directly), which nspawn drops. Relayed answers go to the relay's address, so it never does.
    """
    return ["--capability=CAP_NET_ADMIN"] if host.name == DHCP_HOST else []


def server_port(net_prefix: str) -> int:
    """The lab's DHCP server port (its relays' too), from HOMELAB_LAB_NET: two labs never share one.

    127.X.Y gives 20000 + 2·(256·X + Y) mod 40000; the client port (never used by a relay) is one above.
    """
    _, x, y = (int(p) for p in net_prefix.split("."))
    return 20000 + (2 * (256 * x + y)) % 40000


def reservation_path(host: str) -> str:
    """Where reserve_addresses (and the lab, at lab up) writes a host's reservation on a dnsmasq server."""
    return f"/etc/dnsmasq.d/60-homelab-address-{host}.conf"


def reservation_text(host: str, mac: str, address: str, domain: str = dns.DOMAIN) -> str:
    """A reservation file, exactly as roles/reserve_addresses writes it."""
    return (f"# Managed by homelab-planner (reserve_addresses): {host}'s documented address.\n"
            f"dhcp-host={mac.lower()},{address},{host}\n"
            f"host-record={host}.{domain},{host},{address}\n")


def server_conf(port: int, router: str | None, dns_server: str | None) -> str:
    """CONF: the DHCP instance's own settings."""
    ranges = "".join(f"dhcp-range={lo},{hi},{LAN_SUBNET.netmask},{LEASE_SECONDS // 3600}h\n" for lo, hi in RANGES)
    options = ""
    if router:
        options += f"dhcp-option=option:router,{router}\n"
    if dns_server:
        options += f"dhcp-option=option:dns-server,{dns_server}\n"
    return (
        "# Generated by `homelab lab up`: the sandbox lab's DHCP server, standing in for MAAS's.\n"
        "# DHCP only (port=0: dnsmasq.service serves DNS); reservations and host records in /etc/dnsmasq.d/.\n"
        "port=0\nno-resolv\nno-hosts\n"
        "# Relayed over loopback: requests reach lo (a listen-address alone would not do), and every\n"
        "# dnsmasq DHCP instance binds 0.0.0.0 on its port, so each lab has ports of its own.\n"
        f"interface=lo\nbind-interfaces\ndhcp-alternate-port={port},{port + 1}\n"
        f"{ranges}"
        "# MAAS answers for the LAN: NAK what it has no lease for, hand out the lowest free address,\n"
        "# and never ping a candidate (192.168.4.x would leave loopback).\n"
        "dhcp-authoritative\ndhcp-sequential-ip\nno-ping\n"
        f"{options}"
        f"dhcp-leasefile={LEASE_DB}\nlog-dhcp\nuser=dnsmasq\npid-file=/run/dnsmasq-dhcp.pid\n"
        "conf-dir=/etc/dnsmasq.d/,*.conf\n"
    )


def lease_db(hosts: list[DhcpHost], now: datetime) -> str:
    """The server's lease database at lab up: one valid lease per DHCP host, on its current address, and
    the other LAN devices' (OTHER_CLIENTS)."""
    expiry = int(now.timestamp()) + LEASE_SECONDS
    rows = [(h.mac, h.address, h.name) for h in hosts] + list(OTHER_CLIENTS)
    return "".join(f"{expiry} {mac} {address} {name} *\n" for mac, address, name in rows)


def unit_text() -> str:
    """dnsmasq-dhcp.service: Debian's dnsmasq in the foreground with the DHCP instance's settings."""
    return (
        "# Generated by `homelab lab up`: the sandbox lab's DHCP server (dnsmasq.service serves DNS).\n"
        "[Unit]\nDescription=dnsmasq - the sandbox lab's DHCP server (DHCP only)\n"
        "After=network.target\n\n[Service]\n"
        f"ExecStartPre=/usr/sbin/dnsmasq --test -C {CONF}\n"
        f"ExecStart=/usr/sbin/dnsmasq --keep-in-foreground -C {CONF}\n"
        "ExecReload=/bin/kill -HUP $MAINPID\nRestart=on-failure\n\n"
        "[Install]\nWantedBy=multi-user.target\n"
    )


def client_unit_text() -> str:
    """lab-dhclient.service: the host's DHCP client, once at boot, logging as dhclient."""
    return (
        "# Generated by `homelab lab up`: ask the lab's DHCP server for this host's address at boot.\n"
        "[Unit]\nDescription=DHCP client of the sandbox lab (dhclient's protocol, relayed over loopback)\n"
        "After=network.target\nBefore=ssh.service\n\n[Service]\nType=oneshot\nRemainAfterExit=yes\n"
        f"SyslogIdentifier=dhclient\nExecStart=/usr/bin/python3 {CLIENT}\n\n"
        "[Install]\nWantedBy=multi-user.target\n"
    )


def client_conf(host: LabHost, server: LabHost, port: int) -> str:
    """The client's settings: whom to ask, from which relay address, for which NIC and MAC."""
    a = host.scenario.addressing
    assert a is not None and host.hardware.nics
    return json.dumps({
        "nic": a.nic, "mac": host.hardware.nics[0].mac.lower(), "hostname": host.name,
        "server": server.address, "server_port": port, "relay": host.address,
        "subnet": str(LAN_SUBNET.network_address), "prefix": a.prefix, "gateway": a.gateway,
        "lease_file": lease_file(a.nic),
    }, indent=2) + "\n"


def lease_file(nic: str) -> str:
    """The host's dhclient lease file."""
    return f"/var/lib/dhcp/dhclient.{nic}.leases"


def files(host: LabHost, hosts: list[LabHost], net_prefix: str,
          now: datetime | None = None) -> tuple[dict[str, tuple[str, int]], list[str]]:
    """What the lab writes into ``host`` for DHCP: (files by path -> (text, mode), unit links to add)."""
    server = server_host(hosts)
    if server is None:
        return {}, []  # no DHCP server in this lab: a DHCP host keeps the lease the lab seeds
    port = server_port(net_prefix)
    out: dict[str, tuple[str, int]] = {}
    add: list[str] = []
    if host.name == server.name:
        clients = dhcp_hosts(hosts)
        sa = server.scenario.addressing
        router = next((h.scenario.addressing.gateway for h in hosts
                       if h.scenario.addressing and h.scenario.addressing.gateway), None)
        out[CONF] = (server_conf(port, router, sa.address if sa else None), 0o644)
        out[f"/etc/systemd/system/{UNIT}"] = (unit_text(), 0o644)
        out[LEASE_DB] = (lease_db(clients, now or datetime.now(UTC)), 0o644)
        for c in clients:
            if c.reserved:
                out[reservation_path(c.name)] = (reservation_text(c.name, c.mac, c.documented), 0o644)
        # The container keeps CAP_NET_ADMIN for dnsmasq alone (nspawn_args): no other service may hold it (sshd
        # and so Ansible and `lab ssh`, systemd-run's transient units, a role's units), since this host shares
        # the machine's network namespace.
        out[NO_NET_ADMIN] = ("# Generated by `homelab lab up`: only dnsmasq-dhcp needs CAP_NET_ADMIN on this host.\n"
                             "[Service]\nCapabilityBoundingSet=~CAP_NET_ADMIN\n", 0o644)
        out[NET_ADMIN] = ("# Generated by `homelab lab up`: dnsmasq serves DHCP only with CAP_NET_ADMIN.\n"
                          "[Service]\nCapabilityBoundingSet=\nCapabilityBoundingSet=" + " ".join(_DNSMASQ_CAPS) + "\n",
                          0o644)
        add.append(f"{_WANTS}/{UNIT}")
    a = host.scenario.addressing
    if a and a.method == "dhcp" and host.hardware.nics:
        out[CLIENT] = (_CLIENT_SRC.read_text(), 0o755)
        out[CLIENT_CONF] = (client_conf(host, server, port), 0o644)
        out[f"/etc/systemd/system/{CLIENT_UNIT}"] = (client_unit_text(), 0o644)
        add.append(f"{_WANTS}/{CLIENT_UNIT}")
    return out, add


# `homelab lab plant HOST lease-expiry`: run as root with python3, the one on the server with
# (lease db, unit, host MAC, guest MAC, guest name, address or "" to clear, lease seconds), the one in
# the host with its lease file. Both print one line: what they did.
EXPIRE_ON_SERVER = '''
import subprocess, sys, time
db, unit, mac, guest, name, address, lease = sys.argv[1:8]
subprocess.run(["systemctl", "stop", unit], check=True)
now = int(time.time())
kept = []
with open(db) as f:
    for line in f:
        fields = line.split()
        if len(fields) >= 3 and fields[1] == guest:
            continue  # the guest's lease: written anew below, or cleared
        if address and len(fields) >= 3 and fields[1] == mac:
            fields[0] = str(min(int(fields[0]) or now, now - 60))  # 0 is an infinite lease: it expires too
            line = " ".join(fields) + "\\n"
        kept.append(line)
if address:
    kept.append("%d %s %s %s *\\n" % (now + int(lease), guest, address, name))
with open(db, "w") as f:
    f.writelines(kept)
subprocess.run(["systemctl", "start", unit], check=True)
print("%s holds %s" % (name, address) if address else "no guest lease")
'''

EXPIRE_IN_HOST = '''
import re, sys, time
from datetime import datetime, timezone
path = sys.argv[1]
with open(path) as f:
    text = f.read()
start = text.rfind("lease {")
if start < 0:
    sys.exit("no lease in " + path)
t = datetime.fromtimestamp(time.time() - 60, timezone.utc)
when = "%d %s" % ((t.weekday() + 1) % 7, t.strftime("%Y/%m/%d %H:%M:%S"))
def past(m):
    return m.group(0) if m.group(2) < when.split(" ", 1)[1] else "%s %s;" % (m.group(1), when)
block = re.sub(r"(renew|rebind|expire) \\d ([0-9/]+ [0-9:]+);", past, text[start:])
with open(path, "w") as f:
    f.write(text[:start] + block)
print("lease expired")
'''
