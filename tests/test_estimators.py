"""Public-API contract of KDEFClassifier and StudentClassifier.

Every fit is tiny (3000 rows, one hidden layer of 32, a few epochs): these
tests check behaviour, not accuracy.
"""
from __future__ import annotations

import copy
import io
import os
import pickle
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from scipy.special import expit
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.pipeline import Pipeline
from skorch.callbacks import Callback

from skctr import (
    CETNetClassifier,
    FieldEncoder,
    FINALClassifier,
    KDEFClassifier,
    StudentClassifier,
    TF4CTRClassifier,
    make_ctr,
)
from skctr.estimators._base import resolve_device
from skctr.estimators._net import IMPROVEMENT_THRESHOLD
from conftest import check_grid_search

REPO_ROOT = Path(__file__).resolve().parents[1]
KINDS = ["kdef", "student"]
FAST = dict(hidden_units=(32,), max_epochs=3, batch_size=512, device="cpu", random_state=0)


def make(kind, **params):
    """A small estimator of ``kind``; KDEF gets two students unless told otherwise."""
    params = {**FAST, **params}
    if kind == "kdef":
        if "students" not in params or isinstance(params["students"], str):
            params.setdefault("n_students", 2)
        return KDEFClassifier(**params)
    return StudentClassifier(**params)


def n_parameters(estimator) -> int:
    return sum(p.numel() for p in estimator.net_.module_.parameters())


def check_proba(proba, n_rows):
    assert proba.shape == (n_rows, 2)
    assert np.isfinite(proba).all()
    assert ((proba >= 0) & (proba <= 1)).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)


@pytest.fixture(scope="module")
def data():
    """(X_train, X_new, y_train, y_new): make_ctr category columns and 0/1 clicks."""
    X, y = make_ctr(n_samples=3000, cardinality=(5, 50), random_state=0)
    return train_test_split(X, y, test_size=0.2, stratify=y, random_state=0)


@pytest.fixture(scope="module")
def fitted(data):
    """``fitted(kind, "raw" | "pipe")``: one fitted estimator or pipeline per kind, shared by the module."""
    X_train, _, y_train, _ = data
    cache = {}

    def get(kind, mode):
        if (kind, mode) not in cache:
            if mode == "raw":
                cache[kind, mode] = make(kind).fit(X_train, y_train)
            else:
                pipe = Pipeline([("fields", FieldEncoder()), ("clf", make(kind))])
                cache[kind, mode] = pipe.fit(X_train, y_train)
        return cache[kind, mode]

    return get


def run_fresh_python(model_path, X, tmp_path, env=None):
    """joblib.load ``model_path`` in a new interpreter and return its predictions on ``X``."""
    X_path, out_path = tmp_path / "X.pkl", tmp_path / "out.npz"
    X.to_pickle(X_path)
    code = (
        "import sys, joblib, numpy as np, pandas as pd, torch\n"
        "torch.set_num_threads(1)\n"
        "model = joblib.load(sys.argv[1])\n"
        "X = pd.read_pickle(sys.argv[2])\n"
        "out = {'proba': model.predict_proba(X), 'cuda': np.array(torch.cuda.is_available())}\n"
        "if hasattr(model, 'best_student_'):\n"
        "    out['student'] = model.best_student_.predict_proba(X)\n"
        "np.savez(sys.argv[3], **out)\n"
    )
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-c", code, str(model_path), str(X_path), str(out_path)],
        env=full_env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return dict(np.load(out_path))


# --------------------------------------------------------------------------- pipeline and raw input
@pytest.mark.parametrize("kind", KINDS)
def test_pipeline_and_raw_input(kind, data, fitted):
    _, X_new, _, _ = data
    pipe, raw = fitted(kind, "pipe"), fitted(kind, "raw")
    check_proba(pipe.predict_proba(X_new), len(X_new))
    check_proba(raw.predict_proba(X_new), len(X_new))

    assert pipe[-1].encoder_ is None
    assert isinstance(raw.encoder_, FieldEncoder)
    assert raw.encoder_.field_spec_ == raw.field_spec_
    assert raw.field_spec_ == pipe[-1].field_spec_ == pipe[0].field_spec_
    assert raw.n_features_in_ == X_new.shape[1]
    assert list(raw.feature_names_in_) == list(X_new.columns)
    # Same encoding, same seed: the two routes train the same model.
    np.testing.assert_array_equal(pipe.predict_proba(X_new), raw.predict_proba(X_new))


