#!/usr/bin/python
# Copyright: homelab-planner maintainers
# Apache License 2.0 (see the collection's galaxy.yml)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: uptime_kuma_monitor
short_description: Create, edit, pause or delete one Uptime Kuma monitor the tool manages
description:
  - Talks to Uptime Kuma's API through the Python package uptime-kuma-api, so it runs on the controller
    (delegated to C(localhost)). The admin's credentials are read from the environment variables
    O(username_env) and O(password_env) name; the secrets never pass through a module argument.
  - A monitor is the tool's when it carries the tag O(managed_tag) with the value O(key). Only such a
    monitor is ever edited, paused or deleted. When O(state) asks for the monitor and the only monitor of
    that O(name) lacks the tag, it is a person's own, so the module fails and changes nothing.
  - With O(state=present) or O(state=paused) it creates the tag when Uptime Kuma has none, creates the
    monitor tagged O(managed_tag)=O(key) when there is none, or edits the compared fields (name, type,
    hostname, port, url, keyword, interval) so they match; other settings stay as the person tuned them.
    Managed duplicates of the key (the lowest id is kept) are deleted.
  - With O(state=absent) it deletes the managed monitors of O(key); none is no change.
  - Under C(--check) it only reads; the diff shows the monitor's compared fields before and after.
options:
  key:
    description: What the monitor stands for, such as C(host/maas) or C(service/jellyfin).
    type: str
    required: true
  name:
    description: The monitor's name, as the dashboard shows it.
    type: str
    required: true
  type:
    description: C(port) checks a TCP port; C(http) fetches O(url_to_check); C(keyword) also looks for O(keyword).
    type: str
    choices: [port, http, keyword]
    default: port
  hostname:
    description: The name or address a C(port) monitor connects to.
    type: str
  port:
    description: The TCP port a C(port) monitor connects to.
    type: int
  url_to_check:
    description: The URL an C(http) or C(keyword) monitor fetches.
    type: str
  keyword:
    description: The text a C(keyword) monitor expects in the page.
    type: str
  interval:
    description: Seconds between two checks.
    type: int
    default: 60
  state:
    description: C(present) (checking), C(paused) (kept, not checking) or C(absent).
    type: str
    choices: [present, paused, absent]
    default: present
  reason:
    description: Why the monitor is set or removed, for the diff's header (such as C(host no longer in the inventory)).
    type: str
attributes:
  check_mode:
    description: Reads only; reports the change it would make.
    support: full
  diff_mode:
    description: The monitor's compared fields and whether it is active, before and after.
    support: full
extends_documentation_fragment:
  - homelab.ops.uptime_kuma
author:
  - homelab-planner maintainers (@homelab-planner)
"""

EXAMPLES = r"""
- name: Check that jellyfin answers on its port
  homelab.ops.uptime_kuma_monitor:
    url: http://uptime-kuma.maas:3001
    key: service/jellyfin
    name: jellyfin
    type: port
    hostname: jellyfin.maas
    port: 8096
  delegate_to: localhost

- name: Remove the monitor of a host that left the inventory
  homelab.ops.uptime_kuma_monitor:
    url: http://uptime-kuma.maas:3001
    key: host/old-nas
    name: old-nas
    state: absent
  delegate_to: localhost
"""

RETURN = r"""
action:
  description: create, update, delete or none.
  returned: success
  type: str
id:
  description: The managed monitor's id after the run (null when absent, or when it would be created).
  returned: success
  type: int
summary:
  description: One sentence saying what was done, or would be (C(create monitor jellyfin (port jellyfin.maas:8096))).
  returned: success
  type: str
deleted:
  description: The ids of the managed monitors deleted (or that would be).
  returned: success
  type: list
  elements: int
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.homelab.ops.plugins.module_utils import kuma_monitor, uptime_kuma
from ansible_collections.homelab.ops.plugins.module_utils.monitoring_expected import KEY, normalise_monitor

TAG_COLOR = "#2563EB"


