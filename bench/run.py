"""`make bench`: homelab against plain Ansible, at 9 and 30 lab hosts, as one markdown table.

The table goes to stdout, progress to stderr. Every ratio row measures its two
commands interleaved (A B A B …) so that a busy machine slows both alike, and
reports the median of ``--runs`` (default 5). Everything runs in a throw-away
copy of the project with its own sandbox lab (its own directory and loopback
net), so the repository and any other lab are left alone; the lab is taken
down at the end, also on Ctrl-C or SIGTERM.

Rows:

- start-up: ``homelab --help`` against ``ansible-playbook --version``;
- plan overhead: ``homelab plan --playbook apply_baseline`` against
  ``ansible-playbook --check --diff`` of the same playbook and hosts;
- apply overhead: ``homelab apply`` of that very plan against
  ``ansible-playbook playbooks/apply_baseline.yml``. apply_baseline is used
  because, once converged (one untimed run before the first pair), every run
  starts from the same state and changes nothing, so the two sides do the
  same work on every pair; each homelab apply needs a fresh reviewed plan,
  and the plan row's own plan is that plan (the ansible run between them
  changes no input, so it is not stale);
- the shipped ansible.cfg against ansible-core's defaults (a config file that
  only says where the project's roles and collections are) on the catalog's
  read playbooks gather_facts and check_gpus;
- mitogen: whether the mitogen_linear strategy runs with this ansible-core
  (installed into a scratch directory, never into the project);
- planner: the offline planner's pass rate and latency over
  tests/evals/intents.yml, and the context pack's tokens for the reference
  homelab and a generated 200-host inventory;
- scale: bench/scale.py's rows, where that module is present.

Usage: .venv/bin/python bench/run.py [--runs N] [--quick] [--net 127.0.250] [--sizes 9,30] [--no-scale]
Needs root for the lab (systemd-nspawn), like `homelab lab up`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
BIN = Path(sys.executable).parent
sys.path[:0] = [str(BENCH), str(ROOT)]

from table import Row, render  # noqa: E402  (bench/ is not a package: its scripts run as files)

#: Not `make demo`'s 127.0.1, the tests' 127.0.3 (and their +100…+150 offsets) or molecule's 127.0.6.
DEFAULT_NET = "127.0.250"
INTENTS = ROOT / "tests" / "evals" / "intents.yml"
READ_PLAYBOOKS = ("gather_facts", "check_gpus")
TOKEN_GOAL = 6000
BIG_INVENTORY = 200


class BenchError(Exception):
    """A command the bench needs failed: the message says which and how."""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- measuring ----------------------------------------------------------------------------------------------

def timed(cmd: list[str], cwd: Path, env: dict[str, str], ok: tuple[int, ...] = (0,)) -> float:
    """Seconds ``cmd`` took; a failure stops the bench with its output (a failed run is no measurement)."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode not in ok:
        tail = (proc.stderr.strip() or proc.stdout.strip())[-2000:]
        raise BenchError(f"{' '.join(cmd)} exited {proc.returncode}:\n{tail}")
    return elapsed


def interleaved(a: Callable[[], float], b: Callable[[], float], runs: int,
                between: Callable[[], Any] | None = None) -> tuple[list[float], list[float]]:
    """``runs`` timings of each, taken A B A B …; ``between`` (untimed) runs before each pair."""
    times_a: list[float] = []
    times_b: list[float] = []
    for _ in range(runs):
        if between is not None:
            between()
        times_a.append(a())
        times_b.append(b())
    return times_a, times_b


def ratio(ours: list[float], theirs: list[float]) -> float:
    """Median of ours over median of theirs."""
    return statistics.median(ours) / statistics.median(theirs)


