# Copyright: homelab-planner maintainers
# Apache License 2.0 (see the collection's galaxy.yml)
"""What homelab.ops.package_upgrades runs and how it reads the answers, apart from running them.

The commands are built here (so the dnf branch, which the lab cannot run, is tested as the apt one is)
and the package managers' text is parsed here; the module only runs what these functions say.
"""

from __future__ import annotations

import re

# Not translated, no pager, no prompts: the parsers read the C locale's words.
ENV = {"LC_ALL": "C", "LANG": "C", "DEBIAN_FRONTEND": "noninteractive", "APT_LISTCHANGES_FRONTEND": "none"}

# `apt-get -s upgrade` says each package it would replace: "Inst NAME [CURRENT] (NEW ORIGIN [ARCH])".
# A package it would newly install (upgrade --with-new-pkgs only) has no [CURRENT].
_APT_INST = re.compile(r"^Inst (?P<name>\S+)(?: \[(?P<current>[^\]]*)\])? \((?P<new>\S+)")
# `dnf check-update` lists "NAME.ARCH  VERSION-RELEASE  REPO", then maybe "Obsoleting Packages".
_DNF_LINE = re.compile(r"^(?P<name>[^\s.][^\s]*)\.(?P<arch>[^\s.]+)\s+(?P<new>\S+)\s+(?P<repo>\S+)\s*$")


#: apt's update hooks (/etc/apt/apt.conf.d: appstream's catalog refresh, PackageKit's cache, a motd
#: updater) change the host; a read must not run them. Only a configuration file can clear a list
#: option (`-o` only adds to one), so the read passes this one with `-c`.
NO_UPDATE_HOOKS = ("#clear APT::Update::Pre-Invoke;\n#clear APT::Update::Post-Invoke;\n"
                   "#clear APT::Update::Post-Invoke-Success;\n")


def apt_options(lists_dir: str | None, config_file: str | None = None) -> list[str]:
    """apt's options: package lists read from (and refreshed into) ``lists_dir`` when given.

    Check mode refreshes into a private directory, so the host's own lists stay as they were while
    the answer still comes from the repositories as they are now; ``config_file`` (holding
    NO_UPDATE_HOOKS) keeps the update hooks from running.
    """
    if not lists_dir:
        return []
    # No lock on the host's lists, and no binary cache written under /var/cache/apt: nothing of the
    # host's changes while it is read.
    hooks = ["-c", config_file] if config_file else []
    return [*hooks, "-o", "Debug::NoLocking=1", "-o", "Dir::State::Lists=" + lists_dir,
            "-o", "Dir::Cache::pkgcache=", "-o", "Dir::Cache::srcpkgcache="]


def apt_commands(lists_dir: str | None = None, config_file: str | None = None) -> dict[str, list[str]]:
    """The apt commands, by what each is for."""
    opts = apt_options(lists_dir, config_file)
    return {
        # Only the sources the host has configured are asked: nothing here names a mirror.
        "refresh": ["apt-get", "-q", *opts, "update"],
        # --with-new-pkgs, as `apt upgrade` does: a kernel update comes as a new package (a new ABI), which a
        # plain upgrade keeps back; nothing is ever removed.
        "simulate": ["apt-get", "-q", *opts, "-s", "upgrade", "--with-new-pkgs"],
        "held": ["apt-mark", "showhold"],
        # The candidate a held package would move to: read per package, in the same lists.
        "policy": ["apt-cache", *opts, "policy"],
        "upgrade": ["apt-get", "-q", "-y", "-o", "Dpkg::Options::=--force-confdef",
                    "-o", "Dpkg::Options::=--force-confold", "upgrade", "--with-new-pkgs"],
    }


def dnf_commands(cache_dir: str | None = None) -> dict[str, list[str]]:
    """The dnf commands, by what each is for. dnf's versionlock plugin is how a package is held there.

    With ``cache_dir`` the read refreshes metadata there, not in the host's /var/cache/dnf.
    """
    private = ["--setopt=cachedir=" + cache_dir] if cache_dir else []
    return {
        # Exit 100 means "updates pending", 0 none; -C would read a stale cache, so metadata is refreshed.
        "simulate": ["dnf", "-q", *private, "--refresh", "check-update"],
        "held": ["dnf", "-q", "versionlock", "list"],
        "installed": ["rpm", "-q", "--qf", "%{NAME}.%{ARCH} %{EPOCHNUM}:%{VERSION}-%{RELEASE}\\n"],
        # dnf itself leaves versionlocked packages alone.
        "upgrade": ["dnf", "-y", "-q", "upgrade"],
    }


