"""Sample and class weights: an integer weight k trains exactly as k copies of a row, a zero weight as a dropped row."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.utils.class_weight import compute_sample_weight

from skctr import (
    CETNetClassifier,
    FieldEncoder,
    FINALClassifier,
    KDEFClassifier,
    StudentClassifier,
    TF4CTRClassifier,
    make_ctr,
)
from skctr.estimators._data import FieldTensors
from skctr.metrics import binary_scores

# Dropout and batch normalisation off: batch statistics and masks would differ between weighted and copied rows.
DETERMINISTIC = {"hidden_units": (16, 8), "embedding_dim": 4, "dropout": 0.0, "batch_norm": False, "random_state": 0,
                 "device": "cpu"}
NETWORKS = {
    "student": StudentClassifier(**DETERMINISTIC),
    "student dcnv2": StudentClassifier("dcnv2", **DETERMINISTIC),
    "kdef": KDEFClassifier(n_students=3, **DETERMINISTIC),
    "kdef latest": KDEFClassifier(students="latest", **DETERMINISTIC),
    "kdef prob_mean teacher": KDEFClassifier(n_students=2, teacher="prob_mean", **DETERMINISTIC),
    "kdef without examination": KDEFClassifier(n_students=2, examination=False, **DETERMINISTIC),
    "tf4ctr": TF4CTRClassifier(**DETERMINISTIC),
    "tf4ctr gate": TF4CTRClassifier(ssem="gate", **DETERMINISTIC),
    "cetnet": CETNetClassifier(**DETERMINISTIC),
    "cetnet kl sum": CETNetClassifier(kl_reduction="sum", **DETERMINISTIC),
    "final 2 blocks": FINALClassifier(blocks=2, **DETERMINISTIC),
}


@pytest.fixture(scope="module")
def batch():
    X, y = make_ctr(n_samples=60, n_fields=4, cardinality=(5, 30), n_numeric=1, random_state=3)
    encoder = FieldEncoder().fit(X)
    ids, values = encoder.field_spec_.split_columns(encoder.transform(X))
    return encoder.field_spec_, torch.from_numpy(ids), torch.from_numpy(values), torch.as_tensor(y, dtype=torch.float32)


def gradients(estimator, field_spec, ids, values, y, weight=None):
    """Gradients of the module's loss on one batch, from a network built alike every call."""
    torch.manual_seed(0)
    estimator._resolve_size_rules(len(y))  # what fit does before building the network
    factory, kwargs = estimator._module_config(field_spec, "cpu")
    module = factory(**kwargs)
    module.train()
    loss = module.loss(module(ids, values), y, weight)
    loss.backward()
    return {name: p.grad.clone() for name, p in module.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("case", NETWORKS)
def test_integer_weights_equal_copied_rows(case, batch):
    field_spec, ids, values, y = batch
    weight = torch.as_tensor(np.random.default_rng(1).integers(0, 4, len(y)), dtype=torch.float32)
    copies = torch.repeat_interleave(torch.arange(len(y)), weight.long())
    weighted = gradients(NETWORKS[case], field_spec, ids, values, y, weight)
    copied = gradients(NETWORKS[case], field_spec, ids[copies], values[copies], y[copies])
    assert weighted.keys() == copied.keys() and weighted
    for name in weighted:
        torch.testing.assert_close(weighted[name], copied[name], rtol=1e-4, atol=1e-6, msg=name)


@pytest.mark.parametrize("case", ["student", "kdef", "cetnet", "tf4ctr", "final 2 blocks"])
def test_zero_weights_equal_dropped_rows(case, batch):
    field_spec, ids, values, y = batch
    weight = torch.ones(len(y))
    weight[::3] = 0
    kept = weight > 0
    weighted = gradients(NETWORKS[case], field_spec, ids, values, y, weight)
    dropped = gradients(NETWORKS[case], field_spec, ids[kept], values[kept], y[kept])
    for name in weighted:
        torch.testing.assert_close(weighted[name], dropped[name], rtol=1e-4, atol=1e-6, msg=name)


@pytest.mark.parametrize("case", ["student", "kdef", "final 2 blocks"])
def test_unit_weights_equal_no_weights(case, batch):
    field_spec, ids, values, y = batch
    plain = gradients(NETWORKS[case], field_spec, ids, values, y)
    ones = gradients(NETWORKS[case], field_spec, ids, values, y, torch.ones(len(y)))
    for name in plain:
        torch.testing.assert_close(plain[name], ones[name], rtol=1e-5, atol=1e-7, msg=name)


# --------------------------------------------------------------------------- the estimators end to end
@pytest.fixture(scope="module")
def data():
    X, y = make_ctr(n_samples=400, n_fields=4, cardinality=(5, 30), n_numeric=1, random_state=5)
    X_valid, y_valid = make_ctr(n_samples=200, n_fields=4, cardinality=(5, 30), n_numeric=1, random_state=6)
    weight = np.random.default_rng(2).integers(0, 3, len(y)).astype(float)
    return X, y, X_valid, y_valid, weight


@pytest.mark.parametrize("estimator", [StudentClassifier, KDEFClassifier, TF4CTRClassifier, CETNetClassifier,
                                       FINALClassifier], ids=lambda c: c.__name__)
def test_fit_with_weights_equals_fit_on_copies(estimator, data):
    """One full-batch epoch: the weighted rows and their copies take the same Adam step."""
    X, y, X_valid, y_valid, weight = data
    copies = np.repeat(np.arange(len(y)), weight.astype(int))
    encoder = FieldEncoder().fit(X)  # one encoding, so both networks have the same tables and initial weights
    rows, valid = encoder.transform(X), (encoder.transform(X_valid), y_valid)
    params = {**DETERMINISTIC, "batch_size": 4096, "max_epochs": 1, "calibrate": False}
    weighted = estimator(**params).fit(rows, y, sample_weight=weight, eval_set=valid)
    copied = estimator(**params).fit(rows[copies], y[copies], eval_set=valid)
    np.testing.assert_allclose(weighted.predict_proba(valid[0]), copied.predict_proba(valid[0]), atol=1e-5)


def test_weighted_validation_scores_are_scikit_learns(data):
    X, y, X_valid, y_valid, _ = data
    valid_weight = np.random.default_rng(4).random(len(y_valid)) * 3
    model = StudentClassifier(**{**DETERMINISTIC, "max_epochs": 3}).fit(X, y, eval_set=(X_valid, y_valid, valid_weight))
    probability = model.predict_proba(X_valid)[:, 1]
    assert model.student_scores_.loc["mlp", "auc"] == pytest.approx(roc_auc_score(y_valid, probability, sample_weight=valid_weight))
    clipped = np.clip(probability, 1e-7, 1 - 1e-7)
    assert model.student_scores_.loc["mlp", "logloss"] == pytest.approx(log_loss(y_valid, clipped, sample_weight=valid_weight))


def test_binary_scores_take_weights():
    rng = np.random.default_rng(0)
    y, p, w = rng.integers(0, 2, 100), rng.random(100), rng.random(100)
    auc, logloss = binary_scores(y, p, w)
    assert auc == pytest.approx(roc_auc_score(y, p, sample_weight=w))
    assert logloss == pytest.approx(log_loss(y, np.clip(p, 1e-7, 1 - 1e-7), sample_weight=w))


def test_balanced_class_weight_is_its_sample_weight(data):
    X, y, X_valid, y_valid, _ = data
    params = {**DETERMINISTIC, "max_epochs": 2}
    balanced = StudentClassifier(**params, class_weight="balanced").fit(X, y, eval_set=(X_valid, y_valid))
    explicit = StudentClassifier(**params).fit(X, y, sample_weight=compute_sample_weight("balanced", y),
                                               eval_set=(X_valid, y_valid))
    np.testing.assert_allclose(balanced.predict_proba(X_valid), explicit.predict_proba(X_valid), atol=1e-6)


def test_class_weight_dict_multiplies_sample_weight(data):
    X, y, X_valid, y_valid, weight = data
    params = {**DETERMINISTIC, "max_epochs": 2}
    both = StudentClassifier(**params, class_weight={0: 1.0, 1: 3.0}).fit(X, y, sample_weight=weight,
                                                                            eval_set=(X_valid, y_valid))
    product = StudentClassifier(**params).fit(X, y, sample_weight=weight * np.where(y == 1, 3.0, 1.0),
                                              eval_set=(X_valid, y_valid))
    np.testing.assert_allclose(both.predict_proba(X_valid), product.predict_proba(X_valid), atol=1e-6)


def test_pipeline_routes_sample_weight(data):
    X, y, X_valid, y_valid, weight = data
    params = {**DETERMINISTIC, "max_epochs": 2}
    pipe = make_pipeline(FieldEncoder(), StudentClassifier(**params)).fit(X, y, studentclassifier__sample_weight=weight)
    direct = StudentClassifier(**params).fit(FieldEncoder().fit_transform(X), y, sample_weight=weight)
    np.testing.assert_allclose(pipe.predict_proba(X_valid), direct.predict_proba(FieldEncoder().fit(X).transform(X_valid)),
                               atol=1e-6)


def test_weights_follow_their_rows_into_the_holdout(data):
    X, y, _, _, weight = data
    model = StudentClassifier(**{**DETERMINISTIC, "max_epochs": 1}).fit(X, y, sample_weight=weight)
    assert np.isfinite(model.student_scores_.to_numpy()).all()


@pytest.mark.parametrize("weight, message", [
    (lambda n: -np.ones(n), "sample_weight: Negative values"),
    (lambda n: np.full(n, np.nan), "sample_weight: .*NaN"),
    (lambda n: np.ones(n - 1), r"sample_weight: .*\(399,\)"),
    (lambda n: np.zeros(n), "sample_weight .*zero for every row"),
    (lambda n: np.ones((n, 2)), "sample_weight: .*1D array or scalar"),
], ids=["negative", "nan", "wrong length", "all zero", "2-D"])
def test_bad_weights_name_sample_weight(weight, message, data):
    X, y, *_ = data
    with pytest.raises(ValueError, match=message):
        StudentClassifier(**DETERMINISTIC).fit(X, y, sample_weight=weight(len(y)))


def test_bad_class_weight_is_named(data):
    X, y, *_ = data
    with pytest.raises(ValueError, match="class_weight"):
        StudentClassifier(**DETERMINISTIC, class_weight="sometimes").fit(X, y)


def test_a_weight_column_of_a_parquet_source(tmp_path, data):
    """The weight column is no feature; constant weights train exactly as ones (a weighted mean ignores scale)."""
    X, y, X_valid, y_valid, weight = data
    params = {**DETERMINISTIC, "max_epochs": 2, "batch_size": 64}

    def fit(weights):
        path = tmp_path / f"train{len(list(tmp_path.iterdir()))}.parquet"
        X.assign(label=y, w=weights).to_parquet(path)
        return StudentClassifier(**params).fit(path, y="label", sample_weight="w", eval_set=(X_valid, y_valid))

    ones, twos, rows = fit(np.ones(len(y))), fit(np.full(len(y), 2.0)), fit(weight)
    assert "w" not in ones.field_spec_.names and ones.field_spec_.names == list(X.columns)
    np.testing.assert_allclose(ones.predict_proba(X_valid), twos.predict_proba(X_valid), atol=1e-6)
    assert not np.allclose(ones.predict_proba(X_valid), rows.predict_proba(X_valid), atol=1e-4)


@pytest.mark.parametrize("params, message", [
    ({"sample_weight": "no_such_column"}, r"sample_weight: column\(s\) \['no_such_column'\]"),
    ({"sample_weight": np.ones(400)}, "sample_weight must name its weight column"),
], ids=["absent column", "an array"])
def test_weight_errors_with_a_parquet_source(params, message, tmp_path, data):
    X, y, X_valid, y_valid, _ = data
    X.assign(label=y).to_parquet(tmp_path / "train.parquet")
    class_weight = params.pop("class_weight", None)
    with pytest.raises(ValueError, match=message):
        StudentClassifier(**DETERMINISTIC, class_weight=class_weight).fit(tmp_path / "train.parquet", y="label",
                                                                          eval_set=(X_valid, y_valid), **params)


def test_balanced_class_weight_of_a_parquet_source_counts_the_label_column(tmp_path, data):
    """Streamed "balanced" weights are scikit-learn's, from the whole label column: training equals the dict."""
    X, y, X_valid, y_valid, _ = data
    X.assign(label=y).to_parquet(tmp_path / "train.parquet")
    weights, labels = compute_sample_weight("balanced", y), np.asarray(y)
    balanced = {label: weights[labels == label][0] for label in (0, 1)}
    params = {**DETERMINISTIC, "max_epochs": 2, "batch_size": 64}

    def fit(class_weight):
        return StudentClassifier(**params, class_weight=class_weight).fit(
            tmp_path / "train.parquet", y="label", eval_set=(X_valid, y_valid))

    np.testing.assert_allclose(fit("balanced").predict_proba(X_valid), fit(balanced).predict_proba(X_valid), atol=1e-6)
    assert not np.allclose(fit(None).predict_proba(X_valid), fit(balanced).predict_proba(X_valid), atol=1e-4)


def test_field_tensors_carry_weights_through_selection(batch):
    field_spec, ids, values, y = batch
    tensors = FieldTensors(ids, values, y, torch.arange(len(y), dtype=torch.float32))
    picked = tensors.take(torch.tensor([3, 1]))
    assert picked.w.tolist() == [3.0, 1.0]
    assert FieldTensors(ids, values, y).weight_array() is None