def p95(values: list[float]) -> float:
    """The nearest-rank 95th percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def ratio_row(measure: str, hosts: str, ours: list[float], theirs: list[float], limit: float,
              ours_name: str = "homelab", theirs_name: str = "ansible") -> Row:
    """A row whose goal is ``median(ours) / median(theirs) <= limit``."""
    r = ratio(ours, theirs)
    result = (f"{r:.2f}x ({ours_name} {statistics.median(ours):.2f} s, {theirs_name} "
              f"{statistics.median(theirs):.2f} s; median of {len(ours)})")
    return Row(measure, hosts, result, f"<= {limit:.2f}x", r <= limit)


# --- the project copy and its lab ----------------------------------------------------------------------------

def project_copy(dest: Path) -> Path:
    """The project as a clean checkout has it (the tests' own copy: no virtualenv, state, history, tests or
    session logs, and nothing a demo learnt), so every run starts from the documentation."""
    from tests.projects import copy_project, documented_only

    return documented_only(copy_project(dest))


class Bench:
    """The copy, its lab and the environment every measured command runs in."""

    def __init__(self, work: Path, net: str, runs: int) -> None:
        self.project = project_copy(work / "project")
        self.lab_dir = work / "lab"
        self.runs = runs
        self.inventory = self.lab_dir / "inventory"
        self.env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", "HOMELAB_MODEL": "offline",
                    "HOMELAB_LAB_DIR": str(self.lab_dir), "HOMELAB_LAB_NET": net,
                    "HOMELAB_INVENTORY": str(self.inventory), "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
        # The bench's own settings must not leak into what it measures: homelab records ANSIBLE_* in a plan.
        for name in [k for k in self.env if k.startswith("ANSIBLE_")]:
            del self.env[name]
        # ansible-core's defaults, but able to find the project's roles and collections.
        self.defaults_cfg = self.project / "bench-defaults.cfg"
        self.defaults_cfg.write_text("[defaults]\nroles_path = roles\ncollections_path = collections\n")

    def homelab(self, *args: str) -> list[str]:
        return [str(BIN / "homelab"), *args]

    def playbook(self, name: str, *args: str) -> list[str]:
        return [str(BIN / "ansible-playbook"), "-i", str(self.inventory), f"playbooks/{name}.yml", *args]

    def run(self, cmd: list[str], env: dict[str, str] | None = None, ok: tuple[int, ...] = (0,)) -> float:
        return timed(cmd, self.project, env or self.env, ok)

    def output(self, cmd: list[str]) -> str:
        proc = subprocess.run(cmd, cwd=self.project, env=self.env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise BenchError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
        return proc.stdout

    def lab_up(self, hosts: int | None) -> int:
        """Bring the lab up (at ``hosts`` with --scale); returns how many hosts it runs."""
        log(f"== lab up{f' --scale {hosts}' if hosts else ''} ({self.env['HOMELAB_LAB_NET']}.0/24)")
        self.run(self.homelab("lab", "up", *(["--scale", str(hosts)] if hosts else [])))
        return len(json.loads((self.lab_dir / "lab.json").read_text())["hosts"])

    def lab_down(self) -> None:
        if (self.lab_dir / "lab.json").exists():
            log("== lab down")
            subprocess.run(self.homelab("lab", "down"), cwd=self.project, env=self.env, check=False,
                           stdout=subprocess.DEVNULL)


@contextmanager
def interrupts_unwind() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so the lab comes down either way."""
    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


# --- rows ----------------------------------------------------------------------------------------------------

def startup_rows(runs: int, cwd: Path = ROOT) -> list[Row]:
    env = {**os.environ, "NO_COLOR": "1"}
    ours, theirs = interleaved(lambda: timed([str(BIN / "homelab"), "--help"], cwd, env),
                               lambda: timed([str(BIN / "ansible-playbook"), "--version"], cwd, env), runs)
    r, median = ratio(ours, theirs), statistics.median(ours)
    return [Row("start-up: `homelab --help` vs `ansible-playbook --version`", "—",
                f"{median:.3f} s, {r:.2f}x (ansible {statistics.median(theirs):.3f} s; median of {runs})",
                "< 0.2 s and < 0.2x", median < 0.2 and r < 0.2)]


def plan_apply_rows(bench: Bench, hosts: int) -> list[Row]:
    """The plan and apply overhead pairs, sharing each pair's plan (see the module's docstring)."""
    log(f"== converging apply_baseline on {hosts} hosts (untimed)")
    bench.run(bench.playbook("apply_baseline"))
    plan_ours: list[float] = []
    plan_theirs: list[float] = []
    apply_ours: list[float] = []
    apply_theirs: list[float] = []
    for n in range(1, bench.runs + 1):
        log(f"   plan/apply pair {n}/{bench.runs} on {hosts} hosts")
        plan_theirs.append(bench.run(bench.playbook("apply_baseline", "--check", "--diff")))
        plan_ours.append(bench.run(bench.homelab("plan", "--playbook", "apply_baseline", "--format", "json")))
        apply_theirs.append(bench.run(bench.playbook("apply_baseline")))
        apply_ours.append(bench.run(bench.homelab("apply", "latest", "--yes")))
        log(f"   check {plan_theirs[-1]:.1f} s, plan {plan_ours[-1]:.1f} s, ansible-playbook {apply_theirs[-1]:.1f} s, "
            f"apply {apply_ours[-1]:.1f} s")
    label = str(hosts)
    return [ratio_row("plan overhead: `homelab plan -p apply_baseline` vs `ansible-playbook --check --diff`",
                      label, plan_ours, plan_theirs, 1.10),
            ratio_row("apply overhead: `homelab apply` vs `ansible-playbook` (apply_baseline, converged)",
                      label, apply_ours, apply_theirs, 1.10)]


