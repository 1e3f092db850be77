"""The scale rows of ``make bench``: what homelab's own Python costs on a 1,000- and 5,000-host inventory.

Run alone: ``.venv/bin/python bench/scale.py [--quick]``; bench/run.py takes :func:`rows` into its one table.
Every figure is the median of at least five warm runs in this one process (imports and caches already paid
for by a first, unmeasured run). The inventories are generated in a temporary directory, shaped like the
project's: ``hosts.yml`` with groups and comments, one ``host_vars/<host>.yml`` per host holding hand-kept
keys with comments and the ``discovered:`` block a previous ``homelab facts`` wrote.

- write-back: :func:`planner.knowledge.facts.write_back` of every host's discovered facts (what ``homelab
  facts`` does after gathering). Each run carries a new gathering time, so every host's file really is
  rewritten, atomically, its comments kept.
- one edit in hosts.yml: one host's value set in a generated hosts.yml of that many hosts by the surgical
  writer (:func:`planner.yamlio.edit.edit_text`), the measure the write-back goal was first stated in.
- docs: :func:`planner.knowledge.docsgen.generate` of the inventory's docs (``homelab docs`` less the writing).
- plan validation: checking one step against the catalog and the inventory and recording the plan's inputs
  (:func:`planner.plans.build.validate_steps` + :func:`~planner.plans.build.record_inputs`), and, at apply,
  the staleness check of those inputs (:func:`planner.plans.apply.stale_inputs`).
- snapshot: the plan snapshot's manifest (as JSON in the plan file) and its objects on disk.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.table import Row, render  # noqa: E402

RUNS = 5
GOALS = {("write-back", 1000): 0.5, ("write-back", 5000): 2.5, ("one edit", 1000): 0.5, ("one edit", 5000): 2.5,
         ("docs", 1000): 0.5}


def hosts_file(count: int) -> str:
    """A hosts.yml shaped like a hand-kept one: groups, comments, yes/no, flow lists, an anchor."""
    out = ["# Inventory of the lab.", "---", "all:", "  vars: &defaults", "    ansible_user: admin",
           "    manage_firewall: yes", "  children:"]
    for rack in range((count + 99) // 100):
        out += [f"    rack{rack:02d}:", "      hosts:"]
        for n in range(rack * 100, min(count, rack * 100 + 100)):
            if n % 10 == 0:
                out.append(f"        # row {n // 10}: the machines under the window")
            out += [f"        host-{n:05d}:",
                    f"          ansible_host: 10.{n // 65536}.{n // 256 % 256}.{n % 256}",
                    f"          role: {'control' if n % 50 == 0 else 'worker'}  # set by hand",
                    f"          gpu: {'yes' if n % 7 == 0 else 'no'}",
                    "          tags: [lab, 'rack-" + str(rack) + "']"]
    return "\n".join(out) + "\n"


def host_vars(n: int) -> str:
    """One host's hand-kept vars, as the project's inventory/host_vars/*.yml are written."""
    return (f"---\n# host-{n:05d}: worker in rack {n // 100}.\n"
            "host_description: >-\n  A generated machine for the scale bench; its discovered block\n"
            "  below is written by homelab facts.\n"
            f"lan_ip: 10.{n // 65536}.{n // 256 % 256}.{n % 256}\naddressing: static\n"
            "hardware:\n  cpu: AMD Ryzen 7 5800X\n  cores: 8\n"
            "  # A tower: a free PCIe x1 slot takes a 2.5GbE card.\n  form_factor: desktop\n  memory_gib: 64\n"
            "  nics:\n    - name: enp5s0\n      model: Realtek RTL8111\n      supported_mbps: 1000\n"
            "      speed_mbps: 1000  # the switch port is gigabit\n")


def facts(n: int) -> dict[str, Any]:
    """What one host answers gather_facts with: setup facts and homelab.ops.host_facts' result."""
    address = f"10.{n // 65536}.{n // 256 % 256}.{n % 256}"
    return {
        "distribution": "Debian", "distribution_version": "12", "kernel": "6.1.0-28-amd64",
        "processor": ["0", "AuthenticAMD", "AMD Ryzen 7 5800X"] * 16,
        "processor_cores": 8, "processor_threads_per_core": 2, "processor_count": 1, "memtotal_mb": 63897,
        "devices": {"nvme0n1": {"size": "931.51 GB", "model": "Samsung SSD 980", "rotational": "0"},
                    "sda": {"size": "3.64 TB", "model": "WDC WD40EFRX", "rotational": "1"}, "loop0": {}},
        "mounts": [{"mount": "/", "device": "/dev/nvme0n1p2", "fstype": "ext4", "size_total": 900 * 2**30,
                    "size_available": (300 + n % 100) * 2**30},
                   {"mount": "/srv", "device": "/dev/sda1", "fstype": "xfs", "size_total": 3700 * 2**30,
                    "size_available": 1200 * 2**30}],
        "homelab_discovered": {
            "nics": [{"name": "enp5s0", "speed_mbps": 1000, "max_speed_mbps": 1000}],
            "addresses": [{"interface": "lo", "address": "127.0.0.1", "prefix": 8},
                          {"interface": "enp5s0", "address": address, "prefix": 16}],
            "ip_config": [{"interface": "enp5s0", "method": "static", "manager": "ifupdown"}],
            "services": {"listening": [{"address": "0.0.0.0", "port": 22, "process": "sshd"},
                                       {"address": "0.0.0.0", "port": 9100, "process": "node_exporter"}],
                         "units": [{"name": "ssh.service", "sub": "running"},
                                   {"name": "prometheus-node-exporter.service", "sub": "running"},
                                   {"name": "cron.service", "sub": "running"}]},
            "nvidia_smi": "absent", "gpus": [],
        },
    }


def make_inventory(base: Path, count: int) -> Path:
    """An inventory directory of ``count`` hosts, each with host_vars and a discovered block already written."""
    from planner.knowledge.facts import write_back
    from planner.workspace import Workspace

    inventory = base / "inventory"
    (inventory / "host_vars").mkdir(parents=True)
    (inventory / "group_vars").mkdir()
    (inventory / "hosts.yml").write_text(hosts_file(count).replace("  vars: &defaults", "  vars:"))
    (inventory / "group_vars" / "all.yml").write_text("---\n# Every host.\nsite_name: scale bench\n")
    for n in range(count):
        (inventory / "host_vars" / f"host-{n:05d}.yml").write_text(host_vars(n))
    hosts = [f"host-{n:05d}" for n in range(count)]
    write_back(Workspace(base, base / ".homelab", inventory), gathered(hosts), hosts)
    return inventory


def gathered(hosts: list[str]) -> Any:
    from planner.knowledge.facts import Gathered

    result = Gathered()
    for n, host in enumerate(hosts):
        result.facts[host] = facts(n)
    return result


def median(fn: Callable[[], Any], runs: int) -> float:
    """Median wall time of ``runs`` warm calls (one unmeasured call first)."""
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _project(base: Path) -> Path:
    """A copy of what plans and docs read from the project (catalog, roles, docs), beside the generated inventory."""
    for name in ("playbooks", "roles", "collections", "docs"):
        shutil.copytree(ROOT / name, base / name, ignore=shutil.ignore_patterns("sessions", "__pycache__"))
    shutil.copy(ROOT / "ansible.cfg", base / "ansible.cfg")
    (base / ".homelab").mkdir(exist_ok=True)
    return base


def writeback_seconds(base: Path, inventory: Path, count: int, runs: int) -> float:
    from planner.knowledge import facts as facts_mod
    from planner.workspace import Workspace

    ws = Workspace(base, base / ".homelab", inventory)
    hosts = [f"host-{n:05d}" for n in range(count)]
    answer = gathered(hosts)
    clock = (f"2026-12-{day:02d}T08:00:00+00:00" for day in itertools.cycle(range(1, 29)))
    real_now = facts_mod.planfile.now
    facts_mod.planfile.now = lambda: next(clock)  # a new gathering time each run: every file is rewritten
    try:
        def run() -> None:
            result = facts_mod.write_back(ws, answer, hosts)
            assert len(result.written) == count and not result.skipped, (len(result.written), result.skipped)
        return median(run, runs)
    finally:
        facts_mod.planfile.now = real_now


def one_edit_seconds(count: int, runs: int) -> float:
    from planner.yamlio.edit import edit_text

    text = hosts_file(count)
    n = count // 2
    path = ("all", "children", f"rack{n // 100:02d}", "hosts", f"host-{n:05d}", "discovered")
    value = {"gathered_at": "2026-11-26T00:00:00Z", "os": "Debian 12", "cpus": 16, "disks": ["sda", "nvme0n1"]}
    new = edit_text(text, path, value, unsafe=True)
    assert new.startswith(text[:200]) and "# row 0: the machines under the window" in new
    return median(lambda: edit_text(text, path, value, unsafe=True), runs)


def plan_seconds(base: Path, inventory: Path, runs: int) -> tuple[float, float, float, int, int]:
    """(validate + record inputs, staleness check, snapshot build alone, manifest bytes, objects bytes)."""
    from planner.catalog.entries import load_catalog
    from planner.plans import snapshot
    from planner.plans.apply import stale_inputs
    from planner.plans.build import StepRequest, record_inputs, validate_steps
    from planner.plans.digests import input_files, snapshot_inventory
    from planner.plans.planfile import Plan, now
    from planner.workspace import Workspace

    ws = Workspace(base, base / ".homelab", inventory)
    catalog = load_catalog(base)
    requests = [StepRequest(playbook="apply_baseline", limit="all")]
    holder: dict[str, Any] = {}

    def validate() -> None:
        steps = validate_steps(ws, catalog, requests)
        holder["plan"] = Plan(id="bench", created_at=now(), intent="bench", planner="manual", steps=steps,
                              inputs=record_inputs(ws, steps))

    validating = median(validate, runs)
    plan = holder["plan"]
    assert len(plan.steps[0].hosts) >= int(inventory.name == "inventory")
    stale = median(lambda: stale_inputs(ws, plan), runs)
    assert stale_inputs(ws, plan) == []
    files = input_files(base, inventory, [ws.playbook("apply_baseline")])
    building = median(lambda: snapshot.build(ws.state, files, snapshot_inventory(inventory)), runs)
    manifest = len(json.dumps(plan.inputs.snapshot.model_dump(mode="json"), separators=(",", ":")))
    return validating, stale, building, manifest, snapshot.stored_size(ws.state, plan.inputs.snapshot)


def docs_seconds(base: Path, inventory: Path, runs: int) -> float:
    from planner.knowledge.docsgen import generate

    docs = generate(base, inventory)
    assert any("host-00000" in text for text in docs.values())
    return median(lambda: generate(base, inventory), runs)


def _verdict(measure: str, count: int, seconds: float) -> tuple[str, bool | None]:
    goal = GOALS.get((measure, count))
    return (f"≤ {goal} s", seconds <= goal) if goal is not None else ("—", None)


def rows(quick: bool = False) -> list[Row]:
    """The scale rows: 1,000 and 5,000 hosts (``quick``: 1,000 only, for a smoke run)."""
    counts = [1000] if quick else [1000, 5000]
    out: list[Row] = []
    how = f"median of {RUNS} warm runs in-process"
    for count in counts:
        with tempfile.TemporaryDirectory(prefix="homelab-scale-") as tmp:
            base = _project(Path(tmp))
            inventory = make_inventory(base, count)
            hosts = f"{count:,}"
            took = writeback_seconds(base, inventory, count, RUNS)
            goal, met = _verdict("write-back", count, took)
            out.append(Row("inventory write-back: `homelab facts` writing every host's discovered block "
                           f"into host_vars ({how})", hosts, f"{took:.2f} s", goal, met))
            took = one_edit_seconds(count, RUNS)
            goal, met = _verdict("one edit", count, took)
            out.append(Row(f"inventory write-back: one host's block set in a hosts.yml of every host ({how})",
                           hosts, f"{took:.2f} s", goal, met))
            if count == 1000:
                took = docs_seconds(base, inventory, RUNS)
                goal, met = _verdict("docs", count, took)
                out.append(Row(f"docs regeneration: `homelab docs` without the writing ({how})", hosts,
                               f"{took:.2f} s", goal, met))
            validating, stale, building, manifest, stored = plan_seconds(base, inventory, RUNS)
            out.append(Row(f"plan validation: one step checked against catalog and inventory, inputs recorded "
                           f"with the snapshot ({how})", hosts, f"{validating:.2f} s"))
            out.append(Row(f"plan staleness check at apply: every input's digest against the plan's ({how})",
                           hosts, f"{stale:.2f} s"))
            out.append(Row(f"plan snapshot: build time ({how}), manifest in the plan file, objects on disk",
                           hosts, f"{building:.2f} s, {manifest / 1024:,.0f} KiB manifest, "
                                  f"{stored / 1024:,.0f} KiB objects"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 hosts only")
    args = parser.parse_args()
    print(render(rows(quick=args.quick)))


if __name__ == "__main__":
    main()
