"""Stale and tampered plans: a plan runs exactly as reviewed, or not at all.

One reviewed plan (apply_baseline on one lab host) is checked against a few hundred randomised
single-input mutations, one at a time, each undone before the next: inventory files and the vars next to
them, the playbook and its sidecar, files next to the playbook (vars, modules, module_utils, plugins), the
role (tasks, defaults, templates, meta/argument_specs, …), the project's collection, top-level plugins,
ansible.cfg, ``ANSIBLE_*`` variables and the installed versions. Each must be refused (exit 4) naming what
moved. The freshness check is the one ``homelab apply`` runs (``planfile.load`` then ``check_applyable``),
called in-process; a sample goes through the real CLI (``planner.cli.main`` in a forked child, plus a few
spawned ``homelab apply`` processes) to show the command says the same.

Inputs the plan's snapshot makes irrelevant (the tool's own ``discovered:`` block, catalog content the plan
does not use, the caller's ``~/.ansible`` plugins) are accepted, and the one real apply at the end, made
with all of them planted at once, proves none of them ran: a vars plugin under the caller's HOME that
plain Ansible loads (shown first) leaves no trace, and no marker reaches the run's files or events.

Versions are changed the way Python sees them: a ``*.dist-info`` with another version put first on
``sys.path`` (in-process) or ``PYTHONPATH`` (CLI), which is what ``importlib.metadata`` reads when ansible-core
is upgraded in place; the plan file itself cannot be edited without breaking its seal.

The mutations are drawn from a seed, printed in the figure; ``HOMELAB_RELIABILITY_SEED`` replays a run.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from planner.errors import ExitCode, HomelabError
from planner.plans import planfile
from planner.plans.apply import check_applyable
from planner.plans.digests import display_path, input_files
from planner.workspace import Workspace
from tests.lab import Lab, homelab_in, plan_json, project_on
from tests.reliability import forked

SEED = int(os.environ.get("HOMELAB_RELIABILITY_SEED") or random.SystemRandom().randrange(2**31))
HOST = "still-fawn"
MUTATIONS = 240
CLI_FORKED = 20  # of the mutations, this many also go through the command in a forked child
CLI_SPAWNED = 3  # and this many through a `homelab apply` process of its own
UNCHANGED_EVERY = 5  # after every fifth mutation is undone, the restored tree must be accepted again
#: Directories Ansible reads next to a playbook, where a new file must make the plan stale.
NEXT_TO_PLAYBOOK = {"group_vars": "all.yml", "host_vars": f"{HOST}.yml", "vars": "extra.yml",
                    "library": "marker_module.py", "module_utils": "marker_util.py",
                    "filter_plugins": "marker_filter.py", "lookup_plugins": "marker_lookup.py",
                    "action_plugins": "marker_action.py", "vars_plugins": "marker_vars.py",
                    "callback_plugins": "marker_callback.py", "collections": "requirements.yml",
                    "roles": "marker_role/tasks/main.yml", "tasks": "marker.yml", "templates": "marker.j2"}
#: ANSIBLE_* variables a caller might have set: each must refuse the plan (a run would otherwise differ).
ENV_NAMES = ("ANSIBLE_CONFIG", "ANSIBLE_ROLES_PATH", "ANSIBLE_LIBRARY", "ANSIBLE_COLLECTIONS_PATH",
             "ANSIBLE_FORKS", "ANSIBLE_BECOME_USER", "ANSIBLE_REMOTE_USER", "ANSIBLE_VARS_PLUGINS",
             "ANSIBLE_STRATEGY", "ANSIBLE_CALLBACKS_ENABLED", "ANSIBLE_PRIVATE_KEY_FILE", "ANSIBLE_HOST_KEY_CHECKING",
             "ANSIBLE_SSH_ARGS", "ANSIBLE_GATHER_SUBSET", "ANSIBLE_JINJA2_NATIVE", "ANSIBLE_PASSWORD_TOKEN")
VERSIONED = ("ansible-core", "ansible-runner")


@dataclass
class Mutation:
    """One change to one input: ``do`` makes it, ``undo`` puts everything back byte for byte."""

    kind: str
    name: str  # what a refusal must name
    do: Callable[[], None]
    undo: Callable[[], None]
    relevant: bool = True  # False: the snapshot makes it irrelevant; it must be accepted and never run
    env: dict[str, str] = field(default_factory=dict)  # for the CLI child: variables it adds


def marker_task(tag: str) -> str:
    return (f"\n- name: Marker {tag}\n  ansible.builtin.fail:\n    msg: {tag}\n")


def file_mutation(kind: str, path: Path, root: Path, rng: random.Random, tag: str,
                  ops: tuple[str, ...] = ("append", "flip", "truncate", "delete"), name: str | None = None,
                  relevant: bool = True) -> Mutation:
    """A mutation of ``path``: an appended line or task, one character changed, half cut, the file removed, or
    (``new``) a file that was not there."""
    op = rng.choice(ops) if path.exists() else "new"
    if op in ("flip", "truncate") and not path.read_bytes():  # an empty file (an __init__.py) can only grow
        op = "append"
    original = path.read_bytes() if path.exists() else None
    mode = path.stat().st_mode & 0o7777 if path.exists() else None
    created: list[Path] = [p for p in reversed(path.parents) if not p.exists()]

    def do() -> None:
        if op == "new":
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(marker_task(tag).lstrip() if path.suffix == ".yml" else f"# {tag}\n")
        elif op == "append":
            text = marker_task(tag) if "tasks" in path.parts or path.name.endswith(("handlers/main.yml",)) \
                else f"\n# {tag}\n"
            with path.open("a") as fh:
                fh.write(text)
        elif op == "flip":
            assert original is not None
            data = bytearray(original)
            at = rng.randrange(len(data))
            data[at] = rng.choice([c for c in b"#x:-9 {" if c != data[at]])
            path.write_bytes(bytes(data))
        elif op == "truncate":
            assert original is not None
            path.write_bytes(original[: len(original) // 2])
        else:
            path.unlink()

    def undo() -> None:
        if original is None:
            path.unlink(missing_ok=True)
            for made in reversed(created):
                shutil.rmtree(made, ignore_errors=True)
            return
        path.write_bytes(original)
        assert mode is not None
        path.chmod(mode)

    return Mutation(f"{kind}", name or display_path(path, root), do, undo, relevant)


def env_mutation(rng: random.Random) -> Mutation:
    name = rng.choice(ENV_NAMES)
    value = rng.choice(["/tmp/elsewhere", "3", "root", "False", "-o ProxyCommand=none", "free", "all"])
    before = os.environ.get(name)
    if value == before:
        value += "-other"

    def do() -> None:
        os.environ[name] = value

    def undo() -> None:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before

    return Mutation("ANSIBLE_* environment", name, do, undo, env={name: value})


def version_mutation(rng: random.Random, scratch: Path, tag: str) -> Mutation:
    """Another installed version of a package, as importlib.metadata finds it: a dist-info first on the path."""
    package = rng.choice(VERSIONED)
    version = f"{rng.randrange(2, 99)}.{rng.randrange(99)}.{rng.randrange(99)}"
    site = scratch / f"site-{tag}"
    dist = site / f"{package.replace('-', '_')}-{version}.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n")

    def do() -> None:
        sys.path.insert(0, str(site))

    def undo() -> None:
        sys.path.remove(str(site))

    return Mutation("installed versions", package, do, undo, env={"PYTHONPATH": str(site)})


@dataclass
class Reviewed:
    """The one reviewed plan every mutation is checked against."""

    project: Path
    plan_id: str
    ws: Workspace
    inputs: list[str]  # project-relative paths of its input files
    used_elsewhere: set[str]  # inputs of the apply's read-back (gather_facts), run from the working tree


@pytest.fixture(scope="module")
def reviewed(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Reviewed:
    project = project_on(lab, tmp_path_factory.mktemp("stale"))
    made = homelab_in(project, "plan", "-p", "apply_baseline", "-l", HOST, "--format", "json")
    assert made.rc == 0, made.stderr
    plan = plan_json(made)
    assert [s["risk"] for s in plan["steps"]] == ["change"]
    ws = Workspace(project.resolve(), project.resolve() / ".homelab", project.resolve() / ".homelab" / "lab-inventory")
    files = input_files(ws.root, ws.inventory, [ws.playbook("apply_baseline")])
    readback = input_files(ws.root, ws.inventory, [ws.playbook("gather_facts")])
    return Reviewed(project, plan["id"], ws, [f.display for f in files], {f.display for f in readback})


def verdict(reviewed: Reviewed) -> str | None:
    """What `homelab apply` decides before anything runs: None when accepted, else the refusal's full text."""
    try:
        check_applyable(reviewed.ws, planfile.load(reviewed.ws.state, reviewed.plan_id))
    except HomelabError as err:
        assert err.exit_code == ExitCode.REFUSED, err.message
        return "\n".join([err.message, *err.details])
    return None


