"""Facts from the hosts back into the inventory: ``homelab facts`` and after every apply.

The gather_facts playbook runs through ansible-runner; its events carry each
host's Ansible facts and the ``homelab.ops.host_facts`` result. Each host's
``discovered:`` block is then written through the round-trip writer, one
host_vars file per host, under the inventory's apply lock: only what changed
is touched, the person's keys never are. A host that cannot be reached keeps
its last facts, marked stale since the first failed attempt.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from planner.errors import InventoryError
from planner.inventory.discovered import Discovered, from_facts, refreshed, with_history
from planner.inventory.hosts import DISCOVERED_KEY
from planner.plans import planfile
from planner.plans.digests import display_path
from planner.workspace import Workspace

if TYPE_CHECKING:
    from planner.inventory.hosts import Inventory

_HEADER = ("Written by `homelab facts`: what discovery found on this host. "
           "The discovered: block is replaced on every gathering; edit the rest freely.")


@dataclass
class Gathered:
    """Per-host outcome of one gathering run."""

    facts: dict[str, dict[str, Any]] = field(default_factory=dict)
    unreachable: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)

    def handle(self, event: dict[str, Any]) -> None:
        """ansible-runner event handler."""
        kind, data = event.get("event"), event.get("event_data") or {}
        host = data.get("host")
        if not host:
            return
        res = data.get("res") or {}
        if kind == "runner_on_ok" and isinstance(res.get("ansible_facts"), dict):
            # Modules return setup's facts as "ansible_<name>"; Ansible strips the prefix when
            # it files them under ansible_facts, and so does this.
            self.facts.setdefault(host, {}).update(
                {k.removeprefix("ansible_"): v for k, v in res["ansible_facts"].items()})
        elif kind == "runner_on_unreachable":
            self.unreachable[host] = str(res.get("msg") or "unreachable")[:256]
        elif kind == "runner_on_failed" and not data.get("ignore_errors"):
            self.failed[host] = str(res.get("msg") or "failed")[:256]

    def finish(self, hosts: list[str]) -> Gathered:
        """After the run: a targeted host that neither answered nor was unreachable failed."""
        for host in hosts:
            if host not in self.facts and host not in self.unreachable:
                self.failed.setdefault(host, "no facts came back")
        return self


@dataclass(frozen=True)
class WriteBack:
    """What one gathering wrote."""

    written: dict[str, Path]  # host -> file that changed
    unchanged: list[str]
    stale: dict[str, str]  # host -> since when
    skipped: dict[str, str]  # host -> why nothing could be written


def host_vars_file(inventory: Path, host: str, found: Collection[Path] | None = None) -> Path:
    """Where a host's discovered block lives: ``host_vars/<host>/discovered.yml`` when the host keeps a
    directory of vars files, else its ``host_vars/<host>.yml`` (.yaml when that is what exists).

    ``found``: the host's vars files an inventory loader already listed, asked instead of the disk.
    """
    base = inventory / "host_vars"
    if (base / host).is_dir() if found is None else any(path.parent != base for path in found):
        return base / host / "discovered.yml"
    for ext in (".yml", ".yaml"):
        if (base / f"{host}{ext}").exists() if found is None else base / f"{host}{ext}" in found:
            return base / f"{host}{ext}"
    return base / f"{host}.yml"


def read_discovered(inventory: Path, host: str) -> Discovered | None:
    """The host's current discovered block, if any (fast loader: nothing is written here)."""
    from planner.yamlio.reading import load_fast

    path = host_vars_file(inventory, host)
    if not path.exists():
        return None
    try:
        data = load_fast(path)
    except Exception:  # noqa: BLE001 - a broken file is reported by `inventory validate`, not here
        return None
    return as_discovered(data.get(DISCOVERED_KEY) if isinstance(data, dict) else None)


def loaded_discovered(inv: Inventory, host: str) -> Discovered | None:
    """:func:`read_discovered` for an inventory already loaded: the block its loader read in the same parse
    as the host's file, or the file read again where that parse could not promise Ansible's reading."""
    from planner.inventory.hosts import NOT_READ

    sources = {source.path: source for source in inv.host_vars.get(host, [])}
    source = sources.get(host_vars_file(inv.root, host, found=sources))
    if source is not None and source.discovered is not NOT_READ:
        return as_discovered(source.discovered)
    return read_discovered(inv.root, host)


def as_discovered(block: Any) -> Discovered | None:
    """A ``discovered:`` block as read from a file, or None when it is missing or not one."""
    if not isinstance(block, dict):
        return None
    try:
        return Discovered.model_validate(block)
    except ValueError:  # edited by hand into something else: treated as never gathered, rewritten next time
        return None


