"""Warm starts and partial_fit: continuing a fitted model on new data, with new ids, through joblib and the CLI."""
from __future__ import annotations

import io
import subprocess
import sys

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from skorch.callbacks import Callback
from sklearn.pipeline import make_pipeline

from skctr import (
    CETNetClassifier,
    FieldEncoder,
    FINALClassifier,
    KDEFClassifier,
    StudentClassifier,
    TF4CTRClassifier,
    make_ctr,
)
from skctr.fields import OOV_INDEX
from skctr.metrics import binary_scores
from skctr.nn import FieldEmbedding

SMALL = {"hidden_units": (16,), "embedding_dim": 4, "batch_size": 256, "max_epochs": 2, "random_state": 0, "device": "cpu"}
ESTIMATORS = {
    "student": lambda **p: StudentClassifier(**SMALL, **p),
    "kdef": lambda **p: KDEFClassifier(n_students=2, **SMALL, **p),
    "tf4ctr": lambda **p: TF4CTRClassifier(**SMALL, **p),
    "cetnet": lambda **p: CETNetClassifier(**SMALL, **p),
    "final": lambda **p: FINALClassifier(**SMALL, **p),
}


@pytest.fixture(scope="module")
def days():
    """Two 'days' of impressions; the second holds ids the first never saw."""
    X, y = make_ctr(n_samples=3000, cardinality=(5, 400), random_state=0)
    X = X.astype(str)
    return (X.iloc[:1500], y[:1500]), (X.iloc[1500:], y[1500:])


def grew(old_spec, new_spec) -> list[str]:
    return [new.name for old, new in zip(old_spec, new_spec) if new.vocab_size > old.vocab_size]


def round_trip(model):
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    buffer.seek(0)
    return joblib.load(buffer)


class TableAtStart(Callback):
    """Records the embedding table as training begins, before any update step."""

    def on_train_begin(self, net, **kwargs):
        self.table = net.module_.embedding.weight.detach().clone()


def test_a_warm_start_begins_from_the_learned_rows(days):
    (X1, y1), (X2, y2) = days
    model = StudentClassifier(**SMALL, warm_start=True).fit(X1, y1)
    learned = model.net_.module_.embedding.weight.detach().clone()
    spec = model.field_spec_
    recorder = TableAtStart()
    model.set_params(callbacks=[recorder]).fit(X2, y2)
    rows = model.net_.module_.embedding.rows_of(_embedding_for(spec))
    assert grew(spec, model.field_spec_)  # the second day brought new ids
    assert torch.equal(recorder.table[rows], learned)  # old rows bit for bit, before the first step
    assert not torch.equal(model.net_.module_.embedding.weight[rows].detach(), learned)  # then trained


def _embedding_for(spec):
    return FieldEmbedding(spec, SMALL["embedding_dim"])


def test_without_warm_start_fit_starts_over(days):
    (X1, y1), (X2, y2) = days
    model = StudentClassifier(**SMALL).fit(X1, y1)
    model.fit(X2, y2)
    fresh = StudentClassifier(**SMALL).fit(X2, y2)
    np.testing.assert_array_equal(model.predict_proba(X2), fresh.predict_proba(X2))


def test_a_new_id_is_not_out_of_vocabulary_after_an_update(days):
    (X1, y1), (X2, y2) = days
    column = next(c for c in X2.columns if not X2[c].isin(X1[c]).all())
    new, position = X2[~X2[column].isin(X1[column])].head(1), list(X2.columns).index(column)
    model = StudentClassifier(**SMALL, warm_start=True).fit(X1, y1)
    assert model.encoder_.transform(new)[0, position] == OOV_INDEX
    model.partial_fit(X2, y2)
    assert model.encoder_.transform(new)[0, position] > OOV_INDEX


@pytest.mark.parametrize("name", ESTIMATORS)
def test_partial_fit_changes_the_model_and_keeps_shapes(name, days):
    (X1, y1), (X2, y2) = days
    model = ESTIMATORS[name]().fit(X1, y1)
    before = model.predict_proba(X1)
    shapes = {k: v.shape for k, v in model.net_.module_.state_dict().items()}
    model = round_trip(model).partial_fit(X1.head(256), y1[:256])  # one batch, no new ids
    assert {k: v.shape for k, v in model.net_.module_.state_dict().items()} == shapes
    assert not np.allclose(model.predict_proba(X1), before)
    assert model.history_[-1, "partial_fit"] and len(model.history_) == len(round_trip(model).history_)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_every_estimator_continues_through_joblib_with_a_consistent_best_student(name, days):
    (X1, y1), (X2, y2) = days
    model = round_trip(ESTIMATORS[name](warm_start=True).fit(X1, y1))
    model = round_trip(model.fit(X2, y2))
    model = round_trip(model.partial_fit(X1, y1))
    assert model.predict_proba(X2).shape == (len(X2), 2)
    if hasattr(model, "best_student_"):
        members = model.predict_proba_students(X2)
        np.testing.assert_allclose(model.best_student_.predict_proba(X2)[:, 1], members[:, model.best_student_index_],
                                   atol=1e-6)
        assert model.best_student_.field_spec_ == model.field_spec_


