"""Generated docs: deterministic, hand-written text kept, --check for CI, and what they show with discovered facts."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from planner.knowledge import docsgen
from tests.conftest import ROOT, kb_as_documented, run_homelab, tree_digest

TODAY = dt.date(2026, 11, 25)
STILL_FAWN = {
    "gathered_at": "2026-11-24T10:00:00+00:00",
    "os": {"name": "Debian", "version": "12", "kernel": "6.8.12-4-pve"},
    "cpu": {"model": "AMD Ryzen 7 5800X", "cores": 8, "threads": 16},
    "memory_mib": 64215,
    "nics": [{"name": "enp5s0", "driver": "r8169", "state": "up", "carrier": True, "speed_mbps": 100,
              "duplex": "full", "max_speed_mbps": 1000},
             {"name": "vmbr0", "state": "up", "virtual": True}],
    "addresses": [{"interface": "vmbr0", "address": "192.168.4.11", "prefix": 24, "method": "static",
                   "manager": "ifupdown"}],
    "gpus": [{"model": "NVIDIA GeForce RTX 3070", "memory_total_mib": 8192, "memory_used_mib": 1024}],
    "nvidia_smi": "ok",
}
K3S_VM = {
    "gathered_at": "2026-11-24T10:00:00+00:00",
    "memory_mib": 8000,
    "nics": [{"name": "ens18", "driver": "virtio_net", "state": "up", "carrier": True}],
    "addresses": [{"interface": "ens18", "address": "192.168.4.21", "prefix": 24, "method": "dhcp",
                   "manager": "ifupdown", "lease_expires": "2026-11-25T10:00:00Z"}],
    "services": {"k3s": {"present": True, "role": "server", "version": "v1.30.5+k3s1"}},
}


def copy_project(tmp_path: Path) -> Path:
    """The project as committed, to edit freely: without its virtualenv, git data and state, and without
    what `make demo` adds to a checkout (facts, session logs), with its docs made from that."""
    from planner.plans.digests import without_discovered

    copy = tmp_path / "project"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(".venv", ".git", ".homelab", "__pycache__",
                                                              ".pytest_cache", ".mypy_cache", ".ruff_cache",
                                                              "*.egg-info", "sessions"))
    for path in (copy / "inventory" / "host_vars").glob("*.yml"):
        path.write_text(without_discovered(path.read_text()) or "")
    kb = copy / "docs" / "knowledge-base.yml"
    kb.write_text(kb_as_documented(kb.read_text()))
    docsgen.write(copy, docsgen.generate(copy, copy / "inventory"))
    return copy


def in_copy(copy: Path) -> dict[str, str]:
    return {"HOMELAB_ROOT": str(copy), "HOMELAB_INVENTORY": str(copy / "inventory")}


def set_discovered(inventory: Path, host: str, block: dict) -> None:
    path = inventory / "host_vars" / f"{host}.yml"
    try:
        from planner.yamlio.files import set_in_file
    except ImportError:  # the round-trip writer is optional here: plain YAML appended reads the same
        from planner.yamlio import dump_plain

        text = path.read_text()
        path.write_text(text + ("" if text.endswith("\n") else "\n") + dump_plain({"discovered": block}))
        return
    set_in_file(path, ("discovered",), block, unsafe=True)


@pytest.fixture
def discovered_copy(tmp_path: Path) -> Path:
    copy = copy_project(tmp_path)
    set_discovered(copy / "inventory", "still-fawn", STILL_FAWN)
    set_discovered(copy / "inventory", "k3s-vm-still-fawn", K3S_VM)
    return copy


# -- determinism -----------------------------------------------------------------------------------------------

def test_the_same_inputs_give_the_same_bytes() -> None:
    first = docsgen.generate(ROOT, ROOT / "inventory")
    assert first == docsgen.generate(ROOT, ROOT / "inventory")
    assert sorted(first) == sorted(docsgen.DOCS)
    for text in first.values():
        assert text.startswith(docsgen.HEADER + "\n")


def test_today_comes_from_the_inputs_not_the_clock(tmp_path: Path) -> None:
    from planner.knowledge import kb, sessions

    copy = copy_project(tmp_path)
    kb = kb.load(copy)
    latest_seen = max(d for issue in kb.issues for d in issue.seen)
    assert docsgen.default_today(copy, kb) == latest_seen
    assert docsgen.generate(copy, copy / "inventory") == docsgen.generate(copy, copy / "inventory", latest_seen)
    # A session log from a later day moves "today" to that day.
    sessions.append(copy, sessions.Entry(time="2026-12-01T08:00:00+00:00", kind="facts", summary="Facts read."))
    assert docsgen.default_today(copy, kb) == dt.date(2026, 12, 1)


def test_output_does_not_depend_on_the_time_zone_or_the_wall_clock() -> None:
    script = ("import json, sys; from pathlib import Path; from planner.knowledge.docsgen import generate; "
              "json.dump(generate(Path(sys.argv[1]), Path(sys.argv[1]) / 'inventory'), sys.stdout)")
    outputs = []
    for tz in ("Pacific/Kiritimati", "Etc/GMT+12"):
        proc = subprocess.run([sys.executable, "-c", script, str(ROOT)], capture_output=True, text=True,
                              env={**os.environ, "TZ": tz}, check=True, cwd=ROOT)
        outputs.append(json.loads(proc.stdout))
    assert outputs[0] == outputs[1] == docsgen.generate(ROOT, ROOT / "inventory")


# -- hand-written sections -------------------------------------------------------------------------------------

def test_hand_written_text_survives_regeneration(tmp_path: Path) -> None:
    copy = copy_project(tmp_path)
    docsgen.write(copy, docsgen.generate(copy, copy / "inventory"))
    infra = copy / "docs" / "INFRASTRUCTURE.md"
    notes = "The RTX 3070's fan | rattles under load.\n\n\n\nOrdered a spare, see the invoice folder.\n"
    text = re.sub(r"(<!-- hand-written: host-still-fawn -->\n).*?(<!-- end hand-written: host-still-fawn -->)",
                  lambda m: m.group(1) + notes + m.group(2), infra.read_text(), flags=re.S)
    text += ("\n<!-- hand-written: host-retired-box -->\nIts disks went to maas.\n"
             "<!-- end hand-written: host-retired-box -->\n")
    infra.write_text(text)
    # A change to the inventory rewrites the generated part around the notes.
    hv = copy / "inventory" / "host_vars" / "still-fawn.yml"
    hv.write_text(hv.read_text().replace("memory_gib: 64", "memory_gib: 96"))

    docs = docsgen.generate(copy, copy / "inventory")
    assert docsgen.write(copy, docs) == ["docs/INFRASTRUCTURE.md"]
    after = infra.read_text()
    assert f"<!-- hand-written: host-still-fawn -->\n{notes}<!-- end hand-written: host-still-fawn -->" in after
    assert "| memory | 96 GiB |" in after
    kept = after.index(docsgen.KEPT_HEADING)
    assert after.index("Its disks went to maas.") > kept
    # Regenerating again changes nothing: the kept section is not added twice.
    assert docsgen.generate(copy, copy / "inventory") == docs
    assert after.count("host-retired-box -->") == 2


def test_a_section_without_its_end_marker_is_refused_rather_than_lost(tmp_path: Path) -> None:
    copy = copy_project(tmp_path)
    docsgen.write(copy, docsgen.generate(copy, copy / "inventory"))
    services = copy / "docs" / "SERVICES.md"
    services.write_text(services.read_text().replace("<!-- end hand-written: notes -->", ""))
    with pytest.raises(docsgen.DocsError, match="'notes' has no end marker"):
        docsgen.generate(copy, copy / "inventory")


def test_write_touches_only_changed_files(tmp_path: Path) -> None:
    copy = copy_project(tmp_path)
    docs = docsgen.generate(copy, copy / "inventory")
    docsgen.write(copy, docs)
    mtimes = {p: (copy / p).stat().st_mtime_ns for p in docs}
    assert docsgen.write(copy, docs) == [] and docsgen.stale(copy, docs) == []
    assert {p: (copy / p).stat().st_mtime_ns for p in docs} == mtimes
    assert not list((copy / "docs").glob(".*.md.*")), "no temporary file left behind"


# -- the CLI and CI --------------------------------------------------------------------------------------------

def test_check_passes_on_the_committed_docs() -> None:
    result = run_homelab("docs", "--check", env={"HOMELAB_ROOT": str(ROOT),
                                                 "HOMELAB_INVENTORY": str(ROOT / "inventory")})
    assert result.rc == 0, result.stderr
    assert "up to date" in result.stderr


def test_check_fails_after_an_inventory_edit_and_writes_nothing(tmp_path: Path) -> None:
    copy = copy_project(tmp_path)
    hv = copy / "inventory" / "host_vars" / "pumped-piglet.yml"
    hv.write_text(hv.read_text().replace("memory_gib: 128", "memory_gib: 192"))
    before = tree_digest(copy / "docs")

    failed = run_homelab("docs", "--check", env=in_copy(copy))
    assert failed.rc == 1
    assert "Error: 1 doc(s) out of date: docs/INFRASTRUCTURE.md" in failed.stderr
    assert "Hint:  run `homelab docs`" in failed.stderr
    assert "+| memory | 192 GiB |" in failed.stderr  # the diff shows what moved
    assert tree_digest(copy / "docs") == before

    written = run_homelab("docs", "--format", "json", env=in_copy(copy))
    assert written.rc == 0, written.stderr
    assert json.loads(written.stdout)["changed"] == ["docs/INFRASTRUCTURE.md"]
    assert run_homelab("docs", "--check", env=in_copy(copy)).rc == 0


def test_help_documents_exit_codes_and_examples() -> None:
    result = run_homelab("docs", "--help")
    assert result.rc == 0
    assert "Exit codes:" in result.stdout and "homelab docs --check" in result.stdout
    assert re.search(r"^\s+docs\s+Regenerate the markdown docs", run_homelab("--help").stdout, re.M)


def test_make_test_runs_the_checks_and_the_whole_suite() -> None:
    makefile = (ROOT / "Makefile").read_text()
    lint = re.search(r"^lint:[^\n]*\n(?P<recipe>(?:\t[^\n]*\n)+)", makefile, re.M)
    assert lint, "the Makefile has a lint target"
    assert lint.group("recipe").splitlines()[-1] == "\t$(BIN)/homelab docs --check"
    target = re.search(r"^test:(?P<prereqs>[^\n#]*).*?\n(?P<recipe>(?:\t[^\n]*\n)+)", makefile, re.M)
    assert target, "the Makefile has a test target"
    assert "scripts/test.sh" in target.group("recipe")
    # The runner starts `make lint` beside its three pytest streams, which together cover the whole suite: the
    # files run beside (the molecule file among them) and those that mostly wait, each of which the first
    # stream ignores, and everything else.
    script = (ROOT / "scripts" / "test.sh").read_text()
    assert "exec make --no-print-directory lint" in script
    listed = []
    for name in ("BESIDE", "WAITS"):
        found = re.search(rf"^{name}=\((?P<files>[^)]*)\)", script, re.M)
        assert found, f"scripts/test.sh lists the files of its {name} stream"
        listed += found.group("files").split()
    assert "tests/integration/test_molecule.py" in listed
    assert all((ROOT / f).is_file() for f in listed), listed
    assert len(set(listed)) == len(listed), listed
    assert 'for file in "${BESIDE[@]}" "${WAITS[@]}"; do ignored+=("--ignore=$file"); done' in script
    assert 'exec "$BIN/pytest" -q "${ignored[@]}" "$@"' in script


# -- what the docs show ----------------------------------------------------------------------------------------

def test_infrastructure_shows_discovered_facts_drift_and_topology(discovered_copy: Path) -> None:
    infra = docsgen.generate(discovered_copy, discovered_copy / "inventory", TODAY)["docs/INFRASTRUCTURE.md"]
    # Documented next to discovered: the NIC's documented speed, its link speed and its maximum.
    assert "| enp5s0 | Realtek RTL8111 | r8169 | 1000 Mbps | 1000 Mbps | sw-core | 100 Mbps | 1000 Mbps |" in infra
    assert "| GPUs | NVIDIA GeForce RTX 3070, 8 GiB | NVIDIA GeForce RTX 3070: 1024 / 8192 MiB used |" in infra
    assert "| OS / kernel | — | Debian 12 / 6.8.12-4-pve |" in infra
    assert "| ens18 | 192.168.4.21/24 | dhcp | ifupdown | 2026-11-25T10:00:00Z |" in infra
    assert "| k3s | — | server v1.30.5+k3s1 |" in infra
    assert "- Discovered: gathered 2026-11-24T10:00:00+00:00" in infra
    assert "- Discovered: not gathered yet (`homelab facts -l maas`)" in infra
    # Drift rows, from the same table `homelab drift --format markdown` prints.
    assert "| still-fawn | link speed | enp5s0 1000 Mbps | enp5s0 100 Mbps |" in infra
    assert "| k3s-vm-still-fawn | memory | 16 GiB | 7.8 GiB |" in infra
    # Mermaid: router → switch, switch → host through its NIC, hypervisor → VM; ids are safe.
    mermaid = infra.split("```mermaid\n", 1)[1].split("```", 1)[0]
    assert mermaid.startswith("flowchart ")
    assert re.search(r"^\s+dev_router -->.* dev_sw_core$", mermaid, re.M)
    # Link speeds: discovered where facts exist (still-fawn's planted 100 Mbps), documented elsewhere.
    assert re.search(r'^\s+dev_sw_core -->\|"enp5s0 100 Mbps found"\| host_still_fawn$', mermaid, re.M)
    assert re.search(r'^\s+dev_router -->\|"1000 Mbps documented"\| dev_sw_core$', mermaid, re.M)
    assert re.search(r'^\s+host_still_fawn -.->\|"VM, follows 100 Mbps found"\| host_k3s_vm_still_fawn$',
                     mermaid, re.M)
    for line in mermaid.splitlines()[1:]:
        declared = re.match(r"\s+(\S+?)\[", line)
        nodes = [declared.group(1)] if declared else [line.split()[0], line.split()[-1]]
        for node in nodes:
            assert re.fullmatch(r"[A-Za-z0-9_]+", node), line


def test_services_say_how_each_is_deployed_and_whether_it_runs(discovered_copy: Path) -> None:
    services = docsgen.generate(discovered_copy, discovered_copy / "inventory", TODAY)["docs/SERVICES.md"]
    rows = {line.split(" | ")[0].lstrip("| "): line for line in services.splitlines() if line.startswith("| ")}
    assert "GitOps on the k3s cluster" in rows["home-assistant"] and rows["home-assistant"].endswith("| runs in k3s |")
    assert "catalog playbook, directly on the host" in rows["prometheus"]
    assert rows["prometheus"].endswith("| not gathered |")
    assert "by a person, from a checklist" in rows["maas"]
    assert "## Why each service sits where it does" in services
    assert "persistent volume for its configuration" in services


def test_procedures_give_variables_and_the_exact_commands() -> None:
    procedures = docsgen.generate(ROOT, ROOT / "inventory")["docs/PROCEDURES.md"]
    assert procedures.index("## apply_baseline") < procedures.index("## gather_facts")
    assert "| `baseline_ntp_servers` | list of str | no | `[0.debian.pool.ntp.org, 1.debian.pool.ntp.org]` |" \
        in procedures
    # A read-only playbook's plan is its run: no apply after it, and no check mode for it either.
    assert "homelab plan --playbook gather_facts --limit HOSTS\n```" in procedures
    assert "ansible-playbook -i inventory playbooks/gather_facts.yml --limit HOSTS\n```" in procedures
    assert "homelab plan --playbook apply_baseline --limit HOSTS\nhomelab apply\n" in procedures
    assert ("ansible-playbook -i inventory playbooks/apply_baseline.yml --limit HOSTS --check --diff\n"
            "ansible-playbook -i inventory playbooks/apply_baseline.yml --limit HOSTS --diff\n") in procedures


def test_required_variables_appear_in_the_command_lines(tmp_path: Path) -> None:
    copy = copy_project(tmp_path)
    meta = copy / "playbooks" / "apply_baseline.meta.yml"
    meta.write_text(meta.read_text().replace("        type: str\n        default: admin\n",
                                             "        type: str\n        required: true\n"))
    procedures = docsgen.generate(copy, copy / "inventory")["docs/PROCEDURES.md"]
    assert "homelab plan --playbook apply_baseline --limit HOSTS -e baseline_admin_user=VALUE\n" in procedures
    assert "| `baseline_admin_user` | str | yes | — |" in procedures


def test_troubleshooting_calls_out_a_recurring_problem(discovered_copy: Path) -> None:
    from planner.knowledge import sessions

    sessions.append(discovered_copy, sessions.Entry(time="2026-11-24T09:00:00+00:00", kind="plan",
                                                    summary="Plan abc made by the offline planner.", plan="abc",
                                                    hosts=["k3s-vm-chief-horse"]))
    sessions.append(discovered_copy, sessions.Entry(time="2026-11-24T10:00:00+00:00", kind="facts",
                                                    summary="Facts read.", hosts=["fun-bedbug"]))
    text = docsgen.generate(discovered_copy, discovered_copy / "inventory", TODAY)["docs/TROUBLESHOOTING.md"]
    runaway = text[text.index('<a id="runaway-process-k3s-vm">'):]
    runaway = runaway[:runaway.index("<!-- end hand-written: issue-runaway-process-k3s-vm -->")]
    assert ("> Seen 3× in 30 days — Add CPU and memory limits: in the workload's manifest for a k3s pod (and a "
            "LimitRange for its namespace), a systemd drop-in for a unit on the host.") in runaway
    assert "Seen 3 times, 3 in the last 30 days: 2026-11-04, 2026-11-12, 2026-11-21." in runaway
    assert ("1. `homelab plan \"check why k3s-vm-still-fawn is slow\"` runs diagnose_host read-only and proposes "
            "the fix.") in runaway
    assert "[diagnose_host](PROCEDURES.md#diagnose_host)" in runaway
    # k3s-vm-chief-horse is in the affected k3s group; fun-bedbug is not.
    assert "2026-11-24 09:00 UTC · plan · plan abc" in runaway and "fun-bedbug" not in runaway
    # Entries seen once, or long ago, carry no callout.
    assert text.count("> [!WARNING]") == 1
    later = docsgen.generate(discovered_copy, discovered_copy / "inventory", dt.date(2026, 12, 20))
    assert "Seen 3×" not in later["docs/TROUBLESHOOTING.md"]


@pytest.mark.parametrize("existing", [
    "<!-- hand-written: notes --> Kept on the marker's line\n<!-- end hand-written: notes -->\n",
    "  <!-- hand-written: notes -->\nKept, indented\n  <!-- end hand-written: notes -->\n",
])
def test_hand_written_text_on_the_marker_line_or_indented_survives(existing: str) -> None:
    generated = "# Doc\n<!-- hand-written: notes -->\n<!-- end hand-written: notes -->\n"
    assert "Kept" in docsgen.carry_over(generated, existing, "X.md")


def test_a_default_shown_as_code_keeps_its_angle_brackets() -> None:
    from planner.render import table_cell

    assert table_cell("<none>", code=True) == "<none>" and table_cell("<none>") == "&lt;none>"


def test_text_from_a_host_cannot_open_a_hand_written_section(discovered_copy: Path) -> None:
    marker = "<!-- hand-written: zz -->"
    set_discovered(discovered_copy / "inventory", "still-fawn",
                   {**STILL_FAWN, "cpu": {**STILL_FAWN.get("cpu", {}), "model": marker},
                    "last_error": "<!-- end hand-written: zz -->"})
    docs = docsgen.generate(discovered_copy, discovered_copy / "inventory", TODAY)
    infra = docs["docs/INFRASTRUCTURE.md"]
    assert marker not in infra and "&lt;!-- hand-written: zz -->" in infra
    assert "zz" not in docsgen.sections(infra, "INFRASTRUCTURE.md")
    # Written twice: the second write finds no stray section to carry over or refuse.
    assert docsgen.carry_over(infra, infra, "INFRASTRUCTURE.md") == infra


def test_the_topology_diagram_follows_facts_written_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a read plan that refreshes NICs writes back (as verify_network_upgrade's review does) changes
    the diagram: the documented 1 Gbps link becomes the 2.5 Gbps found, and the VM on it follows."""
    from planner.knowledge.facts import Gathered, write_back
    from planner.workspace import Workspace

    copy = copy_project(tmp_path)
    monkeypatch.setenv("HOMELAB_ROOT", str(copy))

    def diagram() -> str:
        infra = docsgen.generate(copy, copy / "inventory", TODAY)["docs/INFRASTRUCTURE.md"]
        return infra.split("```mermaid\n", 1)[1].split("```", 1)[0]

    before = diagram()
    assert '-->|"enp4s0 1000 Mbps documented"| host_pumped_piglet' in before
    gathered = Gathered(facts={"pumped-piglet": {"homelab_discovered": {"nics": [
        {"name": "enp4s0", "driver": "igc", "state": "up", "carrier": True, "speed_mbps": 2500, "duplex": "full",
         "max_speed_mbps": 2500, "virtual": False}]}}})
    result = write_back(Workspace.find(str(copy / "inventory")), gathered, ["pumped-piglet"], sections=("nics",))
    assert list(result.written) == ["pumped-piglet"]
    after = diagram()
    assert '-->|"enp4s0 2.5 Gbps found"| host_pumped_piglet' in after
    assert '-.->|"VM, follows 2.5 Gbps found"| host_k3s_vm_pumped_piglet' in after
    assert '-->|"enp1s0 1000 Mbps documented"| host_fun_bedbug' in after  # no facts there: as documented


# -- cost ------------------------------------------------------------------------------------------------------

def test_each_host_vars_file_is_read_once_per_generate(discovered_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 1,000-host inventory is 1,000 files: each is read and parsed once, for its documentation and for its
    discovered block alike (the block used to be read a second time, as Ansible reads it)."""
    host_vars = discovered_copy / "inventory" / "host_vars"
    reads: dict[str, int] = {}
    original = Path.open

    def opened(self: Path, *args: Any, **kwargs: Any) -> Any:  # read_bytes and read_text open through it too
        if self.is_relative_to(host_vars):
            reads[self.name] = reads.get(self.name, 0) + 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", opened)
    docs = docsgen.generate(discovered_copy, discovered_copy / "inventory", TODAY)
    monkeypatch.undo()
    assert "| OS / kernel | — | Debian 12 / 6.8.12-4-pve |" in docs["docs/INFRASTRUCTURE.md"]  # facts were read
    assert reads and set(reads) == {p.name for p in host_vars.glob("*.yml")}
    assert all(count == 1 for count in reads.values()), reads
