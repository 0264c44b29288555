"""Nothing silent: parquet folders whose files disagree, unreadable sources and truncated vocabulary files
are one-line errors naming the column and the files; safely unifiable types are read alike, streamed or not."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from skctr import FieldEncoder, StudentClassifier
from skctr.preprocessing import VocabularyEncoder
from skctr.preprocessing._schema import common_type
from skctr.preprocessing._source import open_table_source, read_frame

N = 150


def columns(seed=0, **changes):
    """The columns of one file: a string user, an int item, a float price and a 0/1 label.

    ``changes`` replaces columns (None drops one)."""
    rng = np.random.RandomState(seed)
    data = {
        "user": pa.array(rng.choice(list("abcdefgh"), N)),
        "item": pa.array(rng.randint(0, 20, N)),
        "price": pa.array(rng.lognormal(size=N)),
        "label": pa.array(np.arange(N) % 2),
    }
    data.update(changes)
    return pa.table({name: array for name, array in data.items() if array is not None})


def write_folder(folder, *tables):
    folder.mkdir()
    for part, table in enumerate(tables):
        pq.write_table(table, folder / f"part{part}.parquet")
    return folder


def numbers_as(type_, seed=1):
    return pa.array(np.random.RandomState(seed).randint(0, 20, N)).cast(type_)


# name: (files, message pattern); each message names the column and a file (lacking it, or of each type).
BAD = {
    "missing_from_first": (
        lambda: (columns(item=None), columns(1)),
        r"Column 'item' is in 1 of the 2 parquet files but not in '[^']*part0\.parquet'",
    ),
    "missing_from_later": (
        lambda: (columns(), columns(1, item=None)),
        r"Column 'item' is in 1 of the 2 parquet files but not in '[^']*part1\.parquet'",
    ),
    "id_int_and_str": (
        lambda: (columns(), columns(1, item=numbers_as(pa.string()))),
        r"Column 'item' is int64 in '[^']*part0\.parquet' but string in '[^']*part1\.parquet'",
    ),
    "label_int_and_str": (
        lambda: (columns(), columns(1, label=pa.array((np.arange(N) % 2).astype(str)))),
        r"Column 'label' is int64 in '[^']*part0\.parquet' but string in '[^']*part1\.parquet'",
    ),
    "int_and_float": (
        lambda: (columns(price=numbers_as(pa.int64())), columns(1)),
        r"Column 'price' is int64 in '[^']*part0\.parquet' but double in '[^']*part1\.parquet': an integer "
        r"column is encoded as categorical and a float one as numeric",
    ),
    "bool_and_str": (
        lambda: (columns(flag=pa.array(np.arange(N) % 3 == 0)), columns(1, flag=pa.array(["yes", "no"] * (N // 2)))),
        r"Column 'flag' is bool in '[^']*part0\.parquet' but string in '[^']*part1\.parquet'",
    ),
}


@pytest.fixture(params=list(BAD))
def bad(request, tmp_path):
    """A folder whose two files disagree, and the message that must name the column and file."""
    files, message = BAD[request.param]
    return request.param, write_folder(tmp_path / request.param, *files()), message


def frame_and_labels(seed=2):
    frame = columns(seed).to_pandas()
    return frame.drop(columns="label"), frame["label"].to_numpy()


def student():
    return StudentClassifier(max_epochs=1, batch_size=64, hidden_units=(8,), device="cpu", random_state=0)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A model trained from a good folder (streamed), to predict from bad ones."""
    folder = write_folder(tmp_path_factory.mktemp("good") / "train", columns(), columns(1))
    return student().fit(folder, y="label", eval_set=frame_and_labels())


def raises_one_line(message, call):
    with pytest.raises(ValueError, match=message) as caught:
        call()
    assert "\n" not in str(caught.value)


# --------------------------------------------------------------------------- folders whose files disagree
def test_field_encoder_fit_refuses(bad):
    _, folder, message = bad
    raises_one_line(message, lambda: FieldEncoder().fit(folder, y="label"))


def test_streamed_training_refuses(bad):
    _, folder, message = bad
    raises_one_line(message, lambda: student().fit(folder, y="label", eval_set=frame_and_labels()))


