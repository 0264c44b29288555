"""Property tests of the input contract ("nothing silent") over random mixed frames in pandas, polars and pyarrow.

Every input either means what the user meant, or fails with a ValueError/TypeError naming a column; encoded ids
stay inside their tables; column order and dataframe library do not change the output; a fitted encoder survives
pickling. Frames hold 1-6 columns of mixed dtypes (see ``KINDS``) and 1-40 rows.
"""
from __future__ import annotations

import io
import pickle
import warnings

import joblib
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skctr import StudentClassifier
from skctr.fields import FIRST_VALUE_INDEX, MISSING_INDEX, PAD_INDEX
from skctr.preprocessing import FieldEncoder

PROPERTY = settings(max_examples=80, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# ------------------------------------------------------------------ strategies

SPECIAL_TEXT = ["", " ", "e\u0301", "\u00e9", "\U0001f980", "\U0001f469\u200d\U0001f469\u200d\U0001f467",
                "a^b", "nan", "None", "3", "True", "\x00"]
TEXT = st.one_of(st.sampled_from(SPECIAL_TEXT), st.text(max_size=4))
# Ids above 2**53 that a float64 cannot tell apart: any silent cast to float shows.
BIG_IDS = st.integers(2**62, 2**62 + 64)
INTS = st.one_of(st.integers(-3, 20), st.integers(-(2**63), 2**63 - 1), BIG_IDS)

#: Each column kind: its cells and how they become a pandas Series.
KINDS = {
    "int64": (INTS, "int64"),
    "Int64": (st.one_of(st.none(), INTS), "Int64"),
    "float": (st.one_of(st.just(np.nan), st.floats(-1e6, 1e6), st.just(1e-300)), "float64"),
    "float_extreme": (st.one_of(st.floats(), st.sampled_from([1e300, -1e300, 1e-300, np.inf, -np.inf])), "float64"),
    "bool": (st.booleans(), "bool"),
    "str": (st.one_of(st.none(), TEXT), "str"),
    "object": (st.one_of(st.none(), TEXT, INTS), object),
    "list_str": (st.one_of(st.none(), st.lists(st.one_of(st.none(), TEXT), max_size=4)), object),
    "list_int": (st.one_of(st.none(), st.lists(st.one_of(st.none(), INTS), max_size=4)), object),
    "category": (st.one_of(st.none(), TEXT), "category"),
}
#: Kinds every library converts without ambiguity: the output must not depend on the library.
ARROW_SAFE = ("int64", "float", "bool", "str", "list_str")
#: Kinds polars and pyarrow can represent (no str/int mixes); used where a frame must convert.
CONVERTIBLE = tuple(k for k in KINDS if k != "object")

STR_LABEL = st.one_of(st.sampled_from(["", "a", "\u00e9", "e\u0301", "\U0001f980", "x0", "0", "col umn"]),
                      st.text(max_size=5))
INT_LABEL = st.integers(-3, 99)


#: FieldEncoder parameters away from their defaults, any subset.
PARAMS = st.fixed_dictionaries({}, optional={
    "handle_unknown": st.just("error"), "min_frequency": st.sampled_from([2, 0.2]), "max_categories": st.integers(1, 3),
    "numeric_encoding": st.just("log_bucket"), "encoded_missing_value": st.just("oov"), "dtype": st.just(np.float64),
    "max_len": st.integers(1, 3), "sequence_order": st.sampled_from(["newest_first", "oldest_first"]),
    "unknown_share_warning": st.sampled_from([None, 0.0]),
})


def labels(n, str_only=False):
    """``n`` unique column labels: all strings, all ints or (refused, naming X) a mix; or non-empty strings."""
    if str_only:  # that polars keeps: it renames "" to "column_0" and panics on NUL (see as_library)
        return st.lists(STR_LABEL.filter(lambda c: c and "\x00" not in c), min_size=n, max_size=n, unique=True)
    return st.one_of(st.lists(STR_LABEL, min_size=n, max_size=n, unique=True),
                     st.lists(INT_LABEL, min_size=n, max_size=n, unique=True),
                     st.lists(st.one_of(STR_LABEL, INT_LABEL), min_size=n, max_size=n, unique_by=repr))


def series(kind, cells):
    dtype = KINDS[kind][1]
    return pd.Series(pd.Categorical(cells) if dtype == "category" else cells, dtype=dtype)


@st.composite
def frames(draw, kinds=tuple(KINDS), names=None, str_only=False):
    """A pandas frame of 1-6 columns of random kinds (or under the given ``names``) and 1-40 rows."""
    names = draw(st.integers(1, 6).flatmap(lambda n: labels(n, str_only))) if names is None else names
    n_rows = draw(st.integers(1, 40))
    chosen = draw(st.lists(st.sampled_from(kinds), min_size=len(names), max_size=len(names)))
    columns = [series(k, draw(st.lists(KINDS[k][0], min_size=n_rows, max_size=n_rows))) for k in chosen]
    return pd.DataFrame(dict(zip(names, columns)))


def as_library(X, library):
    """``X`` in ``library``, or None where that library cannot represent it."""
    if library == "pandas":
        return X
    if library == "polars" and any("\x00" in str(c) for c in X.columns):
        return None  # polars panics (pyo3 PanicException) exporting a column name holding NUL to Arrow
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            converted = pl.from_pandas(X) if library == "polars" else pa.Table.from_pandas(X, preserve_index=False)
    except Exception:  # the library's own conversion (e.g. a str/int object column): not skctr's to judge
        return None
    names = converted.columns if library == "polars" else converted.column_names
    return converted if names == [str(c) for c in X.columns] else None  # polars renames "" to "column_0"


def permuted(X, order):
    """The columns of a pandas, polars or pyarrow frame in ``order`` (positions)."""
    if isinstance(X, pd.DataFrame):
        return X.iloc[:, list(order)]
    if isinstance(X, pl.DataFrame):
        return X.select([pl.nth(i) for i in order])  # by position: polars reads the name "*" as every column
    return X.select(list(order))


# --------------------------------------------------------------------- helpers

LIBRARIES = ("pandas", "polars", "pyarrow")


def names_a_column(exc, X):
    message = str(exc)
    names = list(X.columns) if isinstance(X, (pd.DataFrame, pl.DataFrame)) else X.column_names
    return "column" in message.lower() or "X" in message or any(repr(c) in message or repr(str(c)) in message
                                                                 for c in names)


def attempt(step, X):
    """``step(X)``, or None when it raises a ValueError/TypeError naming a column; anything else propagates."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return step(X)
    except (ValueError, TypeError) as exc:
        assert names_a_column(exc, X), f"{type(exc).__name__} names no column: {exc}"
        return None


def quiet(step, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return step(*args)


def assert_inside_tables(encoder, out):
    ids, values = encoder.field_spec_.split_columns(out)
    sizes = [f.vocab_size for f in encoder.field_spec_ if f.is_indexed for _ in range(f.max_len)]
    assert np.isfinite(np.asarray(out, dtype=np.float64)).all()
    assert np.array_equal(ids, np.asarray(out)[:, _id_columns(encoder)])  # ids are whole numbers
    assert ((ids >= 0) & (ids < np.asarray(sizes, dtype=np.int64))).all()
    assert np.isfinite(values).all()


def _id_columns(encoder):
    slices = encoder.field_spec_.column_slices()
    return [j for f in encoder.field_spec_ if f.is_indexed for j in range(slices[f.name].start, slices[f.name].stop)]


# ------------------------------------------------------------ 1-2: the encoder

@PROPERTY
@given(data=st.data(), params=PARAMS)
def test_fit_and_transform_fail_only_naming_a_column(data, params):
    """fit and transform of new frames (any dtypes) succeed or raise a ValueError/TypeError naming a column; a frame
    that fit accepts, transform accepts."""
    X = data.draw(frames(), "X")
    X_new = data.draw(frames(names=list(X.columns)), "X_new")
    for library in LIBRARIES:
        X_lib, new_lib = as_library(X, library), as_library(X_new, library)
        if X_lib is None:
            continue
        encoder = attempt(FieldEncoder(**params).fit, X_lib)
        if encoder is not None:
            quiet(encoder.transform, X_lib)
            if new_lib is not None:
                attempt(encoder.transform, new_lib)


@PROPERTY
@given(data=st.data(), params=PARAMS)
def test_encoded_ids_stay_inside_their_tables(data, params):
    """Every id of a successful transform lies in [0, vocab_size) of its field and every value is finite."""
    X = data.draw(frames(), "X")
    kinds = [k for k in KINDS if k != "float_extreme"]
    X_new = data.draw(frames(kinds=tuple(kinds), names=list(X.columns)), "X_new")
    encoder = attempt(FieldEncoder(**params).fit, X)
    if encoder is None:
        return
    for frame in (X, X_new):
        out = attempt(encoder.transform, frame)
        if out is not None:
            assert out.shape == (len(frame), encoder.field_spec_.n_columns)
            assert_inside_tables(encoder, out)


# ------------------------------------------------- 3: column order, library

@PROPERTY
@given(data=st.data())
def test_column_order_does_not_change_the_output(data):
    """Transforming a frame with its columns permuted gives the output of the original order, in every library."""
    X = data.draw(frames(kinds=CONVERTIBLE), "X")
    order = data.draw(st.permutations(range(X.shape[1])), "order")
    for library in LIBRARIES:
        X_lib = as_library(X, library)
        if X_lib is None:
            continue
        encoder = attempt(FieldEncoder().fit, X_lib)
        expected = None if encoder is None else attempt(encoder.transform, X_lib)
        if expected is None:
            continue
        np.testing.assert_array_equal(quiet(encoder.transform, permuted(X_lib, order)), expected)


@PROPERTY
@given(data=st.data())
def test_library_does_not_change_the_output(data):
    """A frame of int64/float64/bool/str/list-of-str columns encodes alike from pandas, polars and pyarrow."""
    X = data.draw(frames(kinds=ARROW_SAFE, str_only=True), "X")
    order = data.draw(st.permutations(range(X.shape[1])), "order")
    encoder = attempt(FieldEncoder().fit, X)
    expected = None if encoder is None else attempt(encoder.transform, X)
    if expected is None:
        return
    for library in ("polars", "pyarrow"):
        X_lib = as_library(X, library)
        assert X_lib is not None, f"{library} cannot represent {X.dtypes.to_dict()}"
        # Served from another library than fit's, and fitted on it.
        np.testing.assert_array_equal(quiet(encoder.transform, permuted(X_lib, order)), expected)
        refitted = quiet(FieldEncoder().fit, X_lib)
        assert refitted.field_spec_ == encoder.field_spec_
        np.testing.assert_array_equal(quiet(refitted.transform, X_lib), expected)


def _id_rows(container, shape, cells):
    """The column ``id`` of ``cells`` (ids and None; lists of them for a sequence) in ``container``."""
    arrow_type = pa.int64() if shape == "scalar" else pa.list_(pa.int64())
    if container == "pandas":
        return pd.DataFrame({"id": pd.array(cells, dtype="Int64") if shape == "scalar" else pd.Series(cells, dtype=object)})
    if container == "polars":
        return pl.DataFrame({"id": cells}, schema={"id": pl.Int64 if shape == "scalar" else pl.List(pl.Int64)})
    if container == "pyarrow":
        return pa.table({"id": pa.array(cells, arrow_type)})
    return {"id": cells} if container == "dict" else [{"id": cell} for cell in cells]


# Ids above 2**53 are where a float64 on the way would merge neighbours (dicts and records with None, lists with
# null items): every container must keep them integers.
CONTAINERS = [(shape, container) for shape in ("scalar", "sequence")
              for container in ("pandas", "polars", "pyarrow", "dict", "records")]


@pytest.mark.parametrize("shape, container", CONTAINERS)
@settings(PROPERTY, max_examples=30)
@given(data=st.data())
def test_integer_ids_keep_their_own_index_in_every_container(shape, container, data):
    """Integer ids seen in fit get their own index, and None the missing index, from any container holding a None."""
    ids = data.draw(st.lists(st.one_of(st.integers(-3, 20), BIG_IDS), min_size=1, max_size=8, unique=True), "ids")
    if shape == "scalar":
        encoder = FieldEncoder().fit(pd.DataFrame({"id": np.array(ids, dtype=np.int64)}))
        cells = data.draw(st.permutations([*ids, None]), "cells")
    else:
        encoder = FieldEncoder(max_len=4, sequence_order="newest_first").fit(pd.DataFrame({"id": [[v] for v in ids]}))
        tokens = st.lists(st.sampled_from([*ids, None]), max_size=4)
        cells = [*data.draw(st.lists(tokens, max_size=5), "cells"), [ids[0], None]]
    index = {v: i + FIRST_VALUE_INDEX for i, v in enumerate(encoder.vocabularies_["id"])}
    index[None] = MISSING_INDEX
    expected = ([[index[v]] for v in cells] if shape == "scalar" else
                [[index[v] for v in cell] + [PAD_INDEX] * (4 - len(cell)) for cell in cells])
    np.testing.assert_array_equal(quiet(encoder.transform, _id_rows(container, shape, cells)), expected)


# ------------------------------------------------------- 4: a fitted model

N_TRAIN, N_HELD = 200, 60
CITIES = ["rome", "oslo", "k\u00f6ln", "\U0001f980", "", "e\u0301"]


def _model_frame(n, rng):
    price = rng.lognormal(size=n)
    price[rng.rand(n) < 0.1] = np.nan
    return pd.DataFrame({
        "user": rng.randint(0, 30, n).astype(np.int64),
        "city": pd.Series(rng.choice(CITIES, n), dtype="str"),
        "price": price,
        "member": rng.rand(n) < 0.5,
        "tags": [list(rng.choice(["a", "b", "c", "d"], rng.randint(0, 4))) for _ in range(n)],
    })


@pytest.fixture(scope="module")
def model():
    """A small StudentClassifier fitted once on mixed columns, with held-out rows and their predictions."""
    rng = np.random.RandomState(0)
    X = _model_frame(N_TRAIN + N_HELD, rng)
    y = (rng.rand(len(X)) < 0.3 + 0.4 * (X["user"] % 2)).astype(int)
    clf = StudentClassifier(hidden_units=(4,), embedding_dim=4, max_epochs=1, batch_size=64, random_state=0, device="cpu")
    quiet(clf.fit, X.iloc[:N_TRAIN], y[:N_TRAIN])
    held = X.iloc[N_TRAIN:].reset_index(drop=True)
    return clf, held, quiet(clf.predict_proba, held)


@pytest.mark.slow
@settings(PROPERTY, max_examples=60)
@given(rows=st.lists(st.integers(0, N_HELD - 1), min_size=1, max_size=N_HELD, unique=True),
       order=st.permutations(range(5)), library=st.sampled_from(LIBRARIES))
def test_model_predictions_ignore_column_order_and_library(model, rows, order, library):
    """predict_proba of held-out rows with permuted columns, in any library, equals that of the original order."""
    clf, held, expected = model
    X = as_library(held.iloc[rows].reset_index(drop=True), library)
    assert X is not None
    np.testing.assert_allclose(quiet(clf.predict_proba, permuted(X, order)), expected[rows], rtol=0, atol=1e-6)


NEW_VALUES = {
    "user": st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)),
    "city": st.one_of(st.none(), TEXT),
    "price": st.one_of(st.none(), st.floats(-1e30, 1e30)),
    "member": st.one_of(st.none(), st.booleans()),
    "tags": st.one_of(st.none(), st.lists(st.one_of(st.none(), TEXT), max_size=5)),
}


@pytest.mark.slow
@settings(PROPERTY, max_examples=60)
@given(records=st.lists(st.fixed_dictionaries(NEW_VALUES), min_size=1, max_size=60),  # from 50: the share warning
       order=st.permutations(list(NEW_VALUES)))
def test_model_predicts_probabilities_on_unseen_values(model, records, order):
    """Raw new rows of unseen strings, ints and missing values predict probabilities in [0, 1]."""
    clf = model[0]
    # Typed through Arrow, as skctr reads records: pandas alone would turn ints with None into lossy floats.
    X = pa.Table.from_pylist(records).to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)[order]
    for rows in (X, X.to_dict("records")):
        proba = quiet(clf.predict_proba, rows)
        assert proba.shape == (len(records), 2)
        assert np.isfinite(proba).all() and ((proba >= 0) & (proba <= 1)).all()
        np.testing.assert_allclose(proba.sum(axis=1), 1, atol=1e-6)


# ---------------------------------------------------- 5: pickling round trip

@PROPERTY
@given(X=frames())
def test_pickled_encoder_transforms_alike(X):
    """A fitted encoder pickled and loaded (pickle, joblib) transforms exactly as the original."""
    encoder = attempt(FieldEncoder().fit, X)
    expected = None if encoder is None else attempt(encoder.transform, X)
    if expected is None:
        return
    buffer = io.BytesIO()
    joblib.dump(encoder, buffer)
    buffer.seek(0)
    for loaded in (pickle.loads(pickle.dumps(encoder)), joblib.load(buffer)):
        out = quiet(loaded.transform, X)
        assert out.field_spec == encoder.field_spec_
        np.testing.assert_array_equal(out, expected)
