"""The suite's own reporting: a recorded figure reaches the summary and the figures file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_recorded_figure_is_printed_and_written(tmp_path: Path) -> None:
    probe = ROOT / "tests" / "reliability" / f"test_zz_probe_{os.getpid()}.py"
    probe.write_text("def test_probe(figure):\n    figure('probe', '3 of 3')\n")
    out = tmp_path / "figures.jsonl"
    try:
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(probe)],
                              cwd=ROOT, env=dict(os.environ, HOMELAB_FIGURES_FILE=str(out)),
                              capture_output=True, text=True, timeout=120, check=False)
    finally:
        probe.unlink()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "reliability figures" in proc.stdout and "probe: 3 of 3" in proc.stdout, proc.stdout
    assert [json.loads(line)["value"] for line in out.read_text().splitlines()] == ["3 of 3"]
