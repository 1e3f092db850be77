"""Two small catalog entries of the tests' own that deploy the same kind of thing at two tiers.

Named as the catalog's real pair (deploy_trial_service at the orchestrator, deploy_k3s_app at k3s) so
that a copy of the project holding the real ones still has one entry per tier; their roles are the
tests' own. Each declares a name and a port under its prefix, so what carries over is visible.
"""

from __future__ import annotations

from pathlib import Path

_ENTRIES = {
    "deploy_trial_service": ("orchestrator", "fixture_trial", "trial_service", """\
examples:
  - Deploy jellyfin on one host to try it.
  - Run uptime-kuma as a trial.
  - Deploy prometheus for testing.
tags: [deploy, trial]
""", {"name": ("str", None), "port": ("int", 0)}, {"name": "service_name"}),
    "deploy_k3s_app": ("k3s", "fixture_k3s", "k3s_app", """\
examples:
  - Deploy jellyfin to production on k3s.
  - Run home-assistant with 3 replicas.
  - Promote prometheus to the cluster.
tags: [deploy, k3s, gitops]
""", {"name": ("str", None), "port": ("int", 80), "replicas": ("int", 1)},
        {"name": "service_name", "replicas": "count"}),
}


def _options(prefix: str, variables: dict[str, tuple[str, object]], indent: str) -> str:
    lines = []
    for name, (kind, default) in variables.items():
        lines += [f"{indent}{prefix}_{name}:", f"{indent}  description: The service's {name}.",
                  f"{indent}  type: {kind}"]
        lines += [f"{indent}  required: true"] if default is None else [f"{indent}  default: {default}"]
    return "\n".join(lines) + "\n"


def catalog_entries() -> list[dict]:
    """The two entries as the planners see them (context.catalog_entries' shape), for unit tests."""
    out = []
    for entry_id, (tier, _, prefix, _, variables, fills) in _ENTRIES.items():
        out.append({"id": entry_id, "tier": tier, "risk": "change",
                    "variables": {f"{prefix}_{n}": {"type": k, "default": d} for n, (k, d) in variables.items()},
                    "offline": {"variables": {f"{prefix}_{n}": {"extractor": e} for n, e in fills.items()}}})
    return out


def add_tier_entries(project: Path) -> None:
    """Write both entries (playbook, meta, role with argument specs and defaults) into ``project``."""
    for entry_id, (tier, role, prefix, words, variables, fills) in _ENTRIES.items():
        playbooks = project / "playbooks"
        (playbooks / f"{entry_id}.yml").write_text(
            f"---\n- name: Deploy a service\n  hosts: all\n  gather_facts: false\n  validate_argspec: {entry_id}\n"
            f"  roles:\n    - role: {role}\n")
        offline = "".join(f"    {prefix}_{n}: {{extractor: {e}}}\n" for n, e in fills.items())
        (playbooks / f"{entry_id}.meta.yml").write_text(
            f"---\ndescription: >-\n  Deploys one service at the {tier} tier. A test's entry.\n{words}risk: change\n"
            f"tier: {tier}\noffline:\n  words: [deploy]\n  variables:\n{offline}argument_specs:\n  {entry_id}:\n"
            f"    short_description: Deploy a service.\n    options:\n" + _options(prefix, variables, "      "))
        base = project / "roles" / role
        defaults = "".join(f"{prefix}_{n}: {d}\n" for n, (_, d) in variables.items() if d is not None)
        for part, text in (("meta/argument_specs.yml", "---\nargument_specs:\n  main:\n    short_description: "
                            "Deploy a service.\n    options:\n" + _options(prefix, variables, "      ")),
                           ("tasks/main.yml", f"---\n- name: Say what would be deployed\n  ansible.builtin.debug:\n"
                            f"    msg: \"{{{{ {prefix}_name }}}}\"\n"),
                           ("defaults/main.yml", "---\n" + defaults)):
            (base / part).parent.mkdir(parents=True, exist_ok=True)
            (base / part).write_text(text)
