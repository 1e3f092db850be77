#!/usr/bin/python
# Copyright: homelab-planner maintainers
# Apache License 2.0 (see the collection's galaxy.yml)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: package_upgrades
short_description: List and apply a host's pending package upgrades (apt, or dnf), leaving held packages alone
description:
  - Asks the host's package manager which installed packages have a newer version in the host's
    configured repositories, with the installed and the new version of each, and which packages are
    held (C(apt-mark hold); dnf's versionlock plugin) with the version they would otherwise move to.
  - With apt, the repositories' indexes are fetched into a private directory that is removed afterwards,
    so reading never changes the host's own package lists; only when there is something to upgrade
    (and not in check mode) are the host's lists refreshed and C(apt-get upgrade) run. Held packages
    are never upgraded, by either manager.
  - Only the sources the host has configured are asked; the module names no mirror of its own.
options:
  manager:
    description: The package manager; C(auto) picks apt where C(apt-get) exists, else dnf.
    type: str
    choices: [auto, apt, dnf]
    default: auto
attributes:
  check_mode:
    description: Lists exactly what would be upgraded and upgrades nothing.
    support: full
  diff_mode:
    description:
      - One line a package, its installed version before and the new version after; a held package
        with a newer version shows on both sides at its installed version, saying what is not taken.
    support: full
author:
  - homelab-planner maintainers (@homelab-planner)
"""

EXAMPLES = r"""
- name: Upgrade the host's packages, held ones excepted
  homelab.ops.package_upgrades:
  register: _upgrades
"""

RETURN = r"""
manager:
  description: The package manager used, apt or dnf.
  returned: always
  type: str
upgrades:
  description: The packages upgraded (in check mode, that would be), each with name, current and new version.
  returned: always
  type: list
  elements: dict
held:
  description: Held packages, each with name, current version and pending (the newer version, or '' when none).
  returned: always
  type: list
  elements: dict
"""

import os
import shutil
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.homelab.ops.plugins.module_utils.package_upgrades import (
    ENV,
    NO_UPDATE_HOOKS,
    apt_commands,
    diff,
    dnf_commands,
    held_report,
    parse_apt_policy,
    parse_apt_simulation,
    parse_dnf_check_update,
    parse_dnf_versionlock,
    parse_held,
    parse_rpm_installed,
)


def run(module, argv, ok=(0,)):
    rc, out, err = module.run_command(argv, environ_update=ENV, check_rc=False)
    if rc not in ok:
        module.fail_json(msg="%s failed (exit %d): %s" % (" ".join(argv[:4]), rc, (err or out).strip()[-800:]))
    return out


def apt_pending(module):
    """(upgrades, held) read through a private copy of the package lists."""
    base = tempfile.mkdtemp(prefix="homelab-apt-read-")
    try:
        # apt fetches as its unprivileged _apt user, which must be able to write the lists.
        os.chmod(base, 0o755)
        lists = os.path.join(base, "lists")
        os.mkdir(lists, 0o755)
        os.mkdir(os.path.join(lists, "partial"), 0o755)
        hooks = os.path.join(base, "no-update-hooks.conf")
        with open(hooks, "w") as fh:
            fh.write(NO_UPDATE_HOOKS)
        cmds = apt_commands(lists, hooks)
        run(module, cmds["refresh"])
        upgrades = parse_apt_simulation(run(module, cmds["simulate"]))
        names = parse_held(run(module, cmds["held"]))
        policy = parse_apt_policy(run(module, cmds["policy"] + names)) if names else {}
        return upgrades, held_report(names, policy)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def dnf_pending(module):
    cache = tempfile.mkdtemp(prefix="homelab-dnf-cache-")
    try:
        return _dnf_pending(module, dnf_commands(cache))
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def _dnf_pending(module, cmds):
    pending = parse_dnf_check_update(run(module, cmds["simulate"], ok=(0, 100)))
    installed = parse_rpm_installed(run(module, cmds["installed"] + ["-a"])) if pending else {}
    rc, out, _unused = module.run_command(cmds["held"], environ_update=ENV, check_rc=False)
    locked = parse_dnf_versionlock(out) if rc == 0 else []  # no versionlock plugin: nothing can be held
    held_names = set(locked)
    upgrades = [{"name": p["name"], "current": installed.get(p["name"], ""), "new": p["new"]}
                for p in pending if p["name"].rsplit(".", 1)[0] not in held_names]
    held = [{"name": name, "current": "", "pending": next((p["new"] for p in pending
                                                          if p["name"].rsplit(".", 1)[0] == name), "")}
            for name in sorted(held_names)]
    return upgrades, held


def main():
    module = AnsibleModule(
        argument_spec={"manager": {"type": "str", "choices": ["auto", "apt", "dnf"], "default": "auto"}},
        supports_check_mode=True,
    )
    manager = module.params["manager"]
    if manager == "auto":
        manager = "apt" if module.get_bin_path("apt-get") else "dnf" if module.get_bin_path("dnf") else ""
    if not manager:
        module.fail_json(msg="neither apt-get nor dnf is on this host: its packages are updated some other way")
    upgrades, held = apt_pending(module) if manager == "apt" else dnf_pending(module)
    result = {"changed": bool(upgrades), "manager": manager, "upgrades": upgrades, "held": held}
    if module._diff and diff(upgrades, held):
        result["diff"] = diff(upgrades, held)
    if upgrades and not module.check_mode:
        if manager == "apt":
            cmds = apt_commands()
            run(module, cmds["refresh"])
            run(module, cmds["upgrade"])
        else:
            run(module, dnf_commands()["upgrade"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
