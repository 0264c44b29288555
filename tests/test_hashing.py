"""Hashing in FieldEncoder: hashed columns (no vocabulary) and hashed tails beyond the vocabulary."""
from __future__ import annotations

import pickle
import tracemalloc
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from skctr import FieldEncoder, StudentClassifier, make_ctr
from skctr.fields import MISSING_INDEX
from skctr.nn import FieldEmbedding, grown_state
from skctr.preprocessing import VocabularyEncoder
from skctr.preprocessing._hashing import hash_bucket, hash_key


def test_the_hash_is_murmurhash3_x86_32():
    # Published MurmurHash3_x86_32 vectors (seed 0): "" -> 0, "hello" -> 0x248bfa47.
    assert hash_bucket("", 1000) == 0
    assert hash_bucket("hello", 2**31) == 0x248BFA47 % 2**31
    assert hash_bucket("hello", 1000) == 613153351 % 1000


@pytest.mark.parametrize("values, key", [
    ([3, 3.0, np.int64(3), "3"], "3"),
    ([True, 1, np.bool_(True)], "1"),
    ([3.5, np.float32(3.5)], "3.5"),
    (["café"], "café"),
])
def test_values_equal_as_vocabularies_match_share_a_key(values, key):
    assert {hash_key(v) for v in values} == {key}


def test_a_value_without_a_key_is_an_error_naming_the_column():
    enc = FieldEncoder(hashed=["user"], hash_buckets=8).fit(pd.DataFrame({"user": ["a", "b"]}))
    with pytest.raises(TypeError, match="Column 'user': a bytes value"):
        enc.transform(pd.DataFrame({"user": [b"a"]}))


def test_a_hashed_column_has_no_vocabulary_and_counts_nothing():
    X = pd.DataFrame({"user": ["u1", "u2", "u1", None], "city": ["a", "b", "a", "a"]})
    enc = FieldEncoder(hashed=["user"], hash_buckets={"user": 16}).fit(X)
    assert enc.vocabularies_["user"] == [] and "user" not in enc._counts_
    assert enc.field_spec_[0].vocab_size == 3 + 16 and enc.field_spec_[0].hash_buckets == 16
    out = np.asarray(enc.transform(pd.DataFrame({"user": ["u1", "new", None], "city": ["a"] * 3})))
    assert out[0, 0] == 3 + hash_bucket("u1", 16) and out[1, 0] == 3 + hash_bucket("new", 16)
    assert out[2, 0] == MISSING_INDEX
    assert enc.field_spec_[1].hash_buckets == 0  # a dict names its columns only


def test_unseen_ids_in_a_hashed_column_never_warn():
    enc = FieldEncoder(hashed=["user"], hash_buckets=64).fit(pd.DataFrame({"user": range(100)}))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        enc.transform(pd.DataFrame({"user": range(1000, 1100)}))


def test_a_hashed_tail_keeps_frequent_values_and_hashes_the_rest():
    X = pd.DataFrame({"item": ["a"] * 5 + ["b"] * 3 + ["rare"]})
    enc = FieldEncoder(min_frequency=2, hash_buckets=4).fit(X)
    assert enc.vocabularies_["item"] == ["a", "b"] and enc.field_spec_[0].vocab_size == 3 + 2 + 4
    out = np.asarray(enc.transform(pd.DataFrame({"item": ["a", "b", "rare", "unseen"]})))[:, 0]
    assert out[:2].tolist() == [3, 4]
    assert out[2:].tolist() == [5 + hash_bucket("rare", 4), 5 + hash_bucket("unseen", 4)]


def test_int_ids_sent_as_text_hash_as_the_ints():
    enc = FieldEncoder(hashed=["user"], hash_buckets=32).fit(pd.DataFrame({"user": [1, 2]}))
    as_ints = enc.transform(pd.DataFrame({"user": [12345, 7]}))
    np.testing.assert_array_equal(as_ints, enc.transform(pd.DataFrame({"user": ["12345", "7"]})))


def test_a_sequence_targeting_a_hashed_column_hashes_its_tokens_alike():
    X = pd.DataFrame({"item": ["a", "b"], "history": [["a", "c"], []]})
    enc = FieldEncoder(hashed=["item"], hash_buckets=8, sequence={"history": {"target": "item"}},
                       sequence_order="newest_first").fit(X)
    out = np.asarray(enc.transform(pd.DataFrame({"item": ["c"], "history": [["c"]]})))
    assert out[0, 0] == out[0, 1] == 3 + hash_bucket("c", 8)
    assert "history" not in enc._counts_