@pytest.mark.parametrize("kind", KINDS)
def test_pipeline_with_pandas_output(kind, data, fitted):
    X_train, X_new, y_train, _ = data
    encoder = FieldEncoder().set_output(transform="pandas")
    pipe = Pipeline([("fields", encoder), ("clf", make(kind))]).fit(X_train, y_train)
    assert isinstance(pipe[:-1].transform(X_new), pd.DataFrame)
    assert pipe[-1].encoder_ is None
    assert pipe[-1].field_spec_ == fitted(kind, "raw").field_spec_
    check_proba(pipe.predict_proba(X_new), len(X_new))


@pytest.mark.parametrize("kind", KINDS)
def test_grid_search_and_cross_val_score(kind, data):
    X_train, _, y_train, _ = data
    pipe = Pipeline([("fields", FieldEncoder()), ("clf", make(kind, max_epochs=2))])
    search = GridSearchCV(pipe, {"clf__dropout": [0.1, 0.3]}, scoring="roc_auc", cv=2).fit(X_train, y_train)
    check_grid_search(search, X_train, y_train, "clf__dropout", [0.1, 0.3])
    # The refitted network itself carries the chosen rate.
    assert set(_dropouts(search.best_estimator_[-1].net_.module_)) == {search.best_params_["clf__dropout"]}

    scores = cross_val_score(pipe, X_train, y_train, scoring="roc_auc", cv=2)
    assert scores.shape == (2,)
    assert np.isfinite(scores).all() and ((scores >= 0) & (scores <= 1)).all()


# --------------------------------------------------------------------------- persistence
@pytest.mark.parametrize("kind", KINDS)
def test_joblib_round_trip(kind, data, fitted, tmp_path):
    _, X_new, _, _ = data
    pipe, raw = fitted(kind, "pipe"), fitted(kind, "raw")
    models = {"pipe": pipe, "raw": raw}
    if kind == "kdef":
        models["best_student"] = raw.best_student_
    for name, model in models.items():
        path = tmp_path / f"{name}.joblib"
        joblib.dump(model, path)
        loaded = joblib.load(path)
        np.testing.assert_array_equal(loaded.predict_proba(X_new), model.predict_proba(X_new), err_msg=name)
    loaded = joblib.load(tmp_path / "pipe.joblib")
    encoded = loaded[:-1].transform(X_new)
    np.testing.assert_array_equal(loaded[-1].predict_proba(encoded), pipe[-1].predict_proba(encoded))


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_pickle_loads_in_fresh_process(kind, data, fitted, tmp_path):
    _, X_new, _, _ = data
    raw = fitted(kind, "raw")
    path = tmp_path / "model.joblib"
    joblib.dump(raw, path)
    out = run_fresh_python(path, X_new, tmp_path)
    np.testing.assert_array_equal(out["proba"], raw.predict_proba(X_new))
    if kind == "kdef":
        np.testing.assert_array_equal(out["student"], raw.best_student_.predict_proba(X_new))


# --------------------------------------------------------------------------- students of the ensemble
def test_best_student_in_pipeline(data, fitted):
    _, X_new, _, _ = data
    pipe = fitted("kdef", "pipe")
    ensemble = pipe[-1]
    encoded = pipe[:-1].transform(X_new)
    student = ensemble.best_student_

    assert isinstance(student, StudentClassifier)
    assert student.encoder_ is None
    check_proba(student.predict_proba(encoded), len(X_new))
    assert n_parameters(student) < n_parameters(ensemble)
    np.testing.assert_array_equal(student.classes_, ensemble.classes_)

    members = ensemble.predict_proba_students(encoded)
    assert members.shape == (len(X_new), 2)
    np.testing.assert_allclose(
        student.predict_proba(encoded)[:, 1], members[:, ensemble.best_student_index_], rtol=0, atol=1e-6
    )
    for k in range(2):
        np.testing.assert_allclose(
            ensemble.get_student(k).predict_proba(encoded)[:, 1], members[:, k], rtol=0, atol=1e-6
        )
    for bad in (2, -1, 10):
        with pytest.raises(IndexError):
            ensemble.get_student(bad)


def test_best_student_on_raw_input(data, fitted):
    _, X_new, _, _ = data
    ensemble = fitted("kdef", "raw")
    student = ensemble.best_student_
    assert student.encoder_ is ensemble.encoder_
    members = ensemble.predict_proba_students(X_new)
    np.testing.assert_allclose(
        student.predict_proba(X_new)[:, 1], members[:, ensemble.best_student_index_], rtol=0, atol=1e-6
    )


