"""What homelab adds on top of plain ansible-playbook, measured in the same run.

Needs the sandbox lab up (`homelab lab up`, as root). Each measurement runs
against a throw-away copy of the project, so the repository's inventory,
docs and plans are left alone. Prints wall-clock medians and the ratio to
plain `ansible-playbook` over the same hosts and playbook:

  gather_facts   ansible-playbook          vs  homelab facts (gather + write-back)
  gather_facts   ansible-playbook          vs  homelab plan -p gather_facts (review + plan file)
  apply_baseline ansible-playbook --check  vs  homelab plan -p apply_baseline (check review + plan file)

Usage: .venv/bin/python bench/overhead.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
LAB_INVENTORY = ROOT / ".homelab" / "lab" / "inventory"


def project_copy(base: Path) -> Path:
    copy = base / "project"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(".venv", ".homelab", ".git", "__pycache__", "tests",
                                                              "sessions", ".pytest_cache"))
    inv = copy / ".homelab" / "lab-inventory"
    inv.mkdir(parents=True)
    for entry in (copy / "inventory").iterdir():
        (inv / entry.name).symlink_to(entry)
    shutil.copy(LAB_INVENTORY / "zz-lab.yml", inv / "zz-lab.yml")
    return copy


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not (LAB_INVENTORY / "zz-lab.yml").exists():
        sys.exit("The sandbox lab is not up: run `homelab lab up` (as root) first.")
    with tempfile.TemporaryDirectory() as tmp:
        project = project_copy(Path(tmp))
        inv = str(project / ".homelab" / "lab-inventory")
        env = {**os.environ, "HOMELAB_INVENTORY": inv, "ANSIBLE_CONFIG": str(project / "ansible.cfg"),
               "NO_COLOR": "1", "HOMELAB_MODEL": "", "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
        playbook = [str(BIN / "ansible-playbook"), "-i", inv]
        homelab = [str(BIN / "homelab")]
        pairs = [
            ("gather_facts: homelab facts", playbook + ["playbooks/gather_facts.yml"], homelab + ["facts"]),
            ("gather_facts: homelab plan", playbook + ["playbooks/gather_facts.yml"],
             homelab + ["plan", "-p", "gather_facts", "--format", "json"]),
            ("apply_baseline: homelab plan (check)", playbook + ["playbooks/apply_baseline.yml", "--check", "--diff"],
             homelab + ["plan", "-p", "apply_baseline", "--format", "json"]),
        ]
        print(f"{'measurement':<40} {'ansible-playbook':>17} {'homelab':>9} {'ratio':>7}")
        for name, plain, ours in pairs:
            a = statistics.median(timed(plain, project, env) for _ in range(args.runs))
            b = statistics.median(timed(ours, project, env) for _ in range(args.runs))
            print(f"{name:<40} {a:>15.2f} s {b:>7.2f} s {b / a:>6.2f}x")


if __name__ == "__main__":
    main()