def config_rows(bench: Bench, hosts: int) -> list[Row]:
    """The shipped ansible.cfg against ansible-core's defaults, per read playbook and summed."""
    defaults = {**bench.env, "ANSIBLE_CONFIG": str(bench.defaults_cfg)}
    rows = []
    total_shipped: list[float] = []
    total_default: list[float] = []
    for name in READ_PLAYBOOKS:
        log(f"== ansible.cfg vs defaults: {name} on {hosts} hosts")
        command = bench.playbook(name)
        shipped, default = interleaved(lambda: bench.run(command),  # noqa: B023  (called before the loop moves on)
                                       lambda: bench.run(command, env=defaults), bench.runs)  # noqa: B023
        total_shipped = [a + b for a, b in zip(total_shipped, shipped, strict=True)] if total_shipped else shipped
        total_default = [a + b for a, b in zip(total_default, default, strict=True)] if total_default else default
        speedup = ratio(default, shipped)
        rows.append(Row(f"shipped ansible.cfg vs ansible-core defaults: {name}", str(hosts),
                        f"{speedup:.2f}x faster (shipped {statistics.median(shipped):.2f} s, defaults "
                        f"{statistics.median(default):.2f} s)", ">= 1.5x at 30 hosts",
                        speedup >= 1.5 if hosts >= 30 else None))
    both = ratio(total_default, total_shipped)
    rows.append(Row(f"shipped ansible.cfg vs defaults: {' + '.join(READ_PLAYBOOKS)}", str(hosts),
                    f"{both:.2f}x faster", ">= 1.5x at 30 hosts", both >= 1.5 if hosts >= 30 else None))
    return rows


def mitogen_row(bench: Bench, hosts: int, work: Path) -> Row:
    """Whether the mitogen_linear strategy runs gather_facts with this ansible-core (pip into a scratch dir)."""
    import ansible

    measure = f"mitogen_linear strategy (ansible-core {ansible.__version__})"
    target = work / "mitogen"
    log("== mitogen: pip install into a scratch directory")
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--target",
                          str(target), "mitogen"], capture_output=True, text=True, check=False)
    if pip.returncode != 0:
        return Row(measure, str(hosts), f"not installed: {_last_line(pip.stderr)}")
    version = next((p.name.removesuffix(".dist-info").split("-")[1] for p in target.glob("mitogen-*.dist-info")),
                   "?")
    strategy = target / "ansible_mitogen" / "plugins" / "strategy"
    env = {**bench.env, "PYTHONPATH": str(target), "ANSIBLE_STRATEGY_PLUGINS": str(strategy),
           "ANSIBLE_STRATEGY": "mitogen_linear"}
    proc = subprocess.run(bench.playbook("gather_facts"), cwd=bench.project, env=env, capture_output=True, text=True,
                          check=False, timeout=600)
    if proc.returncode != 0:
        return Row(measure, str(hosts), f"mitogen {version} fails: {_last_line(proc.stderr or proc.stdout)}")
    shipped, mitogen = interleaved(lambda: bench.run(bench.playbook("gather_facts")),
                                   lambda: bench.run(bench.playbook("gather_facts"), env=env), bench.runs)
    return Row(measure, str(hosts), f"mitogen {version} runs: gather_facts {statistics.median(mitogen):.2f} s "
               f"against {statistics.median(shipped):.2f} s with the shipped ansible.cfg "
               f"({ratio(shipped, mitogen):.2f}x its speed)")


def _last_line(text: str) -> str:
    """The most telling line of an error output: the last one that says something."""
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith(" ")]
    return (lines[-1] if lines else text.strip() or "no output")[:300]