def test_student_scores_and_best_index(fitted):
    ensemble = fitted("kdef", "raw")
    scores = ensemble.student_scores_
    assert isinstance(scores, pd.DataFrame)
    assert list(scores.index) == ["ensemble", "student_0", "student_1"]
    assert {"auc", "logloss"} <= set(scores.columns)
    student_auc = scores.loc[["student_0", "student_1"], "auc"].to_numpy()
    assert ensemble.best_student_index_ == int(np.argmax(student_auc))
    assert isinstance(ensemble.best_student_index_, int)

    single = fitted("student", "raw").student_scores_
    assert isinstance(single, pd.DataFrame) and len(single) == 1


# --------------------------------------------------------------------------- parameters
@pytest.mark.parametrize("kind", KINDS)
def test_clone_and_params(kind, data):
    X_train, _, y_train, _ = data
    hidden = (32,)
    est = make(kind, hidden_units=hidden, device="auto", max_epochs=1)
    params = est.get_params()
    assert params["hidden_units"] is hidden
    assert params["device"] == "auto"

    copy = clone(est)
    assert copy.get_params() == params
    with pytest.raises(NotFittedError):
        copy.predict_proba(X_train)

    est.fit(X_train, y_train)
    after = est.get_params()
    assert after["hidden_units"] is hidden
    assert after["device"] == "auto"  # the resolved device is not written back
    assert after == params

    unfitted = clone(est)
    assert not hasattr(unfitted, "net_")
    assert unfitted.get_params() == params

    assert est.set_params(dropout=0.3) is est
    assert est.get_params()["dropout"] == 0.3


@pytest.mark.parametrize("kind", KINDS)
def test_invalid_parameters_raise_at_fit(kind, data):
    X_train, _, y_train, _ = data
    cases = [
        ({"dropout": 1.5}, "dropout"),
        ({"embedding_dim": 0}, "embedding_dim"),
        ({"hidden_units": "400"}, "hidden_units"),
        ({"batch_size": 0}, "batch_size"),
        ({"valid_size": 1.0}, "valid_size"),
        ({"device": "tpu"}, "device"),
    ]
    if kind == "kdef":
        cases += [
            ({"knowledge": "bogus"}, "knowledge"),
            ({"teacher": "x"}, "teacher"),
            ({"n_students": 0}, "n_students"),
            ({"students": ["nope"]}, "students"),
            ({"n_students": 3, "students": ["mlp", "mlp"]}, "n_students"),
        ]
    else:
        cases += [({"student": "nope"}, "student")]
    for params, name in cases:
        est = make(kind, **params)  # construction never validates
        assert est.get_params()[next(iter(params))] == params[next(iter(params))]
        with pytest.raises(ValueError, match=name):
            est.fit(X_train, y_train)


# --------------------------------------------------------------------------- history and early stopping
@pytest.mark.parametrize("kind", KINDS)
def test_history(kind, fitted):
    est = fitted(kind, "raw")
    history = est.history_
    assert 1 <= len(history) <= FAST["max_epochs"]
    for row in history:
        assert {"valid_auc", "valid_logloss", "train_loss"} <= set(row)
        assert 0 <= row["valid_auc"] <= 1 and row["valid_logloss"] > 0
        member_keys = {key for key in row if key.startswith(("valid_auc_", "valid_logloss_"))}
        if kind == "kdef":
            assert member_keys == {
                "valid_auc_student_0", "valid_auc_student_1", "valid_logloss_student_0", "valid_logloss_student_1"
            }
        else:
            assert member_keys == set()


@pytest.mark.parametrize("kind", KINDS)
def test_early_stopping_restores_best_epoch(kind, data):
    X_train, X_valid, y_train, y_valid = data
    # Room to stop: how many epochs the curve keeps rising differs between torch builds.
    patience, max_epochs = 1, 40
    extra = {"prediction": "ensemble"} if kind == "kdef" else {}  # valid_auc is the fusion's
    est = make(kind, lr=1e-3, patience=patience, max_epochs=max_epochs, **extra)
    est.fit(X_train, y_train, eval_set=(X_valid, y_valid))
    auc = np.asarray(est.history_[:, "valid_auc"])
    best = int(np.argmax(auc))
    assert len(auc) < max_epochs, "training should have stopped early"
    assert len(auc) - 1 - best == patience
    # The restored weights are the best epoch's.
    restored = roc_auc_score(y_valid, est.predict_proba(X_valid)[:, 1])
    assert restored == pytest.approx(auc.max(), abs=1e-6)