def test_predict_proba_refuses(bad, fitted):
    _, folder, message = bad
    raises_one_line(message, lambda: fitted.predict_proba(folder))


def test_a_users_dataset_is_checked_alike(bad):
    """A Dataset with the schema pyarrow inferred (the first file's) is checked as its folder is."""
    _, folder, message = bad
    raises_one_line(message, lambda: FieldEncoder().fit(ds.dataset(str(folder)), y="label"))


def kinds(encoder):
    return {field.name: field.kind for field in encoder.field_spec_}


# What pandas makes of the same folders in memory (pyarrow takes the first file's schema): a column silently
# lost or turned numeric, strings silently cast, or an error that names neither the column nor the file.
PANDAS = {
    "missing_from_first": lambda X: "item" not in X.columns,
    "missing_from_later": lambda X: kinds(FieldEncoder().fit(X.drop(columns="label")))["item"] == "numeric",
    "id_int_and_str": lambda X: X["item"].dtype == np.int64,
    "label_int_and_str": lambda X: X["label"].dtype == np.int64,
}


def test_in_memory_read_of_the_same_folders(bad):
    name, folder, _ = bad
    if name not in PANDAS:
        with pytest.raises(pa.ArrowInvalid):
            pd.read_parquet(folder)
        return
    X = pd.read_parquet(folder)
    FieldEncoder().fit(X.drop(columns="label"))
    assert PANDAS[name](X)


def test_many_files_lacking_a_column_are_counted(tmp_path):
    folder = write_folder(tmp_path / "t", columns(), *(columns(seed, item=None) for seed in range(1, 6)))
    raises_one_line(r"Column 'item' is in 1 of the 6 parquet files but not in '[^']*part1\.parquet', "
                    r"'[^']*part2\.parquet', '[^']*part3\.parquet' and 2 more: write it into every file",
                    lambda: FieldEncoder().fit(folder, y="label"))


def test_a_declared_schema_is_trusted(tmp_path):
    """A schema the user gives reads a column a file lacks as null, and casts every file to its types."""
    folder = write_folder(tmp_path / "t", columns(item=None), columns(1, item=numbers_as(pa.string())))
    schema = pa.schema([("user", pa.string()), ("item", pa.string()), ("price", pa.float64()), ("label", pa.int64())])
    encoder = FieldEncoder().fit(ds.dataset(str(folder), schema=schema), y="label")
    in_memory = read_frame(ds.dataset(str(folder), schema=schema).to_table()).drop(columns="label")
    assert encoder.vocabularies_ == FieldEncoder().fit(in_memory).vocabularies_
    assert all(isinstance(value, str) for value in encoder.vocabularies_["item"])


def test_partition_fields_are_kept(tmp_path):
    pq.write_to_dataset(columns(), tmp_path / "t", partition_cols=["label"])
    dataset = open_table_source(ds.dataset(str(tmp_path / "t"), partitioning="hive"))
    assert dataset.schema.names == ["user", "item", "price", "label"]
    assert dataset.to_table().num_rows == N


# --------------------------------------------------------------------------- unifiable types
def test_unifiable_types_give_the_in_memory_fit(tmp_path):
    """int32/int64, float32/float64, string/large_string, a null column and list<int32>/list<int64> are read
    with one type: streamed, the fit and its output are those of the whole table read into memory."""
    rng = np.random.RandomState(3)
    first = columns(hist=pa.array([list(rng.randint(0, 20, rng.randint(0, 4))) for _ in range(N)], pa.list_(pa.int32())),
                    note=pa.array([None] * N, pa.null()))
    second = columns(1, item=numbers_as(pa.int32()), price=pa.array(rng.lognormal(size=N), pa.float32()),
                     user=pa.array(rng.choice(list("abcdefgh"), N), pa.large_string()),
                     hist=pa.array([list(rng.randint(0, 20, rng.randint(0, 4))) for _ in range(N)], pa.list_(pa.int64())),
                     note=pa.array(rng.choice(["x", "y", None], N)))
    folder = write_folder(tmp_path / "t", first, second)
    dataset = open_table_source(folder)
    assert dataset.schema.field("item").type == pa.int64() and dataset.schema.field("price").type == pa.float64()
    in_memory = read_frame(dataset.to_table()).drop(columns="label")
    streamed = FieldEncoder(sequence=["hist"]).fit(folder, y="label")
    whole = FieldEncoder(sequence=["hist"]).fit(in_memory)
    assert streamed.vocabularies_ == whole.vocabularies_
    assert isinstance(streamed.vocabularies_["item"][0], int) and isinstance(streamed.vocabularies_["note"][0], str)
    np.testing.assert_array_equal(streamed.transform(in_memory), whole.transform(in_memory))


