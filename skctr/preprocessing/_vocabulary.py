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

from ._spec import FIRST_VALUE_INDEX, MISSING_INDEX, OOV_INDEX, PAD_INDEX

FORMAT = "skctr-field-vocabulary"
VERSION = 1
# log_bucket's integer conversion clips to this magnitude, as FieldEncoder does.
_INT_CLIP = float(2**53)


def _json_value(value, column):
    """A vocabulary value as a JSON scalar; numbers keep their type (3 and "3" stay distinct)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (bool, str)) or (isinstance(value, numbers.Integral)):
        return value if isinstance(value, (bool, str)) else int(value)
    if isinstance(value, numbers.Real):
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"Column {column!r} has the value {value!r} in its vocabulary, which JSON cannot hold.")
        return value
    raise ValueError(
        f"Column {column!r} has a {type(value).__name__} value ({value!r}) in its vocabulary; the JSON vocabulary "
        "holds strings, numbers and booleans only. Convert the column, e.g. to strings, before fitting."
    )


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
                entry.update(max_len=plan.max_len, delimiter=plan.delimiter)
            owner = plan.target or plan.column
            entry["vocabulary"] = owner
            if owner not in vocabularies:
                values = plan.vocabulary.index.tolist() if plan.target is None else None
                if values is not None:
                    vocabularies[owner] = [[_json_value(v, owner), FIRST_VALUE_INDEX + i] for i, v in enumerate(values)]
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
    path = Path(path)
    path.write_text(json.dumps(document, indent=1, allow_nan=False, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


class VocabularyEncoder:
    """Encode raw rows with nothing but the JSON that :meth:`FieldEncoder.save_vocabulary` writes.

    A reference implementation of ``docs/vocabulary_format.md``: plain loops
    and dictionaries, equal to :meth:`FieldEncoder.transform` (tested), and
    the model to follow when encoding in another language.

    Parameters
    ----------
    vocabulary : str, Path or dict
        The JSON file, or its parsed content.

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
        document = vocabulary if isinstance(vocabulary, dict) else json.loads(Path(vocabulary).read_text("utf-8"))
        if document.get("format") != FORMAT or document.get("version") != VERSION:
            raise ValueError(
                f"Not a {FORMAT} version {VERSION} document (format={document.get('format')!r}, "
                f"version={document.get('version')!r}); write it with FieldEncoder.save_vocabulary of this skctr."
            )
        self.document = document
        # Python dicts match keys by equality and hash, as the encoder does: 3, 3.0 and True == 1 are one key.
        self.lookup = {name: {value: index for value, index in pairs} for name, pairs in document["vocabularies"].items()}

    def transform(self, frame) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, values)`` of a DataFrame (or a mapping of column name to a sequence of cells): int64 and
        float32 arrays, the inputs of an exported graph."""
        ids, values = self._encode(frame)
        return ids, values.astype(np.float32)

    def _encode(self, frame) -> tuple[np.ndarray, np.ndarray]:
        doc = self.document
        missing = [c for c in doc["input_columns"] if c not in frame]
        if missing:
            raise ValueError(f"Columns {missing} of the vocabulary are not in the input; pass every column of input_columns.")
        n = len(frame[doc["input_columns"][0]]) if doc["input_columns"] else 0
        ids = np.zeros((n, doc["n_ids"]), dtype=np.int64)
        values = np.zeros((n, doc["n_values"]), dtype=np.float64)
        for field in doc["fields"]:
            cells = list(frame[field["name"]])
            if field["kind"] == "numeric" and field["encoding"] == "scale":
                column = values[:, field["values_column"]]
                for row, cell in enumerate(cells):
                    x = _number(cell)
                    column[row] = 0.0 if x is None else (x - field["mean"]) / field["std"]
                continue
            start = field["ids_columns"][0]
            table = self.lookup[field["vocabulary"]]
            for row, cell in enumerate(cells):
                if field["kind"] == "sequence":
                    for position, token in enumerate(_tokens(cell, field["delimiter"])[: field["max_len"]]):
                        ids[row, start + position] = self._index(table, token, field)
                elif field["kind"] == "numeric":  # log_bucket
                    x = _number(cell)
                    ids[row, start] = self._index(table, None if x is None else _log_bucket(x), field)
                else:
                    ids[row, start] = self._index(table, cell, field)
        return ids, values

    def transform_array(self, frame) -> np.ndarray:
        """The full encoded array, laid out as :meth:`FieldEncoder.transform` lays it out."""
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

    def _index(self, table, value, field):
        if _is_missing(value):
            return self.document["missing_value_index"]
        found = table.get(value)
        if found is not None:
            return found
        if self.document["handle_unknown"] == "error":
            raise ValueError(f"Found values in column {field['name']!r} that were not seen in fit, e.g. [{value!r}].")
        return OOV_INDEX


def _is_missing(value) -> bool:
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN and pd.NA-like values are not equal to themselves
    except TypeError:  # pd.NA raises on bool()
        return True


def _number(cell):
    return None if _is_missing(cell) else float(cell)


def _log_bucket(x: float) -> int:
    if x > 2:
        return int(math.floor(math.log(x) ** 2))
    return int(math.trunc(max(min(x, _INT_CLIP), -_INT_CLIP)))


def _tokens(cell, delimiter):
    if isinstance(cell, str):
        return [token if token != "" else None for token in cell.split(delimiter)] if cell else []
    if _is_scalar_missing(cell):
        return []
    return list(cell)


def _is_scalar_missing(cell) -> bool:
    return cell is None or (isinstance(cell, float) and math.isnan(cell)) or (
        not hasattr(cell, "__len__") and _is_missing(cell)
    )
