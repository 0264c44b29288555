"""The encoder's vocabulary as JSON: a reader of the JSON alone encodes exactly as FieldEncoder.transform."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.exceptions import NotFittedError

from skctr import FieldEncoder
from skctr.preprocessing import VocabularyEncoder

from conftest import load_split  # tests/ is on sys.path (rootdir conftest, prepend import mode)


def round_trip(encoder, X_fit, X_new, tmp_path):
    encoder.fit(X_fit)
    path = encoder.save_vocabulary(tmp_path / "vocabulary.json")
    reader = VocabularyEncoder(path)
    expected = encoder.transform(X_new)
    ids, values = reader.transform(X_new)
    exp_ids, exp_values = encoder.field_spec_.split_columns(expected)
    np.testing.assert_array_equal(ids, exp_ids)
    np.testing.assert_array_equal(values, exp_values)
    np.testing.assert_array_equal(reader.transform_array(X_new), np.asarray(expected))
    return path


def mixed(n, seed, unseen=False):
    rng = np.random.RandomState(seed)
    words = list("abcdefgh") + (["zzz", "yyy"] if unseen else [])
    return pd.DataFrame({
        "city": rng.choice(words, n).astype(object),
        "item": pd.array(np.where(rng.rand(n) < 0.1, None, rng.randint(0, 30 + 10 * unseen, n)), dtype="Int64"),
        "code": rng.randint(0, 5, n),
        "flag": rng.rand(n) < 0.4,
        "cat": pd.Categorical(rng.choice(["x", "y", "w" if unseen else "x"], n)),
        "price": np.where(rng.rand(n) < 0.1, np.nan, rng.lognormal(size=n)),
        "count": np.where(rng.rand(n) < 0.1, np.nan, rng.poisson(20, n) - 3.0),
        "hist": [list(rng.randint(0, 40, rng.randint(0, 7))) if rng.rand() > 0.05 else None for _ in range(n)],
        "tags": ["|".join(rng.choice(words, rng.randint(0, 4))) + ("||" if rng.rand() < 0.05 else "") for _ in range(n)],
        "mixed": [None if i % 11 == 0 else (i % 4 if i % 3 else str(i % 4)) for i in range(n)],
    })


OPTIONS = {
    "default": dict(numeric={"price": "scale", "count": "log_bucket"},
                    sequence={"hist": {"target": "item", "max_len": 4}, "tags": {"delimiter": "|"}}),
    "pruned": dict(numeric={"price": "scale", "count": "log_bucket"}, sequence={"hist": {}, "tags": {"delimiter": "|"}},
                   min_frequency=5, max_categories=6, encoded_missing_value="oov"),
    "float64": dict(numeric=["price"], sequence={"hist": {"target": "item"}, "tags": {"delimiter": "|", "max_len": 2}},
                    dtype=np.float64),
}


@pytest.mark.parametrize("name", list(OPTIONS))
def test_round_trip_on_mixed_columns(name, tmp_path):
    round_trip(FieldEncoder(**OPTIONS[name]), mixed(400, 0), mixed(300, 1, unseen=True), tmp_path)


def test_numbers_keep_their_json_type(tmp_path):
    X = pd.DataFrame({"mixed": [3, "3", 3, 4.5, True], "ints": [1, 2, 3, 4, 5]})
    path = round_trip(FieldEncoder(categorical=["mixed"]), X, X, tmp_path)
    vocabulary = json.loads(path.read_text())["vocabularies"]
    # True is its own value (it equals 1, not 3); every value keeps its JSON type.
    assert {type(v).__name__ for v, _ in vocabulary["mixed"]} == {"int", "str", "float", "bool"}
    assert all(isinstance(v, int) and not isinstance(v, bool) for v, _ in vocabulary["ints"])


def test_handle_unknown_error_is_kept(tmp_path):
    X = pd.DataFrame({"city": ["a", "b", "a"]})
    encoder = FieldEncoder(handle_unknown="error").fit(X)
    reader = VocabularyEncoder(encoder.save_vocabulary(tmp_path / "v.json"))
    with pytest.raises(ValueError, match="not seen in fit"):
        reader.transform(pd.DataFrame({"city": ["c"]}))


def test_file_is_strict_json_and_stable(tmp_path):
    encoder = FieldEncoder(**OPTIONS["default"]).fit(mixed(300, 0))
    first = encoder.save_vocabulary(tmp_path / "a.json").read_bytes()
    json.loads(first, parse_constant=lambda name: pytest.fail(f"non-standard JSON constant {name}"))
    reloaded = VocabularyEncoder(tmp_path / "a.json").document
    assert json.dumps(reloaded, indent=1, allow_nan=False, ensure_ascii=False).encode() + b"\n" == first
    assert encoder.save_vocabulary(tmp_path / "b.json").read_bytes() == first


def test_errors(tmp_path):
    with pytest.raises(NotFittedError):
        FieldEncoder().save_vocabulary(tmp_path / "v.json")
    with pytest.raises(ValueError, match="JSON cannot hold"):
        FieldEncoder(categorical=["x"]).fit(pd.DataFrame({"x": [1.0, np.inf]})).vocabulary_json()
    encoder = FieldEncoder().fit(pd.DataFrame({"a": ["x"], "b": [1]}))
    reader = VocabularyEncoder(encoder.vocabulary_json())
    with pytest.raises(ValueError, match=r"Columns \['b'\]"):
        reader.transform(pd.DataFrame({"a": ["x"]}))
    with pytest.raises(ValueError, match="Not a skctr-field-vocabulary version 1"):
        VocabularyEncoder({"format": "other", "version": 1})


@pytest.mark.realdata
def test_round_trip_on_frappe(tmp_path):
    train, test = load_split("frappe", "train").drop(columns="label"), load_split("frappe", "test").drop(columns="label")
    round_trip(FieldEncoder(), train, test.head(5000), tmp_path)


@pytest.mark.realdata
def test_round_trip_on_movielens(tmp_path):
    train = load_split("movielens100k", "train").drop(columns=["label", "ts"])
    test = load_split("movielens100k", "test").drop(columns=["label", "ts"])
    encoder = FieldEncoder(sequence={"hist_items": {"target": "item_id", "max_len": 20}, "genres": {}})
    round_trip(encoder, train, test.head(3000), tmp_path)


@pytest.mark.realdata
def test_round_trip_on_criteo(tmp_path):
    train, test = load_split("criteo10k", "train").drop(columns="label"), load_split("criteo10k", "test").drop(columns="label")
    counts = [c for c in train if c.startswith("I")]
    round_trip(FieldEncoder(numeric=counts, numeric_encoding="log_bucket"), train, test, tmp_path)


cells = st.one_of(st.none(), st.integers(-3, 6), st.sampled_from(["a", "b", "3", ""]), st.booleans(),
                  st.floats(-5, 50), st.just(float("nan")))


@settings(max_examples=40, deadline=None)
@given(fit_cells=st.lists(cells, min_size=1, max_size=30), new_cells=st.lists(cells, min_size=1, max_size=30))
def test_round_trip_property(fit_cells, new_cells, tmp_path_factory):
    X_fit = pd.DataFrame({"x": pd.Series(fit_cells, dtype=object)})
    X_new = pd.DataFrame({"x": pd.Series(new_cells, dtype=object)})
    round_trip(FieldEncoder(categorical=["x"]), X_fit, X_new, tmp_path_factory.mktemp("prop"))
