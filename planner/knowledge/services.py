"""The service record: what an applied trial tells the tool, written into ``services:`` of the inventory.

A deploying role's last task is a ``debug`` whose ``msg`` carries ``homelab_service``:
``{state: present|absent, name, entry: {name, tier, host, port, dns, monitored, health_path, image,
package, command, runtime, gpu_mib, memory_mib}}`` (``entry`` only with present). After an apply each
such report is validated (one that does not fit is left out and said so; the apply stands either way)
and written into the ``services:`` list the inventory keeps (``group_vars/all/services.yml``), through
the round-trip writer, under the inventory's lock:

- present: the item is added, or the tool's own item updated, marked ``added_by: <playbook>``,
  ``deployed: <date>`` and ``plan: <id>``; keys a person added to it (``notes``) stay;
- absent: the item goes, but only when the tool added it (it carries ``added_by``).

An item without ``added_by`` is a person's: it is never removed or overwritten, and the result says so.
The promotion of a trial reads these items back (planner/planning/promotion.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    model_validator,
)

from planner.plans.planfile import Plan, StepReview

SERVICE_KEY = "homelab_service"
SERVICES_KEY = "services"
#: Where a new ``services:`` list goes when the inventory keeps none yet.
SERVICES_FILE = Path("group_vars") / "all" / "services.yml"
#: What the tool owns in an item it added; any other key there (``notes``) is a person's and stays.
OWNED = ("name", "tier", "host", "port", "dns", "monitored", "health_path", "image", "package", "command", "runtime",
         "gpu_mib", "memory_mib", "added_by", "deployed", "plan")


def _no_template(value: str) -> str:
    # A host's text lands in a file Ansible reads as variables: nothing in it may be a template.
    if any(mark in value for mark in ("{{", "{%", "{#")) or "\n" in value:
        raise ValueError("a template or a line break has no place in the service record")
    return value


Text = Annotated[str, StringConstraints(max_length=500), AfterValidator(_no_template)]
Label = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
MiB = Annotated[StrictInt, Field(ge=0)]


class ServiceEntry(BaseModel):
    """The item a deploy reports for ``services:``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Label
    tier: Literal["k3s", "orchestrator", "manual"]
    host: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=253)]
    port: Annotated[StrictInt, Field(ge=1, le=65535)] | None = None
    dns: Text | None = None
    monitored: StrictBool = False
    health_path: Text | None = None
    image: Text | None = None
    package: Text | None = None
    command: Text | None = None
    runtime: Text | None = None
    gpu_mib: MiB | None = None
    memory_mib: MiB | None = None


class ServiceReport(BaseModel):
    """``homelab_service`` as a deploying role reports it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    state: Literal["present", "absent"]
    name: Label
    entry: ServiceEntry | None = None

    @model_validator(mode="after")
    def _entry_fits_state(self) -> ServiceReport:
        if self.state == "present" and self.entry is None:
            raise ValueError("entry: state present needs the entry to record")
        if self.state == "absent" and self.entry is not None:
            raise ValueError("entry: state absent carries no entry")
        if self.entry is not None and self.entry.name != self.name:
            raise ValueError(f"entry.name: {self.entry.name!r} is not the service reported ({self.name!r})")
        return self


@dataclass(frozen=True)
class Reported:
    """One service report of an applied step, or why it was left out."""

    playbook: str
    host: str
    report: ServiceReport | None
    problem: str | None = None


@dataclass
class Recorded:
    """What the write-back did: per service, a line for the person; and the file, when it was written."""

    written: list[str] = field(default_factory=list)  # "added ollama", "updated ollama", "removed ollama"
    kept: list[str] = field(default_factory=list)  # what was left as it was, and why
    left_out: list[str] = field(default_factory=list)  # reports that did not fit
    path: Path | None = None
    problem: str | None = None  # the file could not be written (the apply stands)


def service_report(report: Any) -> ServiceReport | None:
    """The service report a debug task's message carries, or None; ValueError for one that does not fit."""
    from planner.plans.documents import carried

    return carried(report, SERVICE_KEY, ServiceReport)


