"""The ``skctr demo`` command line, as a subprocess and in-process through ``skctr.cli.main``."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from skctr import KDEFClassifier, StudentClassifier, make_ctr
from skctr.cli import main

REPO_ROOT = Path(__file__).resolve().parents[1]


def check_report(output: str, n_held_out: int):
    """The demo's report: the validation table, the held-out line and the serving line."""
    for row in ("ensemble", "student_0", "student_1"):
        assert re.search(rf"^{row}\s+0\.\d{{4}}\s+\d+\.\d{{4}}$", output, re.MULTILINE), (row, output)
    assert not re.search(r"^student_2\b", output, re.MULTILINE)
    assert re.search(r"^held-out rows: ensemble AUC 0\.\d{4} logloss \d+\.\d{4}; best student \(#[01]\) AUC", output,
                     re.MULTILINE), output
    assert re.search(rf"^serving {n_held_out} rows: ensemble \d+ ms, best student \d+ ms \(\d+\.\d\dx faster, "
                     r"[\d,]+ of [\d,]+ parameters\)", output, re.MULTILINE), output


def check_saved_model(path: Path, X: pd.DataFrame):
    model = joblib.load(path)
    assert isinstance(model, KDEFClassifier)
    assert isinstance(model.best_student_, StudentClassifier)
    assert model.student_scores_.index.tolist() == ["ensemble", "student_0", "student_1"]
    for estimator in (model, model.best_student_):
        proba = estimator.predict_proba(X)
        assert proba.shape == (len(X), 2)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)
        assert ((proba >= 0) & (proba <= 1)).all()


def test_demo_subprocess(tmp_path):
    output = tmp_path / "m.joblib"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-m", "skctr", "demo", "--n-samples", "3000", "--max-epochs", "2", "--n-students", "2",
         "--output", str(output), "--verbose", "0"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    check_report(result.stdout, n_held_out=600)
    assert "2400 training rows, 600 held-out rows, 10 columns" in result.stdout
    assert str(output) in result.stdout
    X, _ = make_ctr(n_samples=3000, cardinality=(5, 200), random_state=0)
    check_saved_model(output, X.head(50))


@pytest.fixture(scope="module")
def table():
    X, y = make_ctr(n_samples=1000, cardinality=(5, 50), random_state=1)
    return X.assign(clicked=y.astype(int))


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_demo_in_process_with_data(suffix, table, tmp_path, capsys):
    path = tmp_path / f"impressions{suffix}"
    if suffix == ".csv":
        table.to_csv(path, index=False)
    else:
        table.to_parquet(path)
    output = tmp_path / "model.joblib"
    code = main(["demo", "--data", str(path), "--label", "clicked", "--max-epochs", "2", "--n-students", "2",
                 "--output", str(output), "--verbose", "0"])
    assert code == 0
    printed = capsys.readouterr().out
    assert f"{path} (label 'clicked')" in printed
    assert "800 training rows, 200 held-out rows, 10 columns" in printed
    check_report(printed, n_held_out=200)
    saved = joblib.load(output)
    assert "clicked" not in list(saved.feature_names_in_)
    frame = pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
    check_saved_model(output, frame.drop(columns="clicked").head(50))


def test_demo_missing_label_column(table, tmp_path):
    path = tmp_path / "impressions.csv"
    table.rename(columns={"clicked": "label"}).to_csv(path, index=False)
    with pytest.raises(SystemExit) as raised:
        main(["demo", "--data", str(path), "--label", "clicked", "--output", str(tmp_path / "m.joblib")])
    assert "clicked" in str(raised.value.code)
    assert not (tmp_path / "m.joblib").exists()


def test_demo_missing_file(tmp_path):
    missing = tmp_path / "nowhere.parquet"
    with pytest.raises(SystemExit) as raised:
        main(["demo", "--data", str(missing), "--output", str(tmp_path / "m.joblib")])
    assert str(missing) in str(raised.value.code)
    assert raised.value.code not in (0, None)
