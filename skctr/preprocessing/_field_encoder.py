"""FieldEncoder: from a raw DataFrame to the index/value array the networks eat."""
from __future__ import annotations

import inspect
from numbers import Integral, Real
import warnings
from itertools import chain

import numpy as np
import pandas as pd
from pandas.api.types import is_complex_dtype, is_object_dtype
from scipy import sparse as sp
from sklearn import get_config
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted

from .._validation import FloatDtype, NonEmptyString, interval, positive
from ._columns import (
    _NUMERIC_ENCODINGS,
    _SEQUENCE_OPTIONS,
    SEQUENCE_ORDERS,
    _ColumnPlan,
    _check_delimiter,
    _check_max_len,
    _check_representable,
    _infer_kind,
    _is_int,
    _list_cells,
    _name_list,
    _rename,
    _renamed,
)
from ._frames import as_pandas, column_names
from ._encode import (
    UnknownValueWarning,
    _as_vocabulary_type,
    _count_values,
    _merge_counts,
    _plain_index,
    _positions,
    _Vocabulary,
)
from ._source import is_table_source, iter_frames, open_table_source
from ._vocabulary import dump_document, vocabulary_document
from ..fields import MISSING_INDEX, OOV_INDEX, SPEC_ATTR, FieldArray, FieldSpec


# A one-row request with an unseen id is ordinary serving; the share means something on a batch.
_UNKNOWN_WARNING_MIN_ROWS = 50

# float32 holds every integer up to 2**24 exactly; larger indices would collide.
_FLOAT32_MAX_VOCAB = 2**24


def _vocabulary_counts(plans, counts, *, warn=False):
    """Each vocabulary's counts: a column's own, plus the tokens of the sequences that share its vocabulary."""
    merged = dict(counts)
    for plan in plans:
        if plan.kind == "sequence" and plan.target is not None and not plan.hashed:
            target_counts, token_counts = merged[plan.target], counts[plan.column]
            disjoint = not token_counts.index.isin(target_counts.index).any()
            if warn and len(target_counts) and len(token_counts) and disjoint:
                warnings.warn(
                    f"No token of sequence column {plan.column!r} matches a value of its target "
                    f"{plan.target!r}; check that both hold the same type (tokens split from "
                    "strings are strings).",
                    UserWarning,
                    stacklevel=3,
                )
            merged[plan.target] = pd.concat([target_counts, token_counts]).groupby(level=0, sort=False).sum()
    return merged


def _settle_sequence_order(plans):
    """Sequences of unstated order are read newest first, with a warning once any cell holds two items."""
    for plan in plans:
        if plan.kind != "sequence" or plan.order is not None:
            continue
        plan.order = "newest_first"
        if plan.longest >= 2:
            warnings.warn(
                f"Sequence column {plan.column!r} has no stated order, so it is read newest first (its first item the "
                "most recent; longer cells keep their first max_len items). If its lists are oldest first (appended "
                f"in time order), pass sequence_order='oldest_first' (or sequence={{{plan.column!r}: {{'order': "
                "'oldest_first'}}) to FieldEncoder; pass 'newest_first' to silence this (for an unordered bag such as "
                "genres, either will do).",
                UserWarning, stacklevel=3,
            )