def test_a_warm_start_from_a_converged_model_keeps_its_validation_auc(days):
    (X1, y1), _ = days
    valid = (X1.iloc[1200:], y1[1200:])
    model = StudentClassifier(**{**SMALL, "max_epochs": 30}, warm_start=True).fit(X1.iloc[:1200], y1[:1200], eval_set=valid)
    before = model.student_scores_.loc["mlp", "auc"]
    model.fit(X1.iloc[:1200], y1[:1200], eval_set=valid)
    assert model.student_scores_.loc["mlp", "auc"] >= before


def test_the_starting_weights_stay_when_no_epoch_beats_them(days):
    """With a learning rate so high that training only harms, the warm start keeps what it started from."""
    (X1, y1), _ = days
    valid = (X1.iloc[1200:], y1[1200:])
    model = StudentClassifier(**SMALL, warm_start=True).fit(X1.iloc[:1200], y1[:1200], eval_set=valid)
    before = model.predict_proba(valid[0])
    model.set_params(lr=50.0, max_epochs=2).fit(X1.iloc[:1200], y1[:1200], eval_set=valid)
    np.testing.assert_allclose(model.predict_proba(valid[0]), before, atol=1e-6)


def test_adam_state_carries_over_and_grows(days):
    (X1, y1), (X2, y2) = days
    model = StudentClassifier(**SMALL, warm_start=True).fit(X1, y1)
    table = model.net_.module_.embedding.weight
    steps = int(model.net_.optimizer_.state[table]["step"])
    model.partial_fit(X2, y2)
    table = model.net_.module_.embedding.weight
    state = model.net_.optimizer_.state[table]
    assert state["exp_avg"].shape == table.shape
    assert int(state["step"]) == steps + int(np.ceil(len(X2) / SMALL["batch_size"]))
    assert model.net_.optimizer_.param_groups[0]["lr"] == model.lr


def test_progressive_validation_scores_the_rows_before_learning_them(days):
    (X1, y1), _ = days
    model = KDEFClassifier(n_students=2, prediction="ensemble", **SMALL).fit(X1.iloc[:1000], y1[:1000])
    rows, labels = X1.iloc[500:1000], y1[500:1000]  # rows it was fitted on: no id is new
    expected = binary_scores(np.searchsorted(model.classes_, labels), model.predict_proba(rows)[:, 1])
    model.partial_fit(rows, labels)
    np.testing.assert_allclose(model.student_scores_.loc["ensemble", ["auc", "logloss"]], expected, rtol=1e-6)


def test_partial_fit_from_scratch_learns():
    X, y = make_ctr(n_samples=4000, cardinality=(3, 30), random_state=1)
    model = StudentClassifier(**{**SMALL, "lr": 3e-3, "batch_norm": True})
    for _ in range(3):
        model.partial_fit(X.iloc[:3000], y[:3000])
    auc, _ = binary_scores(np.asarray(y[3000:]), model.predict_proba(X.iloc[3000:])[:, 1])
    assert auc > 0.62 and (model.calibration_ == [[1.0, 0.0], [1.0, 0.0]]).all()  # fit reaches 0.623


def test_partial_fit_is_reproducible_whatever_the_global_seed():
    X, y = make_ctr(n_samples=2000, cardinality=(3, 30), random_state=2)
    predictions = []
    for global_seed in (0, 1):
        torch.manual_seed(global_seed)
        model = StudentClassifier(**SMALL)
        for _ in range(2):
            model.partial_fit(X, y)
        predictions.append(model.predict_proba(X))
    np.testing.assert_array_equal(*predictions)


def test_partial_fit_needs_classes_when_the_first_rows_hold_one(days):
    (X1, y1), _ = days
    ones = np.asarray(y1) == 1
    with pytest.raises(ValueError, match="needs two classes"):
        StudentClassifier(**SMALL).partial_fit(X1[ones], y1[ones])
    model = StudentClassifier(**SMALL).partial_fit(X1[ones], y1[ones], classes=[0, 1])
    assert model.classes_.tolist() == [0, 1]
    with pytest.raises(ValueError, match=r"classes must hold the two class labels"):
        StudentClassifier(**SMALL).partial_fit(X1, y1, classes=[0, 1, 2])


