"""A fitted FieldEncoder as plain JSON, and a reference encoder that reads only that JSON.

The JSON is what a server in any language needs to turn raw rows into the
``(ids, values)`` arrays an exported graph (:mod:`skctr.serving`) takes; the
format is documented field by field in ``docs/vocabulary_format.md``.
:class:`VocabularyEncoder` implements the encoding from the JSON alone, row by
row and without pandas' machinery, as a specification other implementations
can follow; the tests check it against :meth:`FieldEncoder.transform`.
"""
from __future__ import annotations

import json
import math
import numbers
from pathlib import Path

import numpy as np

from ._encode import as_value_type, value_type
from ._hashing import hash_bucket
from ..fields import FIRST_VALUE_INDEX, MISSING_INDEX, OOV_INDEX, PAD_INDEX

FORMAT = "skctr-field-vocabulary"
VERSION = 1
# The top-level keys of a document (docs/vocabulary_format.md), all required.
_KEYS = ("input_columns", "n_columns", "n_ids", "n_values", "dtype", "indices", "missing_value_index",
         "handle_unknown", "fields", "vocabularies")
# log_bucket's integer conversion clips to this magnitude, as FieldEncoder does.
_INT_CLIP = float(2**53)


def _json_value(value, column):
    """A vocabulary value as a JSON scalar; numbers keep their type (3 and "3" stay distinct)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"Column {column!r} has the value {value!r} in its vocabulary, which JSON cannot hold.")
        return value
    raise ValueError(
        f"Column {column!r} has a {type(value).__name__} value ({value!r}) in its vocabulary; the JSON vocabulary "
        "holds strings, numbers and booleans only. Convert the column, e.g. to strings, before fitting."
    )


def _pairs(vocabulary, column):
    """``[value, index]`` pairs of a fitted vocabulary: kept values from 3 on, then values to map to 1.

    Under ``handle_unknown="error"`` values seen in fit but not kept (rare, or
    beyond ``max_categories``) encode to out-of-vocabulary while unseen ones
    raise, so the reader needs them too; otherwise they are left out.
    """
    kept = vocabulary.index.tolist()
    pairs = [[_json_value(v, column), FIRST_VALUE_INDEX + i] for i, v in enumerate(kept)]
    if vocabulary.seen is not None:
        kept = set(kept)  # seen values are distinct under Python equality, as are kept ones
        pairs += [[_json_value(v, column), OOV_INDEX] for v in vocabulary.seen.tolist() if v not in kept]
    return pairs


def vocabulary_document(encoder) -> dict:
    """The JSON document of a fitted :class:`FieldEncoder` (see ``FieldEncoder.vocabulary_json``)."""
    slices = encoder.field_spec_.column_slices()
    vocabularies = {}
    fields = []
    n_ids = n_values = 0
    for plan in encoder._plans_:
        where = slices[plan.column]
        entry = {"name": plan.column, "kind": plan.kind, "columns": [where.start, where.stop]}
        if plan.kind == "numeric" and plan.encoding == "scale":
            entry.update(encoding="scale", mean=plan.mean, std=plan.scale, values_column=n_values)
            n_values += 1
        else:
            if plan.kind == "numeric":
                entry["encoding"] = "log_bucket"
            if plan.kind == "sequence":
                entry.update(max_len=plan.max_len, delimiter=plan.delimiter, order=plan.order)
            owner = plan.target or plan.column
            entry["vocabulary"] = owner
            if plan.vocabulary.hash_buckets:
                entry.update(hash_buckets=plan.vocabulary.hash_buckets, hash_offset=plan.vocabulary.hash_offset)
            if plan.target is None:
                vocabularies[owner] = _pairs(plan.vocabulary, owner)
            width = where.stop - where.start
            entry["ids_columns"] = [n_ids, n_ids + width]
            n_ids += width
        fields.append(entry)
    return {
        "format": FORMAT,
        "version": VERSION,
        "input_columns": list(encoder._columns_),
        "n_columns": encoder.field_spec_.n_columns,
        "n_ids": n_ids,
        "n_values": n_values,
        "dtype": np.dtype(encoder.dtype).name,
        "indices": {"padding": PAD_INDEX, "out_of_vocabulary": OOV_INDEX, "missing": MISSING_INDEX,
                    "first_value": FIRST_VALUE_INDEX},
        "missing_value_index": MISSING_INDEX if encoder.encoded_missing_value == "own" else OOV_INDEX,
        "handle_unknown": encoder.handle_unknown,
        "fields": fields,
        "vocabularies": vocabularies,
    }


def dump_document(document: dict, path) -> Path:
    """Write ``document`` as strict UTF-8 JSON; floats use repr, so they read back exactly."""
    path = Path(path)
    path.write_text(json.dumps(document, indent=1, allow_nan=False, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


class VocabularyEncoder:
    """Encode raw rows with nothing but the JSON that :meth:`FieldEncoder.save_vocabulary` writes.

    A reference implementation of ``docs/vocabulary_format.md``: plain loops
    and dictionaries over the parsed JSON, equal to
    :meth:`FieldEncoder.transform` (tested), and the model to follow when
    encoding in another language.

    Parameters
    ----------
    vocabulary : str, Path or dict
        The JSON file, or its parsed content.

    Attributes
    ----------
    document : dict
        The parsed JSON.

    Examples
    --------
    >>> import tempfile, pathlib, pandas as pd
    >>> from skctr import FieldEncoder
    >>> from skctr.preprocessing import VocabularyEncoder
    >>> X = pd.DataFrame({"user": ["a", "b", "a"], "price": [1.0, None, 3.0]})
    >>> path = FieldEncoder().fit(X).save_vocabulary(pathlib.Path(tempfile.mkdtemp()) / "vocabulary.json")
    >>> ids, values = VocabularyEncoder(path).transform(pd.DataFrame({"user": ["a", "zzz"], "price": [2.0, None]}))
    >>> ids.ravel().tolist(), values.ravel().tolist()
    ([3, 1], [0.0, 0.0])
    """

    def __init__(self, vocabulary):
        if isinstance(vocabulary, dict):
            document, source = vocabulary, ""
        else:
            document, source = _read_document(vocabulary), f"{str(vocabulary)!r}: "
        if document.get("format") != FORMAT:
            raise ValueError(
                f"{source}Not a {FORMAT} document (format={document.get('format')!r}); pass the JSON that "
                "FieldEncoder.save_vocabulary writes."
            )
        if document.get("version") != VERSION:
            raise ValueError(
                f"{source}Unsupported {FORMAT} version {document.get('version')!r}: this skctr reads version {VERSION}. "
                "Save the vocabulary again with this skctr's FieldEncoder.save_vocabulary, or read it with the skctr "
                "that wrote it."
            )
        absent = [key for key in _KEYS if key not in document]
        if absent:
            raise ValueError(
                f"{source}Not a complete {FORMAT} document: it lacks {absent}. Save the vocabulary again with "
                "FieldEncoder.save_vocabulary."
            )
        self.document = document
        # A Python dict matches keys as the format prescribes: 3, 3.0 and true == 1 are one key, "3" another.
        self.lookup = {
            name: {value: index for value, index in pairs} for name, pairs in document["vocabularies"].items()
        }
        self.value_types = {name: value_type([value for value, _ in pairs])
                            for name, pairs in document["vocabularies"].items()}

    def transform(self, frame) -> tuple[np.ndarray, np.ndarray]:
        """Encode rows into the inputs of an exported graph.

        Parameters
        ----------
        frame : DataFrame or dict
            The raw rows: every column of the document's ``input_columns``
            (others are ignored), or a dict of column name to a list of cells.

        Returns
        -------
        ids : ndarray of shape (n_rows, n_ids), dtype int64
            Indices of the categorical, log-bucketed and sequence fields.
        values : ndarray of shape (n_rows, n_values), dtype float32
            Scaled values of the ``"scale"`` numeric fields.
        """
        ids, values = self._encode(frame)
        return ids, values.astype(np.float32)

    def transform_array(self, frame) -> np.ndarray:
        """Encode rows into the single array :meth:`FieldEncoder.transform` returns.

        Parameters
        ----------
        frame : DataFrame or dict
            As in :meth:`transform`.

        Returns
        -------
        ndarray of shape (n_rows, n_columns)
            Fields side by side, in the document's ``dtype``.
        """
        ids, values = self._encode(frame)
        doc = self.document
        out = np.empty((len(ids), doc["n_columns"]), dtype=doc["dtype"])
        for field in doc["fields"]:
            start, stop = field["columns"]
            if "values_column" in field:
                out[:, start] = values[:, field["values_column"]]
            else:
                first = field["ids_columns"][0]
                out[:, start:stop] = ids[:, first : first + stop - start]
        return out

    def _encode(self, frame) -> tuple[np.ndarray, np.ndarray]:
        """``ids`` (int64) and ``values`` (float64, cast by the caller) of ``frame``."""
        doc = self.document
        absent = [c for c in doc["input_columns"] if c not in frame]
        if absent:
            raise ValueError(
                f"Columns {absent} of the vocabulary are not in the input; pass every column of its "
                f"input_columns ({doc['input_columns']})."
            )
        n = len(frame[doc["input_columns"][0]]) if doc["input_columns"] else 0
        ids = np.full((n, doc["n_ids"]), doc["indices"]["padding"], dtype=np.int64)
        values = np.zeros((n, doc["n_values"]), dtype=np.float64)
        for field in doc["fields"]:
            cells = list(frame[field["name"]])
            if field["kind"] == "numeric" and field["encoding"] == "scale":
                column = values[:, field["values_column"]]
                for row, cell in enumerate(cells):
                    x = _number(cell, field)
                    column[row] = 0.0 if x is None else (x - field["mean"]) / field["std"]
                continue
            start = field["ids_columns"][0]
            table = self.lookup[field["vocabulary"]]
            for row, cell in enumerate(cells):
                if field["kind"] == "sequence":
                    tokens = _tokens(cell, field)
                    if field.get("order") == "oldest_first":  # absent in files written before the option
                        tokens = tokens[::-1]
                    for position, token in enumerate(tokens[: field["max_len"]]):
                        ids[row, start + position] = self._index(table, token, field)
                elif field["kind"] == "numeric":  # log_bucket: the integer bucket is the categorical value
                    x = _number(cell, field)
                    ids[row, start] = self._index(table, None if x is None else _log_bucket(x), field)
                else:
                    ids[row, start] = self._index(table, cell, field)
        return ids, values

    def _index(self, table, value, field):
        """The index of one categorical value or sequence token."""
        if _is_missing(value):
            return self.document["missing_value_index"]
        value = as_value_type(value, self.value_types[field["vocabulary"]])
        index = table.get(value)
        if index is not None:
            return index
        if field.get("hash_buckets"):  # absent in files written before hashing
            return field["hash_offset"] + hash_bucket(value, field["hash_buckets"])
        if self.document["handle_unknown"] == "error":
            raise ValueError(
                f"Found values in column {field['name']!r} that were not seen in fit, e.g. [{value!r}]. The "
                "vocabulary was saved with handle_unknown='error'; fit with handle_unknown='oov' to map them to "
                "the out-of-vocabulary index instead."
            )
        return self.document["indices"]["out_of_vocabulary"]


def _read_document(path) -> dict:
    """The JSON object in the file at ``path``; a truncated or non-JSON file is a ValueError naming it."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError: say which file, in one line
        raise ValueError(
            f"{str(path)!r} is not a complete skctr vocabulary JSON ({error}); save it again with "
            "FieldEncoder.save_vocabulary."
        ) from None
    if not isinstance(document, dict):
        raise ValueError(
            f"{str(path)!r} is not a skctr vocabulary JSON: it holds a JSON {type(document).__name__}, not an "
            "object; pass the file FieldEncoder.save_vocabulary writes."
        )
    return document


