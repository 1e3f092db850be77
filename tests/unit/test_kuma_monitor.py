"""homelab.ops.uptime_kuma_monitor's decisions: which monitor it creates, edits, pauses or deletes."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "collections"))

import pytest  # noqa: E402
from ansible_collections.homelab.ops.plugins.module_utils import kuma_monitor as km  # noqa: E402
from ansible_collections.homelab.ops.plugins.module_utils import monitoring_expected as me  # noqa: E402


def _mon(id_, name, key=None, kind="port", hostname=None, port=None, url=None, interval=60, active=True, keyword=None):
    tags = [{"name": "homelab", "value": key}] if key else []
    return me.normalise_monitor({"id": id_, "name": name, "type": kind, "hostname": hostname, "port": port,
                                 "url": url, "keyword": keyword, "interval": interval, "active": active,
                                 "tags": tags}, "homelab")


JELLYFIN = {"type": "port", "name": "jellyfin", "hostname": "jellyfin.maas", "port": 8096, "interval": 60}


def _want(**over):
    params = {"type": "port", "name": "jellyfin", "hostname": "jellyfin.maas", "port": 8096, "url": None,
              "keyword": None, "interval": 60}
    params.update(over)
    return km.wanted(params)


def test_wanted_keeps_the_types_fields_and_refuses_an_incomplete_monitor():
    assert _want() == JELLYFIN
    assert km.wanted({"type": "http", "name": "ollama", "url": "http://ollama.maas:11434/", "interval": "30"}) == {
        "type": "http", "name": "ollama", "url": "http://ollama.maas:11434/", "interval": 30}
    with pytest.raises(ValueError, match="keyword"):
        km.wanted({"type": "keyword", "name": "x", "url": "http://x/", "keyword": None, "interval": 60})


def test_a_missing_monitor_is_created_and_described_for_the_review():
    plan = km.decide([], "service/jellyfin", "jellyfin", "present", _want())
    assert plan["action"] == "create" and plan["delete"] == [] and plan["fields"] == JELLYFIN
    assert km.summary(plan, "jellyfin") == "create monitor jellyfin (port jellyfin.maas:8096)"


def test_a_matching_managed_monitor_is_left_alone():
    mons = [_mon(3, "jellyfin", "service/jellyfin", hostname="jellyfin.maas", port=8096)]
    plan = km.decide(mons, "service/jellyfin", "jellyfin", "present", _want())
    assert plan["action"] == "none" and plan["id"] == 3 and not plan["delete"] and plan["before"] == plan["after"]


def test_a_differently_configured_managed_monitor_is_edited_in_the_compared_fields_only():
    mons = [_mon(3, "jellyfin", "service/jellyfin", hostname="jellyfin.maas", port=8097, interval=30)]
    plan = km.decide(mons, "service/jellyfin", "jellyfin", "present", _want())
    assert plan["action"] == "update" and plan["fields"] == {"port": 8096, "interval": 60}
    assert km.summary(plan, "jellyfin") == "edit monitor jellyfin (interval: 30 -> 60; port: 8097 -> 8096)"


def test_a_persons_monitor_of_the_same_name_is_a_conflict_never_taken_over():
    mons = [_mon(7, "jellyfin", hostname="jellyfin.maas", port=8096)]
    with pytest.raises(km.MonitorConflict, match="person's own"):
        km.decide(mons, "service/jellyfin", "jellyfin", "present", _want())
    # Absent never reaches for it either.
    plan = km.decide(mons, "service/jellyfin", "jellyfin", "absent")
    assert plan["delete"] == [] and plan["action"] == "none"
    assert km.summary(plan, "jellyfin") == "no managed monitor jellyfin to delete"


def test_absent_deletes_every_managed_monitor_of_the_key_and_only_those():
    mons = [_mon(2, "old-nas", "host/old-nas", hostname="old-nas.maas", port=22),
            _mon(5, "old-nas", "host/old-nas", hostname="old-nas.maas", port=22),
            _mon(6, "old-nas (mine)", hostname="old-nas.maas", port=22)]
    plan = km.decide(mons, "host/old-nas", "old-nas", "absent")
    assert plan["delete"] == [2, 5]
    assert km.summary(plan, "old-nas", "host no longer in the inventory") == (
        "delete monitor old-nas (host no longer in the inventory)")


def test_duplicates_of_a_key_keep_the_lowest_id():
    mons = [_mon(9, "jellyfin", "service/jellyfin", hostname="jellyfin.maas", port=8096),
            _mon(4, "jellyfin", "service/jellyfin", hostname="jellyfin.maas", port=8096)]
    plan = km.decide(mons, "service/jellyfin", "jellyfin", "present", _want())
    assert plan["id"] == 4 and plan["delete"] == [9] and plan["action"] == "none"


def test_paused_is_a_state_a_present_monitor_can_be_brought_to_and_back():
    mons = [_mon(3, "jellyfin", "service/jellyfin", hostname="jellyfin.maas", port=8096)]
    plan = km.decide(mons, "service/jellyfin", "jellyfin", "paused", _want())
    assert plan["action"] == "update" and plan["fields"] == {} and plan["after"]["active"] is False
    mons = [_mon(3, "jellyfin", "service/jellyfin", hostname="jellyfin.maas", port=8096, active=False)]
    assert km.decide(mons, "service/jellyfin", "jellyfin", "paused", _want())["action"] == "none"
    assert km.decide(mons, "service/jellyfin", "jellyfin", "present", _want())["after"]["active"] is True


def test_a_type_change_is_an_edit_and_keyword_monitors_compare_their_keyword():
    mons = [_mon(3, "ollama", "service/ollama", kind="keyword", url="http://ollama.maas:11434/api/version",
                 keyword="old")]
    want = km.wanted({"type": "keyword", "name": "ollama", "url": "http://ollama.maas:11434/api/version",
                      "keyword": "version", "interval": 60})
    assert km.decide(mons, "service/ollama", "ollama", "present", want)["fields"] == {"keyword": "version"}
    http = km.wanted({"type": "http", "name": "ollama", "url": "http://ollama.maas:11434/api/version", "interval": 60})
    assert km.decide(mons, "service/ollama", "ollama", "present", http)["fields"] == {"type": "http"}


# --- uptime_kuma_info's credential check, run by ansible-playbook on this machine ------------------------------------

PLAY = """
- hosts: localhost
  gather_facts: false
  environment: {environment}
  tasks:
    - homelab.ops.uptime_kuma_info:
        url: http://127.0.0.1:9
        when_unset: report
        timeout: 2
      register: kuma
      ignore_errors: true
    - ansible.builtin.debug:
        msg: "RESULT {{{{ kuma | to_json }}}}"
