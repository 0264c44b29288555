"""The encoder's vocabulary as JSON: a reader of the JSON alone encodes exactly as FieldEncoder.transform."""
from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.exceptions import NotFittedError

from skctr import FieldEncoder
from skctr.preprocessing import VocabularyEncoder
from skctr.preprocessing._vocabulary import dump_document

from conftest import load_split  # tests/ is on sys.path (rootdir conftest, prepend import mode)

DOC = Path(__file__).resolve().parents[1] / "docs" / "vocabulary_format.md"


def round_trip(encoder, X_fit, X_new, tmp_path):
    """Fit, save, read back, and check the reader encodes ``X_new`` exactly as ``encoder.transform``."""
    encoder.fit(X_fit)
    path = encoder.save_vocabulary(tmp_path / "vocabulary.json")
    reader = VocabularyEncoder(path)
    expected = encoder.transform(X_new)
    ids, values = reader.transform(X_new)
    exp_ids, exp_values = encoder.field_spec_.split_columns(expected)
    assert ids.dtype == np.int64 and values.dtype == np.float32
    np.testing.assert_array_equal(ids, exp_ids)
    np.testing.assert_array_equal(values, exp_values)
    array = reader.transform_array(X_new)
    assert array.dtype == expected.dtype
    np.testing.assert_array_equal(array, np.asarray(expected))
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
        "count": np.where(rng.rand(n) < 0.1, np.nan, rng.poisson(20, n) * rng.choice([-1, 1, 1, 50], n) - 3.0),
        "hist": [list(rng.randint(0, 40, rng.randint(0, 7))) if rng.rand() > 0.05 else None for _ in range(n)],
        "tags": ["|".join(rng.choice(words, rng.randint(0, 4))) + ("||" if rng.rand() < 0.05 else "")
                 for _ in range(n)],
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


def doc_blocks():
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)]


def test_documented_example_is_what_the_encoder_writes():
    vocabulary, vectors = doc_blocks()
    X = pd.DataFrame({
        "user": ["u1", "u2", "u1", None],
        "item": ["i7", "i8", "i7", "i9"],
        "price": [10.0, 12.0, None, 14.0],
        "clicks": [0.0, 3.0, 25.0, -1.0],
        "hist": ["i7^i8", "i8", "", None],
    })
    encoder = FieldEncoder(numeric={"price": "scale", "clicks": "log_bucket"},
                           sequence={"hist": {"target": "item", "max_len": 3}}).fit(X)
    assert encoder.vocabulary_json() == vocabulary
    ids, values = VocabularyEncoder(vocabulary).transform(vectors["rows"])
    np.testing.assert_array_equal(ids, vectors["ids"])
    np.testing.assert_array_equal(values, np.asarray(vectors["values"], dtype=np.float32))
    expected = encoder.field_spec_.split_columns(encoder.transform(pd.DataFrame(vectors["rows"])))
    np.testing.assert_array_equal(ids, expected[0])
    np.testing.assert_array_equal(values, expected[1])


@pytest.mark.parametrize("encoded_missing_value", ["own", "oov"])
def test_missing_values(encoded_missing_value, tmp_path):
    def frame(cells):
        return pd.DataFrame({
            "object": pd.Series(cells, dtype=object),
            "string": pd.array(cells, dtype="string"),
            "category": pd.Categorical(cells),
            "int": pd.array([None if v is None else len(v) for v in cells], dtype="Int64"),
            "bool": pd.array([None if v is None else v == "a" for v in cells], dtype="boolean"),
            "float": [np.nan if v is None else float(len(v)) for v in cells],
        })
    X_fit = frame(["a", "bb", None, "a", "ccc"])
    X_new = frame(["a", None, "zzzz", "bb", None]).astype({"object": object})
    X_new.loc[1, "object"], X_new.loc[4, "object"] = np.nan, pd.NA
    encoder = FieldEncoder(categorical=["float"], encoded_missing_value=encoded_missing_value)
    round_trip(encoder, X_fit, X_new, tmp_path)


def test_numbers_keep_their_json_type(tmp_path):
    X = pd.DataFrame({"mixed": [3, "3", 3, 4.5, True], "ints": [1, 2, 3, 4, 5]})
    path = round_trip(FieldEncoder(categorical=["mixed"]), X, X, tmp_path)
    vocabulary = json.loads(path.read_text())["vocabularies"]
    # True is its own value (it equals 1, not 3); every value keeps its JSON type.
    assert {type(v).__name__ for v, _ in vocabulary["mixed"]} == {"int", "str", "float", "bool"}
    assert all(isinstance(v, int) and not isinstance(v, bool) for v, _ in vocabulary["ints"])
    # 3.0 finds the int 3, 1 finds True, the string "4.5" finds nothing.
    X_new = pd.DataFrame({"mixed": [3.0, 1, "4.5", np.int64(3)], "ints": [1.0, True, 2, 6]})
    round_trip(FieldEncoder(categorical=["mixed"]), X, X_new, tmp_path)