def cli_forked(reviewed: Reviewed, env: dict[str, str], *args: str) -> tuple[int, str]:
    """``homelab apply`` through the command's own entry point in a forked child: (exit code, stderr)."""
    return forked.run(reviewed.project, reviewed.ws.state / f"cli-{os.getpid()}", "apply", reviewed.plan_id,
                      "--yes", *args, env=env)


def draw(reviewed: Reviewed, rng: random.Random, scratch: Path) -> Iterator[Mutation]:
    """Mutations, kinds in turn, targets and operations drawn at random."""
    root = reviewed.ws.root
    inv = root / "inventory"
    inputs = [root / p for p in reviewed.inputs if not p.startswith(".homelab/")]
    by_kind: dict[str, list[Path]] = {
        "inventory": [inv / "hosts.yml", reviewed.ws.inventory / "zz-lab.yml"],
        "inventory vars": [p for p in inputs if p.is_relative_to(inv) and p != inv / "hosts.yml"],
        "playbook": [root / "playbooks" / "apply_baseline.yml", root / "playbooks" / "apply_baseline.meta.yml"],
        "role": [p for p in inputs if p.is_relative_to(root / "roles")],
        "collection": [p for p in inputs if p.is_relative_to(root / "collections")],
        "ansible.cfg": [root / "ansible.cfg"],
    }
    unused = sorted(p for p in (root / "roles").rglob("*.yml") if p.is_file()
                    and display_path(p, root) not in reviewed.inputs and display_path(p, root)
                    not in reviewed.used_elsewhere and "tasks" in p.parts)
    unused += sorted(p for p in (root / "playbooks").glob("*.yml") if display_path(p, root) not in reviewed.inputs
                     and display_path(p, root) not in reviewed.used_elsewhere and not p.name.endswith(".meta.yml"))
    kinds = [*by_kind, "next to the playbook", "top-level plugins", "ANSIBLE_* environment", "installed versions",
             "discovered block (irrelevant)", "content the plan does not use (irrelevant)"]
    for n in range(MUTATIONS):
        kind = kinds[n % len(kinds)]
        tag = f"homelab-mutation-{SEED}-{n}"
        if kind in by_kind:
            yield file_mutation(kind, rng.choice(by_kind[kind]), root, rng, tag)
        elif kind == "next to the playbook":
            where = rng.choice(sorted(NEXT_TO_PLAYBOOK))
            yield file_mutation(kind, root / "playbooks" / where / NEXT_TO_PLAYBOOK[where], root, rng, tag)
        elif kind == "top-level plugins":
            sort = rng.choice(["modules", "filter", "lookup", "vars", "callback", "module_utils"])
            yield file_mutation(kind, root / "plugins" / sort / f"marker_{n}.py", root, rng, tag)
        elif kind == "ANSIBLE_* environment":
            yield env_mutation(rng)
        elif kind == "installed versions":
            yield version_mutation(rng, scratch, str(n))
        elif kind == "discovered block (irrelevant)":
            yield discovered_mutation(inv, rng, tag)
        else:
            yield file_mutation(kind, rng.choice(unused), root, rng, tag, ops=("append",), relevant=False)


