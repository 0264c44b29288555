"""The bad-input catalogue: every unusual input means what the user meant, or fails or warns naming its culprit.

Each case is one row of a table below: a callable on the shared fixtures and
what must happen (the same result as a reference input, or an error or a
warning whose message names the column, parameter, file or option). The CLI
has its own catalogue (``test_bad_input_cli.py``), and so do parquet folders
(``test_bad_input_parquet.py``); ``test_input_properties.py`` holds the
property-based tests over random frames.
"""
from __future__ import annotations

import os
import pickle
import signal
import threading
import warnings

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
import torch
from scipy import sparse
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError
from skorch.callbacks import EarlyStopping

from skctr import (
    CETNetClassifier,
    FieldEncoder,
    FINALClassifier,
    KDEFClassifier,
    StudentClassifier,
    TF4CTRClassifier,
)
from skctr.estimators._data import FieldTensors
from skctr.fields import OOV_INDEX, FieldArray
from skctr.preprocessing import UnknownValueWarning, VocabularyEncoder

TINY = {"hidden_units": (8,), "embedding_dim": 4, "max_epochs": 2, "batch_size": 64, "random_state": 0, "device": "cpu"}
ESTIMATORS = [StudentClassifier, KDEFClassifier, TF4CTRClassifier, CETNetClassifier, FINALClassifier]