def parse_apt_simulation(text: str) -> list[dict[str, str]]:
    """The packages ``apt-get -s upgrade`` would replace: name, current and new version, sorted by name."""
    found = {}
    for line in text.splitlines():
        m = _APT_INST.match(line.strip())
        if m:
            found[m["name"]] = {"name": m["name"], "current": m["current"] or "", "new": m["new"]}
    return [found[k] for k in sorted(found)]


def parse_held(text: str) -> list[str]:
    """Package names ``apt-mark showhold`` lists (one a line), sorted."""
    return sorted({line.strip() for line in text.splitlines() if line.strip() and " " not in line.strip()})


def parse_apt_policy(text: str) -> dict[str, dict[str, str]]:
    """Installed and candidate versions per package from ``apt-cache policy PKG...``."""
    out: dict[str, dict[str, str]] = {}
    current = None
    for line in text.splitlines():
        if line and not line[0].isspace() and line.rstrip().endswith(":"):
            current = line.rstrip()[:-1]
            out[current] = {"installed": "", "candidate": ""}
            continue
        stripped = line.strip()
        if current is None:
            continue
        for key in ("installed", "candidate"):
            if stripped.lower().startswith(key + ":"):
                value = stripped.split(":", 1)[1].strip()
                out[current][key] = "" if value == "(none)" else value
    return out


def held_report(names: list[str], policy: dict[str, dict[str, str]]) -> list[dict[str, str]]:
    """Each held package with its installed version and the version it would move to ('' when none is newer)."""
    report = []
    for name in names:
        info = policy.get(name, {})
        installed, candidate = info.get("installed", ""), info.get("candidate", "")
        report.append({"name": name, "current": installed,
                       "pending": candidate if candidate and candidate != installed else ""})
    return report


def parse_dnf_check_update(text: str) -> list[dict[str, str]]:
    """(name.arch, new version) pairs from ``dnf check-update``; the obsoletes section is not upgrades."""
    found = {}
    for line in text.splitlines():
        if line.strip().lower().startswith("obsoleting packages"):
            break
        m = _DNF_LINE.match(line)
        if m:
            found[f"{m['name']}.{m['arch']}"] = m["new"]
    return [{"name": k, "new": found[k]} for k in sorted(found)]


def parse_dnf_versionlock(text: str) -> list[str]:
    """Package names locked by dnf's versionlock plugin ("NAME-[EPOCH:]VERSION-RELEASE.*" lines)."""
    names = set()
    for line in text.splitlines():
        spec = line.strip()
        m = re.match(r"^(?:\d+:)?(?P<name>.+?)-(?:\d+:)?[^-]+-[^-]+$", spec)
        if m and not spec.lower().startswith(("last metadata", "adding versionlock")):
            names.add(m["name"])
    return sorted(names)


def parse_rpm_installed(text: str) -> dict[str, str]:
    """name.arch → installed EPOCH:VERSION-RELEASE (an epoch of 0 dropped, as dnf prints it)."""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            out[parts[0]] = parts[1][2:] if parts[1].startswith("0:") else parts[1]
    return out


def diff(upgrades: list[dict[str, str]], held: list[dict[str, str]]) -> dict[str, str] | None:
    """The review's diff: one "name version" line a package before and after, held packages with a newer
    version too (the same version on both sides, saying what is not taken); None when nothing would move."""
    waiting = [h for h in held if h["pending"]]
    if not upgrades and not waiting:
        return None
    kept = "".join(f"{h['name']} {h['current']} (held)\n" for h in waiting)
    return {
        "before_header": "installed", "after_header": "after the upgrade",
        "before": "".join(f"{u['name']} {u['current'] or '(not installed)'}\n" for u in upgrades) + kept,
        "after": "".join(f"{u['name']} {u['new']}\n" for u in upgrades)
        + "".join(f"{h['name']} {h['current']} (held; {h['pending']} not taken)\n" for h in waiting),
    }