class LearningRateLog(Callback):
    """The optimizer's learning rate after each epoch's schedule step."""

    def initialize(self):
        self.rates = []
        return self

    def on_epoch_end(self, net, **kwargs):
        self.rates.append(net.optimizer_.param_groups[0]["lr"])


@pytest.mark.parametrize("patience", [2, 3, 4])
def test_learning_rate_is_cut_on_the_miss_before_the_stop(patience):
    # Labels drawn independently of X: validation AUC wanders, so misses in a row come early.
    X, _ = make_ctr(n_samples=3000, random_state=1)
    y = np.random.default_rng(1).integers(0, 2, len(X))
    log = LearningRateLog()
    est = make("student", patience=patience, max_epochs=40, batch_size=256, callbacks=[log])
    est.fit(FieldEncoder().fit_transform(X), y)
    auc = np.asarray(est.history_[:, "valid_auc"])
    best, streak, streaks = -np.inf, 0, []
    for value in auc:
        streak = 0 if value > best + IMPROVEMENT_THRESHOLD else streak + 1
        best = max(best, value)
        streaks.append(streak)
    assert streaks[-1] == patience, "the fit stops on the patience-th miss in a row"
    rate = est.lr
    for epoch, streak in enumerate(streaks[:-1]):
        cut = log.rates[epoch] < rate
        assert cut == (streak == patience - 1), (epoch, streaks, log.rates)
        rate = log.rates[epoch]


