"""Tables larger than memory: FieldEncoder fits from a parquet source by streaming counts, estimators train
from record batches shuffled in a buffer and predict batch by batch."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
import torch
from sklearn.metrics import roc_auc_score

from skctr import FieldEncoder, KDEFClassifier, StudentClassifier, make_ctr
from skctr.estimators._data import FieldTensors
from skctr.estimators._stream import FieldStream, StreamBatchIterator
from skctr.preprocessing._source import read_frame


def mixed_frame(n=20000, seed=0):
    rng = np.random.RandomState(seed)
    return pd.DataFrame({
        "user": rng.randint(0, 2000, n).astype(str),
        "item": pd.array(np.where(rng.rand(n) < 0.05, None, rng.randint(0, 400, n)), dtype="Int64"),
        "flag": pd.array(np.where(rng.rand(n) < 0.1, None, rng.rand(n) < 0.3), dtype="boolean"),
        "price": np.where(rng.rand(n) < 0.1, np.nan, rng.lognormal(size=n)),
        "count": np.where(rng.rand(n) < 0.1, np.nan, rng.poisson(30, n) - 5.0),
        "hist": [list(rng.randint(0, 400, rng.randint(0, 15)).astype(np.int64)) for _ in range(n)],
        "tags": ["^".join(rng.choice(list("abcdefg"), rng.randint(0, 4))) for _ in range(n)],
        "click": rng.randint(0, 2, n),
    })


ENCODER_OPTIONS = [
    dict(numeric={"price": "scale", "count": "log_bucket"}, sequence={"hist": {"target": "item"}, "tags": {"delimiter": "^"}}),
    dict(numeric={"price": "scale", "count": "log_bucket"}, sequence={"hist": {"target": "item", "max_len": 5}, "tags": {"delimiter": "^"}},
         min_frequency=0.001, max_categories=300),
    dict(numeric=["price", "count"], sequence={"hist": {}, "tags": {"delimiter": "^"}}, min_frequency=3, encoded_missing_value="oov"),
]


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    """One frame written as a folder of two parquet files with several row groups each."""
    frame = mixed_frame()
    folder = tmp_path_factory.mktemp("table")
    for part, rows in enumerate((slice(0, 12000), slice(12000, None))):
        pq.write_table(pa.Table.from_pandas(frame.iloc[rows], preserve_index=False), folder / f"part{part}.parquet",
                       row_group_size=3000)
    in_memory = read_frame(ds.dataset(str(folder)).to_table())
    return folder, in_memory


@pytest.mark.parametrize("options", ENCODER_OPTIONS)
def test_streaming_fit_equals_in_memory_fit(options, table):
    folder, in_memory = table
    X = in_memory.drop(columns="click")
    expected = FieldEncoder(**options).fit(X)
    for source in (folder, str(folder), ds.dataset(str(folder)), folder / "part0.parquet"):
        streamed = FieldEncoder(**options).fit(source, y="click")
        reference = expected if source != folder / "part0.parquet" else FieldEncoder(**options).fit(X.iloc[:12000])
        assert streamed.field_spec_ == reference.field_spec_
        assert streamed.vocabularies_ == reference.vocabularies_
        # Numeric scaling is merged batch by batch: equal up to rounding.
        np.testing.assert_allclose(streamed.transform(X), reference.transform(X), rtol=1e-6, atol=1e-6)


def test_numeric_moments_merge_to_the_whole_column(table):
    folder, in_memory = table
    plan = {p.column: p for p in FieldEncoder(numeric=["price"]).fit(folder, y="click")._plans_}["price"]
    price = in_memory["price"].dropna().to_numpy()
    assert plan.mean == pytest.approx(price.mean(), rel=1e-12)
    assert plan.scale == pytest.approx(price.std(), rel=1e-12)


def test_streaming_fit_reads_batches_not_the_table(table, monkeypatch):
    """The counting pass never sees more rows at once than one record batch."""
    import skctr.preprocessing._source as source

    folder, _ = table
    seen = []
    original = source.read_frame
    monkeypatch.setattr(source, "read_frame", lambda batch: seen.append(batch.num_rows) or original(batch))
    FieldEncoder().fit(folder, y="click")
    assert sum(seen) == 20000 and max(seen) <= 3000  # one row group (3000 rows) at a time


def test_source_errors(table, tmp_path):
    folder, _ = table
    with pytest.raises(FileNotFoundError, match="No parquet file or folder"):
        FieldEncoder().fit(tmp_path / "missing.parquet")
    with pytest.raises(ValueError, match="y='label' is not a column"):
        FieldEncoder().fit(folder, y="label")
    with pytest.raises(ValueError, match="y must be None or the name of its label column"):
        FieldEncoder().fit(folder, y=np.zeros(3))
    encoder = FieldEncoder().fit(folder, y="click")
    with pytest.raises(TypeError, match="predict_proba"):
        encoder.transform(folder)
    empty = tmp_path / "empty.parquet"
    pq.write_table(pa.Table.from_pandas(mixed_frame(10).iloc[:0], preserve_index=False), empty)
    with pytest.raises(ValueError, match="at least one row"):
        FieldEncoder().fit(empty, y="click")


# --------------------------------------------------------------------------- the training stream
def test_stream_batches_cover_every_row_once_per_epoch():
    n, batch = 1000, 64
    ids = torch.arange(n).reshape(-1, 1)

    class Chunks(FieldStream):
        def __init__(self):
            self.buffer_rows, self.n_rows = 256, n

        def chunks(self, seed=None):
            for start in range(0, n, 90):
                rows = slice(start, min(start + 90, n))
                yield FieldTensors(ids[rows], torch.zeros(rows.stop - rows.start, 0), torch.zeros(rows.stop - rows.start))

    generator = torch.Generator().manual_seed(0)
    iterator = StreamBatchIterator(Chunks(), batch, shuffle=True, device="cpu", generator=generator)
    epochs = [[X["ids"][:, 0] for X, _ in iterator] for _ in range(2)]
    for batches in epochs:
        assert sorted(torch.cat(batches).tolist()) == list(range(n))
        assert all(len(b) == batch for b in batches[:-1])  # full batches except the last
        assert len(batches) == len(iterator)
    assert not torch.equal(torch.cat(epochs[0]), torch.cat(epochs[1]))  # reshuffled every epoch
    assert not torch.equal(torch.cat(epochs[0]), torch.arange(n))
    # Two data-parallel processes split each batch and together see each row once.
    halves = [
        torch.cat([X["ids"][:, 0] for X, _ in StreamBatchIterator(
            Chunks(), batch, shuffle=True, device="cpu", generator=torch.Generator().manual_seed(1), shard=(rank, 2))])
        for rank in (0, 1)
    ]
    assert sorted(torch.cat(halves).tolist()) == list(range(n))


@pytest.fixture(scope="module")
def ctr_table(tmp_path_factory):
    X, y = make_ctr(n_samples=6000, n_fields=5, cardinality=(3, 30), random_state=0)
    frame = X.assign(click=y)
    folder = tmp_path_factory.mktemp("ctr")
    pq.write_table(pa.Table.from_pandas(frame.iloc[:4800], preserve_index=False), folder / "train.parquet", row_group_size=1000)
    pq.write_table(pa.Table.from_pandas(frame.iloc[4800:5400], preserve_index=False), folder / "valid.parquet")
    return folder, frame


SMALL = dict(hidden_units=(32,), max_epochs=8, batch_size=256, device="cpu", random_state=0)


@pytest.mark.parametrize("make", [lambda: StudentClassifier(**SMALL), lambda: KDEFClassifier(n_students=2, **SMALL)])
def test_estimator_trains_and_predicts_from_parquet(make, ctr_table):
    folder, frame = ctr_table
    X_valid, y_valid = frame.iloc[4800:5400].drop(columns="click"), frame["click"].iloc[4800:5400].to_numpy()
    X_test, y_test = frame.iloc[5400:].drop(columns="click"), frame["click"].iloc[5400:].to_numpy()
    streamed = make().fit(folder / "train.parquet", y="click", eval_set=(folder / "valid.parquet", "click"))
    in_memory = make().fit(frame.iloc[:4800].drop(columns="click"), frame["click"].iloc[:4800], eval_set=(X_valid, y_valid))
    assert list(streamed.feature_names_in_) == list(in_memory.feature_names_in_)
    assert streamed.encoder_.vocabularies_ == in_memory.encoder_.vocabularies_
    # Same data, a different (buffered) shuffle: not the same model, but one that learned as much
    # (both land near 0.70 test AUC here; chance is 0.5).
    assert roc_auc_score(y_test, streamed.predict_proba(X_test)[:, 1]) > 0.65
    assert roc_auc_score(y_test, in_memory.predict_proba(X_test)[:, 1]) > 0.65
    # Predicting from a source streams it and gives what the frame gives.
    path = folder / "valid.parquet"
    np.testing.assert_allclose(streamed.predict_proba(path), streamed.predict_proba(X_valid), rtol=0, atol=1e-12)
    if hasattr(streamed, "best_student_"):
        np.testing.assert_allclose(streamed.best_student_.predict_proba(path), streamed.best_student_.predict_proba(X_valid), atol=1e-12)


def test_estimator_source_errors(ctr_table):
    folder, frame = ctr_table
    with pytest.raises(ValueError, match="y must name its label column"):
        StudentClassifier(**SMALL).fit(folder / "train.parquet", frame["click"])
    with pytest.raises(ValueError, match="needs eval_set"):
        StudentClassifier(**SMALL).fit(folder / "train.parquet", y="click")
    with pytest.raises(ValueError, match=r"column\(s\) \['label'\]"):
        StudentClassifier(**SMALL).fit(folder / "train.parquet", y="label", eval_set=(folder / "valid.parquet", "click"))
