"""Drift rules: each finds what it should, and a healthy host shows nothing."""

from __future__ import annotations

from planner.inventory.discovered import Discovered, from_facts
from planner.inventory.documented import HostDoc, SiteDoc
from planner.knowledge.drift import _host_findings, _service_findings

DOC = HostDoc.model_validate({
    "host_description": "hypervisor", "lan_ip": "192.168.4.11",
    "hardware": {"cpu": "AMD Ryzen 7 5800X", "cores": 8, "threads": 16, "memory_gib": 64,
                 "gpus": [{"model": "NVIDIA GeForce RTX 3070", "memory_gib": 8}],
                 "nics": [{"name": "enp5s0", "model": "RTL8111", "driver": "r8169", "supported_mbps": 1000,
                           "speed_mbps": 1000}]},
})
SITE = SiteDoc.model_validate({"services": [
    {"name": "prometheus", "tier": "orchestrator", "host": "mon", "port": 9090},
    {"name": "uptime-kuma", "tier": "orchestrator", "host": "mon", "port": 3001},
    {"name": "home-assistant", "tier": "k3s", "host": "k3s", "port": 8123},
]})


def healthy(**changes) -> Discovered:
    base = {
        "memory_mib": 63897, "nvidia_smi": "ok",
        "gpus": [{"model": "NVIDIA GeForce RTX 3070", "memory_total_mib": 8192}],
        "nics": [{"name": "enp5s0", "speed_mbps": 1000, "carrier": True, "state": "up", "max_speed_mbps": 1000}],
        "addresses": [{"interface": "enp5s0", "address": "192.168.4.11", "prefix": 24}],
    }
    base.update(changes)
    return Discovered.model_validate(base)


def fields(findings) -> list[str]:
    return sorted(f.field for f in findings)


def test_a_host_that_matches_its_documentation_shows_no_drift() -> None:
    assert _host_findings("still-fawn", DOC, healthy()) == []


def test_each_documented_fact_drifts_on_its_own() -> None:
    slow = healthy(nics=[{"name": "enp5s0", "speed_mbps": 100, "carrier": True, "state": "up"}])
    [finding] = _host_findings("still-fawn", DOC, slow)
    assert finding.field == "link_speed" and "100 Mbps" in finding.message
    assert fields(_host_findings("h", DOC, healthy(nics=[{"name": "enp5s0", "carrier": False, "state": "down"}]))) \
        == ["link_speed"]
    assert fields(_host_findings("h", DOC, healthy(memory_mib=48 * 1024))) == ["memory"]
    assert fields(_host_findings("h", DOC, healthy(gpus=[]))) == ["gpu"]
    moved = _host_findings("h", DOC, healthy(addresses=[{"interface": "enp5s0", "address": "192.168.4.57"}]))
    assert fields(moved) == ["address"] and moved[0].discovered == "192.168.4.57"


def test_unknown_values_are_not_drift() -> None:
    # A virtual NIC reports no speed; a host without nvidia-smi data was not asked about GPUs.
    unknown = healthy(nics=[{"name": "enp5s0", "speed_mbps": None, "carrier": True, "state": "up"}],
                      nvidia_smi=None, gpus=[], memory_mib=None, addresses=[])
    assert _host_findings("h", DOC, unknown) == []


def test_services_documented_but_missing_and_running_but_undocumented() -> None:
    running = Discovered.model_validate({"services": {"listening": [
        {"address": "192.168.4.60", "port": 3001, "process": "node"},
        {"address": "0.0.0.0", "port": 22, "process": "sshd"},
        {"address": "127.0.0.1", "port": 5432, "process": "postgres"},
        {"address": "0.0.0.0", "port": 11434, "process": "ollama"},
    ]}})
    found = {(f.field, f.documented.split()[0] if f.field == "service_missing" else f.discovered.split()[0])
             for f in _service_findings("mon", {"monitoring", "all"}, SITE, running)}
    # sshd is management and postgres only listens on loopback: neither is a finding.
    assert found == {("service_missing", "prometheus"), ("service_undocumented", "ollama")}


