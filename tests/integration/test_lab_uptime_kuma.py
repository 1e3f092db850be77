"""The lab's real Uptime Kuma and its planted monitoring gaps, read back through the real systems.

A lab of its own (``$HOMELAB_TEST_MONITORING_LAB_NET``, by default the session lab's net + 130 in the third
octet): the plants change Uptime Kuma's monitors and a node exporter, which other tests' labs must not see.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
import yaml
from uptime_kuma_api import MonitorType, UptimeKumaApi

from planner import yamlio
from planner.lab import kuma, monitoring
from tests.conftest import run_homelab
from tests.integration.conftest import LAB_NET, Lab, running_lab
from tests.integration.conftest import kuma_credentials as credentials

pytestmark = pytest.mark.lab

_a, _b, _c = LAB_NET.split(".")
NET = os.environ.get("HOMELAB_TEST_MONITORING_LAB_NET") or f"{_a}.{_b}.{(int(_c) + 130) % 256}"
KUMA_ADDRESS = f"{NET}.19"  # the inventory's ninth host
EXPORTER_HOST = "k3s-vm-still-fawn"
FILE_SD = "/etc/prometheus/file_sd/homelab-node.yml"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("monitoring-lab"), NET) as lab:
        yield lab


def on(lab: Lab, host: str, command: str) -> subprocess.CompletedProcess:
    """``command`` in a lab host as its admin, through `homelab lab ssh`."""
    return subprocess.run([sys.executable, "-m", "planner", "lab", "ssh", host, "--", command],
                          env={**os.environ, **lab.env}, capture_output=True, text=True, timeout=60, check=False)


def logged_in(lab: Lab) -> UptimeKumaApi:
    creds = credentials(lab)
    api = UptimeKumaApi(f"http://{KUMA_ADDRESS}:{kuma.PORT}", timeout=30)
    api.login(creds[kuma.USERNAME_ENV], creds[kuma.PASSWORD_ENV])
    return api


def monitors(lab: Lab) -> dict[str, list[dict]]:
    """Every monitor, by name (names may repeat: `maas` the host and `maas` the service)."""
    api = logged_in(lab)
    try:
        found: dict[str, list[dict]] = {}
        for m in api.get_monitors():
            found.setdefault(m["name"], []).append(m)
        return found
    finally:
        api.disconnect()


def tag_values(found: dict[str, list[dict]]) -> set[str]:
    return {t["value"] for ms in found.values() for m in ms for t in m["tags"] if t["name"] == "homelab"}


def test_the_real_uptime_kuma_runs_in_its_host_on_its_lab_address(lab: Lab) -> None:
    assert on(lab, "uptime-kuma", "systemctl is-active uptime-kuma.service").stdout.strip() == "active"
    listening = on(lab, "uptime-kuma", "ss -Hltn 'sport = :3001'").stdout
    assert f"{KUMA_ADDRESS}:3001" in listening and "0.0.0.0:3001" not in listening and "*:3001" not in listening
    assert (lab.dir / kuma.CREDENTIALS_FILE).stat().st_mode & 0o077 == 0
    api = logged_in(lab)  # the lab's own credentials, through the client the project's module uses
    try:
        assert api.version == kuma.VERSION
        assert api.get_settings()["checkUpdate"] is False
    finally:
        api.disconnect()
    # The controller reaches it at its lab address: zz-lab.yml overrides the documented URL, keeping the rest.
    zz = yamlio.plain(yamlio.load(lab.inventory / "zz-lab.yml"))
    settings = zz["all"]["hosts"]["still-fawn"]["homelab_monitoring"]
    assert settings["uptime_kuma"]["url"] == f"http://{KUMA_ADDRESS}:3001"
    assert settings["uptime_kuma"]["managed_tag"] == "homelab" and settings["prometheus"]["port"] == 9090
    # No stand-in holds Prometheus's port: the planted "uptime-kuma does not run prometheus" stays true.
    # (`ss` in a lab host lists the whole machine's listeners: other labs' too.)
    assert f"{KUMA_ADDRESS}:9090" not in on(lab, "uptime-kuma", "ss -Hltn 'sport = :9090'").stdout


def test_service_names_resolve_to_lab_addresses_and_unknown_ones_stay_unknown(lab: Lab) -> None:
    assert on(lab, "uptime-kuma", "getent hosts jellyfin.maas").stdout.split() == [f"{NET}.15", "jellyfin.maas"]
    assert on(lab, "maas", "getent hosts prometheus.maas").stdout.split() == [f"{NET}.19", "prometheus.maas"]
    # old-nas is documented nowhere: the lab's dnsmasq answers NXDOMAIN (it has no upstream to ask).
    assert on(lab, "uptime-kuma", "getent hosts old-nas.maas").returncode == 2


def test_monitoring_gaps_plant_and_clear(lab: Lab) -> None:
    planted = run_homelab("lab", "plant", "uptime-kuma", "monitoring-gaps", env=lab.env)
    assert planted.rc == 0, planted.stderr
    found = monitors(lab)
    assert "jellyfin" not in found
    (stale,) = found["old-nas"]
    assert (stale["type"], stale["hostname"], stale["port"], stale["interval"]) == \
        (MonitorType.PORT, "old-nas.maas", 22, 60)
    assert [(t["name"], t["value"]) for t in stale["tags"]] == [("homelab", "host/old-nas")]
    (mine,) = found[monitoring.PERSONAL["name"]]
    assert mine["tags"] == [] and (mine["hostname"], mine["port"]) == ("maas.maas", 5240)
    assert {"host/still-fawn", "host/uptime-kuma", "service/home-assistant", "service/prometheus",
            "service/maas", "service/maas-dns"} <= tag_values(found)
    assert not any(v.endswith("/jellyfin") for v in tag_values(found))
    (home,) = found["home-assistant"]
    assert (home["hostname"], home["port"]) == ("home-assistant.maas", 8123)
    targets = yaml.safe_load(on(lab, "uptime-kuma", f"cat {FILE_SD}").stdout)
    assert {"targets": ["old-nas.maas:9100"], "labels": {"host": "old-nas"}} in targets
    assert {"targets": ["still-fawn.maas:9100"], "labels": {"host": "still-fawn"}} in targets
    assert len(targets) == 10

    again = run_homelab("lab", "plant", "uptime-kuma", "monitoring-gaps", env=lab.env)
    assert again.rc == 0 and "0 monitor(s) added" in again.stderr, again.stderr
    assert sum(len(ms) for ms in monitors(lab).values()) == sum(len(ms) for ms in found.values())

    cleared = run_homelab("lab", "plant", "uptime-kuma", "monitoring-gaps", "--clear", env=lab.env)
    assert cleared.rc == 0, cleared.stderr
    assert monitors(lab) == {}
    assert on(lab, "uptime-kuma", f"test -e {FILE_SD}").returncode == 1


def test_monitoring_gaps_belong_on_the_uptime_kuma_host(lab: Lab) -> None:
    wrong = run_homelab("lab", "plant", "maas", "monitoring-gaps", env=lab.env)
    assert wrong.rc == 2 and "Error:" in wrong.stderr and "Hint:" in wrong.stderr


def test_exporter_stopped_stops_only_a_running_exporter_and_clear_restarts_it(lab: Lab) -> None:
    # Never started by the lab: the plant finds nothing to stop, and --clear must not start it on *:9100.
    assert run_homelab("lab", "plant", EXPORTER_HOST, "exporter-stopped", "--clear", env=lab.env).rc == 0
    assert on(lab, EXPORTER_HOST, "systemctl is-active prometheus-node-exporter").stdout.strip() == "inactive"
    # Bound to the host's lab address as deploy_monitoring's role binds it, then started.
    address = f"{NET}.15"
    started = on(lab, EXPORTER_HOST, f"echo 'ARGS=\"--web.listen-address={address}:9100\"' | "
                                      "sudo tee /etc/default/prometheus-node-exporter >/dev/null && "
                                      "sudo systemctl start prometheus-node-exporter && "
                                      "systemctl is-active prometheus-node-exporter")
    assert started.stdout.strip() == "active", started.stderr
    stopped = run_homelab("lab", "plant", EXPORTER_HOST, "exporter-stopped", env=lab.env)
    assert stopped.rc == 0 and "inactive" in stopped.stderr, stopped.stderr
    assert on(lab, EXPORTER_HOST, f"ss -Hltn 'sport = :9100' | grep -c {address}").stdout.strip() == "0"
    # Stopped, not disabled; a second plant keeps it so.
    assert on(lab, EXPORTER_HOST, "systemctl is-enabled prometheus-node-exporter").stdout.strip() == "disabled"
    assert "inactive" in run_homelab("lab", "plant", EXPORTER_HOST, "exporter-stopped", env=lab.env).stderr
    cleared = run_homelab("lab", "plant", EXPORTER_HOST, "exporter-stopped", "--clear", env=lab.env)
    assert cleared.rc == 0 and "active" in cleared.stderr, cleared.stderr
    assert on(lab, EXPORTER_HOST, "systemctl is-active prometheus-node-exporter").stdout.strip() == "active"