def reported(steps: list[StepReview]) -> list[Reported]:
    """Every service report of an apply's steps, in order (a later report of a service wins when written)."""
    out = []
    for step in steps:
        for task in step.tasks:
            if task.status != "ok":
                continue
            try:
                found = service_report(task.report)
            except ValueError as err:
                out.append(Reported(step.playbook, task.host, None, str(err)))
                continue
            if found is not None:
                out.append(Reported(step.playbook, task.host, found))
    return out


def services_file(inventory: Path) -> Path:
    """The file that holds ``services:``: the group_vars/all file that has the key, else services.yml there."""
    from planner.yamlio.reading import load_fast

    base = inventory / "group_vars"
    candidates = ([base / "all.yml", base / "all.yaml"] if not (base / "all").is_dir()
                  else sorted(p for p in (base / "all").rglob("*") if p.suffix in (".yml", ".yaml")))
    for path in candidates:
        if path.is_file():
            try:
                data = load_fast(path)
            except Exception:  # noqa: BLE001 - a broken file is `inventory validate`'s to report; not ours
                continue
            if isinstance(data, dict) and SERVICES_KEY in data:
                return path
    if not (base / "all").is_dir() and (base / "all.yml").is_file():
        return base / "all.yml"
    return inventory / SERVICES_FILE


def _items(path: Path) -> list[Any] | None:
    from planner.yamlio.reading import load_fast

    if not path.exists():
        return None
    data = load_fast(path)
    items = data.get(SERVICES_KEY) if isinstance(data, dict) else None
    return items if isinstance(items, list) else None


def record(inventory: Path, plan: Plan, date: str) -> Recorded:
    """Write every service report of ``plan``'s last apply into the inventory (caller holds its lock)."""
    from planner.yamlio.files import delete_in_file, set_in_file
    from planner.yamlio.text import YamlEditError

    done = Recorded()
    found = reported(plan.applies[-1].steps) if plan.applies else []
    done.left_out = [f"{r.playbook} on {r.host}: {r.problem}" for r in found if r.report is None]
    latest = {r.report.name: r for r in found if r.report is not None}
    if not latest:
        return done
    path = services_file(inventory)
    done.path = path
    try:
        for name, item in latest.items():
            assert item.report is not None
            items = _items(path)
            at = next((i for i, s in enumerate(items or []) if isinstance(s, dict) and s.get("name") == name), None)
            current = items[at] if items is not None and at is not None else None
            if current is not None and not current.get("added_by"):
                done.kept.append(f"{name}: the item in services: is a person's (no added_by); left as written")
                continue
            if item.report.state == "absent":
                if at is not None and delete_in_file(path, (SERVICES_KEY, at)):
                    done.written.append(f"removed {name}")
                continue
            assert item.report.entry is not None
            mine = {k: v for k, v in item.report.entry.model_dump().items() if v not in (None, "")}
            new = {**{k: v for k, v in (current or {}).items() if k not in OWNED}, **mine,
                   "added_by": item.playbook, "deployed": date, "plan": plan.id}
            if items is None:
                path.parent.mkdir(parents=True, exist_ok=True)
                changed = set_in_file(path, (SERVICES_KEY,), [new], header=_HEADER)
            else:
                changed = set_in_file(path, (SERVICES_KEY, len(items) if at is None else at), new)
            if changed:
                done.written.append(f"{'added' if at is None else 'updated'} {name}")
    except (YamlEditError, OSError) as err:
        shown = path.relative_to(inventory.parent) if path.is_relative_to(inventory.parent) else path
        done.problem = f"{shown}: {err}"
    return done


_HEADER = "What runs in the homelab, where, and which tier owns it (see the decision framework)."