def test_the_monitoring_contracts_ports_are_documented_but_not_required() -> None:
    # homelab_monitoring documents a node exporter on every host and Prometheus on its host: listening there is
    # no undocumented service, and not listening is no drift (a stopped exporter is audit_monitoring's finding).
    site = SiteDoc.model_validate({"services": [], "homelab_monitoring": {
        "prometheus": {"host": "mon", "port": 9090}, "node_exporter": {"port": 9100}}})
    exporters = Discovered.model_validate({"services": {"listening": [
        {"address": "192.168.4.60", "port": 9100, "process": "prometheus-node"},
        {"address": "192.168.4.60", "port": 9090, "process": "prometheus"},
    ]}})
    assert _service_findings("mon", {"monitoring", "all"}, site, exporters) == []
    elsewhere = _service_findings("other", {"all"}, site, exporters)
    assert [(f.field, f.discovered) for f in elsewhere] == [("service_undocumented", "prometheus on 192.168.4.60:9090")]
    assert _service_findings("other", {"all"}, site, Discovered.model_validate({})) == []


def test_a_unit_of_the_service_name_counts_as_running() -> None:
    by_unit = Discovered.model_validate({"services": {"units": ["prometheus", "uptime-kuma"]}})
    assert _service_findings("mon", {"monitoring", "all"}, SITE, by_unit) == []


def test_host_facts_are_normalised_from_ansible_and_the_module() -> None:
    facts = {
        "distribution": "Debian", "distribution_version": "12", "kernel": "6.1.0",
        "processor": ["0", "AuthenticAMD", "AMD Ryzen 7 5800X", "1", "AuthenticAMD", "AMD Ryzen 7 5800X"],
        "processor_cores": 8, "processor_threads_per_core": 2, "processor_count": 1, "memtotal_mb": 63897,
        "devices": {"sda": {"size": "931.51 GB", "model": "Samsung SSD", "rotational": "0"}, "loop0": {}},
        "mounts": [{"mount": "/", "device": "/dev/sda1", "fstype": "ext4", "size_total": 100 * 2**30,
                    "size_available": 25 * 2**30}, {"mount": "/proc", "fstype": "proc"}],
        "homelab_discovered": {
            "nics": [{"name": "enp5s0", "speed_mbps": 1000, "x-new-field": 1}],
            "addresses": [{"interface": "lo", "address": "127.0.0.1", "prefix": 8},
                          {"interface": "enp5s0", "address": "192.168.4.11", "prefix": 24, "dynamic": True}],
            "ip_config": [{"interface": "enp5s0", "method": "dhcp", "manager": "ifupdown",
                           "lease_expires": "2026-11-27T01:00:00Z"}],
            "services": {"listening": [{"address": "0.0.0.0", "port": 22, "process": "sshd"},
                                       {"address": "127.0.1.5", "port": 22, "process": None}],
                         "units": [{"name": "ssh.service", "active": "active", "sub": "running"},
                                   {"name": "systemd-tmpfiles-setup.service", "active": "active", "sub": "exited"}]},
            "nvidia_smi": "absent", "gpus": [], "probe_errors": [{"probe": "ss", "message": "x" * 1000}],
        },
    }
    d = from_facts(facts, "2026-11-25T00:00:00+00:00")
    assert (d.cpu.model, d.cpu.cores, d.cpu.threads) == ("AMD Ryzen 7 5800X", 8, 16)
    assert [x.name for x in d.disks] == ["sda"] and d.disks[0].size_gib == 931.5
    assert [(f.mount, f.used_pct) for f in d.filesystems] == [("/", 75)]
    assert [(a.address, a.method, a.manager) for a in d.addresses] == [("192.168.4.11", "dhcp", "ifupdown")]
    assert [(entry.port, entry.process) for entry in d.services.listening] == [(22, "sshd")]
    assert d.services.units == ["ssh"]
    assert len(d.probe_errors[0]) == 256
    assert "gpus" not in d.for_inventory()


def test_compute_reads_the_inventory_and_reports_reachability(tmp_path) -> None:
    from planner.knowledge.drift import compute
    from planner.yamlio.files import set_in_file

    inv = tmp_path / "inventory"
    (inv / "host_vars").mkdir(parents=True)
    (inv / "hosts.yml").write_text("all:\n  hosts:\n    documented:\n    stranger:\n    gone:\n    never:\n")
    for host in ("documented", "gone", "never"):
        (inv / "host_vars" / f"{host}.yml").write_text(f"host_description: the {host} host\nlan_ip: 192.168.4.9\n")
    here = {"gathered_at": "2026-11-25T00:00:00+00:00", "reachable": True,
            "addresses": [{"interface": "eth0", "address": "192.168.4.9", "prefix": 24}]}
    set_in_file(inv / "host_vars" / "documented.yml", ("discovered",), here, unsafe=True)
    set_in_file(inv / "host_vars" / "stranger.yml", ("discovered",), here, unsafe=True)
    set_in_file(inv / "host_vars" / "gone.yml", ("discovered",),
                {**here, "reachable": False, "stale_since": "2026-11-20T00:00:00+00:00", "last_error": "timed out"},
                unsafe=True)
    report = compute(inv)
    assert {(f.host, f.field) for f in report.findings} == {("stranger", "undocumented"), ("gone", "unreachable")}
    gone = next(f for f in report.findings if f.host == "gone")
    assert "2026-11-20" in gone.message and "timed out" in gone.message
    assert report.not_discovered == ["never"]