@pytest.mark.parametrize("a, b, common", [
    (pa.int32(), pa.int64(), pa.int64()),
    (pa.uint16(), pa.int16(), pa.int32()),
    (pa.uint64(), pa.int8(), None),
    (pa.uint8(), pa.uint32(), pa.uint32()),
    (pa.float32(), pa.float64(), pa.float64()),
    (pa.string(), pa.large_string(), pa.large_string()),
    (pa.null(), pa.bool_(), pa.bool_()),
    (pa.list_(pa.int32()), pa.large_list(pa.int64()), pa.large_list(pa.int64())),
    (pa.list_(pa.int64()), pa.list_(pa.string()), None),
    (pa.int64(), pa.float64(), None),
    (pa.bool_(), pa.int8(), None),
    (pa.timestamp("ms"), pa.timestamp("ns"), None),
])
def test_common_type(a, b, common):
    assert common_type(a, b) == common and common_type(b, a) == common


# --------------------------------------------------------------------------- unreadable sources
def empty_folder(tmp_path):
    (tmp_path / "t").mkdir()
    return tmp_path / "t", r"No parquet files in the folder '[^']*t'"


def with_a_text_file(tmp_path):
    folder = write_folder(tmp_path / "t", columns())
    (folder / "notes.txt").write_text("not parquet\n")
    return folder, r"Cannot read '[^']*notes\.txt' as parquet \(.*\); remove files"


def corrupt_file(tmp_path):
    folder = write_folder(tmp_path / "t", columns(), columns(1))
    (folder / "part1.parquet").write_bytes((folder / "part1.parquet").read_bytes()[:-100])
    return folder, r"Cannot read '[^']*part1\.parquet' as parquet"


@pytest.mark.parametrize("make", [empty_folder, with_a_text_file, corrupt_file])
def test_unreadable_sources(make, tmp_path, fitted):
    folder, message = make(tmp_path)
    raises_one_line(message, lambda: FieldEncoder().fit(folder))
    raises_one_line(message, lambda: fitted.predict_proba(folder))


def test_files_that_pyarrow_skips_are_not_read(tmp_path):
    """Hidden and underscore files (_SUCCESS, .crc) are not part of the table."""
    folder = write_folder(tmp_path / "t", columns())
    (folder / "_SUCCESS").write_text("")
    (folder / ".part0.parquet.crc").write_bytes(b"\0")
    assert open_table_source(folder).count_rows() == N


# --------------------------------------------------------------------------- vocabulary files
@pytest.fixture
def vocabulary(tmp_path):
    return FieldEncoder().fit(columns().to_pandas()).save_vocabulary(tmp_path / "vocabulary.json")


def rewritten(path, change):
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document))
    return path


@pytest.mark.parametrize("spoil, message", [
    (lambda p: p.write_text(p.read_text()[: len(p.read_text()) // 2]), "is not a complete skctr vocabulary JSON"),
    (lambda p: p.write_bytes(b"\xff\xfe garbage"), "is not a complete skctr vocabulary JSON"),
    (lambda p: p.write_text("[1, 2]"), "is not a skctr vocabulary JSON: it holds a JSON list"),
    (lambda p: rewritten(p, lambda d: d.update(format="other")), "Not a skctr-field-vocabulary document"),
    (lambda p: rewritten(p, lambda d: d.update(version=2)), "Unsupported skctr-field-vocabulary version 2"),
    (lambda p: rewritten(p, lambda d: d.pop("fields")), r"Not a complete skctr-field-vocabulary document: it lacks \['fields'\]"),
])
def test_spoilt_vocabulary_files_are_named(spoil, message, vocabulary):
    spoil(vocabulary)
    raises_one_line(rf"'[^']*vocabulary\.json'.*{message}", lambda: VocabularyEncoder(vocabulary))