class FieldEncoder(TransformerMixin, BaseEstimator):
    """Encode a raw DataFrame into the field layout that skctr's networks eat.

    Every column of the training frame becomes one field, in frame order:

    * **categorical** fields hold one embedding index per row: ``0`` padding
      (never produced for scalar fields), ``1`` out-of-vocabulary (values
      unseen in fit, rarer than ``min_frequency`` or beyond
      ``max_categories``), ``2`` missing, then ``3, 4, ...`` for the kept
      values by descending training frequency (ties by ``str(value)``).
    * **numeric** fields hold one standardized float (``"scale"``), or are
      bucketed with the Criteo rule and become categorical fields
      (``"log_bucket"``).
    * **sequence** fields hold ``max_len`` embedding indices, newest first,
      padded at the end with ``0``.

    The output is a :class:`~skctr.preprocessing.FieldArray` that carries the
    fitted :class:`~skctr.preprocessing.FieldSpec`, so a network placed after
    the encoder in a :class:`~sklearn.pipeline.Pipeline` sizes its embedding
    tables without being told. With ``set_output(transform="pandas")`` the
    output is a DataFrame whose ``attrs["skctr_field_spec"]`` holds the spec.

    Kinds not given explicitly are inferred from dtypes: object, string,
    category and bool columns are categorical, and so are **all integer
    columns** (numpy and nullable ``Int64``), since an integer column with many
    distinct values is almost always an id or a code; pass ``numeric=[...]``
    for counts and amounts. Float columns are numeric. Object columns whose
    non-missing cells are all lists, tuples or arrays are sequences;
    delimiter-joined strings are sequences only when listed in ``sequence``.
    A column whose dtype cannot be inferred (datetime, complex, ...) raises a
    ValueError; list it explicitly or convert it.

    Values are matched by equality as Python dictionaries match them:
    ``3``, ``3.0`` and ``np.int64(3)`` are one value, so an integer column
    transformed from floats that are integral finds its ids, and ``True``
    equals ``1`` (so a bool column accepts 0/1). Text sent for another type
    is converted only where that is lossless: ``"3"`` finds the integer ``3``
    (``"03"`` and ``"3.0"`` do not), ``"True"`` and ``"false"`` find the
    bools, and the integer ``3`` finds the string ``"3"``; anything else is
    out of vocabulary (or an error with ``handle_unknown="error"``), and a
    column far more out of vocabulary than in fit warns (see
    ``unknown_share_warning``).

    Parameters
    ----------
    categorical : list of str, default=None
        Columns to encode as categorical fields, whatever their dtype.

    numeric : list of str or dict, default=None
        Columns to encode as numeric, with ``numeric_encoding``; or a dict
        ``{column: "scale" | "log_bucket"}`` choosing the encoding per column.

    sequence : list of str or dict, default=None
        Columns to encode as sequences; or a dict ``{column: options}`` where
        options is a dict with any of ``"max_len"`` (int), ``"delimiter"``
        (str), ``"order"`` (overriding ``sequence_order``) and ``"target"``
        (the name of a categorical column whose
        vocabulary the sequence shares: its vocabulary is learned from that
        column's values plus the sequence's tokens). Cells may be lists,
        tuples, 1-D arrays or delimiter-joined strings; ``None``, NaN and the
        empty string are empty sequences, and a missing token (``None``, NaN,
        or an empty piece as in ``"a^^b"``) gets the missing index. Tokens split
        from strings are strings, so they only share vocabulary with a string
        column.

    numeric_encoding : {"scale", "log_bucket"}, default="scale"
        Encoding of numeric columns not given one in a ``numeric`` dict.

        - ``"scale"``: ``(v - mean) / std`` with the training mean and
          (population) standard deviation of the non-missing values (``std``
          of 0 is taken as 1). Missing values encode to 0, the training mean.
          Infinite values raise a ValueError.
        - ``"log_bucket"``: ``floor(ln(v)**2)`` for ``v > 2``, else ``int(v)``
          (so negative values keep their own buckets), then encoded as a
          categorical field; missing values get the missing index.

    min_frequency : int or float, default=None
        Values seen fewer times in fit are mapped to the out-of-vocabulary
        index. An int ``>= 1`` is a count; a float in ``(0, 1)`` is a fraction
        of the training rows (also for sequence tokens, counted over all
        cells).

    max_categories : int, default=None
        Upper bound on the kept values of each categorical or sequence field;
        the most frequent are kept.

    hashed : list of str, default=None
        Categorical columns encoded by hashing alone, for unbounded id
        spaces: no vocabulary is learned or stored (fit counts nothing for
        them, so its memory does not grow with their distinct values), and
        each value gets index ``3 + bucket`` of ``hash_buckets`` buckets. A
        sequence whose ``target`` is hashed hashes its tokens alike.

    hash_buckets : int or dict, default=None
        Number of hash buckets: for every column in ``hashed``, and for the
        other categorical and sequence columns as a **tail**: values out of
        their vocabulary (unseen in fit, rarer than ``min_frequency`` or
        beyond ``max_categories``) get one of this many rows after the kept
        values instead of sharing the out-of-vocabulary index. An int applies
        to all those columns; a dict ``{column: n}`` to the columns it names.
        A value's bucket is ``murmurhash3_32(key, seed=0, positive=True) % n``
        (scikit-learn's MurmurHash3), where the key is the value's text
        (integers, booleans as 1/0 and integral floats in decimal), the same
        on every platform; the vocabulary JSON records it for servers.

    handle_unknown : {"oov", "error"}, default="oov"
        ``"oov"`` maps values unseen in fit to the out-of-vocabulary index;
        ``"error"`` raises a ValueError naming the column and some of the
        values (values seen in fit but dropped as rare are never an error).
        Applies to every indexed field: categorical columns, the buckets of
        log-bucketed columns and the kept tokens of sequences.

    encoded_missing_value : {"own", "oov"}, default="own"
        ``"own"`` gives missing values index 2; ``"oov"`` gives them the
        out-of-vocabulary index 1 (the FuxiCTR convention).

    max_len : int, default=None
        Length of sequence fields without a ``max_len`` option; None uses the
        longest training sequence (at least 1). Longer sequences keep their
        newest ``max_len`` tokens (see ``sequence_order``).

    delimiter : str, default="^"
        Separator of delimiter-joined string sequences.

    sequence_order : {"newest_first", "oldest_first"} or None, default=None
        How the items of sequence cells without an ``"order"`` option are
        ordered in time. The encoded layout is always newest first (position
        0 the most recent, as InterFormer's recency reading assumes), and a
        cell longer than ``max_len`` keeps its newest items: with
        ``"oldest_first"`` (histories appended in time order) each cell is
        reversed, so the last item comes first. None reads cells newest
        first and warns at fit when a cell holds two or more items, since
        the order cannot be told from the data.

    unknown_share_warning : float in [0, 1) or None, default=0.5
        At transform, a column whose share of out-of-vocabulary values (among
        its present values, on a batch of at least 50 rows) exceeds the share
        in fit by more than this gets an ``UnknownValueWarning`` naming it:
        most often its dtype changed (ids sent as text). None silences it.
        Before looking values up, transform converts them to the vocabulary's
        type where that is lossless: the string ``"123"`` for an integer
        vocabulary, ``"True"``/``"false"`` for a bool one, the integer ``123``
        for a string one.

    warm_start : bool, default=False
        When True, ``fit`` on a fitted encoder grows it as :meth:`partial_fit`
        does instead of starting over, so ``Pipeline(FieldEncoder(warm_start=True),
        model)`` with a warm-started model retrains daily on grown vocabularies.

    dtype : {np.float32, np.float64}, default=np.float32
        Output dtype. float32 holds indices up to 2**24 exactly; larger
        vocabularies need ``np.float64``.

    Attributes
    ----------
    field_spec_ : FieldSpec
        The fields, in output order.

    vocabularies_ : dict
        For each categorical, log-bucketed and sequence column, the list of
        kept values in index order; ``vocabularies_[c][i]`` has index ``i + 3``.
        A sequence with a ``target`` shares its target's list.

    n_features_in_ : int
        Number of columns seen in fit.

    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names seen in fit. Defined only when ``X`` was a DataFrame with
        all-string column names; otherwise columns are named ``"x0"``,
        ``"x1"``, ... and matched by position.

    See Also
    --------
    skctr.preprocessing.FieldSpec : The layout of the encoded array.
    sklearn.preprocessing.OrdinalEncoder : Ordinal codes without the field
        layout, padding or missing indices.

    Notes
    -----
    At transform, columns are selected by name: their order may differ from
    fit, columns not seen in fit are ignored, and missing ones raise a
    ValueError. The default output is float so one array can carry both
    indices and scaled values; :meth:`FieldSpec.split_columns` separates them.

    Examples
    --------
    >>> import pandas as pd
    >>> from skctr.preprocessing import FieldEncoder
    >>> X = pd.DataFrame({"city": ["rome", "oslo", "rome", None],
    ...                   "price": [1.0, 3.0, 2.0, None],
    ...                   "tags": [["a", "b"], ["b"], [], None]})
    >>> enc = FieldEncoder().fit(X)
    >>> enc.field_spec_.names
    ['city', 'price', 'tags']
    >>> enc.vocabularies_["city"], enc.vocabularies_["tags"]
    (['rome', 'oslo'], ['b', 'a'])
    >>> enc.get_feature_names_out().tolist()
    ['city', 'price', 'tags_0', 'tags_1']
    >>> new = pd.DataFrame({"city": ["oslo", "paris", None], "price": [2.0, None, 3.0],
    ...                     "tags": [["a", "z"], "b", None]})
    >>> Xt = enc.transform(new)  # paris and z are unseen (1), None is missing (2)
    >>> Xt.astype("float64").round(3).tolist()
    [[4.0, 0.0, 4.0, 1.0], [1.0, 0.0, 3.0, 0.0], [2.0, 1.225, 0.0, 0.0]]
    >>> Xt.field_spec == enc.field_spec_
    True
    """

    def __init__(
        self,
        categorical=None,
        numeric=None,
        sequence=None,
        *,
        numeric_encoding="scale",
        min_frequency=None,
        max_categories=None,
        hashed=None,
        hash_buckets=None,
        handle_unknown="oov",
        encoded_missing_value="own",
        max_len=None,
        delimiter="^",
        sequence_order=None,
        unknown_share_warning=0.5,
        warm_start=False,
        dtype=np.float32,
    ):
        self.categorical = categorical
        self.numeric = numeric
        self.sequence = sequence
        self.numeric_encoding = numeric_encoding
        self.min_frequency = min_frequency
        self.max_categories = max_categories
        self.hashed = hashed
        self.hash_buckets = hash_buckets
        self.handle_unknown = handle_unknown
        self.encoded_missing_value = encoded_missing_value
        self.max_len = max_len
        self.delimiter = delimiter
        self.sequence_order = sequence_order
        self.unknown_share_warning = unknown_share_warning
        self.warm_start = warm_start
        self.dtype = dtype

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        # The output dtype is the dtype parameter, whatever the input's.
        tags.transformer_tags.preserves_dtype = []
        return tags

    # ------------------------------------------------------------------ fit

    def fit(self, X, y=None):
        """Learn the field kinds, vocabularies and scaling of every column of ``X``.

        Parameters
        ----------
        X : DataFrame, array-like of shape (n_samples, n_features), path or pyarrow Dataset
            Training data. A path to a parquet file or a folder of them, or a
            ``pyarrow.dataset.Dataset``, is read one record batch at a time:
            memory holds one batch and the value counts, never the table, and
            the result equals fitting on the whole table read with the same
            dtypes (integers and booleans as pandas' nullable dtypes, which a
            batch with no nulls would otherwise lose).
        y : None or str
            Ignored for in-memory data; for a table source, the name of its
            label column, which is left out of the fields.

        Returns
        -------
        self : FieldEncoder
            Fitted encoder.
        """
        self._validate_params()
        if self.warm_start and hasattr(self, "field_spec_"):
            return self.partial_fit(X, y)
        if is_table_source(X):
            frames, label = self._source_frames(X, y)
            first = next(frames, None)
            if first is None:
                raise ValueError(f"FieldEncoder needs at least one row to fit; the table at {X!r} has none.")
            frame, columns, labels = self._frame(first)
            frames = chain([first], frames)
        else:
            frame, columns, labels = self._frame(X)
            frames = iter([frame])
        if len(frame) == 0:
            raise ValueError(
                "FieldEncoder needs at least one row to fit; got X with 0 rows "
                f"(shape={frame.shape})."
            )
        plans = self._plan_columns(frame, columns, labels)
        self._warn_unused_options(plans)
        counts, n_rows = _count_values(plans, frames)
        _settle_sequence_order(plans)
        merged = _vocabulary_counts(plans, counts, warn=True)
        missing_code = MISSING_INDEX if self.encoded_missing_value == "own" else OOV_INDEX
        vocabularies = {
            plan.column: self._vocabulary(merged[plan.column], n_rows, missing_code, plan.hash_buckets)
            for plan in plans
            if plan.column in merged and plan.target is None
        }
        vocabularies.update({
            plan.column: _Vocabulary(pd.Index([], dtype=object), None, missing_code, hash_buckets=plan.hash_buckets)
            for plan in plans
            if plan.hashed and plan.target is None
        })
        self._check_sizes(vocabularies)
        self._plans_ = plans
        self._columns_ = columns
        self._labels_ = labels
        # Every value's count, rare ones included, so partial_fit applies the thresholds to all calls' counts.
        self._counts_, self._n_rows_ = counts, n_rows
        self._adopt_vocabularies(vocabularies)
        self.n_features_in_ = len(columns)
        if labels is not None and all(isinstance(c, str) for c in labels):
            self.feature_names_in_ = np.asarray(columns, dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        return self

    def partial_fit(self, X, y=None):
        """Grow the fitted vocabularies with the values of ``X``; on an unfitted encoder, :meth:`fit`.

        Every kept value keeps its index, so rows encoded before mean what
        they meant; values that reach the frequency thresholds on the counts
        of **all** calls so far (``min_frequency``, with a fraction taken of
        all rows so far) are appended at the end of their vocabulary, most
        frequent first, until ``max_categories`` values are kept. Kept values
        are never dropped, and counts do not decay: a dropped value would
        leave a model's learned row meaning nothing. The column plan (kinds,
        sequence lengths and order) and the numeric scaling stay those of
        the first fit, so the encoded layout changes only in vocabulary
        sizes; every field's ``lineage`` records the growth.

        Parameters
        ----------
        X : DataFrame, array-like, path or pyarrow Dataset
            New rows with the columns of the first fit (selected by label;
            extra columns warn and are ignored).
        y : None or str
            As in :meth:`fit`.

        Returns
        -------
        self : FieldEncoder
        """
        if not hasattr(self, "field_spec_"):
            return self.fit(X, y)
        self._validate_params()
        frames = self._growth_frames(X, y)
        counts, n_rows = _count_values(self._plans_, frames, fixed_layout=True)
        if n_rows == 0:
            raise ValueError("FieldEncoder.partial_fit needs at least one row; X has none.")
        for plan in self._plans_:
            if plan.column in counts:  # counted columns have a vocabulary (a target's, for its sequences)
                more = counts[plan.column]
                more.index = _as_vocabulary_type(plan.vocabulary.value_type, more.index)
                self._counts_[plan.column] = _merge_counts(self._counts_[plan.column], more)
        merged = _vocabulary_counts(self._plans_, self._counts_)
        n_rows += self._n_rows_
        vocabularies = {
            plan.column: plan.vocabulary if plan.hashed else self._grown(plan.vocabulary, merged[plan.column], n_rows)
            for plan in self._plans_
            if plan.vocabulary is not None and plan.target is None
        }
        self._check_sizes(vocabularies)
        self._n_rows_ = n_rows
        self._adopt_vocabularies(vocabularies)
        return self

    def _growth_frames(self, X, y):
        """The frames of ``X`` that partial_fit counts, under the fitted field names."""
        if is_table_source(X):
            frames, _ = self._source_frames(X, y)
        else:
            frames = iter([as_pandas(X)])

        def selected():
            for frame in frames:
                if isinstance(frame, pd.DataFrame) and self._labels_ is not None:
                    extra = [c for c in frame.columns if c not in set(self._labels_)]
                    if extra:
                        warnings.warn(
                            f"Columns {extra[:10]} were not seen in the first fit and are ignored: growing an encoder "
                            "adds vocabulary rows, not fields. Fit a new FieldEncoder (and model) to use them.",
                            UserWarning, stacklevel=4,
                        )
                yield self._transform_frame(frame)

        return selected()

    def _grown(self, vocabulary, counts, n_rows):
        """``vocabulary`` with the values of ``counts`` it lacks that pass the thresholds appended, best first."""
        ranked = self._ranked(counts, n_rows)
        new = ranked[_positions(vocabulary.index, ranked) < 0]
        if self.max_categories is not None:
            new = new[: max(0, self.max_categories - len(vocabulary.index))]
        seen = _plain_index(counts.index) if self.handle_unknown == "error" else None
        return vocabulary.extended(new, seen)

    def _check_sizes(self, vocabularies):
        too_big = [column for column, v in vocabularies.items() if v.size > _FLOAT32_MAX_VOCAB]
        if too_big and np.dtype(self.dtype) == np.float32:
            raise ValueError(
                f"Columns {too_big} have a vocab_size above 2**24, whose indices float32 output "
                "cannot hold exactly. Pass dtype=np.float64, or bound them with max_categories."
            )

    def _adopt_vocabularies(self, vocabularies):
        """Make ``vocabularies`` (one per column with its own) the plans', and derive the fitted attributes."""
        for plan in self._plans_:  # a sequence with a target uses its target's vocabulary
            plan.vocabulary = vocabularies.get(plan.target or plan.column)
            if plan.vocabulary is not None and plan.target is None:
                # A hashed column has no vocabulary to be out of, nor counts: its share never warns.
                plan.vocabulary.fit_unknown_share = (
                    1.0 if plan.hashed else plan.vocabulary.unknown_share(self._counts_[plan.column]))
        self.field_spec_ = FieldSpec(plan.field for plan in self._plans_)
        kept = {column: vocabulary.index.tolist() for column, vocabulary in vocabularies.items()}
        self.vocabularies_ = {
            plan.column: kept[plan.target or plan.column] for plan in self._plans_ if plan.vocabulary is not None
        }

    def _warn_unused_options(self, plans):
        """An option set away from its default that applies to no column is a mistake the user must hear of."""
        indexed = any(p.kind != "numeric" or p.encoding == "log_bucket" for p in plans)
        sequences = any(p.kind == "sequence" for p in plans)
        applies = {
            "numeric_encoding": (any(p.kind == "numeric" and p.default_encoding for p in plans),
                                 "no column takes it: integer columns are categorical unless listed in numeric=[...], "
                                 "and a numeric={column: encoding} dict overrides it"),
            "max_len": (sequences, "no column is a sequence"),
            "sequence_order": (sequences, "no column is a sequence"),
            "min_frequency": (indexed, "no column is categorical, a sequence or log-bucketed"),
            "max_categories": (indexed, "no column is categorical, a sequence or log-bucketed"),
            "handle_unknown": (indexed, "no column is categorical, a sequence or log-bucketed"),
            "encoded_missing_value": (indexed, "no column is categorical, a sequence or log-bucketed"),
        }
        defaults = {name: p.default for name, p in inspect.signature(type(self).__init__).parameters.items()}
        for name, (used, why) in applies.items():
            value = getattr(self, name)
            if not used and value != defaults[name]:
                warnings.warn(f"{name}={value!r} changes nothing: {why}.", UserWarning, stacklevel=3)

    def _source_frames(self, X, y):
        """Record batches of a table source as frames, without its label column ``y`` (a name or None)."""
        if y is not None and not isinstance(y, str):
            raise ValueError(
                "With a parquet path or pyarrow Dataset as X, y must be None or the name of its label column "
                f"(left out of the fields), got {type(y).__name__}."
            )
        dataset = open_table_source(X)
        if y is not None and y not in dataset.schema.names:
            raise ValueError(f"y={y!r} is not a column of the table (columns: {dataset.schema.names[:20]}).")
        return iter_frames(dataset, [c for c in dataset.schema.names if c != y]), y

    _parameter_constraints = {
        "categorical": "no_validation",  # column lists: checked against X when the columns are planned
        "numeric": "no_validation",
        "sequence": "no_validation",
        "numeric_encoding": [StrOptions(set(_NUMERIC_ENCODINGS))],
        "min_frequency": [None, interval(Integral, 1, None, "left"), interval(Real, 0, 1, "neither")],
        "max_categories": [None, positive(Integral)],
        "hashed": "no_validation",  # a column list: checked against X when the columns are planned
        "hash_buckets": [None, positive(Integral), dict],
        "handle_unknown": [StrOptions({"oov", "error"})],
        "encoded_missing_value": [StrOptions({"own", "oov"})],
        "max_len": [None, positive(Integral)],
        "delimiter": [NonEmptyString()],
        "sequence_order": [None, StrOptions(set(SEQUENCE_ORDERS))],
        "unknown_share_warning": [None, interval(Real, 0, 1, "left")],
        "warm_start": ["boolean"],
        "dtype": [FloatDtype()],
    }

    def _frame(self, X):
        """``X`` as a DataFrame under string field names, the names, and the column labels (None for arrays)."""
        if sp.issparse(X):
            raise TypeError(
                "FieldEncoder does not accept sparse input; pass a DataFrame or a dense array "
                "(e.g. X.toarray())."
            )
        X = as_pandas(X)
        if isinstance(X, pd.DataFrame):
            if X.columns.has_duplicates:
                dupes = X.columns[X.columns.duplicated()].unique().tolist()
                raise ValueError(f"X has duplicate column names {dupes}; give every column a unique name.")
            labels = list(X.columns)
            names = column_names(labels)
            frame = X if names == labels else X.set_axis(names, axis=1)
        else:
            array = np.asarray(X)
            if array.ndim != 2:
                raise ValueError(
                    f"Expected a DataFrame or a 2-D array, got an array of shape {array.shape}. "
                    "Reshape your data: use array.reshape(-1, 1) for a single column."
                )
            if is_complex_dtype(array.dtype):
                raise ValueError("Complex data not supported by FieldEncoder.")
            labels, names = None, [f"x{i}" for i in range(array.shape[1])]
            frame = pd.DataFrame(array, columns=names, copy=False)
        if frame.shape[1] == 0:
            raise ValueError(
                f"Found array with 0 feature(s) (shape={frame.shape}) while a minimum of 1 is required."
            )
        return frame, names, labels

    def _plan_columns(self, frame, columns, labels):
        """Decide each column's kind and options from the parameters and dtypes."""
        to_name = dict(zip(labels, columns)) if labels is not None else {}
        categorical, numeric, sequence, hashed = (
            _renamed(getattr(self, p), to_name) for p in ("categorical", "numeric", "sequence", "hashed"))
        listed = {}
        for param, value in (("categorical", categorical), ("numeric", numeric), ("sequence", sequence),
                             ("hashed", hashed)):
            for name in _name_list(value, param):
                if name in listed and listed[name] != param:
                    raise ValueError(
                        f"Column {name!r} is listed in both {listed[name]} and {param}; list it in one."
                    )
                listed[name] = param
        unknown = [name for name in listed if name not in set(columns)]
        if unknown:
            raise ValueError(
                f"Columns {unknown} given in categorical/numeric/sequence/hashed are not in X "
                f"(columns: {columns[:20]}{' ...' if len(columns) > 20 else ''}). Fix the names."
            )

        plans = []
        for column in columns:
            series = frame[column]
            kind = listed.get(column) or _infer_kind(series, column)
            if kind == "numeric":
                encoding = self.numeric_encoding
                own = isinstance(numeric, dict) and column in numeric
                encoding = numeric[column] if own else encoding
                if encoding not in _NUMERIC_ENCODINGS:
                    raise ValueError(
                        f"numeric[{column!r}] must be one of {_NUMERIC_ENCODINGS}, got {encoding!r}."
                    )
                plans.append(_ColumnPlan(column, "numeric", encoding=encoding))
                plans[-1].default_encoding = not own
            elif kind == "sequence":
                options = sequence.get(column) if isinstance(sequence, dict) else None
                options = {} if options is None else options
                if not isinstance(options, dict) or set(options) - set(_SEQUENCE_OPTIONS):
                    raise ValueError(
                        f"sequence[{column!r}] must be a dict with keys among {_SEQUENCE_OPTIONS}, "
                        f"got {options!r}."
                    )
                max_len = options.get("max_len", self.max_len)
                delimiter = options.get("delimiter", self.delimiter)
                order = options.get("order", self.sequence_order)
                if order is not None and order not in SEQUENCE_ORDERS:
                    raise ValueError(f"sequence[{column!r}]['order'] must be one of {SEQUENCE_ORDERS}, got {order!r}.")
                _check_max_len(max_len, f"sequence[{column!r}]['max_len']")
                _check_delimiter(delimiter, f"sequence[{column!r}]['delimiter']")
                target = options.get("target")
                plans.append(
                    _ColumnPlan(column, "sequence", max_len=max_len, delimiter=delimiter,
                                target=_rename(target, to_name), order=order)
                )
            else:
                # Inference already rejects list cells; an explicit listing must be checked here.
                if column in listed and is_object_dtype(series.dtype) and _list_cells(series).any():
                    raise ValueError(
                        f"Categorical column {column!r} holds list-like cells; pass it in "
                        "sequence=[...] instead."
                    )
                plans.append(_ColumnPlan(column, "categorical"))
                plans[-1].hashed = kind == "hashed"

        categorical_columns = {p.column for p in plans if p.kind == "categorical"}
        hashed_columns = {p.column for p in plans if p.hashed}
        for plan in plans:
            if plan.target is not None and plan.target not in categorical_columns:
                raise ValueError(
                    f"sequence[{plan.column!r}]['target'] = {plan.target!r} must name a categorical "
                    f"column of X; categorical columns are {sorted(categorical_columns)}."
                )
            plan.hashed = plan.hashed or plan.target in hashed_columns
        self._assign_hash_buckets(plans, to_name)
        return plans

    def _assign_hash_buckets(self, plans, to_name):
        """Each plan's ``hash_buckets`` from the parameter; a ValueError names what does not fit."""
        owners = {p.column: p for p in plans if p.kind in ("categorical", "sequence") and p.target is None}
        buckets = _renamed(self.hash_buckets, to_name)
        if isinstance(buckets, dict):
            bad = [c for c in buckets if c not in owners]
            if bad:
                raise ValueError(
                    f"hash_buckets names {bad}, which are not categorical, hashed or sequence columns of X with a "
                    "vocabulary of their own (a sequence with a target hashes as its target does)."
                )
            for column, n in buckets.items():
                if not (_is_int(n) and n >= 1):
                    raise ValueError(f"hash_buckets[{column!r}] must be an int >= 1, got {n!r}.")
        elif buckets is not None:
            buckets = dict.fromkeys(owners, buckets)
        buckets = buckets or {}
        unbucketed = [p.column for p in plans if p.hashed and p.target is None and p.column not in buckets]
        if unbucketed:
            raise ValueError(
                f"Columns {unbucketed} are listed in hashed but get no hash_buckets; pass hash_buckets=n or "
                f"hash_buckets={{{unbucketed[0]!r}: n}}."
            )
        tails = [c for c in buckets if not owners[c].hashed]
        if tails and self.handle_unknown == "error":
            raise ValueError(
                f"handle_unknown='error' contradicts hash_buckets for {tails[:10]}: hash buckets give values out of "
                "vocabulary rows of their own. Drop one of the two (hashed=[...] columns never raise)."
            )
        for plan in plans:
            plan.hash_buckets = buckets.get(plan.target or plan.column, 0)

    def _vocabulary(self, counts, n_rows, missing_code, hash_buckets=0):
        """Keep the frequent values of ``counts`` in index order."""
        kept = self._ranked(counts, n_rows)
        if self.max_categories is not None:
            kept = kept[: self.max_categories]
        seen = _plain_index(counts.index) if self.handle_unknown == "error" else None
        return _Vocabulary(kept, seen, missing_code, hash_buckets=hash_buckets)

    def _ranked(self, counts, n_rows):
        """The values of ``counts`` that reach ``min_frequency``, by descending count (ties by ``str(value)``)."""
        values = _plain_index(counts.index)
        freq = counts.to_numpy(dtype=np.int64)
        # Sorting by the string form first makes the order of equal counts deterministic.
        order = np.argsort(np.array([str(v) for v in values], dtype=object), kind="stable")
        order = order[np.argsort(-freq[order], kind="stable")]
        if self.min_frequency is not None:
            threshold = self.min_frequency
            if not _is_int(threshold):
                threshold = threshold * n_rows
            order = order[freq[order] >= threshold]
        return values.take(order)

    # ------------------------------------------------------------ transform

    def transform(self, X):
        """Encode ``X`` into the fitted field layout.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Data with the columns seen in fit (selected by name; extra columns
            are ignored).

        Returns
        -------
        X_out : FieldArray of shape (n_samples, field_spec_.n_columns)
            Indices and scaled values in the ``dtype`` given; a DataFrame with
            ``attrs["skctr_field_spec"]`` under ``set_output(transform="pandas")``.
        """
        check_is_fitted(self, "field_spec_")
        if is_table_source(X):
            raise TypeError(
                "FieldEncoder.transform needs a DataFrame or an array. To score a parquet table larger than memory, "
                "pass its path to the estimator's predict_proba, which encodes it one record batch at a time."
            )
        frame = self._transform_frame(X)
        n = len(frame)
        out = np.empty((n, self.field_spec_.n_columns), dtype=np.dtype(self.dtype))
        slices = self.field_spec_.column_slices()
        for plan in self._plans_:
            where = slices[plan.column]
            encoded, share = plan.transform(frame[plan.column])
            if plan.kind == "numeric" and plan.encoding == "scale":
                _check_representable(encoded, plan.column, self.dtype)
            out[:, where] = encoded.reshape(n, where.stop - where.start)
            self._warn_unknown(plan, share, n)

        if self._pandas_output():
            return self._output_frame(out, frame.index if isinstance(X, pd.DataFrame) else None)
        return FieldArray(out, self.field_spec_)

    def _output_frame(self, out, index):
        """The pandas output: ids as categoricals of their table's rows, so they stay ids even where the
        spec in ``attrs`` is lost (pandas drops it when a ColumnTransformer joins frames)."""
        result = pd.DataFrame(out, columns=self.get_feature_names_out(), index=index, copy=False)
        slices = self.field_spec_.column_slices()
        for field in self.field_spec_:
            if field.is_indexed:
                rows = pd.RangeIndex(field.vocab_size)
                for j in range(slices[field.name].start, slices[field.name].stop):
                    result.isetitem(j, pd.Categorical.from_codes(out[:, j].astype(np.int64), categories=rows))
        result.attrs[SPEC_ATTR] = self.field_spec_
        return result

    def vocabulary_json(self) -> dict:
        """Everything needed to encode rows without Python, as a JSON-ready dict.

        The format (field layout, reserved indices, typed vocabularies, scaling,
        bucketing and sequence rules) is documented in
        ``docs/vocabulary_format.md``; :class:`~skctr.preprocessing.VocabularyEncoder`
        is a reference implementation that reads nothing else.

        Returns
        -------
        dict
            A document with ``format`` ``"skctr-field-vocabulary"`` and ``version`` 1.

        Examples
        --------
        >>> import pandas as pd
        >>> from skctr import FieldEncoder
        >>> encoder = FieldEncoder().fit(pd.DataFrame({"city": ["rome", "oslo", "rome"], "price": [1.0, 2.0, 3.0]}))
        >>> document = encoder.vocabulary_json()
        >>> document["vocabularies"]
        {'city': [['rome', 3], ['oslo', 4]]}
        >>> [(f["name"], f["kind"], f.get("ids_columns"), f.get("values_column")) for f in document["fields"]]
        [('city', 'categorical', [0, 1], None), ('price', 'numeric', None, 0)]
        """
        check_is_fitted(self, "field_spec_")
        return vocabulary_document(self)

    def save_vocabulary(self, path):
        """Write :meth:`vocabulary_json` to ``path`` as UTF-8 JSON (no NaN or infinity, which JSON lacks).

        Parameters
        ----------
        path : str or Path
            The file to write, e.g. beside an exported model.

        Returns
        -------
        Path
            The file written.

        Examples
        --------
        >>> import json, tempfile, pathlib, pandas as pd
        >>> from skctr import FieldEncoder
        >>> encoder = FieldEncoder().fit(pd.DataFrame({"item": [10, 11, 10]}))
        >>> path = encoder.save_vocabulary(pathlib.Path(tempfile.mkdtemp()) / "vocabulary.json")
        >>> json.loads(path.read_text())["vocabularies"]["item"]
        [[10, 3], [11, 4]]
        """
        return dump_document(self.vocabulary_json(), path)

    def _transform_frame(self, X):
        """Columns of ``X`` under their fitted names: selected by label when both fit and ``X`` have labels,
        else taken by position."""
        X = as_pandas(X)
        if isinstance(X, pd.DataFrame) and self._labels_ is not None:
            return self._select_by_label(X)
        if isinstance(X, pd.DataFrame) and X.shape[1] and all(isinstance(c, str) for c in X.columns):
            warnings.warn(
                f"X has feature names, but {type(self).__name__} was fitted without feature names",
                UserWarning,
            )
            frame = X
        else:
            frame, _, _ = self._frame(X)
            if self._labels_ is not None:
                warnings.warn(
                    f"X does not have valid feature names, but {type(self).__name__} was fitted "
                    "with feature names; its columns are taken by position",
                    UserWarning,
                )
        if frame.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {frame.shape[1]} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input."
            )
        return frame.set_axis(self._columns_, axis=1)

    def _select_by_label(self, X):
        """The fitted columns of frame ``X`` by label, whatever their order; extra columns are ignored."""
        columns = X.columns
        dupes = [c for c in columns[columns.duplicated()].unique() if c in self._labels_]
        if dupes:
            raise ValueError(f"X has duplicate column names {dupes}; give every column a unique name.")
        absent = [c for c in self._labels_ if c not in columns]
        if absent:
            raise ValueError(
                f"Columns {absent[:20]} seen in fit are missing from X (its columns: {list(columns)[:20]}); "
                "pass a frame holding every column FieldEncoder was fitted on (columns are matched by label, "
                "in any order)."
            )
        frame = X[self._labels_]
        return frame if self._labels_ == self._columns_ else frame.set_axis(self._columns_, axis=1)

    def _warn_unknown(self, plan, share, n_rows):
        """Warn when a column is far more out of vocabulary than in fit: most often a dtype changed."""
        threshold = self.unknown_share_warning
        if threshold is None or share is None or n_rows < _UNKNOWN_WARNING_MIN_ROWS or not share > plan.vocabulary.fit_unknown_share + threshold:
            return
        warnings.warn(
            f"Column {plan.column!r}: {share:.0%} of its values are out of vocabulary (fit: "
            f"{plan.vocabulary.fit_unknown_share:.0%}); check that its values and dtype are those of fit (e.g. ids "
            f"sent as text). Pass unknown_share_warning=None to {type(self).__name__} to silence this.",
            UnknownValueWarning, stacklevel=3,
        )

    def _pandas_output(self):
        config = getattr(self, "_sklearn_output_config", {}).get("transform")
        return (config or get_config()["transform_output"]) == "pandas"

    def get_feature_names_out(self, input_features=None):
        """Names of the output columns.

        Parameters
        ----------
        input_features : array-like of str, default=None
            Input column names; defaults to ``feature_names_in_`` (or
            ``x0, x1, ...`` when fitted without names). When the encoder was
            fitted with names, they must match.

        Returns
        -------
        names : ndarray of str objects
            The field name for one-column fields and ``f"{name}_{i}"`` for
            the positions of sequence fields.
        """
        check_is_fitted(self, "field_spec_")
        rename = {}
        if input_features is not None:
            input_features = np.asarray(input_features, dtype=object)
            if input_features.ndim != 1 or len(input_features) != self.n_features_in_:
                raise ValueError(
                    "input_features should have length equal to the number of features seen "
                    f"in fit ({self.n_features_in_}), got {input_features.shape}."
                )
            fitted = getattr(self, "feature_names_in_", None)
            if fitted is not None and not np.array_equal(input_features, fitted):
                raise ValueError("input_features is not equal to feature_names_in_")
            rename = dict(zip(self._columns_, (str(f) for f in input_features)))
        names = []
        for field in self.field_spec_:
            name = rename.get(field.name, field.name)
            if field.kind == "sequence":
                names.extend(f"{name}_{i}" for i in range(field.max_len))
            else:
                names.append(name)
        return np.asarray(names, dtype=object)
