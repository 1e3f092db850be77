"""bench/run.py's pieces that need no lab: the table, the interleaving, the ratios, the planner rows."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load_run():
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "bench" / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


run = _load_run()


def test_pairs_are_timed_interleaved_with_the_untimed_step_before_each() -> None:
    calls: list[str] = []

    def a() -> float:
        calls.append("A")
        return 1.0

    def b() -> float:
        calls.append("B")
        return 2.0

    times_a, times_b = run.interleaved(a, b, 3, between=lambda: calls.append("-"))
    assert calls == ["-", "A", "B"] * 3
    assert (times_a, times_b) == ([1.0] * 3, [2.0] * 3)


def test_ratio_is_of_medians_and_the_goal_is_judged() -> None:
    # One outlier on either side moves neither median.
    ours, theirs = [1.1, 1.0, 9.0, 1.05, 1.0], [1.0, 1.0, 0.1, 1.0, 1.0]
    assert run.ratio(ours, theirs) == pytest.approx(1.05)
    row = run.ratio_row("plan overhead", "9", ours, theirs, 1.10)
    assert row.met is True and row.result.startswith("1.05x") and "median of 5" in row.result
    assert run.ratio_row("plan overhead", "9", [1.2] * 5, [1.0] * 5, 1.10).met is False
    assert run.p95([float(n) for n in range(1, 101)]) == 95.0
    assert run.p95([3.0]) == 3.0


def test_the_table_is_one_markdown_table_with_pipes_escaped() -> None:
    rows = [run.Row("a | b", "9", "1.00x", "<= 1.10x", True), run.Row("mitogen", "30", "fails: x")]
    lines = run.render(rows).splitlines()
    assert lines[0] == "| Measure | Hosts | Result | Goal | Met |"
    assert lines[2] == "| a \\| b | 9 | 1.00x | <= 1.10x | yes |"
    assert lines[3] == "| mitogen | 30 | fails: x | — | — |"


def test_without_bench_scale_the_table_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "scale", None)  # import scale raises ImportError
    [row] = run.scale_rows()
    assert row.result == "(scale rows: bench/scale.py missing)"


def test_a_failed_command_stops_the_bench_with_its_output(tmp_path: Path) -> None:
    with pytest.raises(run.BenchError, match="exited 3:\nboom"):
        run.timed([sys.executable, "-c", "import sys; print('boom', file=sys.stderr); sys.exit(3)"], tmp_path, {})


def test_bad_options_are_usage_errors() -> None:
    with pytest.raises(SystemExit) as stop:
        run.main(["--runs", "0"])
    assert stop.value.code == 2


def test_the_generated_inventory_grows_like_the_scaled_lab(tmp_path: Path) -> None:
    from planner.inventory.hosts import load_inventory

    inv = load_inventory(run.generated_inventory(ROOT, tmp_path / "inventory", 200))
    assert len(inv.hosts) == 200
    assert sum(name.startswith("k3s-vm-gen-") for name in inv.hosts) == 191


def test_planner_rows_score_the_offline_planner_and_keep_the_pack_small() -> None:
    rows = run.planner_rows(ROOT, limit=4)
    rate = rows[0]
    assert rate.result.startswith("100.0% (4/4)") and rate.met is True
    assert "p95" in rows[1].result
    packs = [r for r in rows if r.measure.startswith("context pack")]
    assert [r.hosts for r in packs] == ["9", "200"]
    # Hosts alike are folded into one entry, so 22 times the hosts must not cost even 1.5 times the tokens
    # (listed one by one they cost 3.5 times: the catalog is most of the reference pack).
    small, big = (int(r.result.split()[0].replace(",", "")) for r in packs)
    assert small < big < 1.5 * small, [r.result for r in packs]