@pytest.mark.parametrize("params, message", [
    ({"hashed": ["user"]}, r"Columns \['user'\] are listed in hashed but get no hash_buckets"),
    ({"hashed": ["user"], "categorical": ["user"], "hash_buckets": 4}, "listed in both categorical and hashed"),
    ({"hash_buckets": {"price": 4}}, r"hash_buckets names \['price'\]"),
    ({"hash_buckets": {"user": 0}}, r"hash_buckets\['user'\] must be an int >= 1"),
    ({"hash_buckets": 4, "handle_unknown": "error"}, "handle_unknown='error' contradicts hash_buckets"),
    ({"hashed": ["nope"], "hash_buckets": 4}, r"Columns \['nope'\] given in categorical/numeric/sequence/hashed"),
    ({"hash_buckets": -1}, "hash_buckets"),
])
def test_hashing_options_that_do_not_fit_are_named(params, message):
    with pytest.raises(ValueError, match=message):
        FieldEncoder(**params).fit(pd.DataFrame({"user": ["a", "b"], "price": [1.0, 2.0]}))


def test_the_vocabulary_document_reproduces_hashing(tmp_path):
    X = pd.DataFrame({"user": [1, 2, 3], "item": ["a", "a", "b"], "history": [["a", "z"], [], ["q"]]})
    enc = FieldEncoder(hashed=["user"], hash_buckets={"user": 1000, "item": 7}, min_frequency=2,
                       sequence={"history": {"target": "item"}}, sequence_order="newest_first").fit(X)
    document = enc.vocabulary_json()
    assert [f.get("hash_buckets") for f in document["fields"]] == [1000, 7, 7]
    new = pd.DataFrame({"user": [1, 99, None, 2.0], "item": ["a", "b", "new", None],
                        "history": [["b", "a"], ["x"], [], None]})
    ids, _ = VocabularyEncoder(enc.save_vocabulary(tmp_path / "v.json")).transform(new)
    np.testing.assert_array_equal(ids, enc.field_spec_.split_columns(enc.transform(new))[0])


def test_growth_appends_values_before_the_buckets_and_tables_keep_bucket_rows():
    first = pd.DataFrame({"item": ["a", "a", "b"]})
    enc = FieldEncoder(hash_buckets=4).fit(first)
    old_spec, before = enc.field_spec_, np.asarray(enc.transform(pd.DataFrame({"item": ["a", "b"]})))
    enc.partial_fit(pd.DataFrame({"item": ["c"]}))
    assert enc.vocabularies_["item"] == ["a", "b", "c"]
    np.testing.assert_array_equal(np.asarray(enc.transform(pd.DataFrame({"item": ["a", "b"]}))), before)
    unseen = int(np.asarray(enc.transform(pd.DataFrame({"item": ["zz"]})))[0, 0])
    assert unseen == 3 + 3 + hash_bucket("zz", 4)  # the buckets moved one row down
    trained, grown = FieldEmbedding(old_spec, 2), FieldEmbedding(enc.field_spec_, 2)
    state, _ = grown_state(trained, grown)
    old_bucket, new_bucket = 5 + hash_bucket("zz", 4), unseen
    assert torch.equal(state["weight"][new_bucket], trained.weight.detach()[old_bucket])
    assert torch.equal(state["weight"][:5], trained.weight.detach()[:5])


def test_a_model_reads_hashed_fields_and_warm_starts_with_them():
    X, y = make_ctr(n_samples=2000, cardinality=(5, 300), random_state=0)
    X = X.astype(str)
    encoder = FieldEncoder(hashed=["f0"], hash_buckets=64, min_frequency=3)
    params = {"hidden_units": (16,), "embedding_dim": 4, "max_epochs": 2, "batch_size": 256, "random_state": 0,
              "device": "cpu", "warm_start": True}
    model = StudentClassifier(**params).fit(encoder.fit_transform(X[:1000]), y[:1000])
    model.fit(encoder.partial_fit(X[1000:]).transform(X[1000:]), y[1000:])
    assert model.field_spec_ == encoder.field_spec_
    assert model.predict_proba(encoder.transform(X[:10])).shape == (10, 2)


def _fit_peak(path, **params):
    tracemalloc.start()
    encoder = FieldEncoder(**params).fit(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return encoder, peak


@pytest.mark.slow
def test_a_streamed_fit_of_a_hashed_column_stays_small_whatever_its_distinct_ids(tmp_path):
    """A million distinct ids in ten record batches: counting them costs memory that grows with them,
    hashing them costs a batch."""
    path = tmp_path / "ids.parquet"
    with pq.ParquetWriter(path, pa.schema([("user", pa.int64()), ("city", pa.string())])) as writer:
        for start in range(0, 1_000_000, 100_000):
            ids = np.arange(start, start + 100_000, dtype=np.int64) * 7919
            writer.write_table(pa.table({"user": ids, "city": np.where(ids % 3 == 0, "a", "b")}), row_group_size=100_000)
    hashed, hashed_peak = _fit_peak(path, hashed=["user"], hash_buckets=2**20)
    counted, counted_peak = _fit_peak(path)
    assert counted.field_spec_[0].vocab_size == 1_000_003
    assert hashed_peak < counted_peak / 4
    assert len(pickle.dumps(hashed)) < 20_000 < len(pickle.dumps(counted)) / 100
