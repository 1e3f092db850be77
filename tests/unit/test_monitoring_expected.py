"""Expected monitors from the inventory, and the comparison with Prometheus's and Uptime Kuma's."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "collections"))

import pytest  # noqa: E402
from ansible_collections.homelab.ops.plugins.module_utils import monitoring_expected as me  # noqa: E402
from ansible_collections.homelab.ops.plugins.module_utils import uptime_kuma as uk  # noqa: E402

SERVICES = [
    {"name": "jellyfin", "port": 8096, "dns": "jellyfin.maas", "monitored": True},
    {"name": "ollama", "port": 11434, "dns": "ollama.maas", "monitored": True, "health_path": "api/version"},
    {"name": "uptime-kuma", "port": 3001, "dns": "uptime-kuma.maas", "monitored": False},
]


def test_expected_monitors_hosts_and_monitored_services_only():
    exp = me.expected_monitors({"maas": 22, "still-fawn": 2222}, SERVICES, "maas")
    assert [m["key"] for m in exp] == ["host/maas", "host/still-fawn", "service/jellyfin", "service/ollama"]
    by = {m["key"]: m for m in exp}
    assert by["host/still-fawn"]["hostname"] == "still-fawn.maas" and by["host/still-fawn"]["port"] == 2222
    assert by["service/jellyfin"]["type"] == "port" and by["service/jellyfin"]["port"] == 8096
    assert by["service/ollama"] == {"key": "service/ollama", "name": "ollama", "type": "http", "hostname": None,
                                    "port": None, "url": "http://ollama.maas:11434/api/version", "interval": 60}


def _mon(id_, name, kind="port", hostname=None, port=None, url=None, tag=None, interval=60):
    tags = [{"name": "homelab", "value": tag}] if tag else [{"name": "other", "value": "x"}]
    return me.normalise_monitor({"id": id_, "name": name, "type": kind, "hostname": hostname, "port": port,
                                 "url": url, "interval": interval, "active": True, "tags": tags}, "homelab")


def test_compare_finds_missing_stale_different_and_leaves_a_persons_own():
    exp = me.expected_monitors({"maas": 22, "still-fawn": 22}, SERVICES, "maas")
    actual = [
        _mon(1, "maas", hostname="maas.maas", port=22, tag="host/maas"),
        _mon(2, "still-fawn", hostname="still-fawn.maas", port=2222, tag="host/still-fawn"),
        _mon(3, "old-nas", hostname="old-nas.maas", port=22, tag="host/old-nas"),
        _mon(4, "my jellyfin", hostname="JELLYFIN.maas", port=8096),
        _mon(5, "maas again", hostname="maas.maas", port=22, tag="host/maas"),
    ]
    got = me.compare_monitors(exp, actual)
    assert got["matched"] == ["host/maas"]
    assert [m["key"] for m in got["missing"]] == ["service/ollama"]
    assert [m["id"] for m in got["stale"]] == [3, 5]
    assert got["different"] == [{"key": "host/still-fawn", "id": 2, "name": "still-fawn",
                                 "fields": {"port": [2222, 22]}}]
    assert got["covered"] == [{"key": "service/jellyfin", "by": "my jellyfin"}]
    assert got["unmanaged"] == ["my jellyfin"]


def test_compare_targets():
    exp = me.expected_node_groups(["maas", "still-fawn"], "maas", 9100)
    file_groups = [{"targets": ["maas.maas:9100"], "labels": {"host": "maas"}},
                   {"targets": ["old-nas.maas:9100"], "labels": {"host": "old-nas"}}]
    active = [{"labels": {"job": "node", "instance": "maas.maas:9100", "host": "maas"}, "health": "down",
               "lastError": "connection refused"},
              {"labels": {"job": "prometheus", "instance": "x:9090"}, "health": "up"}]
    got = me.compare_targets(exp, file_groups, active)
    assert got["missing"] == ["still-fawn.maas:9100"]
    assert got["stale"] == ["old-nas.maas:9100"]
    assert got["down"] == [{"target": "maas.maas:9100", "host": "maas", "error": "connection refused"}]


def test_credentials_name_what_is_unset():
    with pytest.raises(uk.KumaError) as err:
        uk.credentials("KUMA_U", "KUMA_P", environ={"KUMA_U": "admin"})
    assert "KUMA_P" in str(err.value) and "KUMA_U" not in str(err.value)
    assert uk.credentials("KUMA_U", "KUMA_P", environ={"KUMA_U": "a", "KUMA_P": "b"}) == ("a", "b")


def test_only_the_tools_own_tag_values_make_a_monitor_managed():
    raw = {"id": 7, "name": "my nas", "type": "port", "hostname": "nas.maas", "port": 5000, "interval": 60,
           "tags": [{"name": "homelab", "value": "nas"}]}
    mine = me.normalise_monitor(raw, "homelab")
    assert not mine["managed"] and mine["key"] is None
    # So a sync never sees it as stale: it is the person's, reported and left alone.
    got = me.compare_monitors(me.expected_monitors({"maas": 22}, [], "maas"), [mine])
    assert got["stale"] == [] and got["unmanaged"] == ["my nas"]
    raw["tags"] = [{"name": "homelab", "value": "host/maas"}]
    assert me.normalise_monitor(raw, "homelab")["key"] == "host/maas"


class _Api:
    def __init__(self, refusals: list[str]) -> None:
        self.refusals = refusals
        self.logins = 0

    def login(self, user: str, password: str) -> None:
        self.logins += 1
        if self.refusals:
            raise RuntimeError(self.refusals.pop(0))


def test_a_rate_limited_login_waits_and_a_wrong_password_does_not():
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    api = _Api(["Too frequently, try again later."] * 3)
    uk._login(api, "http://k", "u", "p", sleep=sleep, clock=lambda: now[0])
    assert api.logins == 4 and now[0] == 3 * uk.RATE_LIMIT_PAUSE_S
    api = _Api(["Incorrect username or password."])
    with pytest.raises(uk.KumaError, match="refused the login"):
        uk._login(api, "http://k", "u", "p", sleep=sleep, clock=lambda: now[0])
    assert api.logins == 1
    # Bounded: past the wait, the limit is the error.
    api = _Api(["Too frequently, try again later."] * 1000)
    with pytest.raises(uk.KumaError) as err:
        uk._login(api, "http://k", "u", "p", sleep=sleep, clock=lambda: now[0])
    assert "20 logins a minute" in err.value.hint and api.logins <= uk.RATE_LIMIT_WAIT_S // uk.RATE_LIMIT_PAUSE_S + 2