def planner_rows(root: Path = ROOT, limit: int | None = None) -> list[Row]:
    """The offline planner over the golden intents, and the context pack's size (offline: no model is asked)."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    from planner.planning.choose import choose
    from planner.planning.evaluation import evaluate, load_cases
    from planner.workspace import Workspace

    log("== planner: offline eval over the golden intents")
    old = os.environ.get("HOMELAB_ROOT")
    os.environ["HOMELAB_ROOT"] = str(root)
    try:
        ws = Workspace.find(str(root / "inventory"))
        cases = load_cases(INTENTS)[:limit]
        report = evaluate(ws, cases, choose(root, "offline"), source=str(INTENTS))
    finally:
        if old is None:
            del os.environ["HOMELAB_ROOT"]
        else:
            os.environ["HOMELAB_ROOT"] = old
    latencies = [r.latency_ms for r in report.results]
    rows = [
        Row("offline planner: pass rate over tests/evals/intents.yml", "9",
            f"{report.pass_rate:.1%} ({sum(r.passed for r in report.results)}/{len(report.results)})",
            ">= 85%", report.pass_rate >= 0.85),
        Row("offline planner: latency per intent (draft + validate)", "9",
            f"mean {statistics.mean(latencies):.0f} ms, p95 {p95(latencies):.0f} ms"),
    ]
    with tempfile.TemporaryDirectory(prefix="homelab-bench-") as tmp:
        big = generated_inventory(root, Path(tmp) / "inventory", BIG_INVENTORY)
        for label, inventory in (("9", root / "inventory"), (str(BIG_INVENTORY), big)):
            tokens, estimate = pack_tokens(root, inventory)
            rows.append(Row("context pack: tokens (cl100k; the pack's own estimate)", label,
                            f"{tokens:,} ({estimate:,})", f"<= {TOKEN_GOAL // 1000}k", tokens <= TOKEN_GOAL))
    return rows


def generated_inventory(root: Path, dest: Path, total: int) -> Path:
    """A copy of the reference inventory grown to ``total`` hosts the way `homelab lab up --scale` grows it."""
    from planner.inventory.hosts import load_inventory
    from planner.lab import scale

    source = root / "inventory"
    dest.mkdir(parents=True)
    for entry in source.iterdir():
        if entry.name != "host_vars":
            (dest / entry.name).symlink_to(entry)
    scale.write_files(dest, source, scale.generated_hosts(load_inventory(source), total))
    return dest


def pack_tokens(root: Path, inventory: Path) -> tuple[int, int]:
    """Tokens of the prompt data a model is sent for a whole-homelab intent: counted by litellm's
    cl100k tokenizer (bundled, offline), and the pack's own chars/4 budget estimate."""
    from litellm import token_counter

    from planner.planning import context

    pack = context.build(root, inventory, "apply the baseline settings to every host")
    text = pack.render_data() + "\n" + pack.intent
    return token_counter(model="gpt-4", text=text), pack.tokens_estimate


def scale_rows() -> list[Row]:
    try:
        import scale  # type: ignore[import-not-found]  # bench/scale.py: write-back, docs, validation at scale
    except ImportError:
        return [Row("scale rows", "—", "(scale rows: bench/scale.py missing)")]
    log("== scale rows (bench/scale.py)")
    return list(scale.rows())


# --- main ----------------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, help="timings per command for each ratio (default 5; 3 with --quick)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: fewer runs, 9 hosts only")
    parser.add_argument("--net", default=os.environ.get("HOMELAB_BENCH_NET", DEFAULT_NET),
                        help=f"the bench lab's loopback /24 (default $HOMELAB_BENCH_NET, else {DEFAULT_NET})")
    parser.add_argument("--sizes", default="9,30", help="lab sizes to measure at (default 9,30)")
    parser.add_argument("--no-scale", action="store_true",
                        help="leave out the scale rows (they need no lab; bench/scale.py prints them alone)")
    args = parser.parse_args(argv)
    if args.runs is not None and args.runs < 1:
        parser.error("--runs must be at least 1")
    runs = args.runs or (3 if args.quick else 5)
    sizes = [9] if args.quick else [int(s) for s in args.sizes.split(",")]
    started = time.perf_counter()
    rows: list[Row] = []
    code = 0
    try:
        with interrupts_unwind(), tempfile.TemporaryDirectory(prefix="homelab-bench-") as tmp:
            # What needs no lab first, then per size the cheap rows before the long plan/apply pairs:
            # an interrupted bench still prints what it measured.
            log("== start-up")
            rows += startup_rows(runs)
            bench = Bench(Path(tmp), args.net, runs)
            rows += planner_rows(bench.project)
            if not args.no_scale:
                rows += scale_rows()
            try:
                for number, size in enumerate(sizes):
                    hosts = bench.lab_up(size if size != 9 else None)
                    rows += config_rows(bench, hosts)
                    if number == 0:
                        rows.append(mitogen_row(bench, hosts, Path(tmp)))
                    rows += plan_apply_rows(bench, hosts)
            finally:
                bench.lab_down()
    except KeyboardInterrupt:
        log("Interrupted: the lab is down; the table holds the rows measured so far.")
        rows.append(Row("(interrupted: the rows after this one were not measured)", "—", "—"))
        code = 130
    except BenchError as err:
        log(f"Error: {err}\nHint: the bench needs root and a free loopback net (--net); run `homelab lab status` "
            f"with HOMELAB_LAB_NET={args.net} to see what is up")
        return 1
    print(render(rows))
    log(f"== done in {time.perf_counter() - started:.0f} s ({runs} runs, sizes {', '.join(map(str, sizes))})")
    return code

if __name__ == "__main__":
    sys.exit(main())
