"""How long writing one host's facts back into a big hosts.yml takes.

Run: ``.venv/bin/python bench/yaml_writeback.py [HOSTS ...]`` (default 1000 5000).
Compares the surgical writer (``edit_text``) with a ruamel round-trip load +
change + dump of the whole file, and times ``load_fast`` for reading.
Prints a table; it is not a test and asserts only that the edit happened.
"""

from __future__ import annotations

import io
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from planner.yamlio.edit import edit_text
from planner.yamlio.reading import load_fast

FACTS = {"gathered_at": "2026-11-26T00:00:00Z", "os": "Debian 12", "cpus": 16, "disks": ["sda", "nvme0n1"]}


def hosts_file(count: int) -> str:
    """A hosts.yml shaped like a hand-kept one: groups, comments, yes/no, flow lists, an anchor."""
    out = ["# Inventory of the lab.", "---", "all:", "  vars: &defaults", "    ansible_user: admin",
           "    manage_firewall: yes", "  children:"]
    for rack in range(count // 100 + 1):
        hosts = range(rack * 100, min(count, rack * 100 + 100))
        if not hosts:
            break
        out += [f"    rack{rack:02d}:", "      hosts:"]
        for n in hosts:
            if n % 10 == 0:
                out.append(f"        # row {n // 10}: the machines under the window")
            out += [f"        host-{n:05d}:",
                    f"          ansible_host: 10.{n // 65536}.{n // 256 % 256}.{n % 256}",
                    f"          role: {'control' if n % 50 == 0 else 'worker'}  # set by hand",
                    f"          gpu: {'yes' if n % 7 == 0 else 'no'}",
                    "          tags: [lab, 'rack-" + str(rack) + "']"]
    return "\n".join(out) + "\n"


def best_of(runs: int, fn) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def roundtrip(text: str, path: tuple) -> str:
    """What the writer replaces: load the whole file round-trip, set the value, dump it all."""
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.width = 4096  # or long lines get folded
    data = yaml.load(text)
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = dict(FACTS)
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def measure(count: int) -> tuple[int, int, float, float, float, float]:
    text = hosts_file(count)
    n = count // 2
    path = ("all", "children", f"rack{n // 100:02d}", "hosts", f"host-{n:05d}", "discovered")
    new = edit_text(text, path, FACTS, unsafe=True)
    assert new != text and edit_text(new, path, FACTS, unsafe=True) == new
    runs = 3 if count <= 1000 else 1
    t_edit = best_of(runs, lambda: edit_text(text, path, FACTS, unsafe=True))
    t_noop = best_of(runs, lambda: edit_text(new, path, FACTS, unsafe=True))
    t_rt = best_of(runs, lambda: roundtrip(text, path))
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "hosts.yml"
        file.write_text(text)
        t_fast = best_of(runs, lambda: load_fast(file))
    return count, len(text), t_edit, t_noop, t_rt, t_fast


def main(counts: list[int]) -> None:
    rows = [measure(count) for count in counts]
    print(f"{'hosts':>6} {'bytes':>9} {'edit_text':>10} {'no-op':>8} {'rt+dump':>9} {'load_fast':>10}  (seconds)")
    for count, size, t_edit, t_noop, t_rt, t_fast in rows:
        print(f"{count:>6} {size:>9} {t_edit:>10.2f} {t_noop:>8.2f} {t_rt:>9.2f} {t_fast:>10.2f}")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [1000, 5000])
