"""benchmarks/libraries.py end to end on a slice of Frappe: the report names each library, measured or not installed."""
import importlib
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from conftest import DATA_DIR

if not (DATA_DIR / "frappe" / "train.parquet").exists():
    pytest.skip(f"Frappe not available at {DATA_DIR / 'frappe'}", allow_module_level=True)

REPO_ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--rows", "4096", "--epochs", "1", "--repeats", "1", "--data", str(DATA_DIR)]


@pytest.fixture
def libraries(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO_ROOT))  # benchmarks/ is a folder of scripts, not an installed package
    return importlib.import_module("benchmarks.libraries")


def run(libraries, tmp_path):
    output = tmp_path / "libraries.md"
    libraries.main(SMALL + ["--output", str(output)])
    report = output.read_text()
    return report, json.loads(report.split("```")[1])


def test_report_names_each_library(libraries, tmp_path):
    report, result = run(libraries, tmp_path)
    assert "bare torch loop" in report and result["bare_train_samples_per_s"] > 0
    for key, (name, module, distribution, pinned) in libraries.LIBRARIES.items():
        assert name in report
        if importlib.util.find_spec(module) is None:
            assert f"{name}: not installed (`pip install {distribution}=={pinned}`)" in report
        else:
            assert result[f"{key}_version"] in report
            assert result[f"{key}_train_ratio"] > 0 and result[f"{key}_predict_ratio"] > 0
            assert f"{result[f'{key}_train_ratio']}x" in report


def test_missing_libraries_are_reported_not_fatal(libraries, tmp_path, monkeypatch):
    for _, module, _, _ in libraries.LIBRARIES.values():
        monkeypatch.setitem(sys.modules, module, None)  # makes ``import module`` fail as if absent
    report, result = run(libraries, tmp_path)
    for key, (name, _, distribution, pinned) in libraries.LIBRARIES.items():
        assert f"{name}: not installed (`pip install {distribution}=={pinned}`)" in report
        assert f"{key}_version" not in result
    assert result["bare_predict_samples_per_s"] > 0
