"""What the last written-back diagnosis of each host found running away, for the planners.

A diagnosis (diagnose_host) writes its findings under the host's ``discovered:``
block as section ``health``. A request such as "yes, add resource limits"
names no process: it means the units that diagnosis found, on the host it
diagnosed last. Only what that needs is read here, strictly typed (the host
wrote it, so it is untrusted), and nothing else of the section.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints, TypeAdapter
from pydantic import ValidationError as PydanticValidationError

#: A systemd unit as limits take it: a name with its suffix; anything else in the record is left out.
Unit = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9@_.:-]{1,200}[.](service|scope)$")]


class Runaway(BaseModel):
    """One runaway process of a diagnosis: only its unit and whether it is a k3s pod's."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    unit: str = ""
    k3s_pod: bool = False


class Health(BaseModel):
    """The part of ``discovered.health`` the planners read."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    checked_at: Annotated[str, StringConstraints(max_length=64)] = ""
    runaway: list[Runaway] = []

    def units(self) -> list[str]:
        """The units of the runaway processes that limits can hold: k3s pods and processes outside a unit left out."""
        out = []
        for process in self.runaway:
            if not process.k3s_pod and _is_unit(process.unit) and process.unit not in out:
                out.append(process.unit)
        return out


_UNIT: TypeAdapter[str] = TypeAdapter(Unit)


def _is_unit(value: str) -> bool:
    try:
        _UNIT.validate_python(value)
    except PydanticValidationError:
        return False
    return True


def read_health(block: Any) -> Health | None:
    """The health section of one host's ``discovered:`` block (plain data), or None when it has none or it is
    not what a diagnosis writes."""
    health = block.get("health") if isinstance(block, dict) else None
    if not isinstance(health, dict):
        return None
    try:
        return Health.model_validate(health)
    except PydanticValidationError:
        return None


def diagnoses(inventory: Path, hosts: list[str]) -> dict[str, dict[str, Any]]:
    """Per host with a written-back diagnosis: ``{checked_at, units}``, as plain data for the context pack."""
    from planner.knowledge.facts import DISCOVERED_KEY, host_vars_file
    from planner.yamlio.reading import load_fast

    out: dict[str, dict[str, Any]] = {}
    for host in hosts:
        path = host_vars_file(inventory, host)
        try:
            data = load_fast(path) if path.exists() else None
        except Exception:  # noqa: BLE001 - a broken file is reported by `inventory validate`, not here
            continue
        health = read_health(data.get(DISCOVERED_KEY) if isinstance(data, dict) else None)
        if health is not None:
            out[host] = {"checked_at": health.checked_at, "units": health.units()}
    return out


def newest_runaway_host(found: dict[str, dict[str, Any]]) -> str | None:
    """The host whose diagnosis found runaway units, diagnosed last (ISO 8601 UTC times sort as text)."""
    with_units = [(str(d.get("checked_at") or ""), host) for host, d in found.items() if d.get("units")]
    return max(with_units)[1] if with_units else None
