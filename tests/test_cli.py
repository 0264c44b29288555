"""The ``skctr`` command line (train, evaluate, predict, export, demo), as subprocesses and in-process through ``skctr.cli.main``."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from skctr import FieldEncoder, KDEFClassifier, StudentClassifier, make_ctr
from skctr.cli import main
from skctr.metrics import binary_scores

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


def test_demo_missing_label_column(table, tmp_path, capsys):
    path = tmp_path / "impressions.csv"
    table.rename(columns={"clicked": "label"}).to_csv(path, index=False)
    assert main(["demo", "--data", str(path), "--label", "clicked", "--output", str(tmp_path / "m.joblib")]) == 3
    assert "column 'clicked' is not in impressions.csv" in capsys.readouterr().err
    assert not (tmp_path / "m.joblib").exists()


def test_demo_missing_file(tmp_path, capsys):
    missing = tmp_path / "nowhere.parquet"
    assert main(["demo", "--data", str(missing), "--output", str(tmp_path / "m.joblib")]) == 3
    assert str(missing) in capsys.readouterr().err


# --------------------------------------------------------------------------- train, evaluate, predict, export
TINY = ["--param", "max_epochs=2", "--param", "hidden_units=(16,)", "--param", "batch_size=256"]


def run_cli(*args, cwd):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "skctr", *map(str, args)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    X, y = make_ctr(n_samples=3000, cardinality=(5, 50), random_state=2)
    frame = X.assign(click=y.astype(int), request=np.arange(len(y)))
    folder = tmp_path_factory.mktemp("cli")
    frame.iloc[:2000].to_parquet(folder / "train.parquet", index=False)
    frame.iloc[2000:2500].to_csv(folder / "valid.csv", index=False)
    frame.iloc[2500:].to_csv(folder / "test.csv.gz", index=False)
    return folder, frame


def test_train_evaluate_predict_export_as_a_script_would(files, tmp_path):
    folder, frame = files
    model = tmp_path / "model.joblib"
    result = run_cli("train", "--data", folder / "train.parquet", "--valid", folder / "valid.csv", "--label", "click",
                     "--model", "kdef", "--param", "n_students=2", *TINY, "--out", model, "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "trained KDEFClassifier" in result.stdout and f"wrote {model}" in result.stdout
    fitted = joblib.load(model)
    assert fitted.get_params()["n_students"] == 2 and fitted.get_params()["hidden_units"] == (16,)
    assert "click" not in fitted.feature_names_in_

    test = pd.read_csv(folder / "test.csv.gz")
    result = run_cli("evaluate", "--model", model, "--data", folder / "test.csv.gz", "--label", "click", "--json",
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    expected = binary_scores(test["click"], fitted.predict_proba(test.drop(columns="click"))[:, 1])
    assert report["rows"] == 500
    assert report["model"]["auc"] == pytest.approx(expected[0]) and report["model"]["logloss"] == pytest.approx(expected[1])
    assert set(report["best_student"]) == {"auc", "logloss"}

    scores = tmp_path / "scores.parquet"
    result = run_cli("predict", "--model", model, "--data", folder / "test.csv.gz", "--out", scores,
                     "--id-column", "request", "--label", "click", "--students", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    written = pd.read_parquet(scores)
    assert list(written.columns) == ["request", "score", "score_student_0", "score_student_1"]
    np.testing.assert_array_equal(written["request"], test["request"])
    np.testing.assert_allclose(written["score"], fitted.predict_proba(test.drop(columns="click"))[:, 1])

    pytest.importorskip("onnxscript", reason="export needs the onnx extra")
    graph = tmp_path / "student.onnx"
    result = run_cli("export", "--model", model, "--out", graph, "--best-student", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert graph.exists() and (tmp_path / "student.vocabulary.json").exists()


def test_train_with_groups_and_stream(files, tmp_path, capsys):
    folder, frame = files
    frame.iloc[2000:2500].to_parquet(tmp_path / "valid.parquet", index=False)
    model = tmp_path / "m.joblib"
    code = main(["train", "--data", str(folder / "train.parquet"), "--valid", str(tmp_path / "valid.parquet"),
                 "--label", "click", "--model", "student", *TINY, "--stream", "--groups", "f0", "--out", str(model)])
    assert code == 0, capsys.readouterr().err
    assert "gauc" in joblib.load(model).student_scores_.columns
    assert "(streamed)" in capsys.readouterr().out


@pytest.mark.parametrize("args, code, message", [
    (["train", "--data", "{tmp}/nowhere.parquet", "--out", "{tmp}/m.joblib"], 3, "--data: no file or folder at"),
    (["train", "--data", "{folder}/train.parquet", "--label", "clicked", "--out", "{tmp}/m.joblib"], 3,
     "--label: column 'clicked' is not in train.parquet"),
    (["train", "--data", "{folder}/train.parquet", "--label", "f1", "--out", "{tmp}/m.joblib"], 3, "must hold two classes"),
    (["train", "--data", "{folder}/train.parquet", "--label", "click", "--param", "dropout", "--out", "{tmp}/m.joblib"], 3,
     "expected KEY=VALUE"),
    (["train", "--data", "{folder}/train.parquet", "--label", "click", "--param", "dropuot=0.1", "--out", "{tmp}/m.joblib"],
     3, "dropuot"),
    (["train", "--data", "{folder}/train.parquet", "--label", "click", "--param", "dropout=2.0", "--out", "{tmp}/m.joblib"],
     3, "dropout"),
    (["train", "--data", "{folder}/train.parquet", "--label", "click", "--stream", "--out", "{tmp}/m.joblib"], 3, "--stream needs --valid"),
    (["train", "--data", "{folder}/valid.csv", "--label", "click", "--out", "{folder}/train.parquet"], 3, "exists; pass --force"),
    (["evaluate", "--model", "{tmp}/none.joblib", "--data", "{folder}/valid.csv", "--label", "click"], 4, "--model: no file at"),
    (["evaluate", "--model", "{folder}/valid.csv", "--data", "{folder}/valid.csv", "--label", "click"], 4, "cannot load"),
    (["predict", "--model", "{tmp}/encoder.joblib", "--data", "{folder}/valid.csv", "--out", "{tmp}/s.csv"], 4, "not a skctr model"),
    (["predict", "--model", "{tmp}/model.joblib", "--data", "{folder}/valid.csv", "--out", "{tmp}/s.txt"], 3, "--out: expected"),
    (["predict", "--model", "{tmp}/model.joblib", "--data", "{folder}/valid.csv", "--out", "{tmp}/s.csv",
      "--id-column", "nope"], 3, "--id-column: ['nope']"),
    (["export", "--model", "{tmp}/model.joblib", "--out", "{tmp}/m.onnx", "--best-student"], 3, "single network"),
])
def test_errors_name_the_argument_and_exit_with_its_code(args, code, message, files, tmp_path, capsys):
    folder, frame = files
    joblib.dump(FieldEncoder().fit(frame.head(10)), tmp_path / "encoder.joblib")
    joblib.dump(StudentClassifier(hidden_units=(8,), max_epochs=1).fit(frame.drop(columns="click").head(300),
                                                                        frame["click"].head(300)), tmp_path / "model.joblib")
    argv = [a.format(tmp=tmp_path, folder=folder) for a in args]
    assert main(argv) == code
    err = capsys.readouterr().err
    assert err.startswith(f"skctr {args[0]}: error: ") and message in err and err.count("\n") == 1


def test_usage_errors_exit_2(tmp_path):
    result = run_cli("train", "--model", "xgboost", "--data", "x.csv", "--out", "m.joblib", cwd=tmp_path)
    assert result.returncode == 2 and "invalid choice" in result.stderr