def test_log_bucket_edges(tmp_path):
    # 5011513.987589377: ln(x) * ln(x) lies just below 238, where pow(ln(x), 2) rounds up to exactly 238.
    edges = [-1e300, -2.5, -1.0, -0.5, 0.0, 0.7, 1.0, 2.0, 2.0000001, 2.5, 3.0, 5011513.987589377, 1e300]
    grid = np.exp(np.sqrt(np.arange(1.0, 400.0)))
    around = [np.nextafter(grid, 0), np.nextafter(grid, np.inf)]
    X_fit = pd.DataFrame({"x": np.concatenate([edges, grid, *around, [np.nan]])})
    X_new = pd.DataFrame({"x": np.concatenate([edges, [np.nan, 1e6, -7.0], grid[::7]])})
    round_trip(FieldEncoder(numeric_encoding="log_bucket"), X_fit, X_new, tmp_path)


@pytest.mark.parametrize("pruning", [dict(min_frequency=2), dict(max_categories=1)])
def test_handle_unknown_error_keeps_seen_values(pruning, tmp_path):
    """Values seen in fit but pruned encode to 1; only values never seen are an error, in both encoders."""
    X = pd.DataFrame({"city": ["a", "a", "b"], "clicks": [1.0, 1.0, 50.0], "hist": [["a"], ["a", "c"], []],
                      "tags": ["x^x", "x", "y"]})
    encoder = FieldEncoder(handle_unknown="error", numeric_encoding="log_bucket",
                           sequence={"hist": {"target": "city"}, "tags": {}}, **pruning)
    seen = pd.DataFrame({"city": ["b", "a"], "clicks": [50.0, 1.0], "hist": [["c", "b"], None], "tags": ["y^x", ""]})
    path = round_trip(encoder, X, seen, tmp_path)
    assert ["b", 1] in json.loads(path.read_text())["vocabularies"]["city"]  # seen, pruned: index 1
    reader = VocabularyEncoder(path)
    for column, unseen in [("city", "z"), ("clicks", 1000.0), ("hist", ["z"]), ("tags", "x^z")]:
        bad = seen.copy()
        bad.at[0, column] = unseen
        with pytest.raises(ValueError, match=f"column '{column}' that were not seen in fit"):
            encoder.transform(bad)
        with pytest.raises(ValueError, match=f"column '{column}' that were not seen in fit"):
            reader.transform(bad)


@pytest.mark.parametrize("cell, message", [("1.5", "holds the string"), (np.inf, "holds an infinite")])
@pytest.mark.parametrize("encoding", ["scale", "log_bucket"])
def test_numeric_cells_are_checked(cell, message, encoding):
    encoder = FieldEncoder(numeric_encoding=encoding).fit(pd.DataFrame({"x": [1.0, 5.0]}))
    X = pd.DataFrame({"x": pd.Series([2.0, cell], dtype=object)})
    with pytest.raises(ValueError, match="'x'"):
        encoder.transform(X)
    with pytest.raises(ValueError, match=f"Numeric column 'x' {message}"):
        VocabularyEncoder(encoder.vocabulary_json()).transform(X)


def test_file_is_strict_json_and_stable(tmp_path):
    X = mixed(300, 0)
    X.loc[:5, "city"] = ["é", "日本", "a\"b", "\\", "\n", "\U0001f600"]
    encoder = FieldEncoder(**OPTIONS["default"]).fit(X)
    first = encoder.save_vocabulary(tmp_path / "a.json").read_bytes()
    document = json.loads(first.decode("utf-8"), parse_constant=lambda name: pytest.fail(f"non-standard JSON {name}"))
    assert document == encoder.vocabulary_json()  # floats (mean, std, float values) read back exactly
    # save -> load -> save: the floats, value types and key order survive, byte for byte.
    assert dump_document(VocabularyEncoder(tmp_path / "a.json").document, tmp_path / "b.json").read_bytes() == first
    assert encoder.save_vocabulary(tmp_path / "c.json").read_bytes() == first