def _apply(api, plan, p):
    """Carry out ``plan`` (kuma_monitor.decide); returns the kept monitor's id."""
    from uptime_kuma_api import MonitorType

    for dup in plan["delete"]:
        api.delete_monitor(dup)
    if p["state"] == "absent":
        return None
    fields = dict(plan["fields"])
    if "type" in fields:
        fields["type"] = MonitorType(fields["type"])
    mon_id = plan["id"]
    if plan["action"] == "create":
        mon_id = api.add_monitor(**fields)["monitorID"]
        try:
            tag = next((t for t in api.get_tags() if t.get("name") == p["managed_tag"]), None)
            if tag is None:
                tag = api.add_tag(name=p["managed_tag"], color=TAG_COLOR)
            api.add_monitor_tag(tag_id=tag["id"], monitor_id=mon_id, value=p["key"])
        except Exception:
            # Untagged, the new monitor would pass for a person's own from now on and never be the tool's
            # again: take it back out, then let the error be reported.
            api.delete_monitor(mon_id)
            raise
    elif fields:
        api.edit_monitor(mon_id, **fields)
    if plan["after"].get("active") is False and (plan["action"] == "create" or plan["before"].get("active")):
        api.pause_monitor(mon_id)
    elif plan["after"].get("active") and plan["before"] and not plan["before"].get("active"):
        api.resume_monitor(mon_id)
    return mon_id


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            **uptime_kuma.ARGUMENT_SPEC,
            "key": {"type": "str", "required": True, "no_log": False},
            "name": {"type": "str", "required": True},
            "type": {"type": "str", "choices": ["port", "http", "keyword"], "default": "port"},
            "hostname": {"type": "str"},
            "port": {"type": "int"},
            "url_to_check": {"type": "str"},
            "keyword": {"type": "str", "no_log": False},
            "interval": {"type": "int", "default": 60},
            "state": {"type": "str", "choices": ["present", "paused", "absent"], "default": "present"},
            "reason": {"type": "str"},
        },
        supports_check_mode=True,
    )
    p = module.params
    if not KEY.match(p["key"] or ""):
        # Any other value of the managed tag is a person's own tagging: never the tool's monitor to change.
        module.fail_json(msg="Monitor %s: key %r is not one the tool writes (host/<name> or service/<name>)."
                         % (p["name"], p["key"]))
    want = None
    if p["state"] != "absent":
        try:
            want = kuma_monitor.wanted(dict(p, url=p["url_to_check"]))
        except ValueError as err:
            module.fail_json(msg="Monitor %s (%s) was not set: %s." % (p["name"], p["key"], err))
    try:
        with uptime_kuma.session(p["url"], p["username_env"], p["password_env"], timeout=p["timeout"]) as api:
            monitors = [normalise_monitor(m, p["managed_tag"]) for m in api.get_monitors()]
            try:
                plan = kuma_monitor.decide(monitors, p["key"], p["name"], p["state"], want)
            except kuma_monitor.MonitorConflict as err:
                module.fail_json(msg="Monitor %s (%s) was not set: %s; nothing was changed."
                                 % (p["name"], p["key"], err),
                                 hint="rename that monitor, or give it the tag %s=%s to hand it to the tool"
                                 % (p["managed_tag"], p["key"]))
            changed = plan["action"] != "none" or bool(plan["delete"])
            mon_id = plan["id"]
            if changed and not module.check_mode:
                mon_id = _apply(api, plan, p)
    except uptime_kuma.KumaError as err:
        module.fail_json(msg=str(err), hint=err.hint)
    action = plan["action"] if plan["action"] != "none" else ("delete" if plan["delete"] else "none")
    line = kuma_monitor.summary(plan, p["name"], p["reason"])
    diff = {"before_header": "monitor %s (%s)" % (p["name"], p["key"]), "after_header": line,
            "before": kuma_monitor.as_text(plan["before"]), "after": kuma_monitor.as_text(plan["after"])}
    module.exit_json(changed=changed, action=action, id=mon_id, deleted=plan["delete"], summary=line, diff=diff)


if __name__ == "__main__":
    main()