def impressions(n=300, seed=0):
    """Rows with an int id, a str id, a float, a bool and a newest-first history; a click that depends on them."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({
        "user": rng.integers(0, 40, n),
        "item": [f"i{k}" for k in rng.integers(0, 30, n)],
        "price": rng.gamma(2.0, 2.0, n),
        "member": rng.random(n) < 0.4,
    })
    logit = (X["user"] % 3 - 1) + (X["item"].str[1:].astype(int) % 2) + 0.3 * X["price"] - 1.5
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y


@pytest.fixture(scope="module")
def data():
    return impressions(300, 0), impressions(120, 1)[0]


@pytest.fixture(scope="module")
def raw_model(data):
    (X, y), _ = data
    return StudentClassifier(**TINY).fit(X, y)


@pytest.fixture(scope="module")
def ensemble(data):
    (X, y), _ = data
    return KDEFClassifier(n_students=2, **TINY).fit(X, y)


@pytest.fixture(scope="module")
def encoder(data):
    (X, _), _ = data
    return FieldEncoder().fit(X)


@pytest.fixture(scope="module")
def encoded_model(data, encoder):
    (X, y), _ = data
    return StudentClassifier(**TINY).fit(encoder.transform(X), y)


def same(a, b):
    np.testing.assert_allclose(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64), rtol=0, atol=1e-9)


def quiet(function):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return function()


def no_warning(function):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return function()


# --------------------------------------------------------------------------- 1. column identity
def int_labels(X):
    return X.set_axis(range(X.shape[1]), axis=1)


def tuple_labels(X):
    return X.set_axis(pd.MultiIndex.from_tuples([("f", c) for c in X.columns]), axis=1)


IDENTITY = {
    "int labels, reordered": lambda X, Xn: (FieldEncoder().fit(int_labels(X)), int_labels(Xn), int_labels(Xn).iloc[:, ::-1]),
    "MultiIndex labels, reordered": lambda X, Xn: (FieldEncoder().fit(tuple_labels(X)), tuple_labels(Xn), tuple_labels(Xn).iloc[:, [2, 0, 3, 1]]),
    "polars, reordered": lambda X, Xn: (FieldEncoder().fit(pl.from_pandas(X)), Xn, pl.from_pandas(Xn[Xn.columns[::-1]])),
    "pyarrow, reordered": lambda X, Xn: (FieldEncoder().fit(pa.Table.from_pandas(X, preserve_index=False)), Xn,
                                         pa.Table.from_pandas(Xn[Xn.columns[::-1]], preserve_index=False)),
    "pandas fit, polars transform": lambda X, Xn: (FieldEncoder().fit(X), Xn, pl.from_pandas(Xn)),
    "polars fit, pandas transform": lambda X, Xn: (FieldEncoder().fit(pl.from_pandas(X)), pl.from_pandas(Xn), Xn),
    "dict of columns": lambda X, Xn: (FieldEncoder().fit({c: X[c].tolist() for c in X}), Xn, {c: Xn[c].tolist() for c in Xn}),
    "list of records": lambda X, Xn: (FieldEncoder().fit(X), Xn, Xn.to_dict("records")),
    "extra columns ignored": lambda X, Xn: (FieldEncoder().fit(X), Xn, Xn.assign(extra=1)),
}


@pytest.mark.parametrize("case", IDENTITY)
def test_columns_are_matched_by_label(case, data):
    (X, _), X_new = data
    encoder, reference, variant = IDENTITY[case](X, X_new)
    same(encoder.transform(variant), encoder.transform(reference))


def test_polars_and_pyarrow_keep_dtypes_and_names(data):
    (X, _), _ = data
    for frame in (pl.from_pandas(X), pa.Table.from_pandas(X, preserve_index=False)):
        encoder = FieldEncoder().fit(frame)
        assert list(encoder.feature_names_in_) == list(X.columns)
        assert {f.name: f.kind for f in encoder.field_spec_} == {f.name: f.kind for f in FieldEncoder().fit(X).field_spec_}


def test_estimator_takes_polars_and_pyarrow_by_name(data, raw_model):
    (X, y), X_new = data
    expected = raw_model.predict_proba(X_new)
    same(raw_model.predict_proba(pl.from_pandas(X_new[X_new.columns[::-1]])), expected)
    same(raw_model.predict_proba(pa.Table.from_pandas(X_new.iloc[:, [1, 3, 0, 2]], preserve_index=False)), expected)
    fitted = StudentClassifier(**TINY).fit(pl.from_pandas(X), y, groups="user")
    same(fitted.predict_proba(X_new), fitted.predict_proba(pl.from_pandas(X_new)))


def test_estimator_with_int_labels_realigns(data):
    (X, y), X_new = data
    model = StudentClassifier(**TINY).fit(int_labels(X), y)
    same(model.predict_proba(int_labels(X_new).iloc[:, ::-1]), model.predict_proba(int_labels(X_new)))


def test_parameters_name_non_string_labels(data):
    (X, _), X_new = data
    # column 2 (price, float) listed by its integer label becomes categorical
    encoder = FieldEncoder(categorical=[2]).fit(int_labels(X))
    assert encoder.field_spec_[2].kind == "categorical"


IDENTITY_ERRORS = [
    ("int-labelled frame lacks a column", lambda X: FieldEncoder().fit(int_labels(X)).transform(int_labels(X).drop(columns=1)),
     ValueError, r"Columns \[1\] seen in fit are missing"),
    ("polars frame lacks a column", lambda X: FieldEncoder().fit(X).transform(pl.from_pandas(X.drop(columns="price"))),
     ValueError, r"\['price'\] seen in fit are missing"),
    ("polars LazyFrame", lambda X: FieldEncoder().fit(pl.from_pandas(X).lazy()), TypeError, "collect"),
    ("dict of scalars", lambda X: FieldEncoder().fit({"user": 1, "item": "a"}), ValueError, "dict"),
    ("dict of unequal columns", lambda X: FieldEncoder().fit({"user": [1, 2], "item": ["a"]}), ValueError, "user"),
    ("list mixing records and rows", lambda X: FieldEncoder().fit([{"a": 1}, [1]]), TypeError, "dicts"),
    ("mixed label types", lambda X: FieldEncoder().fit(X.set_axis(["a", 1, "b", 2], axis=1)), TypeError, "all strings"),
    ("duplicate labels", lambda X: FieldEncoder().fit(X.set_axis(["a", "a", "b", "c"], axis=1)), ValueError, r"duplicate.*'a'"),
    ("labels with clashing names", lambda X: FieldEncoder().fit(
        X.iloc[:, :2].set_axis(pd.MultiIndex.from_tuples([("a_b", ""), ("a", "b_")]), axis=1)), ValueError, "clashing"),
    ("numpy array of the wrong width", lambda X: FieldEncoder().fit(X.to_numpy()).transform(X.to_numpy()[:, :3]),
     ValueError, "3 features.*expecting 4"),
    ("sparse matrix", lambda X: FieldEncoder().fit(sparse.csr_matrix(np.eye(3))), TypeError, "sparse"),
    ("1-D array", lambda X: FieldEncoder().fit(np.arange(4)), ValueError, "2-D"),
    ("no rows", lambda X: FieldEncoder().fit(X.iloc[:0]), ValueError, "at least one row"),
    ("no columns", lambda X: FieldEncoder().fit(X.iloc[:, :0]), ValueError, "0 feature"),
    ("column list given as a string", lambda X: FieldEncoder(categorical="user").fit(X), ValueError, r"categorical=\['user'\]"),
    ("listed column absent", lambda X: FieldEncoder(numeric=["clicks"]).fit(X), ValueError, r"\['clicks'\].*not in X"),
    ("column listed twice", lambda X: FieldEncoder(categorical=["user"], numeric=["user"]).fit(X), ValueError, "both"),
]


@pytest.mark.parametrize("case, call, error, message", IDENTITY_ERRORS, ids=[c[0] for c in IDENTITY_ERRORS])
def test_identity_errors(case, call, error, message, data):
    (X, _), _ = data
    with pytest.raises(error, match=message):
        quiet(lambda: call(X))


def test_array_after_frame_warns_position(data, encoder):
    (X, _), _ = data
    with pytest.warns(UserWarning, match="valid feature names"):
        encoder.transform(X.to_numpy())


def test_frame_after_array_warns(data):
    (X, _), _ = data
    with pytest.warns(UserWarning, match="fitted without feature names"):
        FieldEncoder().fit(X.to_numpy()).transform(X)


# --------------------------------------------------------------------------- 2. raw versus encoded
RAW_VS_ENCODED = [
    ("raw-fitted model given a FieldArray", lambda X, enc, raw, coded: raw.predict_proba(enc.transform(X)),
     "already encoded"),
    ("raw-fitted model given the pandas output", lambda X, enc, raw, coded: raw.predict_proba(
        FieldEncoder().set_output(transform="pandas").fit(X).transform(X)), "already encoded"),
    ("best student given a FieldArray", None, "already encoded"),
    ("encoded-fitted model given raw rows", lambda X, enc, raw, coded: coded.predict_proba(X), r"raw values.*\['item'\]"),
    ("encoded-fitted model given another encoder's output", lambda X, enc, raw, coded: coded.predict_proba(
        FieldEncoder(max_categories=3).fit(X).transform(X)), "different FieldSpec"),
    ("encoded-fitted model given a narrower array", lambda X, enc, raw, coded: coded.predict_proba(
        np.asarray(enc.transform(X))[:, :2]), "2 features"),
    ("encoded-fitted model given raw ids beyond the tables", lambda X, enc, raw, coded: coded.predict_proba(
        np.asarray(enc.transform(X)) + 1000), "outside their vocabulary"),
]


@pytest.mark.parametrize("case, call, message", RAW_VS_ENCODED, ids=[c[0] for c in RAW_VS_ENCODED])
def test_raw_versus_encoded(case, call, message, data, encoder, raw_model, encoded_model, ensemble):
    _, X_new = data
    if call is None:
        call = lambda X, enc, raw, coded: ensemble.best_student_.predict_proba(ensemble.encoder_.transform(X))  # noqa: E731
    with pytest.raises(ValueError, match=message):
        call(X_new, encoder, raw_model, encoded_model)


def test_stacked_rows_keep_the_spec(data, encoder):
    (X, y), _ = data
    stacked = np.concatenate([encoder.transform(X), encoder.transform(X)])
    assert stacked.field_spec == encoder.field_spec_
    assert np.vstack([encoder.transform(X), np.zeros((1, stacked.shape[1]))]).__class__ is np.ndarray


def test_arithmetic_drops_the_spec(data, encoder):
    (X, _), _ = data
    assert type(encoder.transform(X) + 1) is np.ndarray


def test_field_encoder_inside_a_column_transformer(data):
    (X, y), X_new = data
    columns = ColumnTransformer([("ids", FieldEncoder(), ["user", "item", "member"]), ("scaled", StandardScaler(), ["price"])])
    pipe = make_pipeline(columns, StudentClassifier(**TINY)).fit(X, y)
    kinds = {f.name: f.kind for f in pipe[-1].field_spec_}
    assert kinds == {"user": "categorical", "item": "categorical", "member": "categorical", "x3": "numeric"}
    assert pipe.predict_proba(X_new).shape == (len(X_new), 2)


def test_field_encoder_inside_a_pandas_column_transformer(data):
    (X, y), _ = data
    columns = ColumnTransformer([("ids", FieldEncoder(), ["user", "item"]), ("scaled", StandardScaler(), ["price"])])
    pipe = make_pipeline(columns.set_output(transform="pandas"), StudentClassifier(**TINY)).fit(X, y)
    kinds = {f.name: f.kind for f in pipe[-1].field_spec_}
    assert kinds == {"ids__user": "categorical", "ids__item": "categorical", "scaled__price": "numeric"}


def test_whole_numbers_in_a_float_array_warn(data, encoder):
    (X, y), _ = data
    with pytest.warns(UserWarning, match=r"\['x0', 'x1'\].*whole numbers"):
        quiet_fit = StudentClassifier(**TINY)
        quiet_fit.fit(np.asarray(encoder.transform(X), dtype=np.float64), y)


def test_pandas_output_holds_ids_as_categoricals(data):
    (X, _), _ = data
    frame = FieldEncoder().set_output(transform="pandas").fit(X).transform(X)
    assert isinstance(frame["user"].dtype, pd.CategoricalDtype) and frame["price"].dtype == np.float32


# --------------------------------------------------------------------------- 3. dtype drift at serving
DRIFT = {
    "int ids sent as text": lambda X: X.assign(user=X["user"].astype(str)),
    "bools sent as True/False": lambda X: X.assign(member=X["member"].astype(str)),
    "bools sent as true/false": lambda X: X.assign(member=X["member"].map({True: "true", False: "false"})),
    "text ids sent as ints": None,  # a str vocabulary of digits, sent as ints
    "int ids sent as nullable Int64": lambda X: X.assign(user=X["user"].astype("Int64")),
    "int ids sent as integral floats": lambda X: X.assign(user=X["user"].astype(float)),
    "bools sent as 0/1": lambda X: X.assign(member=X["member"].astype(int)),
    "text sent as pandas categorical": lambda X: X.assign(item=X["item"].astype("category")),
}


@pytest.mark.parametrize("case", DRIFT)
def test_lossless_dtype_drift_encodes_alike(case, data, encoder):
    _, X_new = data
    if DRIFT[case] is None:
        codes = X_new.assign(item=X_new["item"].str[1:])
        enc = FieldEncoder().fit(codes)
        same(no_warning(lambda: enc.transform(codes.assign(item=codes["item"].astype(int)))), enc.transform(codes))
        return
    same(no_warning(lambda: encoder.transform(DRIFT[case](X_new))), encoder.transform(X_new))


def test_model_predicts_alike_after_lossless_drift(data, raw_model):
    _, X_new = data
    drifted = X_new.assign(user=X_new["user"].astype(str), member=X_new["member"].astype(str))
    same(raw_model.predict_proba(drifted), raw_model.predict_proba(X_new))


def test_vocabulary_encoder_converts_alike(data, encoder):
    _, X_new = data
    reader = VocabularyEncoder(encoder.vocabulary_json())
    drifted = X_new.assign(user=X_new["user"].astype(str), member=X_new["member"].astype(str))
    same(reader.transform_array(drifted), encoder.transform(X_new))


def test_non_canonical_text_stays_unknown(encoder):
    row = pd.DataFrame({"user": ["07", " 7", "7.0"], "item": "i1", "price": 1.0, "member": "yes"})
    ids = np.asarray(quiet(lambda: encoder.transform(row)))
    assert (ids[:, 0] == OOV_INDEX).all() and (ids[:, 3] == OOV_INDEX).all()


def test_unknown_share_warns_naming_the_column(data, encoder):
    _, X_new = data
    with pytest.warns(UnknownValueWarning, match=r"Column 'item': 100% .*unknown_share_warning=None"):
        encoder.transform(X_new.assign(item="new-" + X_new["item"]))


def test_unknown_share_warning_none_silences(data, encoder):
    _, X_new = data
    silent = pickle.loads(pickle.dumps(encoder)).set_params(unknown_share_warning=None)
    no_warning(lambda: silent.transform(X_new.assign(item="new-" + X_new["item"])))


def test_small_batches_never_warn(data, encoder):
    _, X_new = data
    no_warning(lambda: encoder.transform(X_new.iloc[:10].assign(item="new")))


def test_rare_values_in_fit_raise_the_bar(data):
    (X, _), _ = data
    encoder = FieldEncoder(min_frequency=1000).fit(X)  # every value rare: fit itself is 100% unknown
    no_warning(lambda: encoder.transform(X))


def test_unknown_share_warning_is_validated(data):
    (X, _), _ = data
    with pytest.raises(InvalidParameterError, match="unknown_share_warning"):
        FieldEncoder(unknown_share_warning=1.5).fit(X)


# --------------------------------------------------------------------------- 4. options that change nothing
UNUSED = [
    ("log_bucket on integer counts", {"numeric_encoding": "log_bucket"}, lambda X: X[["user", "item"]], "numeric_encoding"),
    ("log_bucket overridden by a dict", {"numeric_encoding": "log_bucket", "numeric": {"price": "scale"}},
     lambda X: X, "numeric_encoding"),
    ("max_len without sequences", {"max_len": 5}, lambda X: X, "max_len"),
    ("sequence_order without sequences", {"sequence_order": "oldest_first"}, lambda X: X, "sequence_order"),
    ("min_frequency on floats only", {"min_frequency": 2}, lambda X: X[["price"]], "min_frequency"),
    ("max_categories on floats only", {"max_categories": 2}, lambda X: X[["price"]], "max_categories"),
    ("handle_unknown on floats only", {"handle_unknown": "error"}, lambda X: X[["price"]], "handle_unknown"),
    ("encoded_missing_value on floats only", {"encoded_missing_value": "oov"}, lambda X: X[["price"]], "encoded_missing_value"),
]


@pytest.mark.parametrize("case, params, columns, option", UNUSED, ids=[c[0] for c in UNUSED])
def test_options_that_change_nothing_warn(case, params, columns, option, data):
    (X, _), _ = data
    with pytest.warns(UserWarning, match=f"{option}=.*changes nothing"):
        FieldEncoder(**params).fit(columns(X))


def test_log_bucket_applies_to_listed_counts(data):
    (X, _), _ = data
    encoder = no_warning(lambda: FieldEncoder(numeric=["user"], numeric_encoding="log_bucket").fit(X))
    assert encoder.field_spec_[0].kind == "categorical" and encoder.vocabularies_["user"][0] in range(0, 20)


# --------------------------------------------------------------------------- 5. numbers out of range
RANGE_ERRORS = [
    ("1e308 at fit", lambda: FieldEncoder().fit(pd.DataFrame({"a": [1e308, -1e308, 1.0]})), r"'a'.*too large"),
    ("1e200 at fit", lambda: FieldEncoder().fit(pd.DataFrame({"a": [1e200, 1.0, 2.0]})), r"'a'.*too large"),
    ("inf at fit", lambda: FieldEncoder().fit(pd.DataFrame({"a": [np.inf, 1.0]})), r"'a'.*infinite"),
    ("-inf with log_bucket", lambda: FieldEncoder(numeric_encoding="log_bucket").fit(pd.DataFrame({"a": [-np.inf, 1.0]})),
     r"'a'.*infinite"),
    ("1e39 at float32 transform", lambda: FieldEncoder().fit(pd.DataFrame({"a": [1.0, 2.0, 3.0]})).transform(
        pd.DataFrame({"a": [1.0, 1e39]})), r"'a': row 1 .*float32"),
    ("inf at transform", lambda: FieldEncoder().fit(pd.DataFrame({"a": [1.0, 2.0]})).transform(
        pd.DataFrame({"a": [np.inf]})), r"'a'.*infinite"),
    ("text in a numeric column", lambda: FieldEncoder().fit(pd.DataFrame({"a": [1.0, 2.0]})).transform(
        pd.DataFrame({"a": ["3.5"]})), r"'a'.*non-numeric"),
    ("NaN in an encoded numeric column", lambda: FieldTensors.from_array(
        np.array([[1.0], [np.nan]]), FieldEncoder().fit(pd.DataFrame({"p": [1.0, 2.0]})).field_spec_),
     r"\['p'\].*row 1"),
]


@pytest.mark.parametrize("case, call, message", RANGE_ERRORS, ids=[c[0] for c in RANGE_ERRORS])
def test_numbers_out_of_range(case, call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_model_refuses_a_huge_value_naming_it(data, raw_model):
    _, X_new = data
    with pytest.raises(ValueError, match=r"'price': row 3"):
        raw_model.predict_proba(X_new.assign(price=np.where(np.arange(len(X_new)) == 3, 1e39, X_new["price"])))


def test_float64_output_holds_large_values():
    encoder = FieldEncoder(dtype=np.float64).fit(pd.DataFrame({"a": [1.0, 2.0, 3.0]}))
    assert np.isfinite(encoder.transform(pd.DataFrame({"a": [1e39]}))).all()


def test_tiny_and_huge_log_buckets_stay_finite():
    X = pd.DataFrame({"a": [1e-300, 5e-324, 1e300, 7.0]})
    encoder = FieldEncoder(numeric_encoding="log_bucket").fit(X)
    assert encoder.vocabulary_json()["vocabularies"]["a"]


# --------------------------------------------------------------------------- 6. sequences and their order
def histories():
    return pd.DataFrame({"hist": [["a", "b", "c"], ["c"], [], None]})


def test_oldest_first_keeps_the_newest_items():
    encoder = FieldEncoder(max_len=2, sequence_order="oldest_first").fit(histories())
    index = {v: i + 3 for i, v in enumerate(encoder.vocabularies_["hist"])}
    assert np.asarray(encoder.transform(histories()))[0].tolist() == [index["c"], index["b"]]


def test_newest_first_keeps_the_first_items():
    encoder = FieldEncoder(max_len=2, sequence_order="newest_first").fit(histories())
    index = {v: i + 3 for i, v in enumerate(encoder.vocabularies_["hist"])}
    assert np.asarray(encoder.transform(histories()))[0].tolist() == [index["a"], index["b"]]


def test_unstated_order_warns_naming_the_column():
    with pytest.warns(UserWarning, match=r"'hist' has no stated order.*oldest_first"):
        FieldEncoder().fit(histories())


def test_single_items_need_no_order():
    no_warning(lambda: FieldEncoder().fit(pd.DataFrame({"hist": [["a"], ["b"], []]})))


def test_column_order_option_overrides_the_default():
    encoder = FieldEncoder(max_len=1, sequence_order="newest_first", sequence={"hist": {"order": "oldest_first"}})
    encoder.fit(histories())
    assert encoder.vocabularies_["hist"][np.asarray(encoder.transform(histories()))[0, 0].astype(int) - 3] == "c"


def test_vocabulary_encoder_reads_the_order():
    encoder = FieldEncoder(max_len=2, sequence_order="oldest_first").fit(histories())
    reader = VocabularyEncoder(encoder.vocabulary_json())
    same(reader.transform_array(histories()), encoder.transform(histories()))
    assert [f["order"] for f in encoder.vocabulary_json()["fields"]] == ["oldest_first"]


SEQUENCE_ERRORS = [
    ("unknown order option", lambda: FieldEncoder(sequence={"hist": {"order": "sideways"}}).fit(histories()),
     ValueError, r"sequence\['hist'\]\['order'\]"),
    ("unknown sequence_order", lambda: FieldEncoder(sequence_order="sideways").fit(histories()),
     InvalidParameterError, "sequence_order"),
    ("nested lists", lambda: FieldEncoder().fit(pd.DataFrame({"h": [[["a"], ["b"]], [["c"]]]})), TypeError,
     r"'h'.*nested lists"),
    ("lists mixed with scalars", lambda: FieldEncoder().fit(pd.DataFrame({"h": [["a"], "b"]})), ValueError,
     r"'h' mixes list-like cells"),
    ("2-D array cells", lambda: FieldEncoder(sequence=["h"]).fit(pd.DataFrame({"h": [np.zeros((2, 2)), np.zeros((1, 2))]})),
     ValueError, r"'h'.*1-D"),
    ("a dict as a cell", lambda: FieldEncoder(sequence=["h"]).fit(pd.DataFrame({"h": [{"a": 1}, ["b"]]})),
     ValueError, r"'h' holds a dict"),
]


@pytest.mark.parametrize("case, call, error, message", SEQUENCE_ERRORS, ids=[c[0] for c in SEQUENCE_ERRORS])
def test_sequence_errors(case, call, error, message):
    with pytest.raises(error, match=message):
        quiet(call)


def test_arrow_list_columns_are_sequences():
    table = pa.table({"hist": pa.array([[1, 2], [3], [], None], type=pa.list_(pa.int64())), "c": ["a", "b", "c", "d"]})
    encoder = FieldEncoder(sequence_order="newest_first").fit(table)
    assert encoder.field_spec_[0].kind == "sequence"
    same(encoder.transform(pl.from_arrow(table)), encoder.transform(table.to_pandas()))


# --------------------------------------------------------------------------- 7. interrupts
def test_ctrl_c_during_fit_raises_and_leaves_the_model_unfitted(data):
    X, y = impressions(20_000, 3)
    model = StudentClassifier(hidden_units=(8,), embedding_dim=4, batch_size=32, max_epochs=100, patience=100,
                              random_state=0, device="cpu")
    timer = threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    with pytest.raises(KeyboardInterrupt, match="not fitted"):
        model.fit(X, y)
    timer.cancel()
    assert not hasattr(model, "net_")


def test_a_callback_stopping_early_is_no_interrupt(data):
    (X, y), _ = data
    stop = EarlyStopping(monitor="valid_loss", patience=1, threshold=1.0)
    model = StudentClassifier(**{**TINY, "max_epochs": 20}, callbacks=[stop]).fit(X, y)
    assert len(model.history_) < 20 and hasattr(model, "net_")


# --------------------------------------------------------------------------- 8. parameters of every estimator
COMMON_BAD_PARAMS = [
    ("lr", float("inf")), ("lr", 0), ("embedding_l2", float("inf")), ("embedding_l2", -1.0), ("random_state", -1),
    ("random_state", 2**40), ("hidden_units", ()), ("hidden_units", (8, -1)), ("batch_size", 0), ("dropout", 1.0),
    ("valid_size", 0.0), ("mixed_precision", "fp8"), ("calibrate", "yes"), ("max_epochs", 0), ("embedding_dim", True),
]


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("name, value", COMMON_BAD_PARAMS, ids=[f"{n}={v!r}" for n, v in COMMON_BAD_PARAMS])
def test_bad_parameters_fail_in_fit_naming_them(estimator, name, value, data):
    (X, y), _ = data
    with pytest.raises(ValueError, match=f"'{name}' parameter"):
        estimator(**{**TINY, name: value}).fit(X, y)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present here")
@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda c: c.__name__)
def test_cuda_without_cuda_fails_before_encoding(estimator, data):
    (X, y), _ = data
    with pytest.raises(ValueError, match=r"device='cuda'.*no CUDA"):
        estimator(**{**TINY, "device": "cuda"}).fit(X, y)


SPECIFIC_BAD_PARAMS = [
    (KDEFClassifier, {"n_students": 10**6}, "'n_students' parameter"),
    (KDEFClassifier, {"students": [("mlp", {"hidden_units": -3}), "mlp"]}, r"students: student 'mlp' cannot be built"),
    (KDEFClassifier, {"students": "no_such_net"}, "Unknown student"),
    (StudentClassifier, {"student": ("mlp", {"hidden_units": -3})}, r"student: student 'mlp' cannot be built"),
    (StudentClassifier, {"student": ("mlp", {"bogus": 1})}, r"has no parameter\(s\) \['bogus'\]"),
    (StudentClassifier, {"student": ("dcnv2", {"num_cross_layers": "x"})}, "student 'dcnv2' cannot be built"),
    (CETNetClassifier, {"kl_weight": float("inf")}, "'kl_weight' parameter"),
    (CETNetClassifier, {"components": []}, "components must be"),
    (CETNetClassifier, {"components": ["mlp", 7]}, "components: each student"),
    (TF4CTRClassifier, {"alpha": -1.0}, "'alpha' parameter"),
]


@pytest.mark.parametrize("estimator, params, message", SPECIFIC_BAD_PARAMS,
                         ids=[f"{e.__name__}-{list(p)[0]}" for e, p, _ in SPECIFIC_BAD_PARAMS])
def test_estimator_specific_parameters(estimator, params, message, data):
    (X, y), _ = data
    with pytest.raises(ValueError, match=message):
        estimator(**{**TINY, **params}).fit(X, y)


# --------------------------------------------------------------------------- 9. labels
LABEL_ERRORS = [
    ("three classes", lambda X, y: np.arange(len(y)) % 3, "two classes"),
    ("one class", lambda X, y: np.zeros(len(y)), "1 class"),
    ("a missing label", lambda X, y: np.where(np.arange(len(y)) == 5, np.nan, y), r"missing values .*\[5\]"),
    ("continuous labels", lambda X, y: np.linspace(0, 1, len(y)), "continuous"),
    ("too few labels", lambda X, y: y[:-1], "rows but y has"),
    ("a 2-D label", lambda X, y: np.column_stack([y, y]), "shape"),
]


@pytest.mark.parametrize("case, labels, message", LABEL_ERRORS, ids=[c[0] for c in LABEL_ERRORS])
def test_label_errors(case, labels, message, data):
    (X, y), _ = data
    with pytest.raises(ValueError, match=message):
        quiet(lambda: StudentClassifier(**TINY).fit(X, labels(X, y)))


def test_string_labels_score_the_label_that_sorts_last(data):
    (X, y), X_new = data
    model = StudentClassifier(**TINY).fit(X, np.where(y == 1, "yes", "no"))
    assert model.classes_.tolist() == ["no", "yes"]
    reference = StudentClassifier(**TINY).fit(X, y)
    same(model.predict_proba(X_new), reference.predict_proba(X_new))


def test_eval_set_labels_outside_the_classes(data):
    (X, y), X_new = data
    with pytest.raises(ValueError, match=r"eval_set labels \[7\]"):
        StudentClassifier(**TINY).fit(X, y, eval_set=(X_new, np.full(len(X_new), 7)))


def test_eval_set_in_another_library(data):
    (X, y), X_new = data
    valid_y = (np.arange(len(X_new)) % 2)
    a = StudentClassifier(**TINY).fit(X, y, eval_set=(X_new, valid_y))
    b = StudentClassifier(**TINY).fit(X, y, eval_set=(pl.from_pandas(X_new), valid_y))
    same(a.predict_proba(X_new), b.predict_proba(X_new))


# --------------------------------------------------------------------------- 10. best student, export, joblib
def test_best_student_matches_columns_by_label(data, ensemble):
    _, X_new = data
    student = ensemble.best_student_
    same(student.predict_proba(pl.from_pandas(X_new[X_new.columns[::-1]])), student.predict_proba(X_new))


def test_joblib_round_trip_keeps_label_matching(data, raw_model, tmp_path):
    import joblib

    _, X_new = data
    joblib.dump(raw_model, tmp_path / "model.joblib")
    loaded = joblib.load(tmp_path / "model.joblib")
    same(loaded.predict_proba(X_new.iloc[:, ::-1]), raw_model.predict_proba(X_new))


def test_field_array_pickles_with_its_spec(data, encoder):
    (X, _), _ = data
    assert pickle.loads(pickle.dumps(encoder.transform(X))).field_spec == encoder.field_spec_


def test_save_vocabulary_names_a_missing_folder(encoder, tmp_path):
    with pytest.raises(FileNotFoundError, match="no-such-folder"):
        encoder.save_vocabulary(tmp_path / "no-such-folder" / "vocabulary.json")


VOCABULARY_ERRORS = [
    ("a column absent", lambda reader, X: reader.transform(X.drop(columns="item")), r"\['item'\]"),
    ("text in a numeric column", lambda reader, X: reader.transform(X.assign(price="cheap")), r"'price'.*string"),
    ("infinity in a numeric column", lambda reader, X: reader.transform(X.assign(price=np.inf)), r"'price'.*infinite"),
]


@pytest.mark.parametrize("case, call, message", VOCABULARY_ERRORS, ids=[c[0] for c in VOCABULARY_ERRORS])
def test_vocabulary_encoder_errors(case, call, message, data, encoder):
    _, X_new = data
    with pytest.raises(ValueError, match=message):
        call(VocabularyEncoder(encoder.vocabulary_json()), X_new)


def test_truncated_vocabulary_file_names_it(encoder, tmp_path):
    path = encoder.save_vocabulary(tmp_path / "vocabulary.json")
    path.write_text(path.read_text()[:50])
    with pytest.raises(ValueError, match="vocabulary.json.*not a complete"):
        VocabularyEncoder(path)


def test_export_of_an_unfitted_model_says_so(tmp_path):
    pytest.importorskip("onnx")
    from sklearn.exceptions import NotFittedError

    from skctr.serving import export_onnx

    with pytest.raises(NotFittedError, match="StudentClassifier"):
        export_onnx(StudentClassifier(), tmp_path / "model.onnx")


def test_field_array_survives_row_selection(data, encoder):
    (X, _), _ = data
    assert isinstance(encoder.transform(X)[:5], FieldArray) and encoder.transform(X)[:5].field_spec is not None