def discovered_mutation(inv: Path, rng: random.Random, tag: str) -> Mutation:
    """A change to the tool's own ``discovered:`` block (as `homelab facts` writes it), in the host's file or in a
    file of its own: facts between plan and apply leave the plan applyable, and the run never sees them."""
    from planner.yamlio.files import set_in_file

    host = rng.choice(sorted(p.stem for p in (inv / "host_vars").glob("*.yml")))
    path = rng.choice([inv / "host_vars" / f"{host}.yml", inv / "host_vars" / host / "discovered.yml"])
    original = path.read_bytes() if path.exists() else None

    def do() -> None:
        path.parent.mkdir(exist_ok=True)
        set_in_file(path, ("discovered", "marker"), tag)

    def undo() -> None:
        if original is None and path.parent.name == host:
            shutil.rmtree(path.parent)
        elif original is None:
            path.unlink()
        else:
            path.write_bytes(original)

    return Mutation("discovered block (irrelevant)", display_path(path, inv.parent), do, undo, relevant=False)


def _tampered(doc: dict, how: str) -> dict | None:
    """The plan document edited as ``how`` says (None: the damage is not to the JSON but to the file or store)."""
    if how == "an edited variable":
        doc["steps"][0]["vars"]["baseline_timezone"] = "Etc/UTC"
    elif how == "a step with another host":
        doc["steps"][0]["hosts"].append("maas")
        doc["steps"][0]["limit"] += ",maas"
    elif how == "a swapped input digest":
        a, b = sorted(doc["inputs"]["files"])[:2]
        doc["inputs"]["files"][a], doc["inputs"]["files"][b] = doc["inputs"]["files"][b], doc["inputs"]["files"][a]
    elif how == "a snapshot file pointed at another object":
        files = doc["inputs"]["snapshot"]["files"]
        a, b = sorted(files)[:2]
        files[a]["sha256"], files[b]["sha256"] = files[b]["sha256"], files[a]["sha256"]
    elif how == "a forged seal":
        doc["seal"] = "0" * len(doc["seal"])
    elif how == "another format version":
        doc["format_version"] = 3
    elif how == "a review marked as skipped":
        doc["review"]["skipped"] = True
    else:
        return None
    return doc