def _is_missing(value) -> bool:
    """None, NaN and NA-like scalars (pd.NA, NaT) are missing."""
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN and NaT are not equal to themselves
    except TypeError:  # pd.NA refuses bool()
        return True


def _number(cell, field):
    """A numeric cell as a float, or None when missing; strings and infinities are refused, as in FieldEncoder."""
    if _is_missing(cell):
        return None
    if isinstance(cell, (str, bytes)):
        raise ValueError(
            f"Numeric column {field['name']!r} holds the string {cell!r}; send numbers (null for missing)."
        )
    try:
        x = float(cell)
    except (TypeError, ValueError):
        raise ValueError(
            f"Numeric column {field['name']!r} holds a {type(cell).__name__} value ({cell!r}); send numbers "
            "(null for missing)."
        ) from None
    if math.isinf(x):
        raise ValueError(
            f"Numeric column {field['name']!r} holds an infinite value; send a finite number, or null for missing."
        )
    return x


def _log_bucket(x: float) -> int:
    """floor(ln(x)**2) for x > 2, else trunc(x) clipped to 2**53."""
    if x > 2:
        ln = math.log(x)
        # One float64 multiplication, as FieldEncoder squares: pow(ln, 2) can round differently at a boundary.
        return math.floor(ln * ln)
    return math.trunc(min(max(x, -_INT_CLIP), _INT_CLIP))


def _tokens(cell, field) -> list:
    """The tokens of one sequence cell (None for a missing token)."""
    if isinstance(cell, str):
        if cell == "":
            return []
        return [token if token != "" else None for token in cell.split(field["delimiter"])]
    if isinstance(cell, (list, tuple, np.ndarray)):
        return list(cell)
    if _is_missing(cell):
        return []
    raise ValueError(
        f"Sequence column {field['name']!r} holds a {type(cell).__name__} value ({cell!r}); send a list of tokens, "
        f"a {field['delimiter']!r}-joined string, or null for an empty sequence."
    )