"""


def _read_kuma(tmp_path: Path, environment: str) -> dict:
    import json
    import os
    import subprocess

    (tmp_path / "play.yml").write_text(PLAY.format(environment=environment))
    env = {k: v for k, v in os.environ.items() if not k.startswith("UPTIME_KUMA_")}
    env.update(ANSIBLE_COLLECTIONS_PATH=str(ROOT / "collections"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_STDOUT_CALLBACK="default")
    proc = subprocess.run([str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", "localhost,", "-c", "local",
                           "-e", "ansible_python_interpreter=" + str(ROOT / ".venv" / "bin" / "python"),
                           str(tmp_path / "play.yml")],
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if '"msg": "RESULT ' in ln)
    return json.loads(json.loads("{" + line.strip() + "}")["msg"].removeprefix("RESULT "))


def test_info_reports_unset_credentials_instead_of_failing_when_asked(tmp_path):
    kuma = _read_kuma(tmp_path, "{}")
    assert not kuma.get("failed")
    assert kuma["unset"] == ["UPTIME_KUMA_USERNAME", "UPTIME_KUMA_PASSWORD"]
    assert kuma["monitors"] == []


def test_info_sees_credentials_set_by_the_plays_environment(tmp_path):
    # The sync decides from this answer whether to touch Uptime Kuma: credentials a play passes through
    # `environment` (as molecule's converge does) count, so the module goes on to connect (and here fails,
    # nothing listening on port 9) rather than saying they are unset.
    kuma = _read_kuma(tmp_path, "{UPTIME_KUMA_USERNAME: admin, UPTIME_KUMA_PASSWORD: canary-pw}")
    assert kuma["failed"] is True
    assert "does not answer" in kuma["msg"], kuma
    assert "canary-pw" not in str(kuma)