def gather(ws: Workspace, hosts: list[str], cancel: Callable[[], bool] = lambda: False) -> Gathered:
    """Run gather_facts on ``hosts`` and collect their facts from the runner's events."""
    from planner.plans.runner import run_playbook

    gathered = Gathered()
    run_dir = ws.state / "runs" / f"facts-{planfile.new_id()}"
    result = run_playbook(root=ws.root, inventory=ws.inventory, playbook=ws.playbook("gather_facts"),
                          limit=",".join(hosts), extravars={}, check=False, run_dir=run_dir,
                          event_handler=gathered.handle, cancel=cancel)
    if result.stats is None:
        raise InventoryError(f"gathering facts ended without a result ({result.status})",
                             "see .homelab/runs/ for the run's output" + (f": {result.output_tail}"
                                                                          if result.output_tail else ""))
    return gathered.finish(hosts)


def write_back(ws: Workspace, gathered: Gathered, hosts: list[str],
               sections: tuple[str, ...] | None = None) -> WriteBack:
    """Write every host's discovered block (caller holds the inventory lock).

    With ``sections`` (names from :data:`~planner.inventory.discovered.SECTIONS`) only those parts of
    each answering host's block are replaced, as a read playbook that refreshes part of it declares;
    without, the whole block is, as gather_facts does. A host that did not answer keeps its facts,
    marked stale, either way.
    """
    from planner.yamlio.files import batch, update_in_file
    from planner.yamlio.text import YamlEditError

    now = planfile.now()
    written: dict[str, Path] = {}
    unchanged: list[str] = []
    stale: dict[str, str] = {}
    skipped: dict[str, str] = {}

    def new_block(host: str, previous: Discovered) -> Discovered:
        facts = gathered.facts.get(host)
        if facts is not None and (sections is not None or "homelab_discovered" in facts):
            try:
                if sections is None:
                    block, replaced = from_facts(facts, now), ["addresses"]
                else:
                    block, replaced = refreshed(previous, facts, sections, now)
                if block.health is None:  # a full gathering does not diagnose: the last diagnosis stays
                    block = block.model_copy(update={"health": previous.health})
                # Every write-back that brings addresses extends their history; one that does not keeps it.
                return with_history(previous, block, now[:10]) if "addresses" in replaced else block
            except (TypeError, ValueError) as err:  # pydantic's ValidationError is a ValueError
                # One host's odd answer must not cost the others their write-back: it keeps its last facts.
                gathered.failed[host] = "its facts could not be read: " + " ".join(str(err).split())[:300]
        reason = gathered.unreachable.get(host) or gathered.failed.get(host) or "no facts came back"
        since = previous.stale_since or now
        stale[host] = since
        return previous.model_copy(update={"reachable": host not in gathered.unreachable,
                                           "stale_since": since, "last_error": reason})

    def inventory_block(host: str, old: Any) -> dict[str, Any]:
        return new_block(host, as_discovered(old) or Discovered()).for_inventory()

    # One directory listing, one sync per chunk of files and one directory fsync for all the hosts, not one
    # each: a file is put in place when its chunk's bytes are durable, at the latest when the batch ends.
    with batch() as files:
        for host in hosts:
            path = host_vars_file(ws.inventory, host)
            try:
                # The old block is read from the very parse the edit is planned on: one parse per host.
                changed = update_in_file(path, (DISCOVERED_KEY,), functools.partial(inventory_block, host),
                                         unsafe=True, header=_HEADER)
            except (YamlEditError, OSError) as err:
                skipped[host] = f"{display_path(path, ws.root.resolve())}: {err}"
                continue
            if changed:
                written[host] = path.resolve()
            else:
                unchanged.append(host)
    for host, path in list(written.items()):
        failure = files.failed.get(path)
        if failure is not None:  # its new version could not be put in place: the file keeps its old one
            del written[host]
            skipped[host] = f"{display_path(path, ws.root.resolve())}: {failure}"
    return WriteBack(written, unchanged, stale, skipped)


def refresh(ws: Workspace, hosts: list[str], plan_id: str = "facts",
            cancel: Callable[[], bool] = lambda: False, notice: Callable[[str], None] = lambda m: None) -> WriteBack:
    """Gather and write back under the inventory's apply lock (``homelab facts``).

    The lock is taken before the gathering, not just around the write: facts read while an apply changes
    the hosts would be half old, half new, and written after it they would overwrite the apply's own
    read-back. A gathering that finds the inventory locked is refused at once, naming the holder.
    """
    from planner.plans.lock import apply_lock

    with apply_lock(ws.state, ws.inventory, plan_id, notice):
        return write_back(ws, gather(ws, hosts, cancel), hosts)