def test_one_hosts_odd_facts_cost_no_other_host_its_write_back(tmp_path) -> None:
    from ansible.parsing.yaml.loader import AnsibleLoader

    from planner.knowledge.facts import Gathered, write_back
    from planner.workspace import Workspace

    inv = tmp_path / "inventory"
    (inv / "host_vars").mkdir(parents=True)
    (inv / "hosts.yml").write_text("all:\n  hosts:\n    odd:\n    fine:\n    bytes:\n")
    base = {"distribution": "Debian", "memtotal_mb": 2048}
    gathered = Gathered(facts={
        "odd": {**base, "homelab_discovered": {"services": {"k3s": "yes"}}},  # K3s(**"yes") raises
        # A non-UTF-8 interface name: os.listdir hands Python a lone surrogate.
        "bytes": {**base, "homelab_discovered": {"nics": [{"name": "eth\udcff0"}]}},
        "fine": {**base, "homelab_discovered": {}},
    })
    result = write_back(Workspace(tmp_path, tmp_path / ".homelab", inv), gathered, ["odd", "bytes", "fine"])
    assert set(result.stale) == {"odd"} and {"bytes", "fine"} <= set(result.written)
    odd = (inv / "host_vars" / "odd.yml").read_text()
    assert "its facts could not be read" in odd
    text = (inv / "host_vars" / "bytes.yml").read_text(encoding="utf-8")
    data = AnsibleLoader(text).get_single_data()  # Ansible's own YAML reader accepts the file
    assert data["discovered"]["nics"][0]["name"] == "eth\ufffd0"


def test_facts_come_from_the_file_ansible_reads_them_from(tmp_path) -> None:
    """load_known takes each host's discovered block from the loader's own parse: the same file and the same
    values read_discovered gives, whether the host keeps a file, a .yaml file, or a directory of vars files
    (whose discovered.yml wins over a file beside it), and where the quick reading must defer to it."""
    from planner.knowledge.drift import load_known
    from planner.knowledge.facts import read_discovered

    inv = tmp_path / "inventory"
    host_vars = inv / "host_vars"
    (host_vars / "dir").mkdir(parents=True)
    hosts = ("plain", "yaml", "dir", "octal", "bool", "none")
    (inv / "hosts.yml").write_text("all:\n  hosts:\n" + "".join(f"    {host}:\n" for host in hosts))

    def block(version: str) -> str:
        return f"discovered:\n  gathered_at: '2026-11-25T00:00:00+00:00'\n  os:\n    version: {version}\n"

    (host_vars / "plain.yml").write_text("lan_ip: 192.168.4.9\n" + block("!unsafe '12.10'"))
    (host_vars / "bool.yml").write_text(block("!unsafe 'yes'"))  # true as Ansible reads it: no version, no block
    (host_vars / "yaml.yaml").write_text(block("'12'"))
    (host_vars / "dir.yml").write_text(block("'from the file beside the directory'"))
    (host_vars / "dir" / "main.yml").write_text("host_description: kept in a directory\n")
    (host_vars / "dir" / "discovered.yml").write_text(block("'from the directory'"))
    (host_vars / "octal.yml").write_text(block("0755"))  # YAML 1.1 and 1.2 part here: the quick reading defers
    (host_vars / "none.yml").write_text("host_description: never gathered\n")
    known = load_known(inv)
    for host in hosts:
        assert known.found.get(host) == read_discovered(inv, host), host
    assert known.found["plain"].os.version == "12.1"  # !unsafe text is typed as Ansible types it (a float here)
    assert known.found["dir"].os.version == "from the directory"
    assert known.found["octal"].os.version == "493"
    assert "none" not in known.found and "bool" not in known.found
