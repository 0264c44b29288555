"""Every script in examples/ runs end to end on small data (SKCTR_EXAMPLE_SMALL=1) and writes what it promises."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
OUTPUTS = {
    "quickstart.py": ["kdef.joblib"],
    "pipeline_grid_search.py": [],
    "compare_estimators.py": ["compare_estimators.png"],
    "serve_onnx.py": ["best_student.onnx", "best_student.vocabulary.json"],
}


def test_every_example_is_covered():
    assert sorted(p.name for p in EXAMPLES.glob("*.py") if not p.name.startswith("_")) == sorted(OUTPUTS)


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(OUTPUTS))
def test_example_runs(script, tmp_path):
    if script == "serve_onnx.py" and not all(importlib.util.find_spec(m) for m in ("onnxruntime", "onnxscript")):
        pytest.skip("serve_onnx.py needs the onnx extra (pip install 'skctr[onnx]')")
    env = {**os.environ, "SKCTR_EXAMPLE_SMALL": "1", "SKCTR_EXAMPLE_OUT": str(tmp_path), "OMP_NUM_THREADS": "1",
           "MPLBACKEND": "Agg"}
    result = subprocess.run([sys.executable, str(EXAMPLES / script)], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    for name in OUTPUTS[script]:
        assert (tmp_path / name).stat().st_size > 0, name
    assert "test AUC" in result.stdout or "wrote" in result.stdout