@pytest.mark.parametrize("kind", KINDS)
def test_eval_set_is_the_validation_data(kind, data):
    X_train, X_valid, y_train, y_valid = data
    # The fusion's own scores, whatever it is compared with: prediction="ensemble" serves it.
    est = make(kind, **({"prediction": "ensemble"} if kind == "kdef" else {})).fit(X_train, y_train, eval_set=(X_valid, y_valid))
    history = est.history_
    assert history[-1, "valid_batch_count"] == -(-len(X_valid) // FAST["batch_size"])
    auc = np.asarray(history[:, "valid_auc"])
    proba = est.predict_proba(X_valid)[:, 1]
    assert roc_auc_score(y_valid, proba) == pytest.approx(auc.max(), abs=1e-6)

    scores = est.student_scores_
    assert scores["auc"].iloc[0] == pytest.approx(roc_auc_score(y_valid, proba), abs=1e-9)
    assert scores["logloss"].iloc[0] == pytest.approx(log_loss(y_valid, np.clip(proba, 1e-7, 1 - 1e-7)), abs=1e-9)
    if kind == "kdef":
        best = int(np.argmax(auc))
        members = est.predict_proba_students(X_valid)
        for k in range(2):
            member_auc = roc_auc_score(y_valid, members[:, k])
            assert history[best, f"valid_auc_student_{k}"] == pytest.approx(member_auc, abs=1e-6)
            assert scores.loc[f"student_{k}", "auc"] == pytest.approx(member_auc, abs=1e-9)


# --------------------------------------------------------------------------- labels and input checks
LABELS = {
    "int": lambda y: y.to_numpy().astype(int),
    "bool": lambda y: y.to_numpy().astype(bool),
    "str": lambda y: np.where(y.to_numpy() == 1, "click", "skip"),
    "float": lambda y: y.to_numpy().astype(float),
}


@pytest.mark.parametrize("label_kind", LABELS)
@pytest.mark.parametrize("kind", KINDS)
def test_label_types(kind, label_kind, data):
    X_train, X_new, y_train, _ = data
    labels = LABELS[label_kind](y_train)
    est = make(kind, max_epochs=1).fit(X_train, labels)
    np.testing.assert_array_equal(est.classes_, np.unique(labels))
    assert est.classes_.dtype == np.unique(labels).dtype
    predicted = est.predict(X_new)
    assert set(np.unique(predicted)) <= set(est.classes_)
    proba = est.predict_proba(X_new)
    np.testing.assert_array_equal(predicted, est.classes_[(proba[:, 1] > 0.5).astype(int)])


@pytest.mark.parametrize("kind", KINDS)
def test_bad_targets(kind, data):
    X_train, _, y_train, _ = data
    n = len(X_train)
    with pytest.raises(ValueError, match="class"):
        make(kind).fit(X_train, np.zeros(n, dtype=int))
    with pytest.raises(ValueError):
        make(kind).fit(X_train, np.arange(n) % 3)
    with pytest.raises(ValueError):
        make(kind).fit(X_train, np.random.RandomState(0).rand(n))
    with_nan = y_train.to_numpy().astype(float)
    with_nan[5] = np.nan
    with pytest.raises(ValueError):
        make(kind).fit(X_train, with_nan)


@pytest.mark.parametrize("kind", KINDS)
def test_bad_inputs(kind, data):
    X_train, X_valid, y_train, y_valid = data
    with pytest.raises(ValueError):
        make(kind).fit(X_train.iloc[:0], y_train.iloc[:0])
    with pytest.raises(ValueError):
        make(kind).fit(X_train.iloc[:0], y_train)
    with pytest.raises(ValueError):
        make(kind).fit(X_train.iloc[:100], y_train)
    with pytest.raises(ValueError):
        make(kind).fit(X_train, y_train.iloc[:100])
    for eval_set in (X_valid, (X_valid,), (X_valid, y_valid, y_valid), (X_valid, y_valid.iloc[:10])):
        with pytest.raises(ValueError):
            make(kind).fit(X_train, y_train, eval_set=eval_set)
    with pytest.raises(ValueError):
        make(kind).fit(X_train, y_train, eval_set=(X_valid, y_valid + 5))
    with pytest.raises(NotFittedError):
        make(kind).predict_proba(X_valid)


@pytest.mark.parametrize("kind", KINDS)
def test_missing_column_or_no_rows_at_predict(kind, data, fitted):
    _, X_new, _, _ = data
    for model in (fitted(kind, "raw"), fitted(kind, "pipe")):
        with pytest.raises(ValueError, match="f3"):
            model.predict_proba(X_new.drop(columns="f3"))
        with pytest.raises(ValueError):
            model.predict_proba(X_new.iloc[:0])


@pytest.mark.parametrize("kind", KINDS)
def test_unseen_and_missing_values_at_predict(kind, data, fitted):
    _, X_new, _, _ = data
    X_odd = X_new.astype(object)
    X_odd.iloc[0, 0] = "never_seen"
    X_odd.iloc[1, 1] = None
    X_odd.iloc[2, 2] = np.nan
    X_odd.iloc[3, :] = "never_seen"
    for model in (fitted(kind, "raw"), fitted(kind, "pipe")):
        proba = model.predict_proba(X_odd)
        check_proba(proba, len(X_odd))
        np.testing.assert_array_equal(proba[4:], model.predict_proba(X_new)[4:])


# --------------------------------------------------------------------------- prediction methods
@pytest.mark.parametrize("kind", KINDS)
def test_predict_score_decision_function(kind, data, fitted):
    _, X_new, _, y_new = data
    est = fitted(kind, "raw")
    proba = est.predict_proba(X_new)
    logit = est.decision_function(X_new)
    assert logit.shape == (len(X_new),)
    np.testing.assert_allclose(expit(logit), proba[:, 1], rtol=1e-12, atol=1e-12)
    predicted = est.predict(X_new)
    np.testing.assert_array_equal(predicted, est.classes_[(proba[:, 1] > 0.5).astype(int)])
    assert est.score(X_new, y_new) == pytest.approx(accuracy_score(y_new, predicted))


@pytest.mark.parametrize("kind", KINDS)
def test_random_state_determinism(kind, data, fitted):
    X_train, X_new, y_train, _ = data
    first = fitted(kind, "raw").predict_proba(X_new)
    again = make(kind).fit(X_train, y_train).predict_proba(X_new)
    np.testing.assert_array_equal(first, again)
    other = make(kind, random_state=1).fit(X_train, y_train).predict_proba(X_new)
    assert not np.allclose(first, other)


# --------------------------------------------------------------------------- KDEF variants
# Student logits and labels on which every KDEF variant's loss differs from the default one.
_PROBE_LOGITS = torch.tensor([[2.0, -0.5], [-1.5, 0.8], [0.1, 1.7], [0.6, -3.0], [-0.7, 2.4]], dtype=torch.float64)
_PROBE_Y = torch.tensor([1.0, 0.0, 1.0, 0.0, 1.0], dtype=torch.float64)


@pytest.mark.parametrize(
    "params",
    [{"knowledge": "kd"}, {"knowledge": "dml"}, {"knowledge": "none"}, {"examination": False}, {"teacher": "prob_mean"}],
    ids=lambda p: "-".join(f"{k}={v}" for k, v in p.items()),
)
def test_kdef_ablations(params, data):
    from test_loss_golden import kdef_golden

    X_train, X_new, y_train, _ = data
    est = make("kdef", max_epochs=2, calibrate=False, prediction="ensemble", **params).fit(X_train, y_train)
    module = est.net_.module_
    for key, value in params.items():
        assert getattr(module, key) == value
    # The loss the net trains on is the golden loss of this variant, not the default one.
    mode = {"knowledge": "kdef", "examination": True, "teacher": "logit_mean", **params}
    output = (_PROBE_LOGITS.mean(1), _PROBE_LOGITS)
    got = est.net_.get_loss(output, _PROBE_Y).item()
    expected = sum(kdef_golden(_PROBE_LOGITS.numpy(), _PROBE_Y.numpy(), *mode.values())[:3])
    default = sum(kdef_golden(_PROBE_LOGITS.numpy(), _PROBE_Y.numpy(), "kdef", True, "logit_mean")[:3])
    assert got == pytest.approx(expected, rel=1e-6)
    assert abs(expected - default) > 1e-4
    # The prediction is the variant's teacher of the students' predictions. Trained this briefly the two
    # students nearly agree, where both teachers coincide: shift one student's logit apart first.
    probe = copy.deepcopy(est)
    last = [layer for layer in probe.net_.module_.students[0].modules() if isinstance(layer, torch.nn.Linear)][-1]
    with torch.no_grad():
        last.bias += 3.0
    proba, members = probe.predict_proba(X_new)[:, 1], probe.predict_proba_students(X_new)
    prob_mean, logit_mean = members.mean(axis=1), expit(np.log(members / (1 - members)).mean(axis=1))
    assert np.abs(prob_mean - logit_mean).max() > 1e-2
    np.testing.assert_allclose(proba, prob_mean if mode["teacher"] == "prob_mean" else logit_mean, rtol=1e-5, atol=1e-6)
    check_proba(est.predict_proba(X_new), len(X_new))
    check_proba(est.best_student_.predict_proba(X_new), len(X_new))


def _widths(module):
    return [layer.out_features for layer in module.modules() if isinstance(layer, torch.nn.Linear)]


def _dropouts(module):
    return [layer.p for layer in module.modules() if isinstance(layer, torch.nn.Dropout)]


def test_kdef_heterogeneous_students(data):
    X_train, X_new, y_train, _ = data
    students = [("mlp", {"hidden_units": (16,)}), ("mlp", {"hidden_units": (32, 16), "dropout": 0.1})]
    est = make("kdef", students=students, dropout=0.3, max_epochs=2).fit(X_train, y_train)
    assert est.get_params()["students"] is students
    first, second = est.net_.module_.students
    assert _widths(first) == [16, 1] and _dropouts(first) == [0.3]
    assert _widths(second) == [32, 16, 1] and _dropouts(second) == [0.1, 0.1]
    for k, (widths, dropouts) in enumerate([([16, 1], [0.3]), ([32, 16, 1], [0.1, 0.1])]):
        student = est.get_student(k)
        assert _widths(student.net_.module_.student) == widths
        assert _dropouts(student.net_.module_.student) == dropouts
        name, own = student.get_params()["student"]
        assert name == "mlp" and tuple(own["hidden_units"]) == tuple(widths[:-1])
        assert own["dropout"] == dropouts[0]
    check_proba(est.predict_proba(X_new), len(X_new))
    assert est.predict_proba_students(X_new).shape == (len(X_new), 2)


# --------------------------------------------------------------------------- devices
@pytest.mark.parametrize("kind", KINDS)
def test_cpu_device(kind, fitted):
    est = fitted(kind, "raw")
    assert str(est.net_.device) == "cpu"
    assert all(p.device.type == "cpu" for p in est.net_.module_.parameters())


def test_auto_device_resolves_to_what_the_machine_has():
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cuda:1") == "cuda:1"


class _TensorRecorder(pickle.Pickler):
    """A pickler that records every tensor it meets directly, i.e. outside skorch's device-mapped state."""

    def __init__(self, file):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.tensors = []

    def reducer_override(self, obj):
        if isinstance(obj, torch.Tensor):
            self.tensors.append(tuple(obj.shape))
        return NotImplemented


@pytest.mark.parametrize("make_estimator", [
    lambda: make("kdef"),
    lambda: make("student"),
    lambda: FINALClassifier(**FAST, blocks=2, block2_hidden_units=(16,)),
    lambda: TF4CTRClassifier(**FAST, simple_hidden_units=(16,)),
    lambda: CETNetClassifier(**FAST, components=["mlp", "pnn"]),
], ids=["kdef", "student", "final", "tf4ctr", "cetnet"])
def test_pickle_keeps_tensors_only_in_device_mapped_state(make_estimator, data):
    """skorch saves module, optimizer and criterion so that a CUDA model loads without CUDA; a tensor
    anywhere else in the pickle (a callback's copy of the weights, say) would be restored on its
    training device and fail there. Checked on the CPU, so it guards CUDA-to-CPU loading everywhere."""
    X_train, X_valid, y_train, y_valid = data
    est = make_estimator().set_params(patience=1, max_epochs=4).fit(X_train, y_train, eval_set=(X_valid, y_valid))
    recorder = _TensorRecorder(io.BytesIO())
    recorder.dump(est)
    assert recorder.tensors == []


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("kind", KINDS)
def test_cuda_model_predicts_without_cuda(kind, data, tmp_path):
    X_train, X_new, y_train, _ = data
    est = make(kind, device="cuda").fit(X_train, y_train)
    assert all(p.device.type == "cuda" for p in est.net_.module_.parameters())
    expected = est.predict_proba(X_new)
    check_proba(expected, len(X_new))
    path = tmp_path / "cuda_model.joblib"
    joblib.dump(est, path)
    out = run_fresh_python(path, X_new, tmp_path, env={"CUDA_VISIBLE_DEVICES": ""})
    assert not out["cuda"], "the subprocess should not see CUDA"
    np.testing.assert_allclose(out["proba"], expected, rtol=1e-5, atol=1e-6)
    if kind == "kdef":
        np.testing.assert_allclose(out["student"], est.best_student_.predict_proba(X_new), rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- numeric and sequence columns
@pytest.mark.parametrize("kind", KINDS)
def test_numeric_and_sequence_columns(kind, data):
    X_train, X_new, y_train, _ = data
    rng = np.random.RandomState(0)

    def extend(X, unseen=False):
        X = X.copy()
        price = rng.lognormal(size=len(X))
        price[::17] = np.nan
        X["price"] = price
        X["score"] = rng.normal(size=len(X))
        tokens = [f"t{i}" for i in range(30)] + (["never_seen"] * 10 if unseen else [])
        X["tags"] = [list(rng.choice(tokens, size=rng.randint(0, 5))) for _ in range(len(X))]
        return X

    X_fit, X_pred = extend(X_train), extend(X_new, unseen=True)
    est = make(kind).fit(X_fit, y_train)
    kinds = {field.name: field.kind for field in est.field_spec_}
    assert kinds["price"] == kinds["score"] == "numeric"
    assert kinds["tags"] == "sequence"
    assert kinds["f0"] == "categorical"
    check_proba(est.predict_proba(X_pred), len(X_pred))
    if kind == "kdef":
        check_proba(est.best_student_.predict_proba(X_pred), len(X_pred))

    pipe = Pipeline([("fields", FieldEncoder()), ("clf", make(kind))]).fit(X_fit, y_train)
    np.testing.assert_array_equal(pipe.predict_proba(X_pred), est.predict_proba(X_pred))


def test_kdef_with_one_student_is_the_single_model(data):
    """With one student the teacher is the student itself (KD distance 0, no gradient) and there is no peer:
    KDEF trains exactly the StudentClassifier of the same settings and seed."""
    X, X_new, y, _ = data
    settings = dict(hidden_units=(16,), max_epochs=2, batch_size=512, random_state=0, device="cpu")
    model = KDEFClassifier(n_students=1, **settings).fit(X, y)
    assert list(model.student_scores_.index) == ["ensemble", "student_0"]
    single = StudentClassifier(**settings).fit(X, y)
    np.testing.assert_allclose(model.history_[:, "train_loss"], single.history_[:, "train_loss"], rtol=1e-6)
    np.testing.assert_allclose(model.predict_proba(X_new), single.predict_proba(X_new), rtol=0, atol=1e-6)
