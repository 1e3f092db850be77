"""``homelab inventory validate``: everything that can be wrong in a hand-kept inventory.

Checks, each reported as ``file:line:col: what is wrong``: YAML syntax and
duplicate keys, the same host given variables twice, group_vars/host_vars
for groups and hosts that do not exist, documented fields of the wrong type
or unit, and references between documented things (a VM's hypervisor, a
NIC's switch, a service's host) that point nowhere. Nothing is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from planner import yamlio
from planner.errors import did_you_mean
from planner.inventory import documented
from planner.inventory.hosts import (
    Inventory,
    Problem,
    Source,
    load_inventory,
    require_valid,
    with_positions,
    without,
)
from planner.problems import dotted, field_problems


def _model_problems(model: type[BaseModel], source: Source, data: Any,
                    skip: frozenset[str] = frozenset()) -> list[Problem]:
    """Validate plain data against a model; map each error back to its line. Keys in ``skip`` are ones the
    model takes as they come (extra="allow"), so they are not converted; positions come from ``data`` whole."""
    try:
        model.model_validate(yamlio.plain(without(data, skip)))
    except PydanticValidationError as exc:
        problems = []
        for fp in field_problems(exc, data, source.display):
            loc, value, msg = fp.loc, fp.value, fp.msg
            if fp.kind == "extra_forbidden":
                msg = f"unknown field{did_you_mean(str(loc[-1]), _field_names(model, loc[:-1]))}"
            elif loc and str(loc[-1]).endswith("_mbps"):
                hint = documented.speed_hint(value)
                msg = f"{value!r} is not an integer number of Mbps" + (f" (did you mean {hint}?)" if hint else "")
            elif loc and str(loc[-1]).endswith("_gib") and isinstance(value, (str, bool)):
                msg = f"{value!r} is not a number of GiB (write the number alone, e.g. 64)"
            elif isinstance(value, (str, int, float, bool)):
                msg = f"{msg} (got {value!r})"
            # The data came with its file, so every field has a place; the file's start is only a fallback.
            where = fp.where or yamlio.Location(source.display, 1, 1)
            problems.append(Problem(where, f"{fp.dotted}: {msg}"))
        return problems
    return []


def _field_names(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Field names of the nested model at ``loc`` (for 'did you mean')."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = getattr(current, "model_fields", {}).get(str(part))
        if field is None:
            return []
        annotation = field.annotation
        for arg in (*getattr(annotation, "__args__", ()), annotation):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                current = arg
                break
            for inner in getattr(arg, "__args__", ()):
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    current = inner
    return list(getattr(current, "model_fields", {}))


def _check_vars_targets(inv: Inventory) -> None:
    groups, hosts = sorted(inv.groups), sorted(inv.hosts)
    for name, sources in inv.group_vars.items():
        if name not in inv.groups:
            inv.problems.append(Problem(yamlio.Location(sources[0].display, 1, 1),
                                        f"group_vars for unknown group {name!r}{did_you_mean(name, groups)}"))
    for name, sources in inv.host_vars.items():
        if name not in inv.hosts:
            inv.problems.append(Problem(yamlio.Location(sources[0].display, 1, 1),
                                        f"host_vars for unknown host {name!r}{did_you_mean(name, hosts)}"))


def _check_documented(inv: Inventory) -> None:
    # HostDoc declares no discovered block and allows extra keys: whatever the block holds, it passes,
    # so it is not converted for the check (it is most of a gathered host's file).
    skip = documented.NOT_DOCUMENTED
    for sources in inv.host_vars.values():
        for source in sources:
            if isinstance(source.doc, dict):
                inv.problems.extend(_model_problems(documented.HostDoc, source, source.doc, skip))
    for defs in inv.host_defs.values():
        for source, vars_, _where in defs:
            if isinstance(vars_, dict):
                inv.problems.extend(_model_problems(documented.HostDoc, source, vars_, skip))
    for source in inv.group_vars.get("all", []):
        if isinstance(source.doc, dict):
            inv.problems.extend(_model_problems(documented.SiteDoc, source, source.doc))


def _check_references(inv: Inventory) -> None:
    """Documented names must point at things that exist."""
    hosts, groups = sorted(inv.hosts), sorted(inv.groups)
    devices: dict[str, Any] = {}
    for source in inv.group_vars.get("all", []):
        if isinstance(source.doc, dict) and isinstance(source.doc.get("network_devices"), dict):
            devices.update(source.doc["network_devices"])
    device_names = sorted(str(d) for d in devices)

    def ref(source: Source, node: Any, path: tuple[Any, ...], value: Any, allowed: list[str], what: str) -> None:
        if isinstance(value, str) and value not in allowed:
            inv.problems.append(Problem(yamlio.locate(node, path, source.display),
                                        f"{dotted(path)}: unknown {what} {value!r}{did_you_mean(value, allowed)}"))

    for sources in inv.host_vars.values():
        for source in sources:
            doc = source.doc if isinstance(source.doc, dict) else {}
            ref(source, doc, ("hypervisor",), doc.get("hypervisor"), hosts, "host")
            nics = (doc.get("hardware") or {}).get("nics") if isinstance(doc.get("hardware"), dict) else None
            for i, nic in enumerate(nics if isinstance(nics, list) else []):
                if isinstance(nic, dict):
                    ref(source, doc, ("hardware", "nics", i, "switch"), nic.get("switch"), device_names,
                        "network device")
    for source in inv.group_vars.get("all", []):
        doc = source.doc if isinstance(source.doc, dict) else {}
        services = doc.get("services")
        for i, svc in enumerate(services if isinstance(services, list) else []):
            if isinstance(svc, dict):
                ref(source, doc, ("services", i, "host"), svc.get("host"), hosts + groups, "host or group")
        for name, dev in devices.items():
            if isinstance(dev, dict) and "uplink" in dev:
                ref(source, doc, ("network_devices", name, "uplink"), dev.get("uplink"), device_names,
                    "network device")


def check_inventory(root: Path) -> Inventory:
    """Load and check an inventory directory; every problem is collected in ``inv.problems``, none raised."""
    return with_positions(load_inventory(root), _checked)


def _checked(inv: Inventory) -> Inventory:
    unreadable = bool(inv.problems)
    _check_documented(inv)
    if not unreadable:
        # Cross-file checks only make sense when every file was read: a
        # syntax error in hosts.yml would otherwise make every host "unknown".
        _check_vars_targets(inv)
        _check_references(inv)
    return inv


def validate_inventory(root: Path) -> Inventory:
    """Load and check an inventory directory; raise InventoryError listing every problem."""
    return require_valid(check_inventory(root))


def require_documented(inv: Inventory) -> Inventory:
    """``inv`` (already loaded) with its documented fields checked as ``inventory validate`` checks them.

    For readers that build the documented models (drift, docs): a wrongly typed field becomes the same
    InventoryError with file:line:col that ``homelab inventory validate`` reports, not a pydantic traceback.
    """
    return require_valid(with_positions(inv, _check_documented))