def test_errors(tmp_path):
    with pytest.raises(NotFittedError):
        FieldEncoder().save_vocabulary(tmp_path / "v.json")
    with pytest.raises(NotFittedError):
        FieldEncoder().vocabulary_json()
    with pytest.raises(ValueError, match="JSON cannot hold"):
        FieldEncoder(categorical=["x"]).fit(pd.DataFrame({"x": [1.0, np.inf]})).vocabulary_json()
    with pytest.raises(ValueError, match="Column 'when' has a Timestamp value"):
        FieldEncoder(categorical=["when"]).fit(pd.DataFrame({"when": pd.to_datetime(["2024-01-01"])})).vocabulary_json()
    document = FieldEncoder(sequence=["s"]).fit(pd.DataFrame({"a": ["x"], "b": [1], "s": [["t"]]})).vocabulary_json()
    reader = VocabularyEncoder(document)
    with pytest.raises(ValueError, match=r"Columns \['b'\] of the vocabulary are not in the input"):
        reader.transform(pd.DataFrame({"a": ["x"], "s": [None]}))
    with pytest.raises(ValueError, match="Sequence column 's' holds a int value"):
        reader.transform({"a": ["x"], "b": [1], "s": [5]})
    with pytest.raises(ValueError, match="Not a skctr-field-vocabulary document"):
        VocabularyEncoder({"format": "other", "version": 1})
    with pytest.raises(ValueError, match="Unsupported skctr-field-vocabulary version 2: this skctr reads version 1"):
        VocabularyEncoder({**document, "version": 2})


@pytest.mark.realdata
def test_round_trip_on_frappe(tmp_path):
    train, test = (load_split("frappe", split).drop(columns="label") for split in ("train", "test"))
    round_trip(FieldEncoder(), train, test, tmp_path)


@pytest.mark.realdata
def test_round_trip_on_movielens(tmp_path):
    train = load_split("movielens100k", "train").drop(columns=["label", "ts"])
    test = load_split("movielens100k", "test").drop(columns=["label", "ts"])
    encoder = FieldEncoder(sequence={"hist_items": {"target": "item_id", "max_len": 20}, "genres": {}})
    round_trip(encoder, train, test, tmp_path)


@pytest.mark.realdata
def test_round_trip_on_criteo(tmp_path):
    train, test = (load_split("criteo10k", split).drop(columns="label") for split in ("train", "test"))
    counts = [c for c in train if c.startswith("I")]
    round_trip(FieldEncoder(numeric=counts, numeric_encoding="log_bucket"), train, test, tmp_path)


scalars = st.one_of(st.none(), st.integers(-3, 6), st.sampled_from(["a", "b", "3", ""]), st.booleans(),
                    st.floats(-5, 50), st.just(float("nan")))
tokens = st.one_of(st.none(), st.integers(0, 4), st.sampled_from(["a", "b", "3"]))
sequences = st.one_of(st.none(), st.lists(tokens, max_size=4),
                      st.lists(st.sampled_from(["a", "b", "3", ""]), max_size=4).map("^".join))
numbers = st.one_of(st.floats(-1e6, 1e6), st.just(float("nan")))


@st.composite
def frames(draw, n):
    rows = draw(st.integers(1, n))
    return pd.DataFrame({
        "x": pd.Series(draw(st.lists(scalars, min_size=rows, max_size=rows)), dtype=object),
        "y": np.array(draw(st.lists(numbers, min_size=rows, max_size=rows)), dtype=np.float64),
        "s": pd.Series(draw(st.lists(sequences, min_size=rows, max_size=rows)), dtype=object),
    })


@settings(max_examples=60, deadline=None)
@given(X_fit=frames(25), X_new=frames(25), encoding=st.sampled_from(["scale", "log_bucket"]),
       target=st.sampled_from([None, "x"]), max_len=st.sampled_from([None, 1, 3]),
       order=st.sampled_from([None, "newest_first", "oldest_first"]),
       options=st.fixed_dictionaries({
           "min_frequency": st.sampled_from([None, 2, 0.2]), "max_categories": st.sampled_from([None, 1, 3]),
           "encoded_missing_value": st.sampled_from(["own", "oov"]),
           "handle_unknown": st.sampled_from(["oov", "error"]),
           "dtype": st.sampled_from([np.float32, np.float64])}))
def test_round_trip_property(X_fit, X_new, encoding, target, max_len, order, options, tmp_path_factory):
    encoder = FieldEncoder(categorical=["x"], numeric={"y": encoding},
                           sequence={"s": {"target": target, "max_len": max_len, "order": order}}, **options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # disjoint token and target types warn; that is part of what is drawn
        encoder.fit(X_fit)
    reader = VocabularyEncoder(encoder.save_vocabulary(tmp_path_factory.mktemp("prop") / "vocabulary.json"))
    try:
        expected = encoder.field_spec_.split_columns(encoder.transform(X_new))
    except ValueError as error:  # handle_unknown="error" and an unseen value: the reader must refuse it too
        assert "not seen in fit" in str(error)
        with pytest.raises(ValueError, match="not seen in fit"):
            reader.transform(X_new)
        return
    ids, values = reader.transform(X_new)
    np.testing.assert_array_equal(ids, expected[0])
    np.testing.assert_array_equal(values, expected[1])
    np.testing.assert_array_equal(reader.transform_array(X_new), np.asarray(encoder.transform(X_new)))
