"""bench/attention.py --quick: the whole measurement runs (subprocess cases included) and reports
every section, dense and edges side by side, with the step that leaves attention out."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quick_attention_bench_reports_every_section(tmp_path):
    out = tmp_path / "attention.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "attention.py"), "--quick", "--json-out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == result  # the last stdout line, for run_all.py
    assert result["matmul_peak_gflops"]["one_thread"] > 0 and result["training"][0]["gflop"] > 0
    assert 0 < result["training"][0]["peak_share"]
    assert {r["case"] for r in result["cases"]} >= {"grid 9×9", "chain 64"}
    for row in result["cases"]:
        assert row["dense"]["ms_per_step"] > 0 and row["edges"]["ms_per_step"] > 0
        assert row["speedup"] == row["dense"]["ms_per_step"] / row["edges"]["ms_per_step"]
        assert row["ceiling"] == row["dense"]["ms_per_step"] / row["none"]["ms_per_step"]  # the step without attention
    assert result["cost_per_node"]["time_ratio"] > 0
    assert "| evaluation (one thread) |" in proc.stderr and "Command: `python bench/attention.py --quick`" in proc.stderr