def test_partial_fit_refuses_what_it_cannot_do(days, tmp_path):
    (X1, y1), _ = days
    with pytest.raises(ValueError, match="class_weight='balanced' needs the class counts of all the data"):
        StudentClassifier(**SMALL, class_weight="balanced").partial_fit(X1, y1)
    X1.assign(label=y1).to_parquet(tmp_path / "day.parquet")
    with pytest.raises(TypeError, match="partial_fit takes in-memory rows"):
        StudentClassifier(**SMALL).partial_fit(tmp_path / "day.parquet", "label")


def test_labels_outside_the_fitted_classes_are_refused(days):
    (X1, y1), (X2, y2) = days
    model = StudentClassifier(**SMALL, warm_start=True).fit(X1, y1)
    with pytest.raises(ValueError, match=r"y labels \[2\] are not among the classes"):
        model.fit(X2, np.where(np.asarray(y2) == 1, 2, 0))


def test_a_changed_architecture_cannot_continue(days):
    (X1, y1), (X2, y2) = days
    model = StudentClassifier(**SMALL, warm_start=True).fit(X1, y1)
    with pytest.raises(ValueError, match=r"cannot continue the fitted network.*hidden_units"):
        model.set_params(hidden_units=(8,)).fit(X2, y2)


def test_encoded_input_must_come_from_a_grown_encoder(days):
    (X1, y1), (X2, y2) = days
    encoder = FieldEncoder().fit(X1)
    model = StudentClassifier(**SMALL, warm_start=True).fit(encoder.transform(X1), y1)
    with pytest.raises(ValueError, match="fitted afresh"):
        model.fit(FieldEncoder().fit(pd.concat([X1, X2])).transform(X2), y2)
    grown = encoder.partial_fit(X2)
    model.fit(grown.transform(X2), y2)
    assert model.field_spec_ == grown.field_spec_
    with pytest.raises(ValueError, match="already encoded|fitted on encoded arrays"):
        model.fit(X2, y2)


def test_a_pipeline_warm_starts_with_a_warm_started_encoder(days):
    (X1, y1), (X2, y2) = days
    pipe = make_pipeline(FieldEncoder(warm_start=True), StudentClassifier(**SMALL, warm_start=True))
    pipe.fit(X1, y1)
    spec = pipe[-1].field_spec_
    pipe.fit(X2, y2)
    assert grew(spec, pipe[-1].field_spec_)
    # A Pipeline whose encoder starts over cannot feed the warm-started model.
    pipe[0].set_params(warm_start=False)
    with pytest.raises(ValueError, match="fitted afresh|fewer than"):
        pipe.fit(X1, y1)


def test_warm_start_with_a_parquet_source(days, tmp_path):
    (X1, y1), (X2, y2) = days
    X2.assign(label=y2).to_parquet(tmp_path / "day2.parquet")
    model = StudentClassifier(**SMALL, warm_start=True).fit(X1, y1)
    spec = model.field_spec_
    model.fit(tmp_path / "day2.parquet", y="label", eval_set=(X1.tail(300), y1[-300:]))
    assert grew(spec, model.field_spec_)


@pytest.mark.slow
def test_cli_train_warm_start(days, tmp_path):
    (X1, y1), (X2, y2) = days
    X1.assign(label=y1).to_parquet(tmp_path / "day1.parquet")
    X2.assign(label=y2).to_parquet(tmp_path / "day2.parquet")
    model = tmp_path / "model.joblib"

    def skctr(*args):
        return subprocess.run([sys.executable, "-m", "skctr", *args], capture_output=True, text=True, timeout=300)

    params = ["--param", "hidden_units=(16,)", "--param", "max_epochs=2", "--quiet"]
    assert skctr("train", "--data", str(tmp_path / "day1.parquet"), "--model", "student", *params, "--out", str(model)).returncode == 0
    spec = joblib.load(model).field_spec_
    done = skctr("train", "--data", str(tmp_path / "day2.parquet"), "--warm-start", str(model), *params, "--out", str(model),
                 "--force")
    assert done.returncode == 0, done.stderr
    assert "warm-started from" in done.stdout and grew(spec, joblib.load(model).field_spec_)
    wrong = skctr("train", "--data", str(tmp_path / "day2.parquet"), "--warm-start", str(model), "--model", "kdef",
                  "--out", str(tmp_path / "other.joblib"))
    assert wrong.returncode == 3 and "holds a StudentClassifier" in wrong.stderr
    missing = skctr("train", "--data", str(tmp_path / "day2.parquet"), "--warm-start", str(tmp_path / "none.joblib"),
                    "--out", str(tmp_path / "other.joblib"))
    assert missing.returncode == 4 and "--warm-start: no file" in missing.stderr
