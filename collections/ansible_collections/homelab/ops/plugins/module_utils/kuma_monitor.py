# Copyright: homelab-planner maintainers
# Apache License 2.0 (see the collection's galaxy.yml)
"""What homelab.ops.uptime_kuma_monitor does to one managed monitor: plain functions, no client.

A monitor is the tool's when it carries the managed tag and the tag's value is the monitor's key
(``host/<name>``, ``service/<name>``, see monitoring_expected). Only such monitors are edited, paused or
deleted. A monitor of the same name without the tag is a person's: asking for it present is a conflict
the person resolves (rename theirs, or tag it), never something the module settles by touching it.
"""

from __future__ import annotations

#: The fields the module sets and compares, per monitor type; the rest stay as the person tuned them.
FIELDS = {
    "port": ("name", "hostname", "port", "interval"),
    "http": ("name", "url", "interval"),
    "keyword": ("name", "url", "keyword", "interval"),
}


class MonitorConflict(Exception):
    """A person's own monitor stands where a managed one would go; nothing was changed."""


def wanted(params):
    """The compared fields the module's parameters ask for (type included), checked for completeness."""
    kind = params["type"]
    want = {"type": kind}
    for field in FIELDS[kind]:
        want[field] = params.get(field)
    missing = [f for f in FIELDS[kind] if want[f] in (None, "")]
    if missing:
        raise ValueError("a %s monitor needs %s" % (kind, ", ".join(missing)))
    if want.get("port") is not None:
        want["port"] = int(want["port"])
    want["interval"] = int(want["interval"])
    return want


def shown(monitor, kind):
    """A monitor's compared fields as the diff shows them (``active`` included)."""
    if monitor is None:
        return {}
    out = {"type": monitor.get("type")}
    for field in FIELDS.get(kind, FIELDS["port"]):
        out[field] = monitor.get(field)
    out["active"] = bool(monitor.get("active", True))
    return out


def decide(monitors, key, name, state, want=None):
    """What to do so the managed monitor for ``key`` is in ``state``.

    ``monitors``: every monitor, normalised (monitoring_expected.normalise_monitor, with ``keyword``).
    Returns ``{action, id, delete, fields, before, after}``: ``action`` is create, update or none;
    ``id`` the managed monitor kept (None when created or absent); ``delete`` the ids of managed monitors
    to delete (all of them for absent; the duplicates of the kept one otherwise); ``fields`` the compared
    fields to set; ``before``/``after`` what the diff shows. Raises MonitorConflict when only a person's
    monitor of that name exists and the monitor is wanted.
    """
    mine = sorted((m for m in monitors if m.get("managed") and m.get("key") == key), key=lambda m: m.get("id") or 0)
    if state == "absent":
        kind = mine[0]["type"] if mine else "port"
        return {"action": "none", "id": None, "delete": [m["id"] for m in mine], "fields": {},
                "before": shown(mine[0], kind) if mine else {}, "after": {}}
    if not mine:
        persons = [m for m in monitors if not m.get("managed") and m.get("name") == name]
        if persons:
            raise MonitorConflict(
                "a monitor named %r without the tag for %s already exists (id %s): it is a person's own and is "
                "never changed by the tool" % (name, key, persons[0].get("id")))
        after = dict(want, active=state == "present")
        return {"action": "create", "id": None, "delete": [], "fields": dict(want), "before": {}, "after": after}
    keep = mine[0]
    kind = want["type"]
    fields = {f: v for f, v in want.items() if keep.get(f) != v}
    active = state == "present"
    after = dict(shown(keep, kind), **want)
    after["active"] = active
    changed = bool(fields) or bool(keep.get("active", True)) != active
    return {"action": "update" if changed else "none", "id": keep["id"], "delete": [m["id"] for m in mine[1:]],
            "fields": fields, "before": shown(keep, kind), "after": after}


def target(fields):
    """What a monitor checks, in a few words: ``port jellyfin.maas:8096``, ``http http://…/health``."""
    if fields.get("type") == "port":
        return "port %s:%s" % (fields.get("hostname"), fields.get("port"))
    text = "%s %s" % (fields.get("type"), fields.get("url"))
    return text + (" for %r" % fields["keyword"] if fields.get("keyword") else "")


def summary(plan, name, reason=None):
    """One sentence for the review and the report: ``create monitor jellyfin (port jellyfin.maas:8096)``."""
    why = " (%s)" % reason if reason else ""
    if plan["action"] == "create":
        line = "create monitor %s (%s)%s" % (name, target(plan["after"]), why)
    elif plan["action"] == "update":
        changes = ["%s: %s -> %s" % (f, plan["before"].get(f), plan["after"].get(f))
                   for f in sorted(plan["after"]) if plan["before"].get(f) != plan["after"].get(f)]
        line = "edit monitor %s (%s)%s" % (name, "; ".join(changes), why)
    elif plan["delete"] and not plan["after"]:
        line = "delete monitor %s%s" % (name, why or " (%s)" % target(plan["before"]))
    elif not plan["after"]:
        line = "no managed monitor %s to delete" % name
    else:
        line = "monitor %s already as wanted" % name
    if plan["delete"] and plan["after"]:
        line += "; delete its duplicates (ids %s)" % ", ".join(str(i) for i in plan["delete"])
    return line


def as_text(fields):
    """The diff's side: one ``field: value`` line each, in a fixed order."""
    return "".join("%s: %s\n" % (f, fields[f]) for f in sorted(fields))