TAMPERING = ("an edited variable", "a step with another host", "a swapped input digest",
             "a snapshot file pointed at another object", "a forged seal", "another format version",
             "a review marked as skipped", "a truncated file", "a damaged snapshot object", "a missing snapshot object")


def test_unchanged_plan_is_accepted_and_every_tampered_plan_is_refused(reviewed: Reviewed, figure) -> None:
    path = planfile.plans_dir(reviewed.ws.state) / f"{reviewed.plan_id}.json"
    original = path.read_bytes()
    plan = planfile.load(reviewed.ws.state, reviewed.plan_id)
    item = sorted(plan.inputs.snapshot.files.values(), key=lambda f: f.sha256)[0]
    obj = reviewed.ws.state / "objects" / item.sha256[:2] / item.sha256[2:]
    stored = obj.read_bytes()
    refused = 0
    for how in TAMPERING:
        doc = _tampered(json.loads(original), how)
        if doc is not None:
            path.write_text(json.dumps(doc, indent=2))
        elif how == "a truncated file":
            path.write_bytes(original[: len(original) // 2])
        elif how == "a damaged snapshot object":
            obj.write_bytes(stored[:8] + bytes(b ^ 0x55 for b in stored[8:16]) + stored[16:])
        else:
            obj.unlink()
        try:
            said = verdict(reviewed)
            code, stderr = cli_forked(reviewed, {})
        finally:
            path.write_bytes(original)
            obj.write_bytes(stored)
        assert said is not None, f"{how}: the plan was accepted"
        assert code == 4 and stderr.startswith("Error: ") and "Hint:" in stderr, f"{how}: exit {code}: {stderr}"
        refused += 1
    assert verdict(reviewed) is None, "the restored plan was refused"
    figure("tampered plans", f"{refused}/{len(TAMPERING)} tampered plan files refused (exit 4, Error/Hint): "
           + ", ".join(TAMPERING))


def test_every_mutation_is_refused_naming_it_or_never_runs(reviewed: Reviewed, tmp_path: Path, figure) -> None:
    rng = random.Random(SEED)
    replay = f"(seed {SEED}: HOMELAB_RELIABILITY_SEED={SEED} replays it)"
    assert verdict(reviewed) is None, f"the unchanged plan was refused {replay}"
    drawn = list(draw(reviewed, rng, tmp_path))
    # Through the CLI: relevant mutations only (an irrelevant one would be applied: that is the one real apply).
    relevant_at = [n for n, m in enumerate(drawn) if m.relevant]
    cli_forked_at = set(rng.sample(relevant_at, CLI_FORKED))
    spawned_at = set(rng.sample(sorted(set(relevant_at) - cli_forked_at), CLI_SPAWNED))
    refused: Counter[str] = Counter()
    irrelevant: Counter[str] = Counter()
    accepted_unchanged = cli_agreed = 0
    for n, mutation in enumerate(drawn):
        mutation.do()
        try:
            said = verdict(reviewed)
            if mutation.relevant:
                assert said is not None, f"{mutation.kind}: {mutation.name} moved and the plan was accepted {replay}"
                assert mutation.name in said, f"the refusal does not name {mutation.name}: {said} {replay}"
                refused[mutation.kind] += 1
            else:
                assert said is None, f"{mutation.kind}: {mutation.name} refused the plan: {said} {replay}"
                irrelevant[mutation.kind] += 1
            if n in cli_forked_at or n in spawned_at:
                if n in spawned_at:
                    proc = homelab_in(reviewed.project, "apply", reviewed.plan_id, "--yes", env=mutation.env)
                    code, stderr = proc.rc, proc.stderr
                else:
                    code, stderr = cli_forked(reviewed, mutation.env)
                assert code == 4, f"{mutation.kind} {mutation.name}: exit {code}: {stderr} {replay}"
                assert stderr.startswith(f"Error: plan {reviewed.plan_id} "), stderr
                assert mutation.name in " ".join(stderr.split()), stderr
                assert "Hint:" in stderr, stderr
                cli_agreed += 1
        finally:
            mutation.undo()
        if n % UNCHANGED_EVERY == 0 or n == len(drawn) - 1:  # put back as it was: accepted again
            assert verdict(reviewed) is None, f"undoing {mutation.kind} {mutation.name} left the plan refused {replay}"
            accepted_unchanged += 1
    relevant = sum(refused.values())
    assert relevant + sum(irrelevant.values()) == MUTATIONS
    ran = real_apply_with_irrelevant_inputs_planted(reviewed, tmp_path, rng)
    figure("stale plans", f"{MUTATIONS} mutations over {len(refused) + len(irrelevant)} input kinds: {relevant} "
           f"refused naming the input, {sum(irrelevant.values())} irrelevant and provably not run "
           f"({ran} markers planted for the real apply, none ran), 0 ran changed; {accepted_unchanged}/"
           f"{accepted_unchanged} unchanged accepted; {cli_agreed}/{CLI_FORKED + CLI_SPAWNED} CLI runs agree; "
           f"seed {SEED}")


def real_apply_with_irrelevant_inputs_planted(reviewed: Reviewed, tmp_path: Path, rng: random.Random) -> int:
    """Plant every kind of irrelevant input at once, apply the plan for real, and show none of it ran; the
    number of markers planted."""
    root = reviewed.ws.root
    home = tmp_path / "home"
    fired = tmp_path / "vars-plugin-fired"
    plugin = home / ".ansible" / "plugins" / "vars" / "homelab_marker.py"
    plugin.parent.mkdir(parents=True)
    # A vars plugin needs no enabling when it says so: plain Ansible loads it from ~/.ansible on every run.
    plugin.write_text("from ansible.plugins.vars import BaseVarsPlugin\n"
                      f"open({str(fired)!r}, 'a').write('loaded\\n')\n\n"
                      "class VarsModule(BaseVarsPlugin):\n    REQUIRES_ENABLED = False\n\n"
                      "    def get_vars(self, loader, path, entities, cache=True):\n        return {}\n")
    env = {"HOME": str(home)}
    control = subprocess.run([str(Path(sys.executable).with_name("ansible-inventory")), "-i",
                              str(root / "inventory" / "hosts.yml"), "--host", HOST], cwd=tmp_path,
                             env={**os.environ, **env}, capture_output=True, text=True, timeout=120, check=False)
    assert control.returncode == 0, control.stderr
    assert fired.exists(), "the control failed: plain Ansible did not load the vars plugin from ~/.ansible"
    fired.unlink()
    planted: list[Mutation] = []
    tags: list[str] = []
    for n in range(12):  # one of each irrelevant kind per round, all left in place for the apply
        tag = f"homelab-planted-{SEED}-{n}"
        unused = sorted(p for p in (root / "roles").rglob("tasks/*.yml")
                        if display_path(p, root) not in reviewed.inputs
                        and display_path(p, root) not in reviewed.used_elsewhere)
        m = (discovered_mutation(root / "inventory", rng, tag) if n % 2 else
             file_mutation("unused", rng.choice(unused), root, rng, tag, ops=("append",), relevant=False))
        m.do()
        planted.append(m)
        tags.append(tag)
    try:
        assert verdict(reviewed) is None
        applied = homelab_in(reviewed.project, "apply", reviewed.plan_id, "--yes", env=env)
    finally:
        for m in reversed(planted):
            m.undo()
    assert applied.rc == 0 and "Apply succeeded." in applied.stderr, applied.stderr
    assert not fired.exists(), "the caller's ~/.ansible vars plugin was loaded by the apply's run"
    runs = sorted((reviewed.ws.state / "runs").glob(f"{reviewed.plan_id}-apply-*"))
    assert runs, "the apply left no run directory"
    seen = b"".join(p.read_bytes() for run in runs for p in run.rglob("*") if p.is_file())
    assert not [t for t in tags if t.encode() in seen], "a planted marker reached the apply's run"
    # What ran is the snapshot: every task the run reports was read from the snapshot materialized in its run
    # directory (removed after the run), none from the working tree.
    paths = {json.loads(p.read_text()).get("event_data", {}).get("task_path", "").rsplit(":", 1)[0]
             for run in runs for p in run.glob("artifacts/**/job_events/*.json")} - {""}
    assert paths, "the apply's run reported no tasks"
    outside = [p for p in paths if not any(p.startswith(str(run / "project") + "/") for run in runs)]
    assert not outside, f"tasks read from outside the plan's snapshot: {outside}"
    return len(tags) + 1
