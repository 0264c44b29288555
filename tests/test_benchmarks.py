"""The benchmark scripts run end to end: ``python -m benchmarks.run --quick`` as CI's smoke test."""
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import DATA_DIR

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_quick_benchmarks_write_their_pages(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--quick", "--out", str(tmp_path), "--data", str(DATA_DIR)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = (tmp_path / "benchmarks.md").read_text()
    assert "quick smoke run" in summary and "torch" in summary
    pages = ["fused_students.md", "vocabulary_scaling.md", "parquet_big_vocabulary.md"]
    if (DATA_DIR / "frappe" / "train.parquet").exists():
        pages += ["results_frappe_all.md", "results_movielens.md", "cetnet_kl_frappe.md", "cetnet_kl_movielens.md", "baselines.md", "throughput.md", "kdef_scaling.md", "serving.md", "memory.md", "incremental.md",
                  "robustness.md"]
    for page in pages:
        assert (tmp_path / page).exists(), page
        assert f"[{page}]({page})" in summary
